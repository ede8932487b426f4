/* api_archive.c — the tamper-evident archive, read-only, in the c2sp.org/tlog-tiles layout
 * (docs/archive.md, docs/api.md "Archive"):
 *
 *   GET /archive/checkpoint                 the latest signed checkpoint (not cacheable)
 *   GET /archive/tile/<L>/<N>[.p/<W>]       hash tiles (immutable)
 *   GET /archive/tile/entries/<N>[.p/<W>]   entry bundles (immutable)
 *   GET /archive/vkey                       the verifier key (public)
 *   GET /api/v1/archive/proof?index=N       a c2sp.org/tlog-proof receipt for leaf N against the
 *                                           latest checkpoint, the leaf in its extra line
 *   GET /api/v1/archive/proof?match[]=SERIES&ts=T
 *                                           the same for the HJ 212 frame that carried the stored
 *                                           sample (SERIES, T)
 *   POST /archive/witness/add-checkpoint    c2sp.org/tlog-witness (public: the request is
 *                                           authenticated by the log's signature)
 *   GET /archive/witness/vkey               the witness's cosignature key (public)
 *   POST /api/v1/archive/prune              {"below": N}: entry bundles below N removed (admin)
 *   GET /archive/daily                      the days of the daily record, one per line
 *   GET /archive/daily/<YYYY-MM-DD>         that day's last signed checkpoint
 *   GET /api/v1/archive/consistency?old=M[&size=N]
 *                                           consistency proof hashes (base64, one per line) from
 *                                           size M to N (default: the latest checkpoint)
 * Everything but the vkey needs admin, supervisor or regulator. Tiles are served only up to the
 * latest checkpoint's size. */
#include "http/http_int.h"

#include "archive/archive.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "proto/hj212.h"
#include "tsdb/tsdb.h"
#include "base/timeutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static struct archive *archive_of(struct http_server *s, struct http_resp *w)
{
    if (!s->deps.archive)
        http_json_error(w, 404, "the archive is not enabled (archive.enabled)");
    return s->deps.archive;
}

static void h_checkpoint(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct archive *a = archive_of(s, w);
    if (!a)
        return;
    if (archive_latest_checkpoint(a, &w->body) != PW_OK) {
        http_json_error(w, 404, "no checkpoint signed yet");
        return;
    }
    w->content_type = "text/plain; charset=utf-8";
    http_add_header(w, "Cache-Control", "no-cache");
}

static void h_vkey(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct archive *a = archive_of(s, w);
    if (!a)
        return;
    char vk[300];
    archive_vkey(a, vk, sizeof vk);
    pw_buf_puts(&w->body, vk);
    pw_buf_putc(&w->body, '\n');
    w->content_type = "text/plain; charset=utf-8";
}

static void h_tile(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct archive *a = archive_of(s, w);
    if (!a)
        return;
    int level;
    uint64_t n;
    unsigned width;
    if (archive_tile_parse(r->params[0], &level, &n, &width) != PW_OK) {
        http_json_error(w, 400,
                        "tile path: expected <L>/<N>[.p/<W>] or entries/<N>[.p/<W>] "
                        "with N in x-prefixed 3-digit groups, got '%.64s'",
                        r->params[0]);
        return;
    }
    int rc = archive_tile_read(a, level, n, width, &w->body);
    if (rc == PW_ENOTFOUND) {
        http_json_error(w, 404, "tile %.64s is not in the tree of the latest checkpoint",
                        r->params[0]);
        return;
    }
    if (rc != PW_OK) {
        http_json_error(w, 500, "reading tile %.64s: %s", r->params[0], pw_strerror(rc));
        return;
    }
    w->content_type = "application/octet-stream";
    http_add_header(w, "Cache-Control", "public, max-age=31536000, immutable");
}

static bool u64_arg(struct http_req *r, struct http_resp *w, const char *name, bool required,
                    uint64_t def, uint64_t *out)
{
    const char *v = http_arg(r, name);
    if (!v || !*v) {
        if (required) {
            http_json_error(w, 400, "%s: required", name);
            return false;
        }
        *out = def;
        return true;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno || v[0] == '-' || v[0] == '+' || strlen(v) > 20) {
        http_json_error(w, 400, "%s: expected a non-negative integer, got '%.32s'", name, v);
        return false;
    }
    *out = x;
    return true;
}

