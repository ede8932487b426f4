/* query.c — reading: a series' samples are the merge of sorted runs, from its blocks (ascending
 * seq within a partition) and its head (in-order run, out-of-order chunks, out-of-order buffer;
 * head.c gives the precedence), later runs winning on equal timestamps. Reads of one series
 * (tsdb_read with its sample budget, tsdb_downsample with its bucket bound, tsdb_export_json_max
 * writing one VictoriaMetrics export line or nothing) and last values (the seqlock alone). Any
 * thread; a read holds blk_lock for reading and each series' mutex only while copying. A block
 * chunk failing its checksum is skipped, counted and logged, and the read goes on.
 */
#include "tsdb/tsdb_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define MOD "tsdb"
#define DOWNSAMPLE_MAX_BUCKETS 1000000

/* ---- merging sorted runs ---- */

static struct tsdb_samples *runs_new(struct tsdb_runs *rs)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 8;
        rs->r = pw_xrealloc(rs->r, rs->cap * sizeof *rs->r);
    }
    struct tsdb_samples *s = &rs->r[rs->n++];
    memset(s, 0, sizeof *s);
    return s;
}

void tsdb_runs_release(struct tsdb_runs *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        tsdb_samples_release(&rs->r[i]);
    free(rs->r);
    memset(rs, 0, sizeof *rs);
}

static void samples_append(struct tsdb_samples *a, const struct tsdb_samples *b, size_t from)
{
    size_t k = b->n - from;
    if (k == 0)
        return;
    tsdb_samples_reserve(a, k);
    memcpy(a->ts + a->n, b->ts + from, k * sizeof *a->ts);
    memcpy(a->value + a->n, b->value + from, k * sizeof *a->value);
    memcpy(a->quality + a->n, b->quality + from, k);
    a->n += k;
}

/* a := merge(a, b), b winning on equal timestamps. */
static void merge2(struct tsdb_samples *a, struct tsdb_samples *b, struct tsdb_samples *tmp)
{
    if (b->n == 0)
        return;
    if (a->n == 0 || a->ts[a->n - 1] < b->ts[0]) {
        samples_append(a, b, 0);
        return;
    }
    tmp->n = 0;
    tsdb_samples_reserve(tmp, a->n + b->n);
    size_t i = 0, j = 0, o = 0;
    while (i < a->n && j < b->n) {
        if (a->ts[i] < b->ts[j]) {
            tmp->ts[o] = a->ts[i];
            tmp->value[o] = a->value[i];
            tmp->quality[o++] = a->quality[i++];
        } else {
            if (a->ts[i] == b->ts[j])
                i++;
            tmp->ts[o] = b->ts[j];
            tmp->value[o] = b->value[j];
            tmp->quality[o++] = b->quality[j++];
        }
    }
    tmp->n = o;
    if (i < a->n)
        samples_append(tmp, a, i);
    if (j < b->n)
        samples_append(tmp, b, j);
    struct tsdb_samples t = *a;
    *a = *tmp;
    *tmp = t;
}

/* Merges runs (ascending precedence) into out (reset first). */
void tsdb_runs_merge(struct tsdb_runs *rs, struct tsdb_samples *out)
{
    struct tsdb_samples tmp = {0};
    out->n = 0;
    for (size_t i = 0; i < rs->n; i++)
        merge2(out, &rs->r[i], &tmp);
    tsdb_samples_release(&tmp);
}

static void raw_to_run(const struct tsdb_run_raw *r, int64_t lo, int64_t hi,
                       struct tsdb_samples *out)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (r->s[i].ts >= lo && r->s[i].ts <= hi)
            tsdb_samples_push(out, r->s[i].ts, r->s[i].value, r->s[i].quality);
}

/* Collects the head's runs of s within [lo, hi] (ascending precedence). The caller holds
 * blk_lock for reading, or is the writer. */
