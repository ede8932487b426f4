/* buf.c — bounded growable buffer. */
#include "base/buf.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pw_buf_init(struct pw_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void pw_buf_release(struct pw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int reserve(struct pw_buf *b, size_t extra)
{
    if (b->max && (extra > b->max || b->len > b->max - extra))
        return PW_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return PW_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = pw_xrealloc(b->data, cap);
    b->cap = cap;
    return PW_OK;
}

int pw_buf_reserve(struct pw_buf *b, size_t extra)
{
    return reserve(b, extra);
}

int pw_buf_append(struct pw_buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return PW_OK;
}

int pw_buf_puts(struct pw_buf *b, const char *s)
{
    return pw_buf_append(b, s, strlen(s));
}

int pw_buf_putc(struct pw_buf *b, char c)
{
    return pw_buf_append(b, &c, 1);
}

int pw_buf_vprintf(struct pw_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return PW_EINVAL;
    if ((size_t)n < sizeof small)
        return pw_buf_append(b, small, (size_t)n);
    int rc = reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return PW_OK;
}

int pw_buf_printf(struct pw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = pw_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int pw_buf_json_strn(struct pw_buf *b, const char *s, size_t n)
{
    int rc = pw_buf_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n && rc == PW_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = pw_buf_append(b, s + start, i - start);
        if (rc)
            break;
        switch (c) {
        case '"': rc = pw_buf_puts(b, "\\\""); break;
        case '\\': rc = pw_buf_puts(b, "\\\\"); break;
        case '\n': rc = pw_buf_puts(b, "\\n"); break;
        case '\r': rc = pw_buf_puts(b, "\\r"); break;
        case '\t': rc = pw_buf_puts(b, "\\t"); break;
        default: rc = pw_buf_printf(b, "\\u%04x", c); break;
        }
        start = i + 1;
    }
    if (rc == PW_OK)
        rc = pw_buf_append(b, s + start, n - start);
    if (rc == PW_OK)
        rc = pw_buf_putc(b, '"');
    return rc;
}

int pw_buf_json_str(struct pw_buf *b, const char *s)
{
    return pw_buf_json_strn(b, s ? s : "", s ? strlen(s) : 0);
}

int pw_buf_json_time(struct pw_buf *b, int64_t ms)
{
    char t[32];
    if (ms <= 0)
        return pw_buf_puts(b, "null");
    return pw_buf_json_str(b, pw_time_format(ms, t, sizeof t));
}

int pw_buf_json_str_or_null(struct pw_buf *b, const char *s)
{
    return s && *s ? pw_buf_json_str(b, s) : pw_buf_puts(b, "null");
}

void pw_buf_consume(struct pw_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void pw_buf_reset(struct pw_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *pw_buf_steal(struct pw_buf *b, size_t *len)
{
    char *d = b->data;
    if (len)
        *len = b->len;
    if (!d)
        d = pw_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}