/* The latest checkpoint's note and size; false after answering. */
static bool latest(struct archive *a, struct http_resp *w, struct pw_buf *note, uint64_t *size)
{
    if (archive_latest_checkpoint(a, note) != PW_OK) {
        http_json_error(w, 404, "no checkpoint signed yet");
        return false;
    }
    struct archive_checkpoint cp;
    char err[128];
    const char *sep = strstr(note->data, "\n\n");
    if (!sep || archive_checkpoint_parse(note->data, (size_t)(sep - note->data) + 1, &cp, err,
                                         sizeof err) != PW_OK) {
        http_json_error(w, 500, "the stored checkpoint does not parse");
        return false;
    }
    *size = cp.size;
    return true;
}

/* ---- tracing a stored HJ 212 sample to the frame that carried it ---- */

struct trace {
    const char *mn, *cn, *code;
    int64_t ts;
    int utc_off;
    struct hj212_msg *msg;
};

static bool frame_carries(const uint8_t *leaf, size_t len, void *arg)
{
    struct trace *t = arg;
    struct archive_leaf l;
    if (archive_leaf_decode(leaf, len, &l) != PW_OK || l.kind != ARCHIVE_KIND_HJ212_RX)
        return false;
    /* cheap filter before decoding */
    size_t ml = strlen(t->mn);
    if (!memmem(l.bytes, l.len, t->mn, ml))
        return false;
    struct hj212_decode_opts o = {.accept_modbus_crc = true};
    struct hj212_error e;
    if (hj212_decode((const char *)l.bytes, l.len, &o, t->msg, &e) != HJ212_OK)
        return false;
    char cn[12];
    snprintf(cn, sizeof cn, "%d", t->msg->cn);
    if (strcmp(t->msg->mn, t->mn) != 0 || strcmp(cn, t->cn) != 0 || !t->msg->has_data_time ||
        hj212_datetime_to_ms(&t->msg->data_time, t->utc_off) != t->ts)
        return false;
    for (size_t i = 0; i < t->msg->n_items; i++)
        if (strcmp(t->msg->items[i].code, t->code) == 0)
            return true;
    return false;
}

#define TRACE_SKEW_MS (10 * 60 * 1000) /* a frame may arrive this much before its DataTime */
#define TRACE_MAX_LEAVES 2000000       /* leaves looked at after that */

/* The leaf of the frame that carried sample (match[], ts); false after answering. */
static bool trace_sample(struct http_server *s, struct http_req *r, struct http_resp *w,
                         struct archive *a, uint64_t *index)
{
    const char *sel = http_arg(r, "match[]");
    int64_t ts = 0;
    if (!sel || !*sel) {
        http_json_error(w, 400, "give index=N, or match[]=SERIES and ts=TIME of a stored sample");
        return false;
    }
    if (!http_time_arg(r, w, "ts", INT64_MIN, &ts))
        return false;
    if (ts == INT64_MIN) {
        http_json_error(w, 400, "ts: required with match[]");
        return false;
    }
    uint32_t *refs = NULL;
    size_t n = 0;
    char err[256];
    if (http_select_scoped(s, r->scope, sel, 2, &refs, &n, err, sizeof err) != PW_OK) {
        http_json_error(w, 400, "match[]: %s", err);
        return false;
    }
    if (n != 1) {
        http_json_error(w, n ? 400 : 404, "match[] selects %s series; it must select one",
                        n ? "more than one" : "no");
        free(refs);
        return false;
    }
    struct tsdb_label labels[TSDB_MAX_LABELS];
    size_t nl = tsdb_series_labels(s->deps.tsdb, refs[0], labels, TSDB_MAX_LABELS);
    free(refs);
    struct trace t = {.ts = ts};
    const char *name = NULL;
    for (size_t i = 0; i < nl; i++) {
        if (strcmp(labels[i].name, "__name__") == 0)
            name = labels[i].value;
        else if (strcmp(labels[i].name, "mn") == 0)
            t.mn = labels[i].value;
        else if (strcmp(labels[i].name, "cn") == 0)
            t.cn = labels[i].value;
        else if (strcmp(labels[i].name, "code") == 0)
            t.code = labels[i].value;
    }
    if (!name || strncmp(name, "hj212_", 6) != 0 || !t.mn || !t.cn || !t.code) {
        http_json_error(w, 400,
                        "match[]: only HJ 212 series (hj212_*{mn,cn,code}) can be traced "
                        "to their frame");
        return false;
    }
    struct model_hj212_device md;
    t.utc_off = model_device_by_mn(s->deps.model, t.mn, &md) == PW_OK
                    ? md.utc_offset_minutes
                    : (int)s->deps.cfg->hj212_utc_offset_minutes;
    t.msg = pw_xmalloc(sizeof *t.msg);
    int rc = archive_find(a, ts - TRACE_SKEW_MS, TRACE_MAX_LEAVES, frame_carries, &t, index);
    free(t.msg);
    if (rc == PW_ENOTFOUND) {
        http_json_error(w, 404,
                        "no archived frame of MN %s carries %s at that DataTime (among "
                        "%d leaves received from 10 minutes before it, in the latest "
                        "checkpoint)",
                        t.mn, t.code, TRACE_MAX_LEAVES);
        return false;
    }
    if (rc != PW_OK) {
        http_json_error(w, 500, "searching the archive: %s", pw_strerror(rc));
        return false;
    }
    return true;
}

