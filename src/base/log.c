/* log.c — logfmt lines to stderr, one write(2) per line. */
#include "base/log.h"

#include <stdarg.h>
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

char *pw_log_quote(char *buf, size_t cap, const char *s)
{
    size_t o = 0;
    int need = (*s == '\0');
    for (const char *p = s; *p; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p < 0x20)
            need = 1;
    if (cap == 0)
        return buf;
    if (!need) {
        snprintf(buf, cap, "%s", s);
        return buf;
    }
    if (o + 1 < cap)
        buf[o++] = '"';
    for (const char *p = s; *p && o + 4 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c < 0x20) {
            buf[o++] = '?';
        } else {
            buf[o++] = (char)c;
        }
    }
    if (o + 1 < cap)
        buf[o++] = '"';
    buf[o < cap ? o : cap - 1] = '\0';
    return buf;
}

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
    int n = snprintf(line, sizeof line,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s mod=%s msg=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level], mod,
                     pw_log_quote(qmsg, sizeof qmsg, msg));
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (fmt && *fmt && len + 2 < sizeof line) {
        line[len++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + len, sizeof line - len, fmt, ap);
        va_end(ap);
        if (m > 0)
            len += (size_t)m < sizeof line - len ? (size_t)m : sizeof line - len - 1;
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
