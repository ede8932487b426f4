/* log.c — logfmt lines to stderr, one write(2) per line. */
#include "base/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int pw_log_level = PW_LL_INFO;

static void (*log_sink)(const char *line, size_t len, void *arg);
static void *log_sink_arg;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int pw_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void pw_log_set_sink(void (*sink)(const char *line, size_t len, void *arg), void *arg)
{
    log_sink = sink;
    log_sink_arg = arg;
}

/* ---- the trailing key=value pairs ----
 * Values come from devices and users (a JT/T 808 plate, a user name, an MQTT topic), so they are
 * escaped here, for every caller: the fmt is walked conversion by conversion, and the text of
 * each %s / %c conversion is written
 *   - inside a quoted value of fmt (`err="%s"`): with `"`, `\` and control bytes escaped;
 *   - as a value (right after `=` in fmt: `plate=%s`): verbatim when it is a plain logfmt token
 *     (no space, `=`, `"`, `\`, control byte) or already a well-formed quoted value
 *     (pw_log_quote's output); otherwise quoted and escaped as pw_log_quote does;
 *   - anywhere else (a caller's preformatted `" key=value"` text): control bytes escaped.
 * Control bytes become \n, \r, \t or \xHH (DEL and bytes < 0x20), so a value can never end the
 * line or forge another key. Numeric conversions cannot carry such bytes and are printed as they
 * are. */

struct lbuf {
    char *p;
    size_t len, cap; /* len < cap always; p[len] = '\0' */
};

static void lb_putc(struct lbuf *b, char c)
{
    if (b->len + 1 < b->cap)
        b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

static void lb_puts(struct lbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lb_putc(b, s[i]);
}

/* Escapes one byte of a value for inside quotes. */
static void lb_escaped(struct lbuf *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[4];
    if (c == '"' || c == '\\') {
        lb_putc(b, '\\');
        lb_putc(b, (char)c);
    } else if (c == '\n') {
        lb_puts(b, "\\n", 2);
    } else if (c == '\r') {
        lb_puts(b, "\\r", 2);
    } else if (c == '\t') {
        lb_puts(b, "\\t", 2);
    } else if (c < 0x20 || c == 0x7f) {
        e[0] = '\\';
        e[1] = 'x';
        e[2] = hex[c >> 4];
        e[3] = hex[c & 15];
        lb_puts(b, e, 4);
    } else {
        lb_putc(b, (char)c);
    }
}

/* Bytes lb_escaped writes for c. */
static size_t esc_len(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t')
        return 2;
    return c < 0x20 || c == 0x7f ? 4 : 1;
}

static bool plain_byte(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '"' && c != '=' && c != '\\';
}

/* Whether s[0..n) is one well-formed quoted logfmt value: "…" with only \-escapes inside and no
 * control bytes. */
static bool is_quoted(const char *s, size_t n)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return false;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"')
            return false;
        if (c == '\\') {
            if (i + 2 >= n)
                return false; /* the closing quote would be escaped */
            i++;
            if ((unsigned char)s[i] < 0x20)
                return false;
        }
    }
    return true;
}

static void lb_value(struct lbuf *b, const char *s, size_t n, bool in_quotes, bool is_value)
{
    if (!in_quotes && !is_value) {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x20 || c == 0x7f)
                lb_escaped(b, c);
            else
                lb_putc(b, (char)c);
        }
        return;
    }
    if (in_quotes) {
        for (size_t i = 0; i < n; i++)
            lb_escaped(b, (unsigned char)s[i]);
        return;
    }
    bool plain = true;
    for (size_t i = 0; i < n && plain; i++)
        plain = plain_byte((unsigned char)s[i]);
    if (plain || is_quoted(s, n)) {
        lb_puts(b, s, n);
        return;
    }
    lb_putc(b, '"');
    for (size_t i = 0; i < n; i++)
        lb_escaped(b, (unsigned char)s[i]);
    lb_putc(b, '"');
}

enum lmod { LM_NONE, LM_HH, LM_H, LM_L, LM_LL, LM_Z, LM_J, LM_T, LM_BIGL };

char *pw_log_quote(char *buf, size_t cap, const char *s)
{
    if (cap == 0)
        return buf;
    struct lbuf b = {buf, 0, cap};
    buf[0] = '\0';
    size_t n = strlen(s);
    bool plain = n > 0;
    for (size_t i = 0; i < n && plain; i++)
        plain = plain_byte((unsigned char)s[i]);
    if (plain) {
        lb_puts(&b, s, n);
        return buf;
    }
    if (cap < 3)
        return buf;
    /* leave room for the closing quote: a truncated value stays one quoted value */
    b.cap = cap - 1;
    lb_putc(&b, '"');
    for (size_t i = 0; i < n && b.len + esc_len((unsigned char)s[i]) < b.cap; i++)
        lb_escaped(&b, (unsigned char)s[i]);
    b.cap = cap;
    lb_putc(&b, '"');
    return buf;
}