static void h_proof(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct archive *a = archive_of(s, w);
    if (!a)
        return;
    uint64_t index, size;
    struct pw_buf note, leaf;
    pw_buf_init(&note, 0);
    pw_buf_init(&leaf, 0);
    const char *iv = http_arg(r, "index");
    if (iv && *iv) {
        if (!u64_arg(r, w, "index", true, 0, &index))
            goto out;
    } else if (!trace_sample(s, r, w, a, &index)) {
        goto out;
    }
    if (!latest(a, w, &note, &size))
        goto out;
    if (index >= size) {
        http_json_error(w, 404,
                        "leaf %" PRIu64 " is not in the latest checkpoint (size %" PRIu64 ")",
                        index, size);
        goto out;
    }
    if (index < archive_pruned(a)) {
        http_json_error(w, 410,
                        "leaf %" PRIu64 " was pruned (entries below %" PRIu64
                        " were removed by an operator; the tree keeps their hashes)",
                        index, archive_pruned(a));
        goto out;
    }
    uint8_t proof[ARCHIVE_MAX_PROOF][ARCHIVE_HASH];
    size_t n = 0;
    int rc = archive_prove(a, index, size, proof, &n);
    if (rc == PW_OK)
        rc = archive_entry_read(a, index, &leaf);
    if (rc != PW_OK) {
        http_json_error(w, 500, "proof: %s", pw_strerror(rc));
        goto out;
    }
    archive_receipt_format(index, (const uint8_t(*)[ARCHIVE_HASH])proof, n, note.data, note.len,
                           leaf.data, leaf.len, &w->body);
    w->content_type = "text/plain; charset=utf-8";
    char cd[96];
    snprintf(cd, sizeof cd, "attachment; filename=\"leaf-%" PRIu64 ".tlog-proof\"", index);
    http_add_header(w, "Content-Disposition", cd);
out:
    pw_buf_release(&note);
    pw_buf_release(&leaf);
}

