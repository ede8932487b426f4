/* api_admin.c — storage administration and the storage part of /healthz (docs/api.md,
 * "Administration").
 *
 *   POST /api/v1/admin/flush   admin only: checkpoint the time-series store now (every sample
 *                              acknowledged before the request is moved from the WAL into
 *                              compressed blocks; the WAL is truncated). Answers the figures.
 *
 * http_health_storage() adds the storage state to GET /healthz: whether the store accepts
 * writes and, when not, why (disk full, read-only file system, I/O error), and the data
 * directory's free space and read-only flag from statvfs. */
#include "http/http_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "pipeline/pipeline.h"
#include "tsdb/tsdb.h"

#include <inttypes.h>
#include <stdint.h>
#include <sys/statvfs.h>

#define FLUSH_TIMEOUT_MS 60000

static void h_flush(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct tsdb_stats a, b;
    if (!s->deps.pipeline || !s->deps.tsdb) {
        http_json_error(w, 503, "the time-series store is not open");
        return;
    }
    tsdb_stats(s->deps.tsdb, &a);
    int64_t t0 = pw_mono_ns();
    int rc = pipeline_flush(s->deps.pipeline, FLUSH_TIMEOUT_MS);
    int64_t ms = (pw_mono_ns() - t0) / 1000000;
    tsdb_stats(s->deps.tsdb, &b);
    if (rc != PW_OK) {
        PW_LOG_ERROR("http", "flush failed", "err=%s", pw_errname(rc));
        http_json_error(w, rc == PW_ETIMEDOUT || rc == PW_EFULL ? 503 : 500,
                        "flush failed: %s (%s)", pw_strerror(rc), pw_errname(rc));
        return;
    }
    PW_LOG_INFO("http", "flush", "samples=%" PRIu64 " ms=%lld", a.head_samples, (long long)ms);
    w->content_type = "application/json";
    pw_buf_printf(&w->body,
                  "{\"status\":\"ok\",\"samples\":%" PRIu64 ",\"wal_bytes_before\":%" PRIu64
                  ",\"wal_bytes_after\":%" PRIu64 ",\"blocks\":%" PRIu64
                  ",\"block_bytes\":%" PRIu64 ",\"ms\":%lld}\n",
                  a.head_samples, a.wal_bytes, b.wal_bytes, b.blocks, b.block_bytes,
                  (long long)ms);
}

const struct http_route http_routes_admin[] = {
    {"POST", "/api/v1/admin/flush", ACCESS_ADMIN, true, h_flush},
    {NULL, NULL, 0, false, NULL},
};

bool http_health_storage(struct http_server *s, struct pw_buf *out)
{
    struct statvfs v;
    bool ok = true;
    int state = s->deps.tsdb ? tsdb_write_state(s->deps.tsdb) : PW_OK;
    pw_buf_puts(out, "\"storage\":{");
    if (state == PW_OK) {
        pw_buf_puts(out, "\"state\":\"ok\"");
    } else {
        ok = false;
        pw_buf_printf(out, "\"state\":\"refusing\",\"error\":\"%s\",\"cause\":",
                      pw_errname(state));
        pw_buf_json_str(out, pw_strerror(state));
    }
    if (s->deps.data_dir && statvfs(s->deps.data_dir, &v) == 0) {
        bool ro = v.f_flag & ST_RDONLY;
        pw_buf_printf(out, ",\"free_bytes\":%llu,\"read_only\":%s",
                      (unsigned long long)v.f_bavail * (unsigned long long)v.f_frsize,
                      ro ? "true" : "false");
        ok = ok && !ro;
    }
    pw_buf_puts(out, "}");
    return ok;
}
