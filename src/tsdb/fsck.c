/* fsck.c — checking a data directory without opening it for writing (docs/storage.md, "fsck"):
 * the series log, every block (block.c's tsdb_block_fsck, entries cross-checked against the
 * series log's keys) and the WAL segments, reporting what the next open would do about each
 * problem. Report lines: "error|warning|info <file> [offset=N] what", then one
 * "summary files=N wal_records=N samples=N chunks=N errors=N warnings=N". With TSDB_FSCK_LIVE
 * (the daemon is running) a file removed meanwhile and the tail being written are no findings.
 */
#include "tsdb/tsdb_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "base/mem.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* ---- fsck ---- */

struct fsck_keys;

struct fsck_ctx {
    struct tsdb_fsck_result *res;
    struct pw_buf *report;
    const char *path;
    struct fsck_keys *keys; /* WAL: ids with no key are counted there (NULL: not checked) */
};

static void fsck_sample_id(struct fsck_keys *fk, uint64_t id);

static int fsck_rec(void *arg, uint8_t type, const uint8_t *p, size_t len, off_t off)
{
    struct fsck_ctx *f = arg;
    const uint8_t *c = p, *end = p + len;
    f->res->wal_records++;
    while (c < end) {
        uint64_t a, b;
        bool ok = tsdb_get_uvarint(&c, end, &a) && tsdb_get_uvarint(&c, end, &b);
        if (ok && type == TSDB_REC_SERIES) {
            ok = b > 0 && b <= TSDB_MAX_KEY && (uint64_t)(end - c) >= b;
            if (ok)
                c += b;
        } else if (ok) {
            ok = end - c >= 9;
            if (ok) {
                c += 9;
                f->res->samples++;
                if (f->keys)
                    fsck_sample_id(f->keys, a);
            }
        }
        if (!ok) {
            pw_buf_printf(f->report, "error %s offset=%lld malformed record payload\n", f->path,
                          (long long)off);
            f->res->errors++;
            break;
        }
    }
    return PW_OK;
}

static void fsck_damage(void *arg, off_t off, off_t len, const char *what)
{
    struct fsck_ctx *f = arg;
    pw_buf_printf(f->report,
                  "error %s offset=%lld %lld bytes damaged (%s); the valid records after them "
                  "are recovered at the next open, the file is copied to damaged/\n",
                  f->path, (long long)off, (long long)len, what);
    f->res->errors++;
}

static void fsck_log(const char *path, const char magic[8], bool last, bool live,
                     struct fsck_keys *keys, struct pw_buf *report, struct tsdb_fsck_result *res)
{
    struct fsck_ctx f = {res, report, path, keys};
    struct tsdb_replay_info ri = {.on_damage = fsck_damage, .damage_arg = &f};
    int rc = tsdb_log_replay(tsdb_io_posix(), path, magic, NULL, fsck_rec, &f, &ri);
    if (rc == PW_ENOTFOUND && live)
        return; /* removed by the daemon's checkpoint meanwhile */
    res->files++;
    if (rc != PW_OK) {
        pw_buf_printf(report, "error %s %s (%s)\n", path, ri.why[0] ? ri.why : "unreadable",
                      pw_errname(rc));
        res->errors++;
    } else if (ri.tail_off >= 0 && last && live) {
        pw_buf_printf(report,
                      "info %s offset=%lld %llu bytes not (yet) a whole record: the daemon is "
                      "writing this file\n",
                      path, (long long)ri.tail_off, (unsigned long long)ri.tail_bytes);
    } else if (ri.tail_off >= 0 && last) {
        pw_buf_printf(report,
                      "warning %s %s: torn tail of %llu bytes, nothing valid after it (cut off "
                      "at the next open)\n",
                      path, ri.why, (unsigned long long)ri.tail_bytes);
        res->warnings++;
    } else if (ri.tail_off >= 0) {
        pw_buf_printf(report,
                      "error %s offset=%lld %llu bytes at the end of an earlier segment are not "
                      "valid records (lost)\n",
                      path, (long long)ri.tail_off, (unsigned long long)ri.tail_bytes);
        res->errors++;
    }
}

/* id -> key of the series log, for cross-checking block entries; the ids blocks name beyond it;
 * the WAL's sample ids named by neither (their key was lost with a damaged series record). */
#define FSCK_LOST_MAX 1000
struct fsck_keys {
    struct fsck_key {
        uint32_t id;
        uint32_t len;
        char *key;
    } *k;
    size_t n, cap;
    uint32_t *extra; /* ids known from blocks only */
    size_t nextra, capextra;
    struct {
        uint64_t id, samples;
    } lost[FSCK_LOST_MAX];
    size_t nlost;
    uint64_t lost_other; /* samples of ids past FSCK_LOST_MAX */
};

static int fsck_keys_rec(void *arg, uint8_t type, const uint8_t *p, size_t len, off_t off)
{
    struct fsck_keys *fk = arg;
    const uint8_t *c = p, *end = p + len;
    while (type == TSDB_REC_SERIES && c < end) {
        uint64_t id, kl;
        if (!tsdb_get_uvarint(&c, end, &id) || !tsdb_get_uvarint(&c, end, &kl) || kl == 0 ||
            kl > TSDB_MAX_KEY || (uint64_t)(end - c) < kl || id >= UINT32_MAX)
            break;
        if (fk->n == fk->cap) {
            fk->cap = fk->cap ? fk->cap * 2 : 256;
            fk->k = pw_xrealloc(fk->k, fk->cap * sizeof *fk->k);
        }
        fk->k[fk->n++] = (struct fsck_key){(uint32_t)id, (uint32_t)kl,
                                           pw_xstrndup((const char *)c, kl)};
        c += kl;
    }
    return PW_OK;
}

