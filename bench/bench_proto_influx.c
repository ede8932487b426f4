/* Benchmark of the InfluxDB line protocol parser on typical telemetry bodies. Prints
 * `name value unit` lines: samples/s and MB/s per body shape, single-threaded, callback doing
 * minimal work (summing values and name lengths so nothing is optimised away). Time is the
 * thread's CPU time, so the figures are per core even on a loaded machine; best of 5 rounds. */
#include "base/buf.h"
#include "base/err.h"
#include "proto/influx.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct sink {
    double sum;
    size_t bytes;
};

static int on_sample(void *ctx, const struct influx_sample *s)
{
    struct sink *k = ctx;
    k->sum += s->value;
    k->bytes += s->name.len + s->n_labels;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Parses body repeatedly for about a second of CPU time and prints the rates. */
static void run(const char *name, const struct pw_buf *body, enum influx_precision prec)
{
    struct influx_opts o;
    struct influx_result res;
    struct sink k = {0, 0};
    influx_opts_init(&o, 1700000000000LL);
    o.precision = prec;
    size_t bytes = 0;
    double best = 0;
    /* best of 5 rounds of ~0.2 s */
    for (int round = 0; round < 5; round++) {
        size_t rs = 0, rb = 0;
        double t0 = now_s(), t;
        do {
            if (influx_parse(body->data, body->len, &o, on_sample, &k, NULL, 0, &res) != PW_OK) {
                fprintf(stderr, "bench_proto_influx: %s: %zu bad lines\n", name, res.bad_lines);
                exit(1);
            }
            rs += res.samples;
            rb += body->len;
            t = now_s() - t0;
        } while (t < 0.2);
        if (rs / t > best) {
            best = rs / t;
            bytes = (size_t)(rb / t);
        }
    }
    printf("influx_parse_%s %.1fe6 samples/s\n", name, best / 1e6);
    printf("influx_parse_%s_bytes %.0f MB/s\n", name, (double)bytes / 1e6);
    if (k.sum == 42.4242)
        printf("#\n");
}

int main(void)
{
    struct pw_buf b;
    enum { LINES = 20000 };

    /* one field per line, ms timestamps: the shape the simulator and most gateways send */
    pw_buf_init(&b, 0);
    for (int i = 0; i < LINES; i++)
        pw_buf_printf(&b, "sensor,device=E%02d-GD-%03d,enterprise=E%02d value=%d.%d %lld\n", i % 20,
                      i % 500, i % 20, 10 + i % 40, i % 10, 1700000000000LL + i * 1000LL);
    run("single", &b, INFLUX_PREC_MS);
    pw_buf_release(&b);

    /* an HJ 212-like station line: 7 fields, ns timestamps */
    pw_buf_init(&b, 0);
    for (int i = 0; i < LINES; i++)
        pw_buf_printf(&b,
                      "env,station=HJ-%04d,enterprise=E%02d,area=tank-farm so2=%d.%d,nox=33.1,"
                      "pm25=18,pm10=41.25,temp=23.4,hum=61i,flow=1234.5 %lld\n",
                      i % 300, i % 20, i % 90, i % 10, 1700000000000000000LL + i * 1000000000LL);
    run("multi7", &b, INFLUX_PREC_NS);
    pw_buf_release(&b);

    /* Telegraf cpu plugin: 10 fields, 3 tags, values with many digits */
    pw_buf_init(&b, 0);
    for (int i = 0; i < LINES; i++)
        pw_buf_printf(&b,
                      "cpu,cpu=cpu%d,host=gw-%03d usage_user=%d.0120240480961925,"
                      "usage_system=1.2024048096192386,usage_idle=95.79158316633266,"
                      "usage_nice=0,usage_iowait=0.1002004008016032,usage_irq=0,usage_softirq=0,"
                      "usage_steal=0,usage_guest=0,usage_guest_nice=0 %lld\n",
                      i % 8, i % 100, i % 3, 1700000000000000000LL + i * 1000000000LL);
    run("telegraf_cpu", &b, INFLUX_PREC_NS);
    pw_buf_release(&b);

    /* escaped names (slow path of every name) */
    pw_buf_init(&b, 0);
    for (int i = 0; i < LINES; i++)
        pw_buf_printf(&b, "gas\\ detector,point=LEL\\,%03d,area=tank\\ farm value=%d.5 %lld\n",
                      i % 500, i % 40, 1700000000000LL + i * 1000LL);
    run("escaped", &b, INFLUX_PREC_MS);
    pw_buf_release(&b);
    return 0;
}
