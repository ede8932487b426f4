/* api_tsdb.c — time-series over HTTP: `POST /write` (InfluxDB line protocol), the Prometheus-style
 * read endpoints (`/api/v1/export`, `/api/v1/series`, `/api/v1/labels`,
 * `/api/v1/label/NAME/values`) and the UI's reads (`/api/v1/read`, `/api/v1/last`).
 *
 * Scope: an enterprise user sees only the series bound to points of its own enterprise (the
 * park model's point → device → enterprise); every read below filters the selected series through
 * scope_filter() before touching samples. */
#include "http/http_int.h"
#include "http/write_cache_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "pipeline/pipeline.h"
#include "proto/influx.h"
#include "tsdb/tsdb.h"

#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_MATCH 16
#define EXPORT_MAX_BYTES (512u << 20)
#define READ_MAX_SERIES 2000
#define LAST_MAX_SERIES 50000
#define WRITE_MAX_ERRORS 10

static struct pw_counter *m_write_lines_bad, *m_write_samples, *m_write_cache_hits,
    *m_write_cache_misses, *m_write_cache_bytes;

/* ---- query control: caps, deadline, cancellation ----
 *
 * Every read request gets a query_ctl: its series and samples caps (query.max_series,
 * query.max_samples), a deadline (query.timeout) and a cancellation test — the client closed
 * its connection, or the server is stopping — polled by tsdb while it selects and here between
 * series, so a request nobody waits for stops burning a core and shutdown does not wait for it. */

struct query_ctl {
    struct tsdb_budget b;
    struct http_server *s;
    int fd; /* the client's socket, -1 if unknown */
    size_t max_series, max_samples;
};

