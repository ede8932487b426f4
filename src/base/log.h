/* log.h — logfmt logging to stderr.
 *
 * Every line is `ts=<RFC 3339 ms> level=<lvl> mod=<module> msg="<text>" <key=value ...>`.
 * The level is checked before any argument is evaluated:
 *
 *     PW_LOG_WARN("hj212", "bad crc", "peer=%s mn=%s", peer, mn);
 *
 * `fmt` gives the trailing key=value pairs (printf-checked). The text of every %s / %c is escaped
 * by pw_log_write itself, whoever the caller: a value right after `=` is quoted when it holds a
 * space, `=`, `"`, `\` or a control byte; inside `key="%s"` quotes and backslashes are escaped;
 * control bytes become \n, \r, \t or \xHH everywhere. So a device's or user's string can neither
 * end the line nor forge a key (log.c has the rules). pw_log_quote() output passes through
 * unchanged. Thread-safe: each line is written with one write(2). */
#ifndef PW_LOG_H
#define PW_LOG_H

#include <stddef.h>

enum pw_log_level {
    PW_LL_ERROR = 0,
    PW_LL_WARN = 1,
    PW_LL_INFO = 2,
    PW_LL_DEBUG = 3,
};

extern int pw_log_level; /* lines above this level are not written; default PW_LL_INFO */

/* Parses "error|warn|info|debug"; returns the level or -1. */
int pw_log_level_parse(const char *s);

void pw_log_write(int level, const char *mod, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes `s` as a logfmt value into buf (quoted and escaped when needed, truncated to fit — a
 * truncated quoted value keeps its closing quote) and returns buf. */
char *pw_log_quote(char *buf, size_t cap, const char *s);

/* Test hook: capture lines into a callback instead of stderr (NULL restores stderr). */
void pw_log_set_sink(void (*sink)(const char *line, size_t len, void *arg), void *arg);

#define PW_LOG_AT(lvl, mod, msg, ...)                                                              \
    do {                                                                                           \
        if (pw_log_level >= (lvl))                                                                 \
            pw_log_write((lvl), (mod), (msg), __VA_ARGS__);                                        \
    } while (0)
#define PW_LOG_ERROR(mod, msg, ...) PW_LOG_AT(PW_LL_ERROR, mod, msg, __VA_ARGS__)
#define PW_LOG_WARN(mod, msg, ...) PW_LOG_AT(PW_LL_WARN, mod, msg, __VA_ARGS__)
#define PW_LOG_INFO(mod, msg, ...) PW_LOG_AT(PW_LL_INFO, mod, msg, __VA_ARGS__)
#define PW_LOG_DEBUG(mod, msg, ...) PW_LOG_AT(PW_LL_DEBUG, mod, msg, __VA_ARGS__)

#endif
