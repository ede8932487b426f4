/* jsonv.c — the JSON validation shared by model import, device events and rule overrides
 * (jsonv.h). */
#include "jsonv/jsonv.h"

#include "base/err.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static size_t path_advance(size_t cap, size_t old, int n)
{
    size_t len = n < 0 ? old : old + (size_t)n;
    return len >= cap ? cap - 1 : len;
}

size_t jsonv_path_key(char *path, size_t cap, size_t *len, const char *key)
{
    size_t old = *len;
    *len = path_advance(cap, old, snprintf(path + old, cap - old, ".%s", key));
    return old;
}

size_t jsonv_path_idx(char *path, size_t cap, size_t *len, size_t i)
{
    size_t old = *len;
    *len = path_advance(cap, old, snprintf(path + old, cap - old, "[%zu]", i));
    return old;
}

void jsonv_path_pop(char *path, size_t *len, size_t old)
{
    *len = old;
    path[old] = '\0';
}

int jsonv_fail(char *err, size_t cap, const char *path, const char *fmt, ...)
{
    if (!cap)
        return PW_EINVAL;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (path)
        snprintf(err, cap, "%s: %s", path, msg);
    else
        snprintf(err, cap, "%s", msg);
    return PW_EINVAL;
}

enum jsonv_num jsonv_number(const cJSON *v, double lo, double hi, bool integer, double *out)
{
    if (!cJSON_IsNumber(v))
        return JSONV_NUM_TYPE;
    double d = v->valuedouble;
    if (!isfinite(d))
        return JSONV_NUM_INFINITE;
    if (integer && d != floor(d))
        return JSONV_NUM_FRACTION;
    if (d < lo || d > hi)
        return JSONV_NUM_RANGE;
    if (out)
        *out = d;
    return JSONV_NUM_OK;
}

int jsonv_enum(const char *s, const char *const *names)
{
    if (!s)
        return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void jsonv_list(const char *const *names, const char *sep, char *buf, size_t cap)
{
    size_t n = 0;
    if (!cap)
        return;
    buf[0] = '\0';
    for (int i = 0; names[i] && n < cap; i++) {
        int k = snprintf(buf + n, cap - n, "%s%s", i ? sep : "", names[i]);
        if (k < 0)
            break;
        n += (size_t)k;
    }
}

const char *jsonv_describe(const cJSON *v, char *buf, size_t cap)
{
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        size_t n = strlen(s), k = n > 40 ? 40 : n;
        while (k < n && k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
            k--; /* do not cut a UTF-8 sequence */
        snprintf(buf, cap, "\"%.*s%s\"", (int)k, s, k < n ? "…" : "");
    } else if (cJSON_IsNumber(v)) {
        snprintf(buf, cap, "%.15g", v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        snprintf(buf, cap, "%s", cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNull(v)) {
        snprintf(buf, cap, "null");
    } else if (cJSON_IsArray(v)) {
        snprintf(buf, cap, "an array");
    } else {
        snprintf(buf, cap, "an object");
    }
    return buf;
}

const cJSON *jsonv_bad_key(const cJSON *obj, const char *const *allowed, bool refuse_dups,
                           bool *dup)
{
    unsigned long long seen = 0;
    *dup = false;
    for (const cJSON *it = obj->child; it; it = it->next) {
        int i = jsonv_enum(it->string, allowed);
        if (i < 0)
            return it;
        if (refuse_dups && i < 64) {
            if ((seen >> i) & 1) {
                *dup = true;
                return it;
            }
            seen |= 1ull << i;
        }
    }
    return NULL;
}