static bool query_cancelled(void *arg)
{
    struct query_ctl *q = arg;
    if (atomic_load(&q->s->stopping))
        return true;
    if (q->fd < 0)
        return false;
    struct pollfd p = {.fd = q->fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static void query_init(struct query_ctl *q, struct http_server *s, struct http_req *r)
{
    memset(q, 0, sizeof *q);
    q->s = s;
    q->fd = -1;
    const union MHD_ConnectionInfo *ci =
        r->conn ? MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD) : NULL;
    if (ci)
        q->fd = ci->connect_fd;
    q->b.deadline_ns = pw_mono_ns() + s->deps.cfg->query_timeout * 1000000;
    q->b.cancelled = query_cancelled;
    q->b.arg = q;
    q->max_series = (size_t)s->deps.cfg->query_max_series;
    q->max_samples = (size_t)s->deps.cfg->query_max_samples;
}

/* PW_OK, or why the query must stop. */
static int query_poll(struct query_ctl *q)
{
    if (pw_mono_ns() > q->b.deadline_ns)
        return PW_ETIMEDOUT;
    return query_cancelled(q) ? PW_ECLOSED : PW_OK;
}

/* Answers a query that could not complete. */
static void query_error(struct http_resp *w, struct query_ctl *q, int rc, const char *what)
{
    switch (rc) {
    case PW_ETOOBIG:
        http_json_error(w, 422, "%s: more than %zu series match (query.max_series); narrow the "
                                "selector", what, q->max_series);
        break;
    case PW_ERANGE:
        http_json_error(w, 422, "%s: a regular expression exceeded its match limit; simplify it",
                        what);
        break;
    case PW_EFULL:
        http_json_error(w, 422, "%s: more than %zu samples (query.max_samples); narrow the range "
                                "or the selector", what, q->max_samples);
        break;
    case PW_ETIMEDOUT:
        http_json_error(w, 503, "%s: took longer than query.timeout; narrow the query", what);
        break;
    case PW_ECLOSED:
        http_json_error(w, 503, "%s: cancelled (the client left or the server is stopping)", what);
        break;
    case PW_EINVAL: http_json_error(w, 400, "%s: invalid selector", what); break;
    default: http_json_error(w, 500, "%s: %s", what, pw_strerror(rc)); break;
    }
}

/* A time argument from the query string or the form body (see http_time_arg). */
static bool form_time(const struct http_form *f, struct http_resp *w, const char *name,
                      int64_t def, int64_t *out)
{
    const char *v = http_form_get(f, name);
    if (!v || !*v) {
        *out = def;
        return true;
    }
    if (pw_time_parse(v, out) != PW_OK) {
        http_json_error(w, 400, "%s: cannot parse '%.64s' as Unix seconds or RFC 3339", name, v);
        return false;
    }
    return true;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* An allowed-series set for a scope: the canonical keys of the enterprise's points, sorted. */
struct keyset {
    char **keys;
    size_t n, cap;
    const char *enterprise;
};

static int collect_key(const struct model_point_info *p, void *arg)
{
    struct keyset *ks = arg;
    if (strcmp(p->enterprise, ks->enterprise) != 0 || !p->series_key[0])
        return PW_OK;
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? ks->cap * 2 : 64;
        ks->keys = pw_xrealloc(ks->keys, ks->cap * sizeof *ks->keys);
    }
    ks->keys[ks->n++] = pw_xstrdup(p->series_key);
    return PW_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes from refs every series the scope may not see. */
static int scope_filter(struct http_server *s, const char *scope, uint32_t *refs, size_t *n)
{
    if (!scope)
        return PW_OK;
    struct keyset ks = {.enterprise = scope};
    int rc = model_points_foreach(s->deps.model, collect_key, &ks);
    if (rc == PW_OK) {
        qsort(ks.keys, ks.n, sizeof *ks.keys, cmp_str);
        size_t o = 0;
        for (size_t i = 0; i < *n; i++) {
            const char *key = tsdb_series_key(s->deps.tsdb, refs[i]);
            if (key && bsearch(&key, ks.keys, ks.n, sizeof *ks.keys, cmp_str))
                refs[o++] = refs[i];
        }
        *n = o;
    }
    for (size_t i = 0; i < ks.n; i++)
        free(ks.keys[i]);
    free(ks.keys);
    return rc;
}

int http_select_scoped(struct http_server *s, const char *scope, const char *selector,
                       size_t limit, uint32_t **refs, size_t *n, char *err, size_t errcap)
{
    struct tsdb_selector sel;
    *refs = NULL;
    *n = 0;
    if (tsdb_selector_parse(selector, strlen(selector), &sel, err, errcap) != PW_OK)
        return PW_EINVAL;
    struct tsdb_budget b = {.deadline_ns = pw_mono_ns() + s->deps.cfg->query_timeout * 1000000};
    sel.budget = &b;
    int rc = tsdb_select(s->deps.tsdb, &sel, limit, refs, n);
    tsdb_selector_release(&sel);
    if (rc != PW_OK) {
        if (rc == PW_ETOOBIG)
            snprintf(err, errcap, "more than %zu series match", limit);
        else if (rc == PW_ERANGE)
            snprintf(err, errcap, "a regular expression exceeded its match limit");
        else if (rc == PW_ETIMEDOUT)
            snprintf(err, errcap, "selecting took longer than query.timeout");
        else
            snprintf(err, errcap, "%s", pw_strerror(rc));
        free(*refs);
        *refs = NULL;
        return rc;
    }
    rc = scope_filter(s, scope, *refs, n);
    if (rc != PW_OK) {
        snprintf(err, errcap, "cannot read the park model");
        free(*refs);
        *refs = NULL;
    }
    return rc;
}

/* Keeps the series that have a sample in [start, end] (the Prometheus API's start/end of
 * /api/v1/series and the label endpoints). */
static int filter_range(struct http_server *s, struct query_ctl *q, uint32_t *refs, size_t *n,
                        int64_t start, int64_t end)
{
    struct tsdb_samples smp = {0};
    size_t o = 0;
    int rc = PW_OK;
    for (size_t i = 0; i < *n; i++) {
        if (i % 256 == 255 && (rc = query_poll(q)) != PW_OK)
            break;
        int r = tsdb_read(s->deps.tsdb, refs[i], start, end, 1, &smp);
        if ((r == PW_OK || r == PW_ETOOBIG) && smp.n > 0)
            refs[o++] = refs[i];
    }
    tsdb_samples_release(&smp);
    *n = o;
    return rc;
}

/* Selects the union of the match[] selectors (query string or form body; sorted, deduplicated,
 * scoped), at most `limit` series (0: q->max_series). With required = false and no match[] given,
 * selects nothing and returns true with *n = 0 and *all = true. On false the error is answered. */
static bool select_series(struct http_server *s, struct http_req *r, struct http_resp *w,
                          const struct http_form *f, struct query_ctl *q, bool required,
                          size_t limit, uint32_t **out, size_t *n, bool *all)
{
    const char *sels[MAX_MATCH];
    int nsel = 0;
    uint32_t *refs = NULL;
    size_t total = 0;
    int rc = PW_OK;
    *out = NULL;
    *n = 0;
    if (all)
        *all = false;
    if (!limit || limit > q->max_series)
        limit = q->max_series;
    if (f->too_many) {
        http_json_error(w, 400, "too many arguments (at most %d)", HTTP_FORM_MAX_ARGS);
        return false;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->key[i], "match[]") != 0)
            continue;
        bool dup = false; /* the same selector twice selects the same series: once is enough */
        for (int k = 0; k < nsel && !dup; k++)
            dup = strcmp(sels[k], f->val[i]) == 0;
        if (dup)
            continue;
        if (nsel == MAX_MATCH) {
            http_json_error(w, 400, "match[]: at most %d distinct selectors", MAX_MATCH);
            return false;
        }
        sels[nsel++] = f->val[i];
    }
    if (nsel == 0) {
        if (!required && all) {
            *all = true;
            return true;
        }
        http_json_error(w, 400, "match[]: at least one selector is required");
        return false;
    }
    for (int i = 0; i < nsel; i++) {
        struct tsdb_selector sel;
        char err[256];
        uint32_t *part = NULL;
        size_t pn = 0;
        if (tsdb_selector_parse(sels[i], strlen(sels[i]), &sel, err, sizeof err) != PW_OK) {
            http_json_error(w, 400, "match[]: %s", err);
            free(refs);
            return false;
        }
        sel.budget = &q->b;
        rc = tsdb_select(s->deps.tsdb, &sel, limit, &part, &pn);
        tsdb_selector_release(&sel);
        if (rc != PW_OK) {
            query_error(w, q, rc, "match[]");
            free(refs);
            free(part);
            return false;
        }
        refs = pw_xrealloc(refs, (total + pn + 1) * sizeof *refs);
        if (pn) /* part may be NULL when nothing matched */
            memcpy(refs + total, part, pn * sizeof *refs);
        total += pn;
        free(part);
    }
    if (nsel > 1) {
        /* union: sort and drop duplicates, O(n log n) */
        qsort(refs, total, sizeof *refs, cmp_u32);
        size_t o = 0;
        for (size_t i = 0; i < total; i++)
            if (o == 0 || refs[o - 1] != refs[i])
                refs[o++] = refs[i];
        total = o;
        if (total > limit) {
            query_error(w, q, PW_ETOOBIG, "match[]");
            free(refs);
            return false;
        }
    }
    if (scope_filter(s, r->scope, refs, &total) != PW_OK) {
        http_json_error(w, 500, "cannot read the park model");
        free(refs);
        return false;
    }
    *out = refs;
    *n = total;
    return true;
}

/* ---- POST /write ---- */

