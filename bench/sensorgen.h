/* sensorgen.h — a deterministic generator of realistic park sensor data for benchmarks.
 *
 * Each series gets a kind (random walk, step, periodic), a number of decimals (1..3), an interval
 * (1 s, 10 s, 30 s or 60 s) and, for one series in five, a poll jitter of up to ±20 ms (Modbus
 * pollers; HJ 212 stations stamp exact seconds). Values are rounded to their decimals as the
 * devices send them. Quality is 0 except for rare read failures (1 in 2000).
 */
#ifndef PW_BENCH_SENSORGEN_H
#define PW_BENCH_SENSORGEN_H

#include <math.h>
#include <stdint.h>

enum sg_kind { SG_WALK, SG_STEP, SG_PERIODIC };

struct sg_series {
    uint64_t rng;
    enum sg_kind kind;
    int decimals;
    int64_t interval_ms;
    int jitter;
    int64_t t;
    double x, base, amp, period_s;
    long n;
};

static inline uint64_t sg_rand(struct sg_series *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

static inline double sg_unit(struct sg_series *g)
{
    return (double)(sg_rand(g) >> 11) / 9007199254740992.0;
}

static inline void sg_init(struct sg_series *g, uint32_t id, int64_t t0)
{
    static const int64_t iv[] = {1000, 10000, 10000, 30000, 60000};
    g->rng = 0x9e3779b97f4a7c15ULL * (id + 1) | 1;
    for (int i = 0; i < 4; i++)
        (void)sg_rand(g);
    g->kind = (enum sg_kind)(sg_rand(g) % 3);
    g->decimals = 1 + (int)(sg_rand(g) % 3);
    g->interval_ms = iv[sg_rand(g) % 5];
    g->jitter = sg_rand(g) % 5 == 0;
    g->t = t0;
    g->base = 10 + sg_unit(g) * 90;
    g->x = g->base;
    g->amp = 1 + sg_unit(g) * 20;
    g->period_s = 3600 * (1 + sg_unit(g) * 23);
    g->n = 0;
}

static inline double sg_round(double v, int d)
{
    static const double p[] = {1, 10, 100, 1000};
    return round(v * p[d]) / p[d];
}

/* Next sample of the series. */
static inline void sg_next(struct sg_series *g, int64_t *ts, double *v, uint8_t *q)
{
    double step = 1.0;
    for (int i = 0; i < g->decimals; i++)
        step /= 10;
    switch (g->kind) {
    case SG_WALK:
        g->x += ((double)(int)(sg_rand(g) % 11) - 5) * step;
        break;
    case SG_STEP:
        if (sg_rand(g) % 500 == 0)
            g->x = g->base + (sg_unit(g) - 0.5) * g->amp;
        break;
    case SG_PERIODIC:
        g->x = g->base + g->amp * sin(2 * M_PI * (double)(g->t / 1000) / g->period_s) +
               ((double)(int)(sg_rand(g) % 5) - 2) * step;
        break;
    }
    *ts = g->t + (g->jitter ? (int64_t)(sg_rand(g) % 41) - 20 : 0);
    *v = sg_round(g->x, g->decimals);
    *q = sg_rand(g) % 2000 == 0 ? 1 : 0;
    g->t += g->interval_ms;
    g->n++;
}

#endif