void tsdb_head_runs(struct tsdb_series *s, int64_t lo, int64_t hi, struct tsdb_runs *rs)
{
    struct tsdb_hchunk *stackc[64];
    struct tsdb_hchunk **cs = stackc;
    size_t nc = 0, nooo_first;
    struct tsdb_samples open = {0}, ooo_open = {0};

    pthread_mutex_lock(&s->mu);
    size_t need = (size_t)s->nchunks + s->nooo;
    if (need > PW_ARRAY_LEN(stackc))
        cs = pw_xmalloc(need * sizeof *cs);
    /* sealed chunks and the chunk arrays only change under mu; the open runs may grow in place
     * meanwhile (copied again when seq moved) */
    for (uint32_t i = 0; i < s->nchunks; i++)
        if (s->chunks[i]->maxt >= lo && s->chunks[i]->mint <= hi)
            cs[nc++] = s->chunks[i];
    nooo_first = nc;
    for (uint32_t i = 0; i < s->nooo; i++)
        if (s->ooo[i]->maxt >= lo && s->ooo[i]->mint <= hi)
            cs[nc++] = s->ooo[i];
    for (;;) {
        uint32_t q = tsdb_head_read_begin(s);
        raw_to_run(&s->open, lo, hi, &open);
        raw_to_run(&s->ooo_open, lo, hi, &ooo_open);
        if (!tsdb_head_read_retry(s, q))
            break;
        open.n = ooo_open.n = 0;
    }
    pthread_mutex_unlock(&s->mu);

    struct tsdb_samples *in = runs_new(rs);
    for (size_t i = 0; i < nooo_first; i++)
        (void)tsdb_chunk_decode(cs[i]->data, cs[i]->len, lo, hi, in);
    samples_append(in, &open, 0);
    for (size_t i = nooo_first; i < nc; i++)
        (void)tsdb_chunk_decode(cs[i]->data, cs[i]->len, lo, hi, runs_new(rs));
    if (ooo_open.n)
        *runs_new(rs) = ooo_open;
    else
        tsdb_samples_release(&ooo_open);
    tsdb_samples_release(&open);
    if (cs != stackc)
        free(cs);
}

/* Block runs of series sid within [lo, hi]; caller holds blk_lock (either mode). */
void tsdb_block_runs(struct tsdb *db, uint32_t sid, int64_t lo, int64_t hi,
                     struct tsdb_runs *rs, struct tsdb_block *const *blocks, size_t nblocks,
                     bool *bad)
{
    /* blocks are sorted by (part, seq); merging wants ascending seq within a partition, and
     * partitions do not overlap in time, so this order is a valid precedence order */
    for (size_t i = 0; i < nblocks; i++) {
        struct tsdb_block *b = blocks[i];
        if (b->maxt < lo || b->mint > hi)
            continue;
        const struct tsdb_blk_entry *e = tsdb_block_find(b, sid);
        if (!e || e->maxt < lo || e->mint > hi)
            continue;
        uint64_t bad_off = 0;
        int rc = tsdb_block_read(db->io, b, e, lo, hi, runs_new(rs), &bad_off);
        if (rc != PW_OK) {
            atomic_fetch_add(&db->corrupt_chunks, 1);
            pw_counter_add(pw_counter_get("parkwatch_tsdb_corrupt_chunks_total", "",
                                          "Block chunks skipped by reads because their checksum "
                                          "failed (logged with file and offset)."),
                           1);
            if (bad)
                *bad = true;
            PW_LOG_ERROR(MOD, "corrupt chunk skipped", "file=%s offset=%" PRIu64 " err=%s",
                         b->path, bad_off, pw_errname(rc));
        }
    }
}

/* ---- queries ---- */

int tsdb_read(struct tsdb *db, uint32_t ref, int64_t start, int64_t end, size_t max,
              struct tsdb_samples *out)
{
    struct tsdb_runs rs = {0};
    out->n = 0;
    struct tsdb_series *s = tsdb_series_get(db, ref);
    if (!s)
        return PW_ENOTFOUND;
    if (start > end)
        return PW_OK;
    pthread_rwlock_rdlock(&db->blk_lock);
    tsdb_block_runs(db, ref, start, end, &rs, db->blocks, db->nblocks, NULL);
    tsdb_head_runs(s, start, end, &rs);
    pthread_rwlock_unlock(&db->blk_lock);
    if (rs.n == 1 && out->cap == 0) {
        *out = rs.r[0];
        rs.n = 0;
    } else {
        tsdb_runs_merge(&rs, out);
    }
    tsdb_runs_release(&rs);
    if (max && out->n > max) {
        out->n = max;
        return PW_ETOOBIG;
    }
    return PW_OK;
}