/* Samples of a /write body are resolved to series refs here, on the HTTP thread, so the single
 * writer only appends by ref; series that do not exist yet travel with their labels.
 *
 * Hit path: the server's write cache (write_cache_int.h) maps the raw bytes of a line's
 * `measurement[,tags]` (hashed once per line) and of each field key to the ref; a hit is added to
 * the batch at once, without copying or checking labels (the cached key passed every check when
 * it was inserted, and a hit is an exact byte match).
 * Miss path: the sample's name and, once per line, its tags are checked and copied into text;
 * WRITE_PENDING samples at a time are resolved with one index lock round
 * (tsdb_series_lookup_many), and every existing series found is inserted into the cache. A hit
 * that arrives while misses are pending queues behind them, so the batch keeps body order (the
 * last of two samples with one timestamp wins). */
#define WRITE_PENDING 32
#define NO_SET SIZE_MAX

struct pending_sample {
    uint32_t ref;    /* a cache hit queued behind misses; UINT32_MAX: resolve by labels */
    size_t nlabels;  /* __name__ + tags */
    size_t name_off; /* metric name in write_ctx.text, NUL-terminated */
    size_t tags;     /* the line's first tag in write_ctx.tag_off */
    size_t set;      /* while flushing: index of its label set, NO_SET for hits */
    int64_t ts;
    double value;
    /* where the ref goes in the cache once resolved */
    size_t line;
    const struct write_cache_series *se; /* NULL: not known yet */
    struct influx_str series, field;     /* raw, into the body */
    uint64_t hash;                       /* of (db, series) */
};

struct line_mark {
    size_t index; /* batch sample index; for refused lines: the reason (pw_err) */
    size_t line;
};

struct write_ctx {
    struct pipeline_batch *b;
    struct tsdb *db;
    struct write_cache *cache; /* NULL: not used for this request */
    const char *dbname;        /* `db` argument ("" when absent) */
    size_t dbname_len;
    uint64_t seed; /* write_cache_seed(dbname) */
    int rc;
    size_t hits, misses;
    /* the line being delivered */
    size_t line;                         /* 0 before the first sample */
    uint64_t hash;                       /* of (db, raw series) */
    const struct write_cache_series *se; /* its cache entry, or NULL */
    size_t hint;                         /* for write_cache_field_get */
    bool checked;                        /* its labels were checked: bad holds the verdict */
    int bad;                             /* PW_OK, or why its labels are refused */
    size_t line_tags;                    /* its tags in tag_off, or NO_SET when not copied */
    /* label text of the pending samples: names and tags, each NUL-terminated */
    struct pw_buf text;
    size_t tag_off[WRITE_PENDING * TSDB_MAX_LABELS][2]; /* name, value offsets into text */
    size_t ntags;
    struct pending_sample p[WRITE_PENDING];
    size_t np;
    /* which line each batch sample came from: samples [lmap[k].index, lmap[k + 1].index) are of
     * line lmap[k].line (one entry per line, appended as the batch grows) */
    struct line_mark *lmap;
    size_t nlmap, caplmap, lmap_line; /* lmap_line: of the last entry (0: none; lines are 1-based) */
    /* lines with samples refused here, before the pipeline (label checks), in body order */
    struct line_mark *refused;
    size_t nrefused, caprefused;
    size_t sent; /* samples put in the batch */
};

static void mark_push(struct line_mark **v, size_t *n, size_t *cap, size_t index, size_t line)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *v = pw_xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = (struct line_mark){index, line};
}

/* Notes that the next sample added to the batch is of `line`. */
static inline void note_line(struct write_ctx *x, size_t line)
{
    if (x->lmap_line != line) {
        mark_push(&x->lmap, &x->nlmap, &x->caplmap, x->b->n, line);
        x->lmap_line = line;
    }
}

static void note_refused(struct write_ctx *x, size_t line, int why)
{
    if (x->nrefused == 0 || x->refused[x->nrefused - 1].line != line)
        mark_push(&x->refused, &x->nrefused, &x->caprefused, (size_t)why, line);
}

/* Inserts the ref tsdb found for pending sample p into the cache. */
static void cache_fill(struct write_ctx *x, struct pending_sample *p, uint32_t ref)
{
    const struct write_cache_series *se = p->se;
    if (!se) {
        se = write_cache_series_put(x->cache, p->hash, x->dbname, x->dbname_len, p->series.p,
                                    p->series.len);
        if (!se)
            return;
        /* the line's other pending samples and its next ones need not look it up again */
        for (struct pending_sample *q = p + 1; q < x->p + x->np; q++)
            if (q->line == p->line)
                q->se = se;
        if (p->line == x->line)
            x->se = se;
    }
    write_cache_field_put(x->cache, se, p->field.p, p->field.len, ref);
}

static void write_flush(struct write_ctx *x)
{
    struct tsdb_label labels[WRITE_PENDING][TSDB_MAX_LABELS];
    const struct tsdb_label *sets[WRITE_PENDING];
    size_t nl[WRITE_PENDING], m = 0;
    uint32_t refs[WRITE_PENDING];
    for (size_t i = 0; i < x->np; i++) {
        struct pending_sample *p = &x->p[i];
        p->set = NO_SET;
        if (p->ref != UINT32_MAX)
            continue;
        struct tsdb_label *l = labels[m];
        l[0].name = "__name__";
        l[0].value = x->text.data + p->name_off;
        for (size_t k = 1; k < p->nlabels; k++) {
            l[k].name = x->text.data + x->tag_off[p->tags + k - 1][0];
            l[k].value = x->text.data + x->tag_off[p->tags + k - 1][1];
        }
        sets[m] = l;
        nl[m] = p->nlabels;
        p->set = m++;
    }
    if (m)
        tsdb_series_lookup_many(x->db, sets, nl, m, refs);
    for (size_t i = 0; i < x->np; i++) {
        struct pending_sample *p = &x->p[i];
        uint32_t ref = p->set == NO_SET ? p->ref : refs[p->set];
        note_line(x, p->line);
        if (ref != UINT32_MAX)
            pipeline_batch_add_ref(x->b, ref, p->ts, p->value, 0);
        else if (pipeline_batch_add(x->b, labels[p->set], nl[p->set], p->ts, p->value, 0) !=
                 PW_OK) {
            x->rc = PW_ETOOBIG;
            note_refused(x, p->line, PW_ETOOBIG);
        }
    }
    if (x->cache)
        for (size_t i = 0; i < x->np; i++)
            if (x->p[i].set != NO_SET && refs[x->p[i].set] != UINT32_MAX)
                cache_fill(x, &x->p[i], refs[x->p[i].set]);
    x->np = 0;
    x->ntags = 0;
    x->line_tags = NO_SET;
    pw_buf_reset(&x->text);
}

