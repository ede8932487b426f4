/* timeutil.c — clocks, durations, RFC 3339. */
#include "base/timeutil.h"

#include "base/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t pw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pw_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const struct {
    const char *unit;
    int64_t ms;
} units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
    {"d", 86400000}, {"w", 604800000}, {"y", 31536000000},
};

int pw_duration_parse(const char *s, int64_t *ms)
{
    int64_t total = 0;
    const char *p = s;
    if (!s || !*s)
        return PW_EINVAL;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return PW_OK;
    }
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return PW_EINVAL;
        errno = 0;
        char *end;
        long long n = strtoll(p, &end, 10);
        if (errno || n < 0)
            return PW_EINVAL;
        p = end;
        size_t ul = 0;
        while (isalpha((unsigned char)p[ul]))
            ul++;
        int64_t mult = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].unit) == ul && strncmp(p, units[i].unit, ul) == 0)
                mult = units[i].ms;
        if (!mult)
            return PW_EINVAL;
        if (n > (INT64_MAX - total) / mult)
            return PW_EINVAL;
        total += n * mult;
        p += ul;
    }
    *ms = total;
    return PW_OK;
}

char *pw_duration_format(int64_t ms, char *buf, size_t cap)
{
    for (size_t i = sizeof units / sizeof units[0]; i-- > 0;) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, cap, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return buf;
        }
    }
    snprintf(buf, cap, ms == 0 ? "0" : "%lldms", (long long)ms);
    return buf;
}

int64_t pw_days_from_civil(int y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

char *pw_time_format(int64_t ms, char *buf, size_t cap)
{
    time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int milli = (int)(ms - (int64_t)sec * 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
    return buf;
}

static int digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

int pw_time_parse(const char *s, int64_t *ms)
{
    if (!s || !*s)
        return PW_EINVAL;
    size_t len = strlen(s);
    if (len >= 10 && s[4] == '-') {
        int Y, M, D, h = 0, mi = 0, se = 0;
        if (!digits(s, 4, &Y) || !digits(s + 5, 2, &M) || s[7] != '-' || !digits(s + 8, 2, &D))
            return PW_EINVAL;
        const char *p = s + 10;
        int64_t frac_ms = 0, off_min = 0;
        if (*p == 'T' || *p == 't' || *p == ' ') {
            if (strlen(p) < 9 || !digits(p + 1, 2, &h) || p[3] != ':' || !digits(p + 4, 2, &mi) ||
                p[6] != ':' || !digits(p + 7, 2, &se))
                return PW_EINVAL;
            p += 9;
            if (*p == '.') {
                p++;
                int nd = 0;
                int64_t scale = 100;
                while (isdigit((unsigned char)*p)) {
                    if (nd < 3)
                        frac_ms += (*p - '0') * scale;
                    scale /= 10;
                    nd++;
                    p++;
                }
                if (nd == 0)
                    return PW_EINVAL;
            }
            if (*p == 'Z' || *p == 'z') {
                p++;
            } else if (*p == '+' || *p == '-') {
                int oh, om;
                if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
                    return PW_EINVAL;
                off_min = (oh * 60 + om) * (*p == '+' ? 1 : -1);
                p += 6;
            } else {
                return PW_EINVAL;
            }
        }
        if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || se > 60)
            return PW_EINVAL;
        int64_t days = pw_days_from_civil(Y, (unsigned)M, (unsigned)D);
        *ms = ((days * 86400 + h * 3600 + mi * 60 + se) - off_min * 60) * 1000 + frac_ms;
        return PW_OK;
    }
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || end == s || v != v || v > 9.2e15 || v < -9.2e15)
        return PW_EINVAL;
    double m = v * 1000.0;
    *ms = (int64_t)(m >= 0 ? m + 0.5 : m - 0.5);
    return PW_OK;
}
