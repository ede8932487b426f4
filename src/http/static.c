/* static.c — the web UI's files from http.web_root: content types, ETag, CSP.
 *
 * Paths are confined to web_root: only [A-Za-z0-9._/-] segments, no "..", no hidden files.
 * "/" serves index.html; unknown paths without an extension also serve index.html so the
 * single-page app's routes survive a reload. ETags are a hash of the content; responses carry
 * Cache-Control: no-cache so the browser revalidates and gets 304 when nothing changed. */
#include "http/http_int.h"

#include "base/err.h"
#include "base/fsutil.h"
#include "base/hash.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATIC_MAX_FILE (32u << 20)

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".geojson", "application/geo+json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".mp3", "audio/mpeg"},
    {".wav", "audio/wav"},
    {".txt", "text/plain; charset=utf-8"},
    {".map", "application/json"},
};

/* The UI loads only its own scripts (ES modules, no inline script); styles may be inline
 * because ECharts sets element styles. */
static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                          "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; "
                          "media-src 'self' data:; object-src 'none'; base-uri 'none'; "
                          "frame-ancestors 'none'; form-action 'self'";

static const char *type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot)
        for (size_t i = 0; i < PW_ARRAY_LEN(types); i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static bool safe_path(const char *p)
{
    if (*p != '/')
        return false;
    for (const char *c = p; *c; c++) {
        char ch = *c;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '_' || ch == '-' || ch == '/';
        if (!ok)
            return false;
        if (ch == '/' && c[1] == '.')
            return false; /* "..", hidden files */
    }
    return strlen(p) < 512;
}

void http_static(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    char full[1200], etag[40];
    const char *path = r->path;
    char *data = NULL;
    size_t len = 0;
    if (!safe_path(path)) {
        http_json_error(w, 404, "not found");
        return;
    }
    const char *last = strrchr(path, '/');
    if (strcmp(path, "/") == 0 || !strchr(last, '.'))
        path = "/index.html";
    snprintf(full, sizeof full, "%s%s", s->deps.cfg->http_web_root, path);
    int rc = pw_file_read(full, STATIC_MAX_FILE, &data, &len);
    if (rc != PW_OK) {
        http_json_error(w, rc == PW_ENOTFOUND ? 404 : 500, "%s: %s", path, pw_strerror(rc));
        return;
    }
    snprintf(etag, sizeof etag, "\"%016llx\"", (unsigned long long)pw_hash64(data, len, len));
    http_add_header(w, "ETag", etag);
    http_add_header(w, "Cache-Control", "no-cache");
    if (strcmp(type_of(path), "text/html; charset=utf-8") == 0)
        http_add_header(w, "Content-Security-Policy", csp);
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    w->content_type = type_of(path);
    if (inm && strcmp(inm, etag) == 0) {
        w->status = 304;
        free(data);
        return;
    }
    pw_buf_release(&w->body);
    w->body.data = data;
    w->body.len = len;
    w->body.cap = len + 1;
}