static int cmp_fsck_key(const void *a, const void *b)
{
    const struct fsck_key *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static const struct fsck_key *fsck_key_find(const struct fsck_keys *fk, uint64_t id)
{
    struct fsck_key probe = {.id = (uint32_t)id};
    return id < UINT32_MAX && fk->n ? bsearch(&probe, fk->k, fk->n, sizeof *fk->k, cmp_fsck_key)
                                    : NULL;
}

static bool fsck_key_ok(void *arg, uint32_t sid, const char *key, size_t kl)
{
    struct fsck_keys *fk = arg;
    const struct fsck_key *k = fsck_key_find(fk, sid);
    if (!k) {
        if (fk->nextra == fk->capextra) {
            fk->capextra = fk->capextra ? fk->capextra * 2 : 64;
            fk->extra = pw_xrealloc(fk->extra, fk->capextra * sizeof *fk->extra);
        }
        fk->extra[fk->nextra++] = sid;
        return true;
    }
    return k->len == kl && memcmp(k->key, key, kl) == 0;
}

static void fsck_sample_id(struct fsck_keys *fk, uint64_t id)
{
    if (fsck_key_find(fk, id))
        return;
    for (size_t i = 0; i < fk->nextra; i++)
        if (fk->extra[i] == id)
            return;
    for (size_t i = 0; i < fk->nlost; i++) {
        if (fk->lost[i].id == id) {
            fk->lost[i].samples++;
            return;
        }
    }
    if (fk->nlost < FSCK_LOST_MAX) {
        fk->lost[fk->nlost].id = id;
        fk->lost[fk->nlost++].samples = 1;
    } else {
        fk->lost_other++;
    }
}

int tsdb_fsck(const char *dir, struct pw_buf *report, struct tsdb_fsck_result *res)
{
    return tsdb_fsck_ex(dir, 0, report, res);
}

int tsdb_fsck_ex(const char *dir, unsigned flags, struct pw_buf *report,
                 struct tsdb_fsck_result *res)
{
    bool live = flags & TSDB_FSCK_LIVE;
    char path[8200], sub[4096];
    struct tsdb_fsck_result local;
    struct stat st;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    if (stat(dir, &st) != 0)
        return pw_err_from_errno(errno);
    if (tsdb_path_join(path, sizeof path, dir, "series.log") != PW_OK)
        return PW_EINVAL;
    bool have_slog = stat(path, &st) == 0;
    if (have_slog)
        fsck_log(path, tsdb_series_magic, true, live, NULL, report, res);
    /* the series log's keys (what survives of it), then the blocks (cross-checked against
     * them), then the WAL (whose sample ids must be named by one of them) */
    struct fsck_keys *fk = pw_xcalloc(1, sizeof *fk);
    struct tsdb_replay_info kri = {0};
    if (have_slog)
        (void)tsdb_log_replay(tsdb_io_posix(), path, tsdb_series_magic, NULL, fsck_keys_rec, fk,
                              &kri);
    if (fk->n)
        qsort(fk->k, fk->n, sizeof *fk->k, cmp_fsck_key);
    tsdb_path_join(sub, sizeof sub, dir, "blocks");
    DIR *d = opendir(sub);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            int64_t part;
            uint64_t seq;
            if (!tsdb_block_name_parse(de->d_name, &part, &seq))
                continue;
            snprintf(path, sizeof path, "%s/%s", sub, de->d_name);
            tsdb_block_fsck(path, live, fsck_key_ok, fk, report, res);
        }
        closedir(d);
    }
    tsdb_path_join(sub, sizeof sub, dir, "wal");
    struct tsdb_seglist sl;
    if (tsdb_list_segments(sub, &sl) == PW_OK) {
        for (size_t i = 0; i < sl.n; i++) {
            tsdb_seg_path(path, sizeof path, dir, sl.idx[i]);
            /* live: a series created after the series log was read is no finding */
            fsck_log(path, tsdb_wal_magic, i + 1 == sl.n, live, have_slog && !live ? fk : NULL,
                     report, res);
        }
        free(sl.idx);
    }
    for (size_t i = 0; i < fk->nlost; i++) {
        pw_buf_printf(report,
                      "error %s/wal %" PRIu64 " samples of series id %" PRIu64 " whose key is in "
                      "no series record or block (its series record was damaged): kept at the "
                      "next open as pw_lost_series{id=\"%" PRIu64 "\"}\n",
                      dir, fk->lost[i].samples, fk->lost[i].id, fk->lost[i].id);
        res->errors++;
    }
    if (fk->lost_other) {
        pw_buf_printf(report, "error %s/wal %" PRIu64 " more samples of other series ids without "
                              "a key\n", dir, fk->lost_other);
        res->errors++;
    }
    for (size_t i = 0; i < fk->n; i++)
        free(fk->k[i].key);
    free(fk->k);
    free(fk->extra);
    free(fk);
    pw_buf_printf(report,
                  "summary files=%" PRIu64 " wal_records=%" PRIu64 " samples=%" PRIu64
                  " chunks=%" PRIu64 " errors=%" PRIu64 " warnings=%" PRIu64 "\n",
                  res->files, res->wal_records, res->samples, res->chunks, res->errors,
                  res->warnings);
    return res->errors ? PW_ECORRUPT : PW_OK;
}