static void h_consistency(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct archive *a = archive_of(s, w);
    if (!a)
        return;
    uint64_t old, size, latest_size;
    struct pw_buf note;
    pw_buf_init(&note, 0);
    if (!latest(a, w, &note, &latest_size) || !u64_arg(r, w, "old", true, 0, &old) ||
        !u64_arg(r, w, "size", false, latest_size, &size))
        goto out;
    if (old == 0 || old > size || size > latest_size) {
        http_json_error(w, 400, "need 0 < old <= size <= %" PRIu64 " (the latest checkpoint)",
                        latest_size);
        goto out;
    }
    uint8_t proof[ARCHIVE_MAX_PROOF][ARCHIVE_HASH];
    size_t n = 0;
    int rc = archive_prove_consistency(a, old, size, proof, &n);
    if (rc != PW_OK) {
        http_json_error(w, 500, "proof: %s", pw_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char b64[64];
        sodium_bin2base64(b64, sizeof b64, proof[i], ARCHIVE_HASH, sodium_base64_VARIANT_ORIGINAL);
        pw_buf_puts(&w->body, b64);
        pw_buf_putc(&w->body, '\n');
    }
    w->content_type = "text/plain; charset=utf-8";
out:
    pw_buf_release(&note);
}

/* POST /api/v1/archive/prune {"below": N}: entry bundles below N are removed (admin). N is a
 * multiple of 256 below the latest checkpoint's size, and the last leaf below it was received more
 * than archive.min_retention ago; the operator's archive.prune leaf is durable first. */
static void h_prune(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct archive *a = archive_of(s, w);
    if (!a)
        return;
    cJSON *j = http_json_body(r, w);
    if (!j)
        return;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "below");
    struct pw_buf leaf, d;
    pw_buf_init(&leaf, 0);
    pw_buf_init(&d, 0);
    if (!cJSON_IsNumber(b) || b->valuedouble < 1 || b->valuedouble > 9e15 ||
        b->valuedouble != (double)(uint64_t)b->valuedouble) {
        http_json_error(w, 400, "below: expected a positive integer (a multiple of 256)");
        goto out;
    }
    uint64_t below = (uint64_t)b->valuedouble, size = 0;
    struct pw_buf note;
    pw_buf_init(&note, 0);
    bool have = archive_latest_signed(a, &note, &size) == PW_OK;
    pw_buf_release(&note);
    if (!have || below % ARCHIVE_TILE_WIDTH || below <= archive_pruned(a) || below >= size) {
        http_json_error(w, 400,
                        "below: a multiple of 256 above the pruned index %" PRIu64
                        " and below the latest checkpoint's size %" PRIu64,
                        archive_pruned(a), size);
        goto out;
    }
    /* the law's minimum: the last leaf below was received long enough ago */
    struct archive_leaf l;
    int64_t keep = s->deps.cfg->archive_min_retention, now = pw_now_ms();
    if (archive_entry_read(a, below - 1, &leaf) != PW_OK ||
        archive_leaf_decode((const uint8_t *)leaf.data, leaf.len, &l) != PW_OK) {
        http_json_error(w, 500, "leaf %" PRIu64 " cannot be read", below - 1);
        goto out;
    }
    if (l.time_ms > now - keep) {
        char t[40], k[32];
        http_json_error(w, 409,
                        "leaf %" PRIu64 " was received at %s: entries are kept for "
                        "archive.min_retention (%s)",
                        below - 1, pw_time_format(l.time_ms, t, sizeof t),
                        pw_duration_format(keep, k, sizeof k));
        goto out;
    }
    pw_buf_printf(&d, "{\"below\":%" PRIu64 ",\"last_received_ms\":%lld}", below,
                  (long long)l.time_ms);
    if (!http_archive_or_503(s, r, w, "archive.prune", &d, NULL, 0))
        goto out;
    uint64_t freed = 0;
    char err[256] = "";
    int rc = archive_prune(a, below, &freed, err, sizeof err);
    if (rc != PW_OK) {
        http_json_error(w, rc == PW_EINVAL ? 409 : 500, "%s", err[0] ? err : pw_strerror(rc));
        goto out;
    }
    w->content_type = "application/json";
    pw_buf_printf(&w->body, "{\"below\":%" PRIu64 ",\"freed_bytes\":%" PRIu64 "}\n", below, freed);
out:
    pw_buf_release(&leaf);
    pw_buf_release(&d);
    cJSON_Delete(j);
}

/* GET /archive/daily: the days filed; GET /archive/daily/<YYYY-MM-DD>: that day's last
 * checkpoint, the signed note as it was signed. */
static void h_daily_list(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct archive *a = archive_of(s, w);
    if (!a)
        return;
    int rc = archive_daily_list(archive_dir(a), &w->body);
    if (rc != PW_OK) {
        http_json_error(w, 500, "daily record: %s", pw_strerror(rc));
        return;
    }
    w->content_type = "text/plain; charset=utf-8";
    http_add_header(w, "Cache-Control", "no-cache");
}

