/* Unit tests for the webhook notifier against a minimal HTTP server in the test: payload, retry
 * with backoff after failures, giving up after max_tries, notify = false events not posted, URL
 * list validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alarm_fx.h"
#include "base/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

struct srv {
    int fd, port;
    int fail_first; /* answer 500 to this many requests */
    int requests;
    char last_body[8192];
    pthread_t th;
};

static void *serve(void *arg)
{
    struct srv *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char buf[16384];
        size_t n = 0;
        ssize_t r;
        char *body = NULL;
        long clen = -1;
        while (n < sizeof buf - 1 && (r = recv(c, buf + n, sizeof buf - 1 - n, 0)) > 0) {
            n += (size_t)r;
            buf[n] = '\0';
            char *hdr_end = strstr(buf, "\r\n\r\n");
            if (hdr_end && clen < 0) {
                char *cl = strcasestr(buf, "Content-Length:");
                clen = cl ? strtol(cl + 15, NULL, 10) : 0;
                body = hdr_end + 4;
            }
            if (body && (long)(n - (size_t)(body - buf)) >= clen)
                break;
        }
        s->requests++;
        if (body)
            snprintf(s->last_body, sizeof s->last_body, "%s", body);
        const char *resp =
            s->requests <= s->fail_first
                ? "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                : "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
        if (send(c, resp, strlen(resp), 0) < 0) {
            /* the client gave up; nothing to do */
        }
        close(c);
    }
}

static void srv_start(struct srv *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    getsockname(s->fd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, serve, s);
}

static void srv_stop(struct srv *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->th, NULL);
}

static void wait_for(const int *counter, int want)
{
    for (int i = 0; i < 500 && __atomic_load_n(counter, __ATOMIC_SEQ_CST) < want; i++)
        usleep(10000);
}

static void test_delivery_and_retry(void **state)
{
    struct fx *f = fx_new();
    struct srv s = {.fail_first = 2};
    srv_start(&s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", s.port);
    struct alarm_webhook_opts o;
    alarm_webhook_opts_init(&o);
    o.urls = url;
    o.backoff_ms = 10;
    o.max_tries = 3;
    struct alarm_webhook *w;
    assert_int_equal(alarm_webhook_start(f->s, &o, &w), PW_OK);
    assert_non_null(w);
    uint64_t ok0 = pw_counter_sum("parkwatch_alarm_webhook_total");
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 4), T0);
    wait_for(&s.requests, 3); /* 500, 500, 204 */
    usleep(50000);
    assert_int_equal(s.requests, 3);
    assert_non_null(strstr(s.last_body, "{\"event\":\"raised\""));
    assert_non_null(strstr(s.last_body, "\"level\":\"red\""));
    assert_true(pw_counter_sum("parkwatch_alarm_webhook_total") >= ok0 + 3);
    /* not notified: a comment */
    alarm_comment(f->s, NULL, 1, "op", "x", T0 + 1);
    usleep(100000);
    assert_int_equal(s.requests, 3);
    /* given up after max_tries */
    s.fail_first = 100;
    fx_apply(f, fx_tr(ALARM_RAISE, "GD2", "E1", "A1", "gas", 4), T0 + 2);
    wait_for(&s.requests, 6);
    usleep(100000);
    assert_int_equal(s.requests, 6);
    alarm_webhook_stop(w);
    srv_stop(&s);
    fx_free(f);
}

static void test_config(void **state)
{
    struct fx *f = fx_new();
    struct alarm_webhook_opts o;
    struct alarm_webhook *w = (struct alarm_webhook *)1;
    alarm_webhook_opts_init(&o);
    assert_int_equal(alarm_webhook_start(f->s, &o, &w), PW_OK);
    assert_null(w);
    o.urls = "ftp://x";
    assert_int_equal(alarm_webhook_start(f->s, &o, &w), PW_EINVAL);
    o.urls = "http://a,http://b,http://c,http://d,http://e,http://f,http://g,http://h,http://i";
    assert_int_equal(alarm_webhook_start(f->s, &o, &w), PW_EINVAL);
    o.urls = " http://127.0.0.1:1/a , https://example.invalid/b ";
    assert_int_equal(alarm_webhook_start(f->s, &o, &w), PW_OK);
    alarm_webhook_stop(w);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivery_and_retry),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