/* Checks the labels of smp's line: PW_OK, PW_ETOOBIG (too many) or PW_EINVAL (a NUL byte: label
 * text is kept NUL-terminated). The metric name is checked per sample. */
static int check_labels(const struct influx_sample *smp)
{
    if (smp->n_labels + 1 > TSDB_MAX_LABELS)
        return PW_ETOOBIG;
    for (size_t i = 0; i < smp->n_labels; i++)
        if (memchr(smp->labels[i].name.p, '\0', smp->labels[i].name.len) ||
            memchr(smp->labels[i].value.p, '\0', smp->labels[i].value.len))
            return PW_EINVAL;
    return PW_OK;
}

static size_t text_put(struct pw_buf *t, struct influx_str s)
{
    size_t off = t->len;
    pw_buf_append(t, s.p, s.len);
    pw_buf_putc(t, '\0');
    return off;
}

static int on_influx_sample(void *arg, const struct influx_sample *smp)
{
    struct write_ctx *x = arg;
    if (smp->line != x->line) {
        x->line = smp->line;
        x->checked = false;
        x->line_tags = NO_SET;
        x->se = NULL;
        x->hint = 0;
        if (x->cache) {
            x->hash = write_cache_hash(x->seed, smp->series.p, smp->series.len);
            x->se = write_cache_series_get(x->cache, x->hash, x->dbname, x->dbname_len,
                                           smp->series.p, smp->series.len);
        }
    }
    if (x->se) {
        uint32_t ref =
            write_cache_field_get(x->cache, x->se, smp->field.p, smp->field.len, &x->hint);
        if (ref != UINT32_MAX) {
            x->hits++;
            if (x->np == 0) {
                note_line(x, smp->line);
                pipeline_batch_add_ref(x->b, ref, smp->ts_ms, smp->value, 0);
                return 0;
            }
            struct pending_sample *p = &x->p[x->np++];
            p->ref = ref;
            p->ts = smp->ts_ms;
            p->value = smp->value;
            p->line = smp->line;
            if (x->np == WRITE_PENDING)
                write_flush(x);
            return 0;
        }
    }
    x->misses++;
    if (!x->checked) {
        x->bad = check_labels(smp);
        x->checked = true;
    }
    int bad = x->bad;
    if (bad == PW_OK && memchr(smp->name.p, '\0', smp->name.len))
        bad = PW_EINVAL;
    if (bad != PW_OK) {
        x->rc = bad;
        note_refused(x, smp->line, bad);
        return 0; /* counted as a failed sample, the rest goes on */
    }
    if (x->line_tags == NO_SET) {
        x->line_tags = x->ntags;
        for (size_t i = 0; i < smp->n_labels; i++) {
            x->tag_off[x->ntags][0] = text_put(&x->text, smp->labels[i].name);
            x->tag_off[x->ntags][1] = text_put(&x->text, smp->labels[i].value);
            x->ntags++;
        }
    }
    struct pending_sample *p = &x->p[x->np++];
    p->ref = UINT32_MAX;
    p->nlabels = smp->n_labels + 1;
    p->name_off = text_put(&x->text, smp->name);
    p->tags = x->line_tags;
    p->ts = smp->ts_ms;
    p->value = smp->value;
    p->line = smp->line;
    p->se = x->se;
    p->series = smp->series;
    p->field = smp->field;
    p->hash = x->hash;
    if (x->np == WRITE_PENDING)
        write_flush(x);
    return 0;
}

/* Inflates a gzip body into out (bounded by max). */
static int gunzip(const char *in, size_t len, size_t max, struct pw_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return PW_ENOMEM;
    pw_buf_init(out, max);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    char chunk[65536];
    int rc = PW_OK, zrc;
    do {
        zs.next_out = (Bytef *)chunk;
        zs.avail_out = sizeof chunk;
        zrc = inflate(&zs, Z_NO_FLUSH);
        if (zrc != Z_OK && zrc != Z_STREAM_END) {
            rc = PW_EINVAL;
            break;
        }
        if (pw_buf_append(out, chunk, sizeof chunk - zs.avail_out) != PW_OK) {
            rc = PW_ETOOBIG;
            break;
        }
        if (zrc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            rc = PW_EINVAL; /* truncated stream */
            break;
        }
    } while (zrc != Z_STREAM_END);
    inflateEnd(&zs);
    if (rc != PW_OK)
        pw_buf_release(out);
    return rc;
}

static const char *refusal_text(int why, long long max_series)
{
    static __thread char buf[128];
    switch (why) {
    case PW_EFULL:
        snprintf(buf, sizeof buf, "series limit reached (storage.max_series = %lld): new series "
                                  "not created", max_series);
        return buf;
    case PW_ETOOBIG: return "more than 32 labels, or a series key longer than 4096 bytes";
    case PW_ERANGE: return "timestamp out of range";
    default: return "invalid label set (a NUL byte, or an empty or duplicate name)";
    }
}