static void h_daily(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct archive *a = archive_of(s, w);
    if (!a)
        return;
    int rc = archive_daily_read(archive_dir(a), r->params[0], &w->body);
    if (rc == PW_EINVAL) {
        http_json_error(w, 400, "day: expected YYYY-MM-DD, got '%.32s'", r->params[0]);
        return;
    }
    if (rc == PW_ENOTFOUND) {
        http_json_error(w, 404,
                        "no daily checkpoint for %.32s (the day's last checkpoint is filed "
                        "when the first one of a later day is signed)",
                        r->params[0]);
        return;
    }
    if (rc != PW_OK) {
        http_json_error(w, 500, "daily record: %s", pw_strerror(rc));
        return;
    }
    w->content_type = "text/plain; charset=utf-8";
    http_add_header(w, "Cache-Control", "public, max-age=31536000, immutable");
}

static void h_witness_add(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!s->deps.witness) {
        http_json_error(w, 404, "this parkwatch is not a witness (archive.witness_for)");
        return;
    }
    const char *ct = NULL;
    w->status = archive_witness_add(s->deps.witness, r->body ? r->body : "", r->body_len,
                                    (uint64_t)(pw_now_ms() / 1000), &w->body, &ct);
    w->content_type = ct;
}

static void h_witness_vkey(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!s->deps.witness_vkey[0]) {
        http_json_error(w, 404, "this parkwatch is not a witness (archive.witness_for)");
        return;
    }
    pw_buf_puts(&w->body, s->deps.witness_vkey);
    pw_buf_putc(&w->body, '\n');
    w->content_type = "text/plain; charset=utf-8";
}

/* The operator leaf's bytes of http_archive_action, appended to j. */
static void action_json(struct http_req *r, const char *action, const char *detail_json,
                        const void *body, size_t body_len, struct pw_buf *j)
{
    pw_buf_puts(j, "{\"action\":");
    pw_buf_json_str(j, action);
    pw_buf_puts(j, ",\"user\":");
    pw_buf_json_str(j, r->who.user);
    pw_buf_puts(j, ",\"role\":");
    pw_buf_json_str(j, model_role_name(r->who.role));
    pw_buf_puts(j, ",\"peer\":");
    pw_buf_json_str(j, r->peer);
    if (detail_json) {
        pw_buf_puts(j, ",\"detail\":");
        pw_buf_puts(j, detail_json);
    }
    if (body) {
        uint8_t h[32];
        char hex[65];
        crypto_hash_sha256(h, body, body_len);
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        pw_buf_printf(j, ",\"bytes\":%zu,\"sha256\":\"%s\"", body_len, hex);
    }
    pw_buf_puts(j, "}");
    /* the body too when it fits in one leaf */
    if (body &&
        ARCHIVE_LEAF_HEADER + ARCHIVE_MAX_SOURCE + j->len + 1 + body_len <= ARCHIVE_MAX_ENTRY) {
        pw_buf_putc(j, '\n');
        pw_buf_append(j, body, body_len);
    }
}

int http_archive_action(struct http_server *s, struct http_req *r, const char *action,
                        const char *detail_json, const void *body, size_t body_len)
{
    if (!s->deps.archive || !s->deps.pipeline || !pipeline_archiving(s->deps.pipeline))
        return PW_OK;
    struct pw_buf j;
    pw_buf_init(&j, 0);
    action_json(r, action, detail_json, body, body_len, &j);
    struct pipeline_batch *b = pipeline_batch_new();
    char src[ARCHIVE_MAX_SOURCE + 1];
    snprintf(src, sizeof src, "%s", r->who.user);
    int rc = pipeline_batch_archive(b, ARCHIVE_KIND_OPERATOR, pw_now_ms(), src, j.data, j.len);
    pw_buf_release(&j);
    if (rc != PW_OK) {
        pipeline_batch_free(b);
        return rc;
    }
    size_t stored = 0;
    return pipeline_write(s->deps.pipeline, b, &stored);
}

