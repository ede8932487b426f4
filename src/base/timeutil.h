/* timeutil.h — clocks, durations and timestamps. All wall-clock times are int64 milliseconds
 * since the Unix epoch, UTC. */
#ifndef PW_TIMEUTIL_H
#define PW_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t pw_now_ms(void);   /* wall clock, ms since epoch */
int64_t pw_mono_ns(void);  /* monotonic clock, ns */

/* Parses a duration: an integer followed by a unit ms s m h d w y (y = 365 d), e.g. "30d", "5y",
 * "500ms", "90s"; several may be concatenated ("1h30m"). A bare "0" is allowed. Returns PW_OK and
 * *ms, or PW_EINVAL (*ms untouched). */
int pw_duration_parse(const char *s, int64_t *ms);
/* Formats ms as the shortest exact duration string ("5y", "90s", "1500ms") into buf. */
char *pw_duration_format(int64_t ms, char *buf, size_t cap);

/* RFC 3339 with milliseconds, UTC: "2026-11-23T10:30:05.123Z". buf needs 25 bytes. */
char *pw_time_format(int64_t ms, char *buf, size_t cap);
/* Parses RFC 3339 ("2026-11-23T10:30:05Z", fractional seconds and ±hh:mm offsets accepted) or
 * Unix seconds with optional decimals ("1700000000.5"), as the Prometheus API does.
 * Returns PW_OK and *ms, or PW_EINVAL. */
int pw_time_parse(const char *s, int64_t *ms);

/* days since 1970-01-01 for a proleptic Gregorian date (no time zone involved). */
int64_t pw_days_from_civil(int y, unsigned m, unsigned d);

#endif