/* The 400 of a /write some of whose lines were rejected by the parser or had samples refused
 * (here or by the pipeline): counts, then the first WRITE_MAX_ERRORS lines with their reason, in
 * line order. Everything else of the body is stored. The three sources are each in line order
 * (the batch is in body order), so they are merged without allocating: a body of a million
 * refused samples costs a pass over them. */
static void write_report(struct http_server *s, struct http_req *r, struct http_resp *w,
                         const struct write_ctx *x, const struct influx_result *res,
                         const struct influx_error *errs, const struct pipeline_report *rep)
{
    long long max_series = (long long)s->deps.cfg->storage_max_series;
    size_t a = 0, b = 0, c = 0, k = 0, refused_lines = 0, shown = 0, last = 0;
    struct pw_buf list;
    pw_buf_init(&list, 8192);
    for (;;) {
        size_t la = a < res->n_errors ? errs[a].line : SIZE_MAX;
        size_t lb = b < x->nrefused ? x->refused[b].line : SIZE_MAX;
        size_t lc = SIZE_MAX;
        if (c < rep->refused) {
            size_t idx = rep->refusals[c].index;
            while (k + 1 < x->nlmap && x->lmap[k + 1].index <= idx)
                k++;
            lc = x->nlmap ? x->lmap[k].line : 0;
        }
        size_t line = la < lb ? (la < lc ? la : lc) : (lb < lc ? lb : lc);
        if (line == SIZE_MAX)
            break;
        const char *msg;
        if (line == la) {
            msg = errs[a++].msg;
        } else if (line == lb) {
            msg = refusal_text((int)x->refused[b++].index, max_series);
        } else {
            msg = refusal_text(rep->refusals[c++].why, max_series);
        }
        if (line == last)
            continue; /* one reason per line */
        last = line;
        if (line != la)
            refused_lines++;
        if (shown < WRITE_MAX_ERRORS)
            pw_buf_printf(&list, "%sline %zu: %s", shown++ ? "; " : "", line, msg);
    }
    struct pw_buf msg;
    pw_buf_init(&msg, 16384);
    pw_buf_printf(&msg, "%zu of %zu lines rejected", res->bad_lines, res->lines);
    if (refused_lines)
        pw_buf_printf(&msg, ", %zu with samples refused", refused_lines);
    pw_buf_printf(&msg, " (%zu samples stored, %zu refused): %s", rep->stored,
                  rep->refused + (res->samples - x->sent), list.data ? list.data : "");
    PW_LOG_INFO("http", "write rejected lines",
                "peer=%s bad_lines=%zu refused_lines=%zu stored=%zu refused=%zu", r->peer,
                res->bad_lines, refused_lines, rep->stored, rep->refused);
    /* not http_json_error: its message is bounded to a line */
    w->status = 400;
    w->content_type = "application/json";
    pw_buf_reset(&w->body);
    pw_buf_puts(&w->body, "{\"status\":\"error\",\"error\":");
    pw_buf_json_str(&w->body, msg.data ? msg.data : "bad request");
    pw_buf_puts(&w->body, "}\n");
    pw_buf_release(&msg);
    pw_buf_release(&list);
}

static void h_write(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t received_ns = pw_mono_ns(); /* the body is complete: decoding starts now */
    struct influx_opts o;
    struct influx_error errs[WRITE_MAX_ERRORS];
    struct influx_result res;
    struct pw_buf plain;
    const char *body = r->body;
    size_t len = r->body_len;
    bool inflated = false;
    influx_opts_init(&o, pw_now_ms());

    const char *prec = http_arg(r, "precision");
    if (prec && influx_precision_parse(prec, strlen(prec), &o.precision) != PW_OK) {
        http_json_error(w, 400, "precision: expected ns, us, ms, s, m or h, got '%.16s'", prec);
        return;
    }
    const char *db = http_arg(r, "db");
    if (db) {
        o.db = db;
        o.db_len = strlen(db);
    }
    const char *enc = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Encoding");
    if (enc && strcasecmp(enc, "gzip") == 0) {
        int rc = gunzip(r->body, r->body_len, (size_t)s->deps.cfg->http_max_body, &plain);
        if (rc != PW_OK) {
            http_json_error(w, rc == PW_ETOOBIG ? 413 : 400, "body: %s",
                            rc == PW_ETOOBIG ? "inflated body larger than http.max_body"
                                             : "not a valid gzip stream");
            return;
        }
        body = plain.data;
        len = plain.len;
        inflated = true;
    } else if (enc && strcasecmp(enc, "identity") != 0) {
        http_json_error(w, 415, "Content-Encoding: only gzip is supported");
        return;
    }

    struct write_ctx x = {.b = pipeline_batch_new(), .db = s->deps.tsdb, .rc = PW_OK};
    x.b->origin_ns = received_ns;
    pw_buf_init(&x.text, 0);
    /* The cache is sound only while a sample's name and labels follow from (db, raw series, raw
     * field key) alone (write_cache_int.h): not with skip_single_field (the name depends on the
     * number of fields), nor when another separator or skip_measurement would name the same
     * bytes differently from request to request. Today's options always allow it. */
    if (!o.skip_single_field && !o.skip_measurement && !o.sep) {
        x.cache = s->wcache;
        x.dbname = o.db_len ? o.db : "";
        x.dbname_len = o.db_len;
        x.seed = write_cache_seed(x.dbname, x.dbname_len);
    }
    /* samples: ~13 bytes a sample in multi-field lines (more in single-field ones; the unused
     * tail is never touched). Label text is only copied for series not in the cache: no reserve */
    pipeline_batch_reserve(x.b, len / 12 + 16, 0);
    int prc = influx_parse(body, len, &o, on_influx_sample, &x, errs, WRITE_MAX_ERRORS, &res);
    write_flush(&x);
    pw_buf_release(&x.text);
    if (x.cache) {
        pw_counter_add(m_write_cache_hits, x.hits);
        pw_counter_add(m_write_cache_misses, x.misses);
        if (x.misses) { /* the cache may have grown */
            struct write_cache_stats st;
            write_cache_stats(x.cache, &st);
            pw_gauge_set(m_write_cache_bytes, st.bytes);
        }
    }
    size_t n = x.b->n;
    x.sent = n;
    struct pipeline_report rep = {0};
    int rc = PW_OK;
    /* the body (inflated) in the archive, in the samples' group commit (docs/archive.md) */
    bool archived = len > 0 && http_archive_writes(s, r);
    if (archived)
        rc = http_archive_add_body(x.b, ARCHIVE_KIND_LINE_PROTOCOL, r->peer, pw_now_ms(), body,
                                   len, true);
    if (rc == PW_OK && (n > 0 || archived))
        rc = pipeline_write_report(s->deps.pipeline, x.b, &rep);
    else
        pipeline_batch_free(x.b);
    if (inflated)
        pw_buf_release(&plain);
    pw_counter_add(m_write_samples, rep.stored);
    pw_counter_add(m_write_lines_bad, res.bad_lines);

    if (rc == PW_EFULL || rc == PW_ECLOSED) {
        http_json_error(w, 503, "ingest queue full; retry (nothing from this request was stored)");
        http_add_header(w, "Retry-After", "1");
    } else if (rc == PW_ENOSPC || rc == PW_EIO) {
        http_json_error(w, 507, "storage cannot write (%s); nothing from this request was "
                                "acknowledged", pw_strerror(rc));
    } else if (rc != PW_OK) {
        http_json_error(w, 500, "storing failed (%s); nothing from this request was "
                                "acknowledged", pw_strerror(rc));
    } else if (prc != PW_OK || res.bad_lines > 0 || rep.refused > 0 || x.nrefused > 0) {
        write_report(s, r, w, &x, &res, errs, &rep);
    } else {
        w->status = 204;
    }
    free(rep.refusals);
    free(x.lmap);
    free(x.refused);
}

