/* sv_cal.c — the working-day calendar in Beijing time (UTC+8, no daylight saving) and counted-time
 * arithmetic over it. A day number is days since 1970-01-01 of the Beijing date; day d runs
 * from d * 86400000 - 8 h to (d + 1) * 86400000 - 8 h UTC. 1970-01-01 was a Thursday. */
#include "supervision/supervision.h"

#include "base/err.h"
#include "base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sv_calendar_init(struct sv_calendar *c)
{
    memset(c, 0, sizeof *c);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t sv_beijing_day(int64_t ms)
{
    return floor_div(ms + SV_BEIJING_OFFSET_MS, SV_DAY_MS);
}

static int64_t day_start(int64_t day)
{
    return day * SV_DAY_MS - SV_BEIJING_OFFSET_MS;
}

static bool in_sorted(const int32_t *v, int n, int64_t day)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (v[mid] == day)
            return true;
        if (v[mid] < day)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return false;
}

bool sv_is_workday(const struct sv_calendar *c, int64_t day)
{
    int64_t wd = ((day + 4) % 7 + 7) % 7; /* 0 = Sunday */
    if (wd == 0 || wd == 6)
        return in_sorted(c->workdays, c->nworkdays, day);
    return !in_sorted(c->holidays, c->nholidays, day);
}

/* "YYYY-MM-DD" exactly, a valid Gregorian date → its day number. */
static int parse_date(const char *s, size_t n, int64_t *day)
{
    if (n != 10 || s[4] != '-' || s[7] != '-')
        return PW_EINVAL;
    int v[3] = {0, 0, 0};
    const int at[3] = {0, 5, 8}, len[3] = {4, 2, 2};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < len[i]; j++) {
            char ch = s[at[i] + j];
            if (ch < '0' || ch > '9')
                return PW_EINVAL;
            v[i] = v[i] * 10 + (ch - '0');
        }
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (v[0] < 1970 || v[0] > 2200 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1])
        return PW_EINVAL;
    bool leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
    if (v[1] == 2 && v[2] == 29 && !leap)
        return PW_EINVAL;
    *day = pw_days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]);
    return PW_OK;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int sv_calendar_parse(struct sv_calendar *c, const char *list, bool workdays, char *err, size_t cap)
{
    int32_t *tmp = malloc(sizeof(int32_t) * SV_CAL_DAYS_MAX);
    if (!tmp)
        return PW_ENOMEM;
    int n = 0, rc = PW_OK;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        size_t len = (size_t)(e - p);
        const char *dots = memchr(p, '.', len);
        int64_t a, b;
        if (dots) {
            if ((size_t)(dots - p) + 2 > len || dots[1] != '.' ||
                parse_date(p, (size_t)(dots - p), &a) != PW_OK ||
                parse_date(dots + 2, len - (size_t)(dots - p) - 2, &b) != PW_OK || b < a ||
                b - a > 366) {
                rc = PW_EINVAL;
                goto bad;
            }
        } else {
            if (parse_date(p, len, &a) != PW_OK) {
                rc = PW_EINVAL;
                goto bad;
            }
            b = a;
        }
        for (int64_t d = a; d <= b; d++) {
            if (n >= SV_CAL_DAYS_MAX) {
                rc = PW_EFULL;
                goto bad;
            }
            tmp[n++] = (int32_t)d;
        }
        p = e;
        continue;
    bad:
        snprintf(err, cap, "%s entry \"%.*s\": %s", workdays ? "workdays" : "holidays",
                 (int)(len > 40 ? 40 : len), p,
                 rc == PW_EFULL
                     ? "more than 2048 days in the list"
                     : "expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD (at most 367 days)");
        goto out;
    }
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_i32);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || tmp[m - 1] != tmp[i])
            tmp[m++] = tmp[i];
    if (workdays) {
        memcpy(c->workdays, tmp, sizeof(int32_t) * (size_t)m);
        c->nworkdays = m;
    } else {
        memcpy(c->holidays, tmp, sizeof(int32_t) * (size_t)m);
        c->nholidays = m;
    }
out:
    free(tmp);
    return rc;
}

int64_t sv_cal_add(const struct sv_calendar *c, enum sv_cal_kind k, int64_t start, int64_t dur_ms)
{
    if (dur_ms < 0)
        dur_ms = 0;
    if (k == SV_CAL_ALWAYS)
        return start + dur_ms;
    int64_t t = start, rem = dur_ms;
    int64_t day = sv_beijing_day(t);
    /* bounded: a working week has 5 working days; 100 years of days at most */
    for (int guard = 0; guard < 40000; guard++, day++) {
        int64_t end = day_start(day + 1);
        if (!sv_is_workday(c, day)) {
            t = end;
            continue;
        }
        if (rem <= end - t)
            return t + rem;
        rem -= end - t;
        t = end;
    }
    return t + rem;
}

int64_t sv_cal_elapsed(const struct sv_calendar *c, enum sv_cal_kind k, int64_t a, int64_t b)
{
    if (b <= a)
        return 0;
    if (k == SV_CAL_ALWAYS)
        return b - a;
    int64_t sum = 0;
    int64_t day = sv_beijing_day(a), last = sv_beijing_day(b - 1);
    for (; day <= last; day++) {
        if (!sv_is_workday(c, day))
            continue;
        int64_t s = day_start(day), e = day_start(day + 1);
        if (s < a)
            s = a;
        if (e > b)
            e = b;
        sum += e - s;
    }
    return sum;
}
