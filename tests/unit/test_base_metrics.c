/* Unit tests for the metrics registry: counters and gauges, histograms (bucket placement, reads,
 * the text exposition, concurrent observations). The registry is process-wide: every test uses
 * its own metric names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Whether the rendered exposition contains line (a whole line). */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

static void test_counters_and_gauges(void **state)
{
    struct pw_counter *a = pw_counter_get("test_m_requests_total", "code=\"200\"", "Requests.");
    struct pw_counter *b = pw_counter_get("test_m_requests_total", "code=\"500\"", "ignored");
    assert_ptr_equal(a, pw_counter_get("test_m_requests_total", "code=\"200\"", NULL));
    assert_ptr_not_equal(a, b);
    pw_counter_add(a, 3);
    pw_counter_add(b, 1);
    assert_int_equal(pw_counter_value(a), 3);
    assert_int_equal(pw_counter_sum("test_m_requests_total"), 4);
    struct pw_counter *g = pw_gauge_get("test_m_clients", NULL, "Clients.");
    pw_gauge_set(g, 7);
    pw_gauge_set(g, 5);

    struct pw_buf out;
    pw_buf_init(&out, 0);
    assert_int_equal(pw_metrics_render(&out), 0);
    assert_true(has_line(out.data, "# HELP test_m_requests_total Requests."));
    assert_true(has_line(out.data, "# TYPE test_m_requests_total counter"));
    assert_true(has_line(out.data, "test_m_requests_total{code=\"200\"} 3"));
    assert_true(has_line(out.data, "test_m_requests_total{code=\"500\"} 1"));
    assert_true(has_line(out.data, "# TYPE test_m_clients gauge"));
    assert_true(has_line(out.data, "test_m_clients 5"));
    assert_true(has_line(out.data, "# TYPE process_open_fds gauge"));
    pw_buf_release(&out);
}