int tsdb_downsample(struct tsdb *db, uint32_t ref, int64_t start, int64_t end, int64_t step,
                    enum tsdb_agg agg, struct tsdb_samples *out)
{
    struct tsdb_samples raw = {0};
    out->n = 0;
    if (step < 1 || start > end || (end - start) / step >= DOWNSAMPLE_MAX_BUCKETS)
        return PW_ERANGE;
    int rc = tsdb_read(db, ref, start, end, 0, &raw);
    if (rc != PW_OK)
        goto out;
    for (size_t i = 0; i < raw.n;) {
        int64_t b = start + (raw.ts[i] - start) / step * step;
        size_t j = i;
        double sum = 0, mn = NAN, mx = NAN;
        size_t nn = 0;
        uint8_t qmax = 0;
        while (j < raw.n && raw.ts[j] - b < step) {
            double v = raw.value[j];
            if (raw.quality[j] > qmax)
                qmax = raw.quality[j];
            if (!isnan(v)) {
                sum += v;
                mn = nn == 0 || v < mn ? v : mn;
                mx = nn == 0 || v > mx ? v : mx;
                nn++;
            }
            j++;
        }
        double v;
        uint8_t q = qmax;
        switch (agg) {
        case TSDB_AGG_AVG: v = nn ? sum / (double)nn : NAN; break;
        case TSDB_AGG_MIN: v = mn; break;
        case TSDB_AGG_MAX: v = mx; break;
        case TSDB_AGG_SUM: v = nn ? sum : NAN; break;
        case TSDB_AGG_COUNT: v = (double)(j - i); break;
        case TSDB_AGG_FIRST:
            v = raw.value[i];
            q = raw.quality[i];
            break;
        case TSDB_AGG_LAST:
        default:
            v = raw.value[j - 1];
            q = raw.quality[j - 1];
            break;
        }
        tsdb_samples_push(out, b, v, q);
        i = j;
    }
out:
    tsdb_samples_release(&raw);
    return rc;
}

void tsdb_last_values(struct tsdb *db, const uint32_t *refs, size_t n, struct tsdb_sample *out)
{
    for (size_t i = 0; i < n; i++) {
        struct tsdb_series *s = tsdb_series_get(db, refs[i]);
        if (!s) {
            out[i] = (struct tsdb_sample){TSDB_NO_TS, 0, 0};
            continue;
        }
        /* s->last is inline: the seq alone makes the copy consistent */
        uint32_t q;
        do {
            q = tsdb_head_read_begin(s);
            out[i] = s->last;
        } while (tsdb_head_read_retry(s, q));
    }
}

static int put_double(struct pw_buf *b, double v)
{
    char tmp[40];
    if (isnan(v))
        return pw_buf_puts(b, "\"NaN\"");
    if (isinf(v))
        return pw_buf_puts(b, v > 0 ? "\"+Inf\"" : "\"-Inf\"");
    snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof tmp, "%.17g", v);
    return pw_buf_puts(b, tmp);
}

int tsdb_export_json(struct tsdb *db, uint32_t ref, int64_t start, int64_t end,
                     struct pw_buf *out)
{
    return tsdb_export_json_max(db, ref, start, end, 0, NULL, out);
}

int tsdb_export_json_max(struct tsdb *db, uint32_t ref, int64_t start, int64_t end, size_t max,
                         size_t *written, struct pw_buf *out)
{
    struct tsdb_samples s = {0};
    size_t mark = out->len;
    int rc = tsdb_read(db, ref, start, end, max, &s);
    if (rc == PW_ETOOBIG)
        rc = PW_ERANGE; /* more than max samples: nothing written */
    if (written)
        *written = rc == PW_OK ? s.n : 0;
    if (rc != PW_OK || s.n == 0)
        goto out;
    if ((rc = pw_buf_puts(out, "{\"metric\":")) != PW_OK ||
        (rc = tsdb_series_json(db, ref, out)) != PW_OK ||
        (rc = pw_buf_puts(out, ",\"values\":[")) != PW_OK)
        goto out;
    for (size_t i = 0; i < s.n && rc == PW_OK; i++) {
        if (i)
            rc = pw_buf_putc(out, ',');
        if (rc == PW_OK)
            rc = put_double(out, s.value[i]);
    }
    if (rc == PW_OK)
        rc = pw_buf_puts(out, "],\"timestamps\":[");
    for (size_t i = 0; i < s.n && rc == PW_OK; i++)
        rc = pw_buf_printf(out, i ? ",%" PRId64 : "%" PRId64, s.ts[i]);
    if (rc == PW_OK)
        rc = pw_buf_puts(out, "]}\n");
out:
    if (rc != PW_OK && out->len > mark) { /* never leave half a line */
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    tsdb_samples_release(&s);
    return rc;
}