/* ---- Prometheus-style reads ---- */

static void h_export(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    uint32_t *refs = NULL;
    size_t n, samples = 0;
    int64_t start, end;
    struct http_form f;
    struct query_ctl q;
    http_form_parse(r, &f);
    query_init(&q, s, r);
    if (!form_time(&f, w, "start", TSDB_TS_MIN, &start) ||
        !form_time(&f, w, "end", TSDB_TS_MAX, &end))
        goto out;
    if (!select_series(s, r, w, &f, &q, true, 0, &refs, &n, NULL))
        goto out;
    w->body.max = EXPORT_MAX_BYTES;
    for (size_t i = 0; i < n; i++) {
        size_t wrote = 0;
        int rc = query_poll(&q);
        if (rc == PW_OK)
            rc = tsdb_export_json_max(s->deps.tsdb, refs[i], start, end,
                                      q.max_samples - samples, &wrote, &w->body);
        samples += wrote;
        if (rc == PW_OK && samples >= q.max_samples && i + 1 < n)
            rc = PW_ERANGE; /* the cap is used up and series remain */
        if (rc != PW_OK) {
            if (rc == PW_ETOOBIG)
                http_json_error(w, 422, "export larger than %u MiB; narrow the range",
                                EXPORT_MAX_BYTES >> 20);
            else
                query_error(w, &q, rc == PW_ERANGE ? PW_EFULL : rc, "export");
            goto out;
        }
    }
    w->content_type = "application/stream+json";
out:
    free(refs);
    http_form_release(&f);
}

/* The series of a /api/v1/series or label request: match[] (or all, when allowed), restricted to
 * those with samples in [start, end] when either is given. */
static bool select_ranged(struct http_server *s, struct http_req *r, struct http_resp *w,
                          const struct http_form *f, struct query_ctl *q, bool required,
                          uint32_t **refs, size_t *n, bool *all, bool *ranged)
{
    int64_t start, end;
    if (!form_time(f, w, "start", TSDB_TS_MIN, &start) ||
        !form_time(f, w, "end", TSDB_TS_MAX, &end))
        return false;
    *ranged = start != TSDB_TS_MIN || end != TSDB_TS_MAX;
    if (!select_series(s, r, w, f, q, required, 0, refs, n, all))
        return false;
    if (all && *all && (*ranged || r->scope)) {
        /* every series (of the scope) */
        struct tsdb_selector sel;
        char err[128];
        tsdb_selector_init(&sel);
        tsdb_selector_add(&sel, TSDB_MATCH_RE, "__name__", ".+", err, sizeof err);
        sel.budget = &q->b;
        int rc = tsdb_select(s->deps.tsdb, &sel, 0, refs, n);
        tsdb_selector_release(&sel);
        if (rc == PW_OK && scope_filter(s, r->scope, *refs, n) != PW_OK)
            rc = PW_EDB;
        if (rc != PW_OK) {
            query_error(w, q, rc, "series");
            free(*refs);
            *refs = NULL;
            return false;
        }
        *all = false;
    }
    if (*ranged) {
        int rc = filter_range(s, q, *refs, n, start, end);
        if (rc != PW_OK) {
            query_error(w, q, rc, "series");
            free(*refs);
            *refs = NULL;
            return false;
        }
    }
    return true;
}

static void h_series(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    uint32_t *refs = NULL;
    size_t n;
    bool ranged;
    struct http_form f;
    struct query_ctl q;
    http_form_parse(r, &f);
    query_init(&q, s, r);
    if (!select_ranged(s, r, w, &f, &q, true, &refs, &n, NULL, &ranged))
        goto out;
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            pw_buf_putc(&w->body, ',');
        tsdb_series_json(s->deps.tsdb, refs[i], &w->body);
    }
    pw_buf_puts(&w->body, "]}\n");