static void test_histogram_buckets(void **state)
{
    static const double bounds[] = {0.001, 0.002, 0.005};
    struct pw_histogram *h =
        pw_histogram_get("test_h_seconds", "", "Latency.", bounds, PW_ARRAY_LEN(bounds));
    assert_ptr_equal(h, pw_histogram_get("test_h_seconds", "", NULL, bounds, 1));

    double le[8], sum = -1;
    uint64_t counts[8];
    assert_int_equal(pw_histogram_read(h, le, counts, 8, &sum), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(counts[i], 0);
    assert_true(sum == 0.0);
    assert_true(le[0] == 0.001 && le[1] == 0.002 && le[2] == 0.005);
    assert_true(isinf(le[3]) && le[3] > 0);

    /* an observation equal to a bound falls into that bound's bucket (le = "less or equal") */
    pw_histogram_observe(h, 0.0005);
    pw_histogram_observe(h, 0.001);
    pw_histogram_observe(h, 0.0015);
    pw_histogram_observe(h, 0.005);
    pw_histogram_observe(h, 0.25);
    pw_histogram_observe(h, -1); /* below every bound: the first bucket */
    pw_histogram_observe(h, NAN); /* ignored */
    assert_int_equal(pw_histogram_read(h, le, counts, 8, &sum), 4);
    assert_int_equal(counts[0], 3); /* -1, 0.0005, 0.001 */
    assert_int_equal(counts[1], 4); /* + 0.0015 */
    assert_int_equal(counts[2], 5); /* + 0.005 */
    assert_int_equal(counts[3], 6); /* + 0.25: every observation */
    assert_float_equal(sum, 0.0005 + 0.001 + 0.0015 + 0.005 + 0.25 - 1, 1e-12);

    /* a short read writes only max buckets and still says how many there are */
    uint64_t two[2] = {99, 99};
    assert_int_equal(pw_histogram_read(h, NULL, two, 1, NULL), 4);
    assert_int_equal(two[0], 3);
    assert_int_equal(two[1], 99);
}

static void test_histogram_inf_bound_dropped(void **state)
{
    static const double bounds[] = {1, 10, INFINITY};
    struct pw_histogram *h =
        pw_histogram_get("test_h_inf", "", "With +Inf given.", bounds, PW_ARRAY_LEN(bounds));
    double le[8];
    uint64_t counts[8];
    assert_int_equal(pw_histogram_read(h, le, counts, 8, NULL), 3);
    pw_histogram_observe(h, 1e300);
    pw_histogram_observe(h, INFINITY);
    assert_int_equal(pw_histogram_read(h, le, counts, 8, NULL), 3);
    assert_int_equal(counts[1], 0);
    assert_int_equal(counts[2], 2);
}

static void test_histogram_render(void **state)
{
    static const double bounds[] = {0.0001, 0.00075, 0.5, 1, 2.5, 10};
    struct pw_histogram *h = pw_histogram_get("test_h_render_seconds", "", "Time to render.",
                                              bounds, PW_ARRAY_LEN(bounds));
    struct pw_histogram *l = pw_histogram_get("test_h_labelled_seconds", "kind=\"a\"",
                                              "Labelled.", bounds, PW_ARRAY_LEN(bounds));
    pw_histogram_observe(h, 0.00006103515625); /* 2^-14: the sum stays exact in binary */
    pw_histogram_observe(h, 0.75);
    pw_histogram_observe(h, 3);
    pw_histogram_observe(l, 0.25);

    struct pw_buf out;
    pw_buf_init(&out, 0);
    pw_metrics_render(&out);
    const char *t = out.data;
    assert_true(has_line(t, "# HELP test_h_render_seconds Time to render."));
    assert_true(has_line(t, "# TYPE test_h_render_seconds histogram"));
    assert_true(has_line(t, "test_h_render_seconds_bucket{le=\"0.0001\"} 1"));
    assert_true(has_line(t, "test_h_render_seconds_bucket{le=\"0.00075\"} 1"));
    assert_true(has_line(t, "test_h_render_seconds_bucket{le=\"0.5\"} 1"));
    assert_true(has_line(t, "test_h_render_seconds_bucket{le=\"1\"} 2"));
    assert_true(has_line(t, "test_h_render_seconds_bucket{le=\"2.5\"} 2"));
    assert_true(has_line(t, "test_h_render_seconds_bucket{le=\"10\"} 3"));
    assert_true(has_line(t, "test_h_render_seconds_bucket{le=\"+Inf\"} 3"));
    assert_true(has_line(t, "test_h_render_seconds_sum 3.75006103515625"));
    assert_true(has_line(t, "test_h_render_seconds_count 3"));
    /* buckets in increasing le, then _sum and _count */
    const char *b0 = strstr(t, "test_h_render_seconds_bucket{le=\"0.0001\"}");
    const char *b1 = strstr(t, "test_h_render_seconds_bucket{le=\"0.00075\"}");
    const char *inf = strstr(t, "test_h_render_seconds_bucket{le=\"+Inf\"}");
    const char *cnt = strstr(t, "test_h_render_seconds_count");
    assert_true(b0 < b1 && b1 < inf && inf < cnt);

    assert_true(has_line(t, "# TYPE test_h_labelled_seconds histogram"));
    assert_true(has_line(t, "test_h_labelled_seconds_bucket{kind=\"a\",le=\"0.5\"} 1"));
    assert_true(has_line(t, "test_h_labelled_seconds_bucket{kind=\"a\",le=\"+Inf\"} 1"));
    assert_true(has_line(t, "test_h_labelled_seconds_sum{kind=\"a\"} 0.25"));
    assert_true(has_line(t, "test_h_labelled_seconds_count{kind=\"a\"} 1"));
    /* a histogram is not a counter */
    assert_int_equal(pw_counter_sum("test_h_render_seconds"), 0);
    pw_buf_release(&out);
}

#define OBS_THREADS 4
#define OBS_EACH 100000

static void *observer(void *arg)
{
    struct pw_histogram *h = arg;
    for (int i = 0; i < OBS_EACH; i++)
        pw_histogram_observe(h, (i & 1) ? 2.0 : 0.5);
    return NULL;
}

static void test_histogram_concurrent(void **state)
{
    static const double bounds[] = {1};
    struct pw_histogram *h =
        pw_histogram_get("test_h_concurrent", "", "Concurrent.", bounds, PW_ARRAY_LEN(bounds));
    pthread_t th[OBS_THREADS];
    for (int i = 0; i < OBS_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, observer, h), 0);
    for (int i = 0; i < OBS_THREADS; i++)
        pthread_join(th[i], NULL);
    uint64_t counts[2];
    double sum;
    assert_int_equal(pw_histogram_read(h, NULL, counts, 2, &sum), 2);
    assert_int_equal(counts[0], OBS_THREADS * OBS_EACH / 2);
    assert_int_equal(counts[1], OBS_THREADS * OBS_EACH);
    /* 0.5 and 2.0 are exact in binary and so is every partial sum: no update was lost */
    assert_true(sum == OBS_THREADS * (OBS_EACH / 2) * 2.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_and_gauges),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_histogram_inf_bound_dropped),
        cmocka_unit_test(test_histogram_render),
        cmocka_unit_test(test_histogram_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