/* Formats fmt with ap into b, escaping the text of string conversions (above). Each conversion
 * is handed to snprintf on its own: its spec is copied from fmt, which the compiler checked at
 * the call site (PW_LOG_* are printf-checked), and parsed here to fetch the right argument. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void format_pairs(struct lbuf *b, const char *fmt, va_list ap)
{
    bool in_quotes = false;
    char spec[32], tmp[1024];
    for (const char *f = fmt; *f;) {
        if (*f != '%') {
            if (*f == '"')
                in_quotes = !in_quotes;
            lb_putc(b, *f++);
            continue;
        }
        if (f[1] == '%') {
            lb_putc(b, '%');
            f += 2;
            continue;
        }
        /* one conversion: %[flags][width][.precision][length]conv */
        bool is_value = f > fmt && f[-1] == '=';
        const char *start = f++;
        int stars[2], nstars = 0;
        while (*f && strchr("-+ #0'", *f))
            f++;
        if (*f == '*') {
            stars[nstars++] = va_arg(ap, int);
            f++;
        }
        while (*f >= '0' && *f <= '9')
            f++;
        if (*f == '.') {
            f++;
            if (*f == '*') {
                stars[nstars++] = va_arg(ap, int);
                f++;
            }
            while (*f >= '0' && *f <= '9')
                f++;
        }
        enum lmod lm = LM_NONE;
        if (f[0] == 'h' && f[1] == 'h') {
            lm = LM_HH;
            f += 2;
        } else if (f[0] == 'l' && f[1] == 'l') {
            lm = LM_LL;
            f += 2;
        } else if (*f && strchr("hlzjtL", *f)) {
            lm = *f == 'h'   ? LM_H
                 : *f == 'l' ? LM_L
                 : *f == 'z' ? LM_Z
                 : *f == 'j' ? LM_J
                 : *f == 't' ? LM_T
                             : LM_BIGL;
            f++;
        }
        char conv = *f;
        if (!conv)
            break;
        f++;
        size_t sl = (size_t)(f - start);
        if (sl >= sizeof spec) {
            lb_puts(b, "?", 1); /* a conversion this long is not in our code base */
            return;
        }
        memcpy(spec, start, sl);
        spec[sl] = '\0';
        int n = 0;
        tmp[0] = '\0';
#define PW_LOG_FMT(v)                                                                              \
    (nstars == 2   ? snprintf(tmp, sizeof tmp, spec, stars[0], stars[1], v)                        \
     : nstars == 1 ? snprintf(tmp, sizeof tmp, spec, stars[0], v)                                  \
                   : snprintf(tmp, sizeof tmp, spec, v))
        bool text = false;
        switch (conv) {
        case 's': {
            const char *v = va_arg(ap, const char *);
            n = PW_LOG_FMT(v ? v : "(null)");
            text = true;
            break;
        }
        case 'c':
            n = PW_LOG_FMT(va_arg(ap, int));
            text = true;
            break;
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o':
            switch (lm) {
            case LM_L:
                n = PW_LOG_FMT(va_arg(ap, long));
                break;
            case LM_LL:
                n = PW_LOG_FMT(va_arg(ap, long long));
                break;
            case LM_Z:
                n = PW_LOG_FMT(va_arg(ap, size_t));
                break;
            case LM_J:
                n = PW_LOG_FMT(va_arg(ap, intmax_t));
                break;
            case LM_T:
                n = PW_LOG_FMT(va_arg(ap, ptrdiff_t));
                break;
            default:
                n = PW_LOG_FMT(va_arg(ap, int));
                break;
            }
            break;
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
        case 'a':
        case 'A':
            if (lm == LM_BIGL)
                n = PW_LOG_FMT(va_arg(ap, long double));
            else
                n = PW_LOG_FMT(va_arg(ap, double));
            break;
        case 'p':
            n = PW_LOG_FMT(va_arg(ap, void *));
            break;
        default:
            lb_puts(b, "?", 1); /* %n and unknown conversions: stop, the arguments are unknown */
            return;
        }
#undef PW_LOG_FMT
        if (n < 0)
            continue;
        size_t tl = (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1;
        if (text)
            lb_value(b, tmp, tl, in_quotes, is_value);
        else
            lb_puts(b, tmp, tl);
    }
}
#pragma GCC diagnostic pop

void pw_log_write(int level, const char *mod, const char *msg, const char *fmt, ...)
{
    char line[2048];
    char qmsg[512];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    if (level < 0 || level > 3)
        level = PW_LL_ERROR;
    int n = snprintf(
        line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s mod=%s msg=%s",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        (int)(tv.tv_usec / 1000), level_names[level], mod, pw_log_quote(qmsg, sizeof qmsg, msg));
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (fmt && *fmt && len + 2 < sizeof line) {
        line[len++] = ' ';
        struct lbuf b = {line + len, 0, sizeof line - len - 1};
        b.p[0] = '\0';
        va_list ap;
        va_start(ap, fmt);
        format_pairs(&b, fmt, ap);
        va_end(ap);
        len += b.len;
    }
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    line[len] = '\0';
    if (log_sink) {
        log_sink(line, len, log_sink_arg);
        return;
    }
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
