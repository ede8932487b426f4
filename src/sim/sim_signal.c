/* sim_signal.c — the simulator's signal model and clock: deterministic noise from a hash of
 * (seed, point, time step), daily cycles, triangle waves for tanks filling and emptying,
 * incident envelopes, curve interpolation, and the simulated clock. Pure functions. */
#include "sim/sim.h"

#include <math.h>

uint64_t sim_hash(uint64_t seed, uint64_t key, int64_t step)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ull ^ key * 0xBF58476D1CE4E5B9ull ^
                 (uint64_t)step * 0x94D049BB133111EBull;
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double sim_unit(uint64_t h)
{
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

double sim_gauss(uint64_t seed, uint64_t key, int64_t step)
{
    uint64_t h = sim_hash(seed, key, step);
    double u1 = sim_unit(h), u2 = sim_unit(sim_hash(h, 0x5bd1e995u, step));
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t sim_key(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

double sim_diurnal(int64_t ms, int utc_off_min, double peak_hour)
{
    double day = 86400000.0;
    double local = fmod((double)ms + utc_off_min * 60000.0, day);
    if (local < 0)
        local += day;
    double h = local / 3600000.0;
    return cos(2.0 * M_PI * (h - peak_hour) / 24.0);
}

double sim_triangle(int64_t ms, int64_t period_ms, int64_t phase_ms)
{
    if (period_ms <= 0)
        return 0;
    int64_t t = (ms - phase_ms) % period_ms;
    if (t < 0)
        t += period_ms;
    double x = (double)t / (double)period_ms;
    return x < 0.5 ? 2 * x : 2 * (1 - x);
}

double sim_envelope(int64_t t, int64_t rise, int64_t hold, int64_t fall)
{
    if (t < 0)
        return 0;
    if (t < rise)
        return (double)t / (double)rise;
    t -= rise;
    if (t < hold)
        return 1;
    t -= hold;
    if (t < fall)
        return 1.0 - (double)t / (double)fall;
    return 0;
}

double sim_interp(const double (*pts)[2], size_t n, double x)
{
    if (n == 0)
        return NAN;
    if (x <= pts[0][0])
        return pts[0][1];
    for (size_t i = 1; i < n; i++) {
        if (x <= pts[i][0]) {
            double dx = pts[i][0] - pts[i - 1][0];
            if (dx <= 0)
                return pts[i][1];
            return pts[i - 1][1] + (pts[i][1] - pts[i - 1][1]) * (x - pts[i - 1][0]) / dx;
        }
    }
    return pts[n - 1][1];
}

int64_t sim_clock_at(const struct sim_clock *c, int64_t wall_ms)
{
    return c->start_ms + (int64_t)llround((double)(wall_ms - c->wall0_ms) * c->speed);
}

int64_t sim_clock_wall(const struct sim_clock *c, int64_t sim_ms)
{
    return c->wall0_ms + (int64_t)ceil((double)(sim_ms - c->start_ms) / c->speed);
}

int64_t sim_next_slot(int64_t t, int64_t period, int64_t phase)
{
    int64_t k = t - phase;
    int64_t q = k >= 0 ? k / period : -((-k + period - 1) / period);
    return phase + (q + 1) * period;
}
