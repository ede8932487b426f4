/* json.c — bounds for JSON text before it is parsed (json.h).
 *
 * The count: every value inside a container is either its first element or follows a comma, and
 * every container is itself a value, so values <= 1 + commas + opening brackets, counting only
 * bytes outside strings. Strings are skipped with their escapes (a backslash hides the next
 * byte); the escape \u0000 is refused (cJSON, like any parser into C strings, would silently cut
 * the string at it: "E1\u0000x" would read as "E1"). */
#include "base/json.h"

#include "base/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int pw_json_check(const char *data, size_t len, const struct pw_json_limits *lim, const char *what,
                  struct pw_json_stats *st, char *err, size_t errcap)
{
    struct pw_json_stats s = {.bytes = len, .depth = 0, .values = 0};
    int depth = 0, rc = PW_OK;
    bool in_str = false, any = false;
    if (lim->max_bytes && len > lim->max_bytes) {
        snprintf(err, errcap, "%s: JSON larger than %zu bytes", what, lim->max_bytes);
        rc = PW_ETOOBIG;
        goto out;
    }
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_str) {
            if (c == '\\' && i + 5 < len && memcmp(data + i + 1, "u0000", 5) == 0) {
                /* a parser that makes C strings would cut the string there */
                snprintf(err, errcap, "%s: a string holds \\u0000 (NUL) at byte %zu", what, i);
                rc = PW_EINVAL;
                goto out;
            }
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        switch (c) {
        case '"':
            in_str = true;
            any = true;
            break;
        case '[':
        case '{':
            s.values++;
            any = true;
            if (++depth > s.depth)
                s.depth = depth;
            if (lim->max_depth && depth > lim->max_depth) {
                snprintf(err, errcap, "%s: JSON nested deeper than %d levels", what,
                         lim->max_depth);
                rc = PW_ERANGE;
                goto out;
            }
            break;
        case ']':
        case '}':
            if (depth > 0)
                depth--;
            break;
        case ',':
            s.values++;
            break;
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            break;
        default:
            any = true;
            break;
        }
        if (lim->max_values && s.values + 1 > lim->max_values) {
            snprintf(err, errcap, "%s: JSON with more than %zu values", what, lim->max_values);
            rc = PW_ETOOBIG;
            goto out;
        }
    }
    /* the first value of the document follows no comma; containers were counted when opened */
    if (any)
        s.values++;
    if (lim->max_values && s.values > lim->max_values) {
        snprintf(err, errcap, "%s: JSON with more than %zu values", what, lim->max_values);
        rc = PW_ETOOBIG;
        goto out;
    }
out:
    if (st)
        *st = s;
    return rc;
}
