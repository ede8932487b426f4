/* libFuzzer target for the parsers of HTTP query parameters that take times and durations
 * (start=, end=, time=, step=, ttl, ...): pw_time_parse (RFC 3339 or Unix seconds) and
 * pw_duration_parse. The input is one NUL-terminated argument. Invariants: a parsed duration is
 * not negative and formats back to a string that parses to the same value; a parsed time formats
 * without overflowing its buffer. */
#include "base/err.h"
#include "base/timeutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t ms = 0;
    char buf[64];
    if (pw_time_parse(s, &ms) == PW_OK)
        pw_time_format(ms, buf, sizeof buf);
    if (pw_duration_parse(s, &ms) == PW_OK) {
        int64_t back = -1;
        if (ms < 0)
            abort();
        pw_duration_format(ms, buf, sizeof buf);
        if (pw_duration_parse(buf, &back) != PW_OK || back != ms)
            abort();
    }
    free(s);
    return 0;
}