out:
    free(refs);
    http_form_release(&f);
}

static void strings_json(struct http_resp *w, char **v, size_t n)
{
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            pw_buf_putc(&w->body, ',');
        pw_buf_json_str(&w->body, v[i]);
    }
    pw_buf_puts(&w->body, "]}\n");
}

/* Label names/values. Scoped users get them computed from their own series only. */
static void labels_common(struct http_server *s, struct http_req *r, struct http_resp *w,
                          const char *value_of)
{
    uint32_t *refs = NULL;
    size_t n = 0;
    bool all = false, ranged;
    char **v = NULL;
    size_t nv = 0;
    struct http_form f;
    struct query_ctl q;
    http_form_parse(r, &f);
    query_init(&q, s, r);
    if (!select_ranged(s, r, w, &f, &q, false, &refs, &n, &all, &ranged))
        goto out;
    if (all) {
        /* unscoped, no selector, no range: straight from the index */
        int rc = value_of ? tsdb_label_values(s->deps.tsdb, value_of, NULL, &v, &nv)
                          : tsdb_label_names(s->deps.tsdb, NULL, &v, &nv);
        if (rc != PW_OK) {
            http_json_error(w, 500, "labels: %s", pw_strerror(rc));
            goto out;
        }
        strings_json(w, v, nv);
        tsdb_strings_free(v, nv);
        goto out;
    }
    /* collect distinct names or values over refs */
    struct keyset ks = {0};
    for (size_t i = 0; i < n; i++) {
        struct tsdb_label l[TSDB_MAX_LABELS];
        size_t nl = tsdb_series_labels(s->deps.tsdb, refs[i], l, TSDB_MAX_LABELS);
        for (size_t k = 0; k < nl && k < TSDB_MAX_LABELS; k++) {
            const char *item = value_of ? (strcmp(l[k].name, value_of) == 0 ? l[k].value : NULL)
                                        : l[k].name;
            if (!item)
                continue;
            if (ks.n == ks.cap) {
                ks.cap = ks.cap ? ks.cap * 2 : 64;
                ks.keys = pw_xrealloc(ks.keys, ks.cap * sizeof *ks.keys);
            }
            ks.keys[ks.n++] = (char *)item;
        }
    }
    qsort(ks.keys, ks.n, sizeof *ks.keys, cmp_str);
    size_t o = 0;
    for (size_t i = 0; i < ks.n; i++)
        if (o == 0 || strcmp(ks.keys[o - 1], ks.keys[i]) != 0)
            ks.keys[o++] = ks.keys[i];
    strings_json(w, ks.keys, o);
    free(ks.keys);
out:
    free(refs);
    http_form_release(&f);
}

static void h_labels(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    labels_common(s, r, w, NULL);
}

static void h_label_values(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    labels_common(s, r, w, r->params[0]);
}

/* ---- the UI's reads ---- */

static void json_double(struct pw_buf *b, double v)
{
    if (isnan(v))
        pw_buf_puts(b, "null");
    else if (isinf(v))
        pw_buf_puts(b, v > 0 ? "1e308" : "-1e308");
    else
        pw_buf_printf(b, "%.17g", v);
}

/* GET /api/v1/read?match[]=SEL&start=&end=[&step=60s&agg=avg]
 * → {"status":"success","data":[{"metric":{…},"timestamps":[ms…],"values":[…],"quality":[…]}]}
 * Without step: raw samples (at most 100,000 per series). With step: one sample per bucket. */
static void h_read(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    uint32_t *refs = NULL;
    size_t n, samples = 0;
    int64_t now = pw_now_ms(), start, end, step = 0;
    enum tsdb_agg agg = TSDB_AGG_AVG;
    struct http_form f;
    struct query_ctl q;
    struct tsdb_samples smp = {0};
    http_form_parse(r, &f);
    query_init(&q, s, r);
    if (!form_time(&f, w, "start", now - 3600 * 1000, &start) ||
        !form_time(&f, w, "end", now, &end))
        goto out;
    const char *st = http_form_get(&f, "step"), *ag = http_form_get(&f, "agg");
    if (st) {
        char *e;
        double sec = strtod(st, &e);
        if (*e == '\0' && e != st && sec > 0 && sec < 1e9)
            step = (int64_t)(sec * 1000);
        else if (pw_duration_parse(st, &step) != PW_OK || step <= 0) {
            http_json_error(w, 400, "step: expected seconds or a duration such as 5m");
            goto out;
        }
    }
    if (ag && tsdb_agg_parse(ag, &agg) != PW_OK) {
        http_json_error(w, 400, "agg: expected avg, min, max, sum, count, first or last");
        goto out;
    }
    if (end < start) {
        http_json_error(w, 400, "end: before start");
        goto out;
    }
    if (step && (end - start) / step > 100000) {
        http_json_error(w, 400, "step: more than 100000 buckets; use a larger step");
        goto out;
    }
    if (!select_series(s, r, w, &f, &q, true, READ_MAX_SERIES, &refs, &n, NULL))
        goto out;
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
        int rc = query_poll(&q);
        if (rc == PW_OK && samples >= q.max_samples)
            rc = PW_EFULL;
        if (rc != PW_OK) {
            query_error(w, &q, rc, "read");
            goto out;
        }
        size_t left = q.max_samples - samples;
        rc = step ? tsdb_downsample(s->deps.tsdb, refs[i], start, end, step, agg, &smp)
                  : tsdb_read(s->deps.tsdb, refs[i], start, end, left < 100000 ? left : 100000,
                              &smp);
        if (rc == PW_ETOOBIG && left < 100000) {
            query_error(w, &q, PW_EFULL, "read");
            goto out;
        }
        if (rc != PW_OK && rc != PW_ETOOBIG) {
            http_json_error(w, 500, "read: %s", pw_strerror(rc));
            goto out;
        }
        samples += smp.n;
        pw_buf_puts(&w->body, i ? ",{\"metric\":" : "{\"metric\":");
        tsdb_series_json(s->deps.tsdb, refs[i], &w->body);
        pw_buf_printf(&w->body, ",\"truncated\":%s,\"timestamps\":[",
                      rc == PW_ETOOBIG ? "true" : "false");
        for (size_t k = 0; k < smp.n; k++)
            pw_buf_printf(&w->body, k ? ",%lld" : "%lld", (long long)smp.ts[k]);
        pw_buf_puts(&w->body, "],\"values\":[");
        for (size_t k = 0; k < smp.n; k++) {
            if (k)
                pw_buf_putc(&w->body, ',');
            json_double(&w->body, smp.value[k]);
        }
        pw_buf_puts(&w->body, "],\"quality\":[");
        for (size_t k = 0; k < smp.n; k++)
            pw_buf_printf(&w->body, k ? ",%u" : "%u", smp.quality[k]);
        pw_buf_puts(&w->body, "]}");
    }
    pw_buf_puts(&w->body, "]}\n");
