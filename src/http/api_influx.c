/* api_influx.c — what InfluxDB clients call besides /write, answered as InfluxDB 1.8 answers it:
 *   GET|HEAD /ping    204 with X-Influxdb-Version (Telegraf, the influx clients probe it)
 *   GET /health       {"name":"influxdb","status":"pass",...}
 *   GET|POST /query   `q` (query string or form body) with CREATE DATABASE (a no-op: series carry
 *                     the db as a label) and SHOW DATABASES (the values of the db label); any
 *                     other statement is refused with 400: reads go through /api/v1/export.
 * The version claimed is that of the InfluxDB 1.x HTTP API these answers follow. */
#include "http/http_int.h"

#include "base/err.h"
#include "tsdb/tsdb.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define INFLUX_COMPAT_VERSION "1.8.10"
#define QUERY_MAX_STATEMENTS 16

static void version_headers(struct http_resp *w)
{
    http_add_header(w, "X-Influxdb-Version", INFLUX_COMPAT_VERSION);
    http_add_header(w, "X-Influxdb-Build", "OSS");
}

static void h_ping(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    version_headers(w);
    const char *v = http_arg(r, "verbose");
    if (v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)) {
        w->content_type = "application/json";
        pw_buf_puts(&w->body, "{\"version\":\"" INFLUX_COMPAT_VERSION "\"}\n");
        return;
    }
    w->status = 204;
}

static void h_health(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    version_headers(w);
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"name\":\"influxdb\",\"message\":\"ready for queries and writes\","
                          "\"status\":\"pass\",\"checks\":[],\"version\":\"" INFLUX_COMPAT_VERSION
                          "\"}\n");
}

static void influx_error(struct http_resp *w, int status, const char *msg)
{
    version_headers(w);
    w->status = status;
    w->content_type = "application/json";
    pw_buf_reset(&w->body);
    pw_buf_puts(&w->body, "{\"error\":");
    pw_buf_json_str(&w->body, msg);
    pw_buf_puts(&w->body, "}\n");
}

/* Does s (after leading spaces) start with the words of kw (single spaces between them),
 * case-insensitively, followed by the end or a space? *rest is what follows. */
static bool words(const char *s, size_t n, const char *kw, const char **rest)
{
    size_t i = 0;
    while (i < n && isspace((unsigned char)s[i]))
        i++;
    for (const char *k = kw; *k; k++) {
        if (*k == ' ') {
            if (i >= n || !isspace((unsigned char)s[i]))
                return false;
            while (i < n && isspace((unsigned char)s[i]))
                i++;
            continue;
        }
        if (i >= n || tolower((unsigned char)s[i]) != tolower((unsigned char)*k))
            return false;
        i++;
    }
    if (i < n && !isspace((unsigned char)s[i]))
        return false;
    *rest = s + i;
    return true;
}

static void show_databases(struct http_server *s, struct pw_buf *b)
{
    char **v = NULL;
    size_t n = 0;
    pw_buf_puts(b, ",\"series\":[{\"name\":\"databases\",\"columns\":[\"name\"],\"values\":[");
    if (tsdb_label_values(s->deps.tsdb, "db", NULL, &v, &n) == PW_OK) {
        for (size_t i = 0; i < n; i++) {
            pw_buf_puts(b, i ? ",[" : "[");
            pw_buf_json_str(b, v[i]);
            pw_buf_putc(b, ']');
        }
        tsdb_strings_free(v, n);
    }
    pw_buf_puts(b, "]}]");
}

static void h_query(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct http_form f;
    http_form_parse(r, &f);
    const char *q = http_form_get(&f, "q");
    if (!q || !*q) {
        influx_error(w, 400, "missing required parameter \"q\"");
        goto out;
    }
    version_headers(w);
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"results\":[");
    const char *p = q;
    int id = 0;
    while (*p) {
        size_t n = strcspn(p, ";");
        const char *rest;
        bool blank = true;
        for (size_t i = 0; i < n; i++)
            blank &= isspace((unsigned char)p[i]) != 0;
        if (!blank) {
            if (id == QUERY_MAX_STATEMENTS) {
                influx_error(w, 400, "too many statements (at most 16)");
                goto out;
            }
            pw_buf_printf(&w->body, "%s{\"statement_id\":%d", id ? "," : "", id);
            if (words(p, n, "show databases", &rest) && rest == p + n) {
                show_databases(s, &w->body);
            } else if (words(p, n, "create database", &rest) && rest < p + n) {
                /* nothing to create: the database is the db label of the series written */
            } else {
                char msg[160];
                snprintf(msg, sizeof msg,
                         "statement %d: only CREATE DATABASE and SHOW DATABASES are supported "
                         "(read data with /api/v1/export)", id);
                influx_error(w, 400, msg);
                goto out;
            }
            pw_buf_putc(&w->body, '}');
            id++;
        }
        p += n;
        if (*p == ';')
            p++;
    }
    pw_buf_puts(&w->body, "]}\n");
out:
    http_form_release(&f);
}

const struct http_route http_routes_influx[] = {
    {"GET", "/ping", ACCESS_PUBLIC, false, h_ping},
    {"HEAD", "/ping", ACCESS_PUBLIC, false, h_ping},
    {"GET", "/health", ACCESS_PUBLIC, false, h_health},
    {"GET", "/query", ACCESS_INGEST, false, h_query},
    {"POST", "/query", ACCESS_INGEST, true, h_query},
    {NULL, NULL, 0, false, NULL},
};
