/* buf.h — a growable byte buffer with an upper bound.
 *
 *     struct pw_buf b;
 *     pw_buf_init(&b, 1 << 20);          // at most 1 MiB
 *     if (pw_buf_append(&b, p, n) != PW_OK) ... PW_ETOOBIG
 *     pw_buf_release(&b);
 *
 * data is always NUL-terminated (the NUL is not counted in len) so text can be used directly. */
#ifndef PW_BUF_H
#define PW_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct pw_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* 0 = unbounded (only for data we produce ourselves) */
};

void pw_buf_init(struct pw_buf *b, size_t max);
void pw_buf_release(struct pw_buf *b);
/* Returns PW_OK or PW_ETOOBIG (b unchanged) when len would exceed max. */
int pw_buf_append(struct pw_buf *b, const void *p, size_t n);
int pw_buf_puts(struct pw_buf *b, const char *s);
int pw_buf_putc(struct pw_buf *b, char c);
int pw_buf_printf(struct pw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int pw_buf_vprintf(struct pw_buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal (with quotes), escaping as RFC 8259 requires. */
int pw_buf_json_str(struct pw_buf *b, const char *s);
int pw_buf_json_strn(struct pw_buf *b, const char *s, size_t n);
/* Makes room for `extra` more bytes without growing again. PW_ETOOBIG past max. */
int pw_buf_reserve(struct pw_buf *b, size_t extra);
/* Appends ms as an RFC 3339 JSON string, or null when ms <= 0 ("never"). */
int pw_buf_json_time(struct pw_buf *b, int64_t ms);
/* Appends s as a JSON string, or null when s is NULL or empty. */
int pw_buf_json_str_or_null(struct pw_buf *b, const char *s);
/* Removes the first n bytes. */
void pw_buf_consume(struct pw_buf *b, size_t n);
void pw_buf_reset(struct pw_buf *b);
/* Takes ownership of the data (caller frees); b is left empty. */
char *pw_buf_steal(struct pw_buf *b, size_t *len);

#endif
