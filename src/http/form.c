/* form.c — request arguments from the query string and from an
 * `application/x-www-form-urlencoded` body, as one list (the Prometheus API and InfluxDB's /query
 * take either; Grafana sends POST forms).
 *
 * Bounds: the body is already bounded by the server's body limit; at most HTTP_FORM_MAX_ARGS
 * arguments are kept (further ones set too_many, which callers report). Decoded body text lives
 * in one allocation of at most twice the body. */
#include "http/http_int.h"

#include "base/err.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct http_form *f = cls;
    if (!key)
        return MHD_YES;
    if (f->n == HTTP_FORM_MAX_ARGS) {
        f->too_many = true;
        return MHD_YES;
    }
    f->key[f->n] = key;
    f->val[f->n] = value ? value : "";
    f->n++;
    return MHD_YES;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) (`+` is a space, %XX a byte) into out, NUL-terminated; returns the end. A '%'
 * not followed by two hex digits is kept as it is (as browsers and Go's url package do not: they
 * refuse; keeping it loses nothing). A decoded NUL byte ends the string early, as in MHD's own
 * decoding of the query string. */
static char *decode(const char *s, size_t n, char *out)
{
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        *o++ = c;
    }
    *o = '\0';
    return o;
}

bool http_form_is_urlencoded(struct http_req *r)
{
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (!ct)
        return false;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

void http_form_parse(struct http_req *r, struct http_form *f)
{
    memset(f, 0, sizeof *f);
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_query, f);
    if (strcmp(r->method, "POST") != 0 || r->body_len == 0 || !http_form_is_urlencoded(r))
        return;
    /* each pair decodes to at most its own bytes plus two NULs */
    f->buf = pw_xmalloc(2 * r->body_len + 2);
    char *o = f->buf;
    const char *p = r->body, *end = r->body + r->body_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (pe > p) {
            if (f->n == HTTP_FORM_MAX_ARGS) {
                f->too_many = true;
                break;
            }
            const char *ke = eq ? eq : pe;
            f->key[f->n] = o;
            o = decode(p, (size_t)(ke - p), o) + 1;
            f->val[f->n] = o;
            o = eq ? decode(eq + 1, (size_t)(pe - eq - 1), o) + 1 : (*o = '\0', o + 1);
            f->n++;
        }
        p = pe + 1;
    }
}

void http_form_release(struct http_form *f)
{
    free(f->buf);
    f->buf = NULL;
    f->n = 0;
}

const char *http_form_get(const struct http_form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->key[i], name) == 0)
            return f->val[i];
    return NULL;
}
