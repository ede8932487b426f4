/* libFuzzer target for pw_json_check, the bound every HTTP JSON body passes before cJSON parses
 * it. The first byte picks small limits so that every refusal is reached; the rest is the text.
 * Invariants: a refusal names its bound; a text within the bounds that cJSON parses builds no more
 * nodes than the scan counted and nests no deeper than it saw; \u0000 is refused only where the
 * text has it. */
#include "base/err.h"
#include "base/json.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t nodes(const cJSON *j, int d, int *maxd)
{
    size_t n = 0;
    for (; j; j = j->next) {
        n++;
        if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
            if (d + 1 > *maxd)
                *maxd = d + 1;
            if (d < 200)
                n += nodes(j->child, d + 1, maxd);
        }
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t o = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct pw_json_limits lim = {
        .max_bytes = (o & 1) ? 256 : 0,
        .max_depth = (o & 2) ? 4 : 64,
        .max_values = (o & 4) ? 16 : 0,
    };
    char err[160];
    struct pw_json_stats st;
    int rc = pw_json_check(text, len, &lim, "body", &st, err, sizeof err);
    if (rc == PW_EINVAL) { /* the escape \u0000 in a string */
        if (strncmp(err, "body: a string holds \\u0000 ", 28) != 0 || !memmem(text, len, "\\u0000", 6))
            abort();
        return 0;
    }
    if (rc != PW_OK) {
        if (rc != PW_ETOOBIG && rc != PW_ERANGE)
            abort();
        if (strncmp(err, "body: JSON ", 11) != 0)
            abort();
        return 0;
    }
    if (st.bytes != len || (lim.max_depth && st.depth > lim.max_depth) ||
        (lim.max_values && st.values > lim.max_values))
        abort();
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (j) {
        int d = 0;
        size_t n = nodes(j, 0, &d);
        if (n > st.values || d > st.depth)
            abort();
        cJSON_Delete(j);
    }
    return 0;
}