out:
    tsdb_samples_release(&smp);
    free(refs);
    http_form_release(&f);
}

/* GET /api/v1/last?match[]=SEL → {"status":"success","data":[{"metric":{…},"ts":ms,"value":v,
 * "quality":q}]} (series without samples are left out). */
static void h_last(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    uint32_t *refs;
    size_t n;
    struct http_form f;
    struct query_ctl q;
    http_form_parse(r, &f);
    query_init(&q, s, r);
    bool ok = select_series(s, r, w, &f, &q, true, LAST_MAX_SERIES, &refs, &n, NULL);
    http_form_release(&f);
    if (!ok)
        return;
    struct tsdb_sample *v = pw_xmalloc((n ? n : 1) * sizeof *v);
    tsdb_last_values(s->deps.tsdb, refs, n, v);
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"success\",\"data\":[");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (v[i].ts == TSDB_NO_TS)
            continue;
        pw_buf_puts(&w->body, first ? "{\"metric\":" : ",{\"metric\":");
        first = false;
        tsdb_series_json(s->deps.tsdb, refs[i], &w->body);
        pw_buf_printf(&w->body, ",\"ts\":%lld,\"value\":", (long long)v[i].ts);
        json_double(&w->body, v[i].value);
        pw_buf_printf(&w->body, ",\"quality\":%u}", v[i].quality);
    }
    pw_buf_puts(&w->body, "]}\n");
    free(v);
    free(refs);
}

const struct http_route http_routes_tsdb[] = {
    {"POST", "/write", ACCESS_INGEST, true, h_write, HTTP_BODY_INGEST},
    {"POST", "/api/v2/write", ACCESS_INGEST, true, h_write, HTTP_BODY_INGEST},
    {"GET", "/api/v1/export", ACCESS_USER, false, h_export},
    {"GET", "/api/v1/series", ACCESS_USER, false, h_series},
    {"GET", "/api/v1/labels", ACCESS_USER, false, h_labels},
    {"GET", "/api/v1/label/{name}/values", ACCESS_USER, false, h_label_values},
    {"GET", "/api/v1/read", ACCESS_USER, false, h_read},
    {"GET", "/api/v1/last", ACCESS_USER, false, h_last},
    /* the same with a form body (Grafana and the Prometheus clients POST them) */
    {"POST", "/api/v1/export", ACCESS_USER, false, h_export},
    {"POST", "/api/v1/series", ACCESS_USER, false, h_series},
    {"POST", "/api/v1/labels", ACCESS_USER, false, h_labels},
    {"POST", "/api/v1/label/{name}/values", ACCESS_USER, false, h_label_values},
    {"POST", "/api/v1/read", ACCESS_USER, false, h_read},
    {"POST", "/api/v1/last", ACCESS_USER, false, h_last},
    {NULL, NULL, 0, false, NULL},
};

struct write_cache *http_write_cache_new(size_t budget)
{
    /* an eighth of the budget for the slot array (8 bytes a slot, a power of two, half of them
     * usable), the rest for entries. With the default 16 MiB: 131,072 line heads at most, and
     * 14 MiB of entries, e.g. ~27,000 heads of 10 fields (~530 bytes each) = 270,000 series, or
     * ~90,000 single-field series (~160 bytes each) */
    if (budget == 0)
        return NULL;
    size_t slots = 16;
    while (2 * slots * sizeof(void *) <= budget / 8)
        slots *= 2;
    size_t table = slots * sizeof(void *);
    return write_cache_new(slots / 2, budget > table ? budget - table : 0);
}

void http_tsdb_metrics_init(void)
{
    m_write_samples = pw_counter_get("parkwatch_write_samples_total", "",
                                     "Samples stored durably through POST /write.");
    m_write_lines_bad = pw_counter_get("parkwatch_write_lines_rejected_total", "",
                                       "Line protocol lines rejected by POST /write.");
    m_write_cache_hits =
        pw_counter_get("parkwatch_write_cache_hits_total", "",
                       "POST /write samples resolved to their series by the write cache.");
    m_write_cache_misses =
        pw_counter_get("parkwatch_write_cache_misses_total", "",
                       "POST /write samples not in the write cache (resolved through tsdb).");
    m_write_cache_bytes =
        pw_gauge_get("parkwatch_write_cache_bytes", "",
                     "Memory held by the entries of the write cache (bounded by http.write_cache).");
}