int http_archive_action_spool(struct http_server *s, struct http_req *r, const char *action,
                              const char *detail_json)
{
    if (!s->deps.archive || !s->deps.pipeline || !pipeline_archiving(s->deps.pipeline))
        return PW_OK;
    struct pw_buf j;
    pw_buf_init(&j, 0);
    action_json(r, action, detail_json, NULL, 0, &j);
    char src[ARCHIVE_MAX_SOURCE + 1], err[256] = "";
    snprintf(src, sizeof src, "%s", r->who.user);
    int rc = archive_spool_add(archive_dir(s->deps.archive), ARCHIVE_KIND_OPERATOR, pw_now_ms(),
                               src, j.data, j.len, err, sizeof err);
    pw_buf_release(&j);
    if (rc != PW_OK)
        PW_LOG_ERROR("http", "operator action not spooled", "action=%s by=%s err=%s", action,
                     r->who.user, err[0] ? err : pw_errname(rc));
    return rc;
}

int http_archive_add_body(struct pipeline_batch *b, enum archive_kind kind, const char *source,
                          int64_t time_ms, const char *body, size_t len, bool split)
{
    size_t sl = strlen(source);
    size_t max = ARCHIVE_MAX_ENTRY - ARCHIVE_LEAF_HEADER -
                 (sl < ARCHIVE_MAX_SOURCE ? sl : ARCHIVE_MAX_SOURCE);
    if (len <= max)
        return pipeline_batch_archive(b, kind, time_ms, source, body, len);
    if (!split)
        return PW_ETOOBIG;
    /* pieces cut after the last line end that fits (mid-line only for a longer line) */
    for (size_t off = 0; off < len;) {
        size_t n = len - off < max ? len - off : max;
        if (off + n < len) {
            const char *nl = memrchr(body + off, '\n', n);
            if (nl)
                n = (size_t)(nl - (body + off)) + 1;
        }
        int rc = pipeline_batch_archive(b, kind, time_ms, source, body + off, n);
        if (rc != PW_OK)
            return rc;
        off += n;
    }
    return PW_OK;
}

/* ---- setpoint changes ---- */

static const char *const sp_names[MODEL_SP_COUNT] = {"alarm1", "alarm2", "hi",       "hihi",
                                                     "lo",     "lolo",   "deadband", "limit"};

static int sp_collect(const struct model_point_info *p, void *arg)
{
    cJSON *o = arg, *sp = NULL;
    for (int k = 0; k < MODEL_SP_COUNT; k++) {
        if (!(p->sp_set & 1u << k))
            continue;
        if (!sp)
            sp = cJSON_AddObjectToObject(o, p->id);
        if (sp)
            cJSON_AddNumberToObject(sp, sp_names[k], p->sp[k]);
    }
    return PW_OK;
}

static char *sp_snapshot(struct model *m, bool locked)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (locked)
        model_points_foreach_locked(m, sp_collect, o);
    else
        model_points_foreach(m, sp_collect, o);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

char *http_setpoints_snapshot(struct model *m)
{
    return sp_snapshot(m, false);
}

#define SP_DETAIL_MAX 60000

static void sp_flush(struct pw_buf *d, size_t *n, void (*emit)(const char *, void *), void *arg)
{
    if (!*n)
        return;
    pw_buf_puts(d, "]}");
    emit(d->data, arg);
    pw_buf_reset(d);
    *n = 0;
}

static void sp_change(struct pw_buf *d, size_t *n, const char *point, const cJSON *old,
                      const cJSON *now, void (*emit)(const char *, void *), void *arg)
{
    char *o = old ? cJSON_PrintUnformatted(old) : NULL,
         *w = now ? cJSON_PrintUnformatted(now) : NULL;
    if (d->len + strlen(point) + (o ? strlen(o) : 4) + (w ? strlen(w) : 4) + 64 > SP_DETAIL_MAX)
        sp_flush(d, n, emit, arg);
    pw_buf_puts(d, *n ? "," : "{\"changes\":[");
    pw_buf_puts(d, "{\"point\":");
    pw_buf_json_str(d, point);
    pw_buf_puts(d, ",\"old\":");
    pw_buf_puts(d, o ? o : "null");
    pw_buf_puts(d, ",\"new\":");
    pw_buf_puts(d, w ? w : "null");
    pw_buf_putc(d, '}');
    (*n)++;
    cJSON_free(o);
    cJSON_free(w);
}

static void sp_changes(struct model *m, const char *before,
                       void (*emit)(const char *detail, void *arg), void *arg)
{
    char *after_text = sp_snapshot(m, true);
    cJSON *b = before ? cJSON_Parse(before) : NULL,
          *a = after_text ? cJSON_Parse(after_text) : NULL;
    struct pw_buf d;
    pw_buf_init(&d, 0);
    size_t n = 0;
    if (!a || !b)
        goto out;
    for (const cJSON *p = a->child; p; p = p->next) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, p->string);
        if (!o || !cJSON_Compare(o, p, true))
            sp_change(&d, &n, p->string, o, p, emit, arg);
    }
    for (const cJSON *o = b->child; o; o = o->next)
        if (!cJSON_GetObjectItemCaseSensitive(a, o->string))
            sp_change(&d, &n, o->string, o, NULL, emit, arg);
    sp_flush(&d, &n, emit, arg);
out:
    pw_buf_release(&d);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_free(after_text);
}

struct sp_checked {
    int (*emit)(const char *detail, void *arg);
    void *arg;
    int rc;
};

static void sp_emit_checked(const char *detail, void *arg)
{
    struct sp_checked *x = arg;
    if (x->rc == PW_OK)
        x->rc = x->emit(detail, x->arg);
}

int http_setpoints_changes_locked(struct model *m, const char *before,
                                  int (*emit)(const char *detail, void *arg), void *arg)
{
    if (!before)
        return PW_ENOMEM;
    struct sp_checked x = {emit, arg, PW_OK};
    sp_changes(m, before, sp_emit_checked, &x);
    return x.rc;
}

/* One exemption list per archive (the process has one). */
static pthread_mutex_t exempt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct archive_exempt *exempt;
static const struct archive *exempt_of;

bool http_archive_writes(struct http_server *s, const struct http_req *r)
{
    if (!s->deps.archive || !s->deps.pipeline || !pipeline_archiving(s->deps.pipeline))
        return false;
    if (!r || !r->who.is_token)
        return true; /* device events, sessions, loopback ingest */
    pthread_mutex_lock(&exempt_lock);
    if (exempt_of != s->deps.archive) {
        archive_exempt_close(exempt);
        exempt = archive_exempt_open(archive_dir(s->deps.archive));
        exempt_of = s->deps.archive;
    }
    struct archive_exempt *x = exempt;
    pthread_mutex_unlock(&exempt_lock);
    return !archive_exempt_has(x, r->who.user);
}

bool http_archive_or_503(struct http_server *s, struct http_req *r, struct http_resp *w,
                         const char *action, const struct pw_buf *detail, const void *body,
                         size_t body_len)
{
    int rc = http_archive_action(s, r, action, detail && detail->len ? detail->data : NULL, body,
                                 body_len);
    if (rc == PW_OK)
        return true;
    http_json_error(w, 503, "the archive cannot record %s (%s); nothing changed", action,
                    pw_strerror(rc));
    return false;
}

const struct http_route http_routes_archive[] = {
    {"GET", "/archive/checkpoint", ACCESS_ARCHIVE, false, h_checkpoint},
    {"GET", "/archive/vkey", ACCESS_PUBLIC, false, h_vkey},
    {"GET", "/archive/tile/{*path}", ACCESS_ARCHIVE, false, h_tile},
    {"GET", "/api/v1/archive/proof", ACCESS_ARCHIVE, false, h_proof},
    {"GET", "/api/v1/archive/consistency", ACCESS_ARCHIVE, false, h_consistency},
    {"GET", "/archive/daily", ACCESS_ARCHIVE, false, h_daily_list},
    {"POST", "/api/v1/archive/prune", ACCESS_ADMIN, true, h_prune},
    {"GET", "/archive/daily/{day}", ACCESS_ARCHIVE, false, h_daily},
    {"POST", "/archive/witness/add-checkpoint", ACCESS_PUBLIC, true, h_witness_add},
    {"GET", "/archive/witness/vkey", ACCESS_PUBLIC, false, h_witness_vkey},
    {NULL, NULL, 0, false, NULL},
};
