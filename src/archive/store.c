/* store.c — the durable log under <data>/archive/.
 *
 * Files (all append-only; docs/archive.md):
 *   entries       every leaf in order, each as a big-endian uint16 length then the leaf bytes —
 *                 exactly the concatenation of the tlog-tiles entry bundles. fdatasync'd by the
 *                 pipeline's sync thread in the same group commit as the time-series WAL: a
 *                 device is acknowledged only when its frame's leaf is durable.
 *   hashes.<L>    for tile level L = 0, 1, ...: the hash of every complete subtree of 256^L leaves,
 *                 32 bytes each, in order (level 0 = the leaf hashes). Hash tile L/N is bytes
 *                 [N*8192, N*8192 + W*32). Derived data: written with the entries, not fsync'd,
 *                 recomputed and repaired from the entries at open.
 *   checkpoints   every signed checkpoint note in signing order, each as a big-endian uint32
 *                 length then the note; fsync'd before the checkpoint is published.
 *   vkey          the verifier key string (for tools; a regulator uses their own copy).
 * The Ed25519 seed (32 bytes, mode 0600) lives outside the data directory (archive.key_file).
 *
 *   bundles       the entries-file offset of every bundle's first entry (uint64 BE); derived.
 *   verified      the verified prefix (see "the verified prefix" below): a start re-hashes only
 *                 what follows it.
 *
 * Open: every entry after the verified prefix is read and hashed, the hash files are compared with
 * what the entries give (missing or differing ranges rewritten, the excess cut), the root at every
 * checkpoint's size is compared with the checkpoint and each checkpoint's signature checked. A torn
 * last entry or checkpoint record (a crash mid-write; never acknowledged, never published) is cut
 * off. A mismatch is an integrity error: logged, counted, and signing stops for the life of the
 * process (a different root is never signed for a size already signed).
 *
 * Threads: append/write/sync_prepare/sync_finish/checkpoint_maybe on the one writer thread;
 * sync_perform anywhere; readers anywhere (pread, and the small state under a->lock). */
#include "archive/archive.h"

#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LEVELS 8 /* 256^8 = 2^64 leaves */
#define SCAN_CHUNK (1 << 20)
#define MAX_CHECKPOINTS_FILE (1ull << 32)

struct cp_rec {
    uint64_t size;
    uint8_t root[ARCHIVE_HASH];
};

struct archive {
    struct archive_opts opt;
    char dir[4096];
    struct archive_key key;
    bool have_key;
    struct archive_key next; /* rotation: the next key, signing too while set */
    bool have_next;
    struct archive_key prev[8]; /* older keys whose checkpoints are accepted */
    size_t n_prev;
    int fd_entries, fd_cps, fd_bundles;
    int fd_hash[MAX_LEVELS];
    uint8_t state_key[32]; /* MACs the verified-prefix state (derived from the seed) */
    char daily_day[16];    /* the day of the latest checkpoint (daily record) */
    uint64_t pruned;       /* entry bundles below this index were pruned (under lock) */
    bool prune_seen;       /* verify: the archive.prune record of `pruned` was found */
    bool have_state_key;
    /* writer thread */
    struct archive_frontier f;
    struct pw_buf pend_entries;
    struct pw_buf pend_hash[MAX_LEVELS];
    uint64_t entries_len;          /* bytes in the entries file */
    uint64_t hash_len[MAX_LEVELS]; /* bytes in each hash file */
    uint64_t cps_len;
    uint64_t latest_off;      /* offset of the latest checkpoint record in checkpoints */
    size_t bundles_written;   /* bundle offsets stored in the bundles file */
    uint64_t verified_prefix; /* leaves taken as verified at open (the state file) */
    uint64_t rehashed;        /* leaves read and hashed at open */
    uint64_t written;         /* leaves written */
    /* the tree as written last: a write refused for lack of space rolls back to it */
    struct archive_frontier f_written;
    size_t bundles_at_written;
    uint64_t hash_len_written[MAX_LEVELS];
    uint8_t written_root[ARCHIVE_HASH];
    uint64_t written_bytes;
    bool broken; /* a write failed: nothing more is stored or signed */
    int64_t last_sign_ms;
    /* shared with readers, under lock */
    pthread_mutex_t lock;
    uint64_t *bundle_off; /* entries-file offset of entry 256*i */
    size_t n_bundles, cap_bundles;
    uint64_t durable, durable_bytes;
    uint8_t durable_root[ARCHIVE_HASH];
    uint64_t signed_size;
    uint8_t signed_root[ARCHIVE_HASH];
    struct pw_buf latest; /* the latest signed checkpoint note */
    struct pw_buf cosigs; /* witnesses' cosignature lines for it */
    struct cp_rec *cps;   /* distinct checkpoints (verify/export: all; daemon: latest) */
    size_t n_cps, cap_cps;
    size_t n_signed; /* checkpoint records, re-signs included */
    bool integrity_ok;
    /* open-time checking */
    size_t next_cp;    /* the next checkpoint whose size the scan has to reach */
    char problem[512]; /* the first integrity problem */
    bool verify_only;  /* archive_verify_dir: compare, never write */
    int64_t first_bad_tile_level;
    uint64_t first_bad_tile_index;
    bool bad_tile;
    bool repair;              /* second open pass: rewrite every hash file */
    bool has_from, from_seen; /* archive_verify_dir --from: a checkpoint the caller holds */
    struct cp_rec from;
};

static struct pw_counter *m_leaves, *m_bytes, *m_checkpoints, *m_integrity, *m_errors, *m_size;

static void metrics_init(void)
{
    m_leaves =
        pw_counter_get("parkwatch_archive_leaves_total", "", "Leaves appended to the archive.");
    m_bytes = pw_counter_get("parkwatch_archive_bytes_total", "",
                             "Bytes written to the archive's entries file.");
    m_checkpoints =
        pw_counter_get("parkwatch_archive_checkpoints_total", "", "Archive checkpoints signed.");
    m_integrity = pw_counter_get("parkwatch_archive_integrity_errors_total", "",
                                 "Archive integrity errors (stored entries disagree with a signed "
                                 "checkpoint); signing stops.");
    m_errors = pw_counter_get("parkwatch_archive_write_errors_total", "",
                              "Archive writes or fsyncs that failed (nothing acknowledged).");
    m_size = pw_gauge_get("parkwatch_archive_tree_size", "", "Leaves in the signed archive tree.");
}

void archive_opts_init(struct archive_opts *o)
{
    memset(o, 0, sizeof *o);
    o->fsync = true;
    o->checkpoint_interval_ms = 10000;
    o->resign_interval_ms = 3600000;
}

static void seterr(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static void integrity_error(struct archive *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void integrity_error(struct archive *a, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (a->integrity_ok || !a->problem[0])
        snprintf(a->problem, sizeof a->problem, "%s", msg);
    a->integrity_ok = false;
    if (!a->verify_only) {
        pw_counter_add(m_integrity, 1);
        PW_LOG_ERROR("archive", "integrity error; checkpoint signing stopped",
                     "dir=%s detail=\"%s\"", a->dir, msg);
    }
}

/* ---- key ---- */

int archive_key_load(const char *path, bool create, uint8_t seed[32], char *err, size_t errcap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        uint8_t s[32];
        randombytes_buf(s, sizeof s);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            seterr(err, errcap, "archive key %s: cannot create: %s", path, strerror(errno));
            return PW_ECONFIG;
        }
        bool ok = write(fd, s, sizeof s) == (ssize_t)sizeof s && fsync(fd) == 0;
        close(fd);
        if (!ok) {
            unlink(path);
            seterr(err, errcap, "archive key %s: cannot write", path);
            return PW_EIO;
        }
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            pw_fsync_dir(dir);
        }
        memcpy(seed, s, 32);
        sodium_memzero(s, sizeof s);
        PW_LOG_INFO("archive", "signing key created", "path=%s", path);
        return PW_OK;
    }
    if (fd < 0) {
        seterr(err, errcap, "archive key %s: %s", path, strerror(errno));
        return errno == ENOENT ? PW_ENOTFOUND : PW_ECONFIG;
    }
    struct stat st;
    uint8_t buf[33];
    ssize_t n = -1;
    int rc = PW_OK;
    if (fstat(fd, &st) != 0) {
        seterr(err, errcap, "archive key %s: %s", path, strerror(errno));
        rc = PW_EIO;
        goto out;
    }
    if (st.st_mode & 077) {
        seterr(err, errcap, "archive key %s: mode %03o lets others read it (chmod 600)", path,
               (unsigned)(st.st_mode & 0777));
        rc = PW_ECONFIG;
        goto out;
    }
    n = read(fd, buf, sizeof buf);
    if (n != 32) {
        seterr(err, errcap, "archive key %s: expected a 32-byte Ed25519 seed, found %zd bytes",
               path, n);
        rc = PW_ECONFIG;
        goto out;
    }
    memcpy(seed, buf, 32);
out:
    sodium_memzero(buf, sizeof buf);
    close(fd);
    return rc;
}

/* ---- helpers ---- */

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return pw_err_from_errno(errno);
        if (n == 0)
            return PW_ECORRUPT;
        done += (size_t)n;
    }
    return PW_OK;
}

static ssize_t posix_pwrite(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    (void)ctx;
    return pwrite(fd, p, n, off);
}

static int posix_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    return fdatasync(fd);
}

static const struct archive_io posix_io = {posix_pwrite, posix_fdatasync, NULL};

const struct archive_io *archive_io_posix(void)
{
    return &posix_io;
}

static int pwrite_io(const struct archive_io *io, int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n =
            io->pwrite(io->ctx, fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return pw_err_from_errno(errno);
        done += (size_t)n;
    }
    return PW_OK;
}

static void bundle_push(struct archive *a, uint64_t off)
{
    pthread_mutex_lock(&a->lock);
    if (a->n_bundles == a->cap_bundles) {
        a->cap_bundles = a->cap_bundles ? a->cap_bundles * 2 : 1024;
        a->bundle_off = pw_xrealloc(a->bundle_off, a->cap_bundles * sizeof *a->bundle_off);
    }
    a->bundle_off[a->n_bundles++] = off;
    pthread_mutex_unlock(&a->lock);
}

static void on_complete(int level, uint64_t index, const uint8_t h[ARCHIVE_HASH], void *arg)
{
    struct archive *a = arg;
    (void)index;
    if (level % ARCHIVE_TILE_HEIGHT != 0)
        return;
    int l = level / ARCHIVE_TILE_HEIGHT;
    if (l < MAX_LEVELS)
        pw_buf_append(&a->pend_hash[l], h, ARCHIVE_HASH);
}

/* Hashes one leaf into the tree (the entry bytes are queued by the caller). */
static void push_leaf_hash(struct archive *a, const uint8_t lh[ARCHIVE_HASH], uint64_t entry_off)
{
    if (a->f.size % ARCHIVE_TILE_WIDTH == 0)
        bundle_push(a, entry_off);
    archive_frontier_push(&a->f, lh, on_complete, a);
}

static void push_leaf(struct archive *a, const void *leaf, size_t len, uint64_t entry_off)
{
    uint8_t lh[ARCHIVE_HASH];
    archive_leaf_hash(leaf, len, lh);
    push_leaf_hash(a, lh, entry_off);
}

/* Open: the pending hashes of level l against the hash file (compare; rewrite what differs
 * unless verify_only), then drop them. */
static int reconcile_hashes(struct archive *a, int l)
{
    struct pw_buf *p = &a->pend_hash[l];
    if (p->len == 0)
        return PW_OK;
    uint8_t *old = pw_xmalloc(p->len);
    uint64_t off = a->hash_len[l];
    struct stat st;
    size_t have = 0;
    if (a->fd_hash[l] >= 0 && fstat(a->fd_hash[l], &st) == 0 && (uint64_t)st.st_size > off)
        have = (uint64_t)st.st_size - off < p->len ? (size_t)((uint64_t)st.st_size - off) : p->len;
    int rc = PW_OK;
    if (have && (rc = pread_full(a->fd_hash[l], old, have, off)) != PW_OK)
        goto out;
    for (size_t i = 0; i < have; i += ARCHIVE_HASH) {
        if (memcmp(old + i, p->data + i, ARCHIVE_HASH) != 0) {
            uint64_t idx = (off + i) / ARCHIVE_HASH;
            if (!a->bad_tile) {
                a->bad_tile = true;
                a->first_bad_tile_level = l;
                a->first_bad_tile_index = idx;
            }
            if (!a->verify_only && !a->repair)
                PW_LOG_WARN("archive", "stored hash differs from the entries",
                            "level=%d index=%" PRIu64, l, idx);
            break;
        }
    }
    /* a missing tail (a crash before the hashes were written) is filled in; a differing stored
     * hash is left as it is (it is evidence) until the scan showed the entries agree with
     * every signed checkpoint: then the pass with repair set rewrites everything */
    if (!a->verify_only && a->fd_hash[l] >= 0) {
        if (a->repair)
            rc = pwrite_io(a->opt.io, a->fd_hash[l], p->data, p->len, off);
        else if (have < p->len)
            rc = pwrite_io(a->opt.io, a->fd_hash[l], p->data + have, p->len - have, off + have);
    }
    a->hash_len[l] += p->len;
    pw_buf_reset(p);
out:
    free(old);
    return rc;
}

static int reconcile_all(struct archive *a, bool final)
{
    for (int l = 0; l < MAX_LEVELS; l++) {
        if (!final && a->pend_hash[l].len < SCAN_CHUNK)
            continue;
        int rc = reconcile_hashes(a, l);
        if (rc != PW_OK)
            return rc;
    }
    return PW_OK;
}

/* Checks the checkpoints whose size the scan just reached. */
static void check_checkpoints(struct archive *a)
{
    if (a->has_from && !a->from_seen && a->from.size == a->f.size) {
        uint8_t root[ARCHIVE_HASH];
        archive_frontier_root(&a->f, root);
        a->from_seen = true;
        if (sodium_memcmp(root, a->from.root, ARCHIVE_HASH) != 0)
            integrity_error(a,
                            "the stored entries give another root at size %" PRIu64
                            " than the checkpoint given with --from (the log was rewritten)",
                            a->f.size);
    }
    while (a->next_cp < a->n_cps && a->cps[a->next_cp].size == a->f.size) {
        uint8_t root[ARCHIVE_HASH];
        archive_frontier_root(&a->f, root);
        if (sodium_memcmp(root, a->cps[a->next_cp].root, ARCHIVE_HASH) != 0)
            integrity_error(a,
                            "the stored entries give another root at size %" PRIu64
                            " than the checkpoint signed for it",
                            a->f.size);
        a->next_cp++;
    }
}

/* A checkpoint signature by the current key, the next one or an accepted previous one. */
static int note_verify_any(struct archive *a, const char *note, size_t n, size_t *tl)
{
    int vr = a->have_key ? archive_note_verify(&a->key, note, n, tl) : PW_ENOTFOUND;
    if (vr == PW_ENOTFOUND && a->have_next)
        vr = archive_note_verify(&a->next, note, n, tl);
    for (size_t i = 0; vr == PW_ENOTFOUND && i < a->n_prev; i++)
        vr = archive_note_verify(&a->prev[i], note, n, tl);
    return vr;
}

/* Parses comma-separated verifier keys into a->prev (same name as a->key). */
static int parse_prev(struct archive *a, const char *csv, char *err, size_t errcap)
{
    const char *p = csv;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && *p == ' ') {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        if (n) {
            char vk[512], e2[160];
            if (n >= sizeof vk || a->n_prev == PW_ARRAY_LEN(a->prev)) {
                seterr(err, errcap, "previous verifier keys: at most %zu", PW_ARRAY_LEN(a->prev));
                return PW_ECONFIG;
            }
            memcpy(vk, p, n);
            vk[n] = '\0';
            if (archive_vkey_parse(vk, &a->prev[a->n_prev], e2, sizeof e2) != PW_OK) {
                seterr(err, errcap, "previous verifier key '%.64s': %s", vk, e2);
                return PW_ECONFIG;
            }
            if (a->have_key && strcmp(a->prev[a->n_prev].name, a->key.name) != 0) {
                seterr(err, errcap, "previous verifier key '%.64s': another log's name", vk);
                return PW_ECONFIG;
            }
            a->n_prev++;
        }
        p = e ? e + 1 : NULL;
    }
    return PW_OK;
}

/* Remembers a checkpoint: every distinct one for the offline tools, only the latest for the
 * daemon (its root at that size is what the open-time scan compares; the others are implied). */
static void keep_checkpoint(struct archive *a, uint64_t size, const uint8_t root[ARCHIVE_HASH])
{
    a->n_signed++;
    if (a->n_cps && a->cps[a->n_cps - 1].size == size &&
        memcmp(a->cps[a->n_cps - 1].root, root, ARCHIVE_HASH) == 0)
        return; /* re-signed unchanged */
    if (!a->verify_only && a->n_cps)
        a->n_cps = 0;
    if (a->n_cps == a->cap_cps) {
        a->cap_cps = a->cap_cps ? a->cap_cps * 2 : 64;
        a->cps = pw_xrealloc(a->cps, a->cap_cps * sizeof *a->cps);
    }
    a->cps[a->n_cps].size = size;
    memcpy(a->cps[a->n_cps].root, root, ARCHIVE_HASH);
    a->n_cps++;
}

/* Loads the checkpoint records from byte `start` (0, or the latest record of a verified prefix;
 * read in chunks: the file grows by one record every 10 s); a torn last record is cut. */
static int load_checkpoints(struct archive *a, uint64_t start)
{
    struct stat st;
    if (fstat(a->fd_cps, &st) != 0)
        return pw_err_from_errno(errno);
    uint64_t len = (uint64_t)st.st_size, off = start;
    if (len > MAX_CHECKPOINTS_FILE)
        return PW_ETOOBIG;
    char *buf = pw_xmalloc(SCAN_CHUNK + ARCHIVE_MAX_NOTE + 4);
    size_t have = 0, pos = 0; /* buf holds file bytes [off - pos, off - pos + have) */
    int rc = PW_OK;
    uint64_t last_size = 0;
    bool first = true;
    for (;;) {
        if (have - pos < 4 + ARCHIVE_MAX_NOTE && off - pos + have < len) {
            memmove(buf, buf + pos, have - pos);
            have -= pos;
            pos = 0;
            uint64_t fo = off + have;
            size_t want = (size_t)(len - fo < SCAN_CHUNK ? len - fo : SCAN_CHUNK);
            if ((rc = pread_full(a->fd_cps, buf + have, want, fo)) != PW_OK)
                break;
            have += want;
        }
        if (have - pos < 4)
            break;
        const char *r = buf + pos;
        uint32_t n = (uint32_t)(uint8_t)r[0] << 24 | (uint32_t)(uint8_t)r[1] << 16 |
                     (uint32_t)(uint8_t)r[2] << 8 | (uint8_t)r[3];
        if (n > ARCHIVE_MAX_NOTE || have - pos < 4 + (size_t)n)
            break;
        const char *note = r + 4;
        size_t tl = 0;
        struct archive_checkpoint cp;
        char err[128] = "";
        int vr = note_verify_any(a, note, n, &tl);
        if (vr != PW_OK) {
            integrity_error(a, "checkpoint %zu (at byte %" PRIu64 " of checkpoints) %s",
                            a->n_signed + 1, off,
                            vr == PW_EAUTH ? "has a signature that does not verify"
                                           : "is not signed by this log's key");
        } else if (archive_checkpoint_parse(note, tl, &cp, err, sizeof err) != PW_OK ||
                   strcmp(cp.origin, a->key.name) != 0) {
            integrity_error(a, "checkpoint %zu: %s", a->n_signed + 1,
                            err[0] ? err : "origin is not this log's");
        } else {
            if (!first && cp.size < last_size)
                integrity_error(a, "checkpoint %zu goes back from size %" PRIu64 " to %" PRIu64,
                                a->n_signed + 1, last_size, cp.size);
            first = false;
            last_size = cp.size;
            keep_checkpoint(a, cp.size, cp.root);
            pw_buf_reset(&a->latest);
            pw_buf_append(&a->latest, note, n);
            a->latest_off = off;
            a->signed_size = cp.size;
            memcpy(a->signed_root, cp.root, ARCHIVE_HASH);
        }
        pos += 4 + n;
        off += 4 + n;
    }
    if (rc == PW_OK && off < len) {
        if (a->verify_only) {
            integrity_error(a, "checkpoints file: a torn record at byte %" PRIu64, off);
        } else {
            PW_LOG_WARN("archive", "torn last checkpoint record cut", "bytes=%" PRIu64, len - off);
            if (ftruncate(a->fd_cps, (off_t)off) != 0)
                rc = pw_err_from_errno(errno);
        }
    }
    a->cps_len = off;
    free(buf);
    return rc;
}

/* verify: whether this leaf is the operator's archive.prune record of the pruned index */
static void note_prune_record(struct archive *a, const uint8_t *leaf, size_t len)
{
    struct archive_leaf l;
    char want[64];
    int wl = snprintf(want, sizeof want, "\"below\":%" PRIu64 ",", a->pruned);
    if (archive_leaf_decode(leaf, len, &l) == PW_OK && l.kind == ARCHIVE_KIND_OPERATOR &&
        memmem(l.bytes, l.len, "\"action\":\"archive.prune\"", 24) &&
        memmem(l.bytes, l.len, want, (size_t)wl))
        a->prune_seen = true;
}

/* Reads and hashes every entry; a torn tail is cut. */
static int scan_entries(struct archive *a)
{
    struct stat st;
    if (fstat(a->fd_entries, &st) != 0)
        return pw_err_from_errno(errno);
    uint64_t len = (uint64_t)st.st_size, off = a->entries_len; /* after a verified prefix */
    uint8_t *buf = pw_xmalloc(SCAN_CHUNK + ARCHIVE_MAX_ENTRY + 2);
    size_t have = 0, pos = 0; /* buffer holds file bytes [off - pos, off - pos + have) */
    int rc = PW_OK;
    check_checkpoints(a);
    for (;;) {
        if (have - pos < 2 + ARCHIVE_MAX_ENTRY && off - pos + have < len) {
            memmove(buf, buf + pos, have - pos);
            have -= pos;
            pos = 0;
            uint64_t fo = off + have;
            size_t want = (size_t)(len - fo < SCAN_CHUNK ? len - fo : SCAN_CHUNK);
            if ((rc = pread_full(a->fd_entries, buf + have, want, fo)) != PW_OK)
                break;
            have += want;
        }
        if (have - pos < 2)
            break;
        size_t n = (size_t)buf[pos] << 8 | buf[pos + 1];
        if (have - pos < 2 + n)
            break;
        push_leaf(a, buf + pos + 2, n, off);
        a->rehashed++;
        if (a->verify_only && a->pruned && !a->prune_seen)
            note_prune_record(a, buf + pos + 2, n);
        pos += 2 + n;
        off += 2 + n;
        check_checkpoints(a);
        if ((rc = reconcile_all(a, false)) != PW_OK)
            break;
    }
    if (rc == PW_OK)
        rc = reconcile_all(a, true);
    if (rc == PW_OK && off < len) {
        if (a->verify_only) {
            integrity_error(a, "entries file: a torn entry at byte %" PRIu64 " (entry %" PRIu64 ")",
                            off, a->f.size);
        } else {
            PW_LOG_WARN("archive", "torn last entry cut (never acknowledged)",
                        "entry=%" PRIu64 " bytes=%" PRIu64, a->f.size, len - off);
            if (ftruncate(a->fd_entries, (off_t)off) != 0)
                rc = pw_err_from_errno(errno);
        }
    }
    a->entries_len = off;
    free(buf);
    return rc;
}

static int open_file(struct archive *a, const char *name, int *fd, bool ro)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", a->dir, name);
    *fd = open(path, (ro ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0640);
    if (*fd < 0 && ro && errno == ENOENT)
        return PW_OK;
    return *fd < 0 ? pw_err_from_errno(errno) : PW_OK;
}

static void free_archive(struct archive *a)
{
    if (a->fd_entries >= 0)
        close(a->fd_entries);
    if (a->fd_cps >= 0)
        close(a->fd_cps);
    if (a->fd_bundles >= 0)
        close(a->fd_bundles);
    for (int l = 0; l < MAX_LEVELS; l++) {
        if (a->fd_hash[l] >= 0)
            close(a->fd_hash[l]);
        pw_buf_release(&a->pend_hash[l]);
    }
    pw_buf_release(&a->pend_entries);
    pw_buf_release(&a->latest);
    pw_buf_release(&a->cosigs);
    pthread_mutex_destroy(&a->lock);
    free(a->bundle_off);
    free(a->cps);
    sodium_memzero(&a->key, sizeof a->key);
    sodium_memzero(a->state_key, sizeof a->state_key);
    free(a);
}

/* ---- the verified prefix ----
 *
 * Re-hashing every entry at every start would take hours for a year of a park. So a start
 * verifies what follows a prefix an earlier start (or a clean shutdown) left verified, recorded in
 * <dir>/verified: its size V (always the size of a signed checkpoint), the entries' byte length at
 * V, the offset of that checkpoint's record and the number of records up to it, and a keyed
 * BLAKE2b MAC (key derived from the signing seed) so that an edited state file is not believed.
 * With a valid state the open
 *   - checks the signature of the checkpoint at V again and takes its root;
 *   - recomputes the root at V from the stored hash tiles (the <= 64 complete subtrees V splits
 *     into, folded from at most 128 stored hashes each) and compares it with that checkpoint;
 *   - spot-checks entry bundles of the prefix (all of them up to SPOT_ALL bundles, else the last
 * and SPOT_RANDOM random ones): every entry re-read and hashed against hashes.0, the bundle's
 *     lengths ending exactly where the next begins, a full bundle folded against hashes.1;
 *   - then reads and hashes only the entries after V, compares the root at each later checkpoint.
 * Anything that does not match (a short file, a damaged tile, a changed entry in a checked bundle)
 * drops the state and the open re-hashes everything as before, which repairs damaged tiles or
 * reports the integrity error. `parkwatch archive verify` always re-hashes every entry. */

#define SPOT_ALL 64
#define SPOT_RANDOM 63
#define STATE_MAGIC "parkwatch archive verified v1\n"

struct vstate {
    uint64_t size, bytes, cp_off;
    size_t n_signed;
};

static int stored_subtree(void *ctx, int level, uint64_t index, uint8_t out[ARCHIVE_HASH]);
static void mark_written(struct archive *a);

/* The keys whose checkpoints this open accepts (current, next, previous): a prefix verified under
 * another set is checked again. */
static void keys_print(const struct archive *a, char hex[17])
{
    crypto_generichash_state st;
    uint8_t h[8];
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, a->key.pk, 32);
    if (a->have_next)
        crypto_generichash_update(&st, a->next.pk, 32);
    for (size_t i = 0; i < a->n_prev; i++)
        crypto_generichash_update(&st, a->prev[i].pk, 32);
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(hex, 17, h, sizeof h);
}

static void state_mac(const struct archive *a, const char *text, size_t len, char hex[65])
{
    uint8_t mac[32];
    crypto_generichash(mac, sizeof mac, (const uint8_t *)text, len, a->state_key,
                       sizeof a->state_key);
    sodium_bin2hex(hex, 65, mac, sizeof mac);
}

/* Records V = the signed size (which must be durable with its hash tiles): the hash files and
 * the bundle index are fsync'd first, so a state never points at tiles the disk does not hold. */
static int save_verified(struct archive *a, uint64_t size, uint64_t bytes)
{
    if (!a->have_state_key || a->verify_only || a->opt.read_only || !a->integrity_ok || a->broken ||
        !a->latest.len || a->signed_size != size)
        return PW_OK;
    if (a->opt.fsync) {
        for (int l = 0; l < MAX_LEVELS; l++)
            if (a->fd_hash[l] >= 0 && a->hash_len[l] && fdatasync(a->fd_hash[l]) != 0)
                return pw_err_from_errno(errno);
        if (fdatasync(a->fd_bundles) != 0)
            return pw_err_from_errno(errno);
    }
    char text[512], hex[65], path[4200], keys[17];
    keys_print(a, keys);
    int n = snprintf(text, sizeof text,
                     STATE_MAGIC "size %" PRIu64 "\nbytes %" PRIu64 "\ncheckpoint %" PRIu64
                                 "\ncheckpoints %zu\nkeys %s\n",
                     size, bytes, a->latest_off, a->n_signed, keys);
    state_mac(a, text, (size_t)n, hex);
    n += snprintf(text + n, sizeof text - (size_t)n, "mac %s\n", hex);
    snprintf(path, sizeof path, "%s/verified", a->dir);
    return pw_file_replace(path, text, (size_t)n);
}

static bool state_u64(const char **p, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    if (strncmp(*p, key, kl) != 0 || (*p)[kl] != ' ')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(*p + kl + 1, &end, 10);
    if (errno || *end != '\n' || end == *p + kl + 1)
        return false;
    *out = v;
    *p = end + 1;
    return true;
}

/* Reads and authenticates <dir>/verified. false: no (usable) state. */
static bool load_state(struct archive *a, struct vstate *vs)
{
    char path[4200], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/verified", a->dir);
    if (!a->have_state_key || pw_file_read(path, 1024, &data, &len) != PW_OK)
        return false;
    bool ok = false;
    const char *p = data, *mac = strstr(data, "mac ");
    uint64_t ns = 0;
    char hex[65];
    if (!mac || strncmp(p, STATE_MAGIC, strlen(STATE_MAGIC)) != 0)
        goto out;
    state_mac(a, data, (size_t)(mac - data), hex);
    if (len - (size_t)(mac - data) != 4 + 64 + 1 || sodium_memcmp(mac + 4, hex, 64) != 0) {
        PW_LOG_WARN("archive", "verified-prefix state does not authenticate; checking every entry",
                    "path=%s", path);
        goto out;
    }
    p += strlen(STATE_MAGIC);
    char keys[17];
    keys_print(a, keys);
    ok = state_u64(&p, "size", &vs->size) && state_u64(&p, "bytes", &vs->bytes) &&
         state_u64(&p, "checkpoint", &vs->cp_off) && state_u64(&p, "checkpoints", &ns) &&
         strncmp(p, "keys ", 5) == 0 && strncmp(p + 5, keys, 16) == 0 && p[21] == '\n' &&
         p + 22 == mac && ns > 0 && ns < SIZE_MAX;
    if (!ok)
        PW_LOG_INFO("archive",
                    "verified-prefix state is for other keys or malformed; checking "
                    "every entry",
                    "path=%s", path);
    vs->n_signed = (size_t)ns;
out:
    free(data);
    return ok;
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Spot check of bundle n of the prefix [0, V) whose entries end at byte B. */
static bool spot_bundle(struct archive *a, uint64_t n, uint64_t V, uint64_t B, uint8_t **buf,
                        size_t *cap)
{
    uint64_t start = a->bundle_off[n], end = n + 1 < a->n_bundles ? a->bundle_off[n + 1] : B;
    uint64_t first = n * ARCHIVE_TILE_WIDTH;
    unsigned w = archive_tile_width(-1, n, V);
    if (end <= start || end - start > (uint64_t)w * (2 + ARCHIVE_MAX_ENTRY))
        return false;
    size_t len = (size_t)(end - start);
    if (len > *cap) {
        *buf = pw_xrealloc(*buf, len);
        *cap = len;
    }
    uint8_t hs[ARCHIVE_TILE_WIDTH][ARCHIVE_HASH];
    if (pread_full(a->fd_entries, *buf, len, start) != PW_OK ||
        pread_full(a->fd_hash[0], hs, (size_t)w * ARCHIVE_HASH, first * ARCHIVE_HASH) != PW_OK)
        return false;
    size_t p = 0;
    for (unsigned i = 0; i < w; i++) {
        if (p + 2 > len)
            return false;
        size_t el = (size_t)(*buf)[p] << 8 | (*buf)[p + 1];
        if (p + 2 + el > len)
            return false;
        uint8_t lh[ARCHIVE_HASH];
        archive_leaf_hash(*buf + p + 2, el, lh);
        a->rehashed++;
        if (sodium_memcmp(lh, hs[i], ARCHIVE_HASH) != 0)
            return false;
        p += 2 + el;
    }
    if (p != len)
        return false;
    if (w == ARCHIVE_TILE_WIDTH) {
        uint8_t up[ARCHIVE_HASH], stored[ARCHIVE_HASH];
        for (size_t c = ARCHIVE_TILE_WIDTH; c > 1; c /= 2)
            for (size_t i = 0; i < c / 2; i++)
                archive_node_hash(hs[2 * i], hs[2 * i + 1], hs[i]);
        memcpy(up, hs[0], ARCHIVE_HASH);
        if (a->fd_hash[1] < 0 ||
            pread_full(a->fd_hash[1], stored, ARCHIVE_HASH, n * ARCHIVE_HASH) != PW_OK ||
            sodium_memcmp(up, stored, ARCHIVE_HASH) != 0)
            return false;
    }
    return true;
}

/* Takes the verified prefix of vs when everything about it checks out (see above); otherwise
 * leaves a as a fresh open (nothing loaded) and returns false. */
static bool take_prefix(struct archive *a, const struct vstate *vs)
{
    uint64_t V = vs->size, B = vs->bytes;
    const char *why = NULL;
    struct stat st;
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct archive_checkpoint cp;
    if (V == 0 || V <= a->pruned)
        return false; /* (an open from the pruned index reads what follows it) */
    /* the checkpoint at V: its record, its signature, its size */
    uint8_t h4[4];
    char *note = NULL;
    size_t tl = 0;
    char err[128];
    if (pread_full(a->fd_cps, h4, 4, vs->cp_off) != PW_OK) {
        why = "the checkpoint record it names is missing";
        goto fail;
    }
    uint32_t nl = (uint32_t)h4[0] << 24 | (uint32_t)h4[1] << 16 | (uint32_t)h4[2] << 8 | h4[3];
    note = pw_xmalloc(ARCHIVE_MAX_NOTE + 1);
    if (nl > ARCHIVE_MAX_NOTE || pread_full(a->fd_cps, note, nl, vs->cp_off + 4) != PW_OK ||
        note_verify_any(a, note, nl, &tl) != PW_OK ||
        archive_checkpoint_parse(note, tl, &cp, err, sizeof err) != PW_OK || cp.size != V ||
        strcmp(cp.origin, a->key.name) != 0) {
        why = "the checkpoint record it names does not verify";
        goto fail;
    }
    /* the files hold at least the prefix */
    uint64_t nb = (V + ARCHIVE_TILE_WIDTH - 1) / ARCHIVE_TILE_WIDTH;
    if (fstat(a->fd_entries, &st) != 0 || (uint64_t)st.st_size < B) {
        why = "the entries file is shorter than the prefix";
        goto fail;
    }
    for (int l = 0; l < MAX_LEVELS && (V >> (8 * l)); l++)
        if (a->fd_hash[l] < 0 || fstat(a->fd_hash[l], &st) != 0 ||
            (uint64_t)st.st_size < (V >> (8 * l)) * ARCHIVE_HASH) {
            why = "a hash file is shorter than the prefix";
            goto fail;
        }
    if (fstat(a->fd_bundles, &st) != 0 || (uint64_t)st.st_size < nb * 8 || nb > SIZE_MAX / 8) {
        why = "the bundle index is shorter than the prefix";
        goto fail;
    }
    /* the bundle offsets: start at 0, increase, end before B */
    a->cap_bundles = a->n_bundles = (size_t)nb;
    a->bundle_off = pw_xrealloc(a->bundle_off, (size_t)nb * sizeof *a->bundle_off);
    uint8_t *raw = pw_xmalloc((size_t)nb * 8);
    int rc = pread_full(a->fd_bundles, raw, (size_t)nb * 8, 0);
    for (size_t i = 0; rc == PW_OK && i < nb; i++) {
        a->bundle_off[i] = be64(raw + 8 * i);
        if ((i == 0 && a->bundle_off[0] != 0) || (i && a->bundle_off[i] <= a->bundle_off[i - 1]) ||
            a->bundle_off[i] >= B)
            rc = PW_ECORRUPT;
    }
    free(raw);
    if (rc != PW_OK) {
        why = "the bundle index does not agree with the entries";
        goto fail;
    }
    /* the root at V from the stored tiles */
    archive_frontier_init(&a->f);
    for (int k = 0; k < 64; k++)
        if (V >> k & 1 && stored_subtree(a, k, (V >> k) - 1, a->f.h[k]) != PW_OK) {
            why = "a hash tile of the prefix cannot be read";
            goto fail;
        }
    a->f.size = V;
    uint8_t root[ARCHIVE_HASH];
    archive_frontier_root(&a->f, root);
    if (sodium_memcmp(root, cp.root, ARCHIVE_HASH) != 0) {
        why = "the stored hash tiles give another root than the checkpoint signed for it";
        goto fail;
    }
    /* spot checks */
    a->rehashed = 0;
    uint64_t kept = a->pruned / ARCHIVE_TILE_WIDTH; /* the bundles below were pruned */
    if (nb - kept <= SPOT_ALL) {
        for (uint64_t n = kept; n < nb; n++)
            if (!spot_bundle(a, n, V, B, &buf, &cap)) {
                why = "a spot-checked entry bundle differs from its hashes";
                goto fail;
            }
    } else {
        if (!spot_bundle(a, nb - 1, V, B, &buf, &cap))
            why = "a spot-checked entry bundle differs from its hashes";
        for (int i = 0; !why && i < SPOT_RANDOM; i++) {
            uint64_t n = kept + ((uint64_t)randombytes_random() << 32 | randombytes_random()) %
                                    (nb - 1 - kept);
            if (!spot_bundle(a, n, V, B, &buf, &cap))
                why = "a spot-checked entry bundle differs from its hashes";
        }
        if (why)
            goto fail;
    }
    for (int l = 0; l < MAX_LEVELS; l++)
        a->hash_len[l] = (V >> (8 * l)) * ARCHIVE_HASH;
    a->entries_len = B;
    a->bundles_written = (size_t)nb;
    a->verified_prefix = V;
    free(buf);
    free(note);
    return true;
fail:
    PW_LOG_WARN("archive", "verified prefix not taken; checking every entry",
                "size=%" PRIu64 " reason=\"%s\"", V, why ? why : "");
    archive_frontier_init(&a->f);
    a->n_bundles = 0;
    a->rehashed = 0;
    free(buf);
    free(note);
    return false;
}

/* Writes the bundle offsets not yet in the bundles file (writer thread). */
static int write_bundles(struct archive *a)
{
    if (a->bundles_written >= a->n_bundles)
        return PW_OK;
    size_t n = a->n_bundles - a->bundles_written;
    uint8_t *raw = pw_xmalloc(n * 8);
    for (size_t i = 0; i < n; i++) {
        uint64_t v = a->bundle_off[a->bundles_written + i];
        for (int b = 0; b < 8; b++)
            raw[8 * i + (size_t)b] = (uint8_t)(v >> (56 - 8 * b));
    }
    int rc = pwrite_io(a->opt.io, a->fd_bundles, raw, n * 8, (uint64_t)a->bundles_written * 8);
    free(raw);
    if (rc == PW_OK)
        a->bundles_written = a->n_bundles;
    return rc;
}

uint64_t archive_open_rehashed(const struct archive *a)
{
    return a->rehashed;
}

uint64_t archive_open_verified_prefix(const struct archive *a)
{
    return a->verified_prefix;
}

/* ---- pruning ----
 *
 * Entry bundles below a minimum index may be pruned (c2sp.org/tlog-tiles): the tree and every hash
 * tile stay, the entries below are removed from the entries file (a hole punched) and refused when
 * asked for. <dir>/pruned holds "below N\n", written durably after the operator's archive.prune
 * leaf and before anything is removed. An open then takes the tree below N from the stored hash
 * tiles (it cannot re-hash entries that are gone) and reads the entries from N on. */

static uint64_t load_pruned(struct archive *a)
{
    char path[4200], *data = NULL;
    size_t len = 0;
    uint64_t n = 0;
    snprintf(path, sizeof path, "%s/pruned", a->dir);
    if (pw_file_read(path, 64, &data, &len) != PW_OK)
        return 0;
    const char *p = data;
    if (!state_u64(&p, "below", &n) || n % ARCHIVE_TILE_WIDTH != 0)
        n = 0;
    free(data);
    return n;
}

/* Frees the space of the entries below the pruned index (idempotent). */
static uint64_t punch_pruned(struct archive *a)
{
    pthread_mutex_lock(&a->lock);
    size_t nb = (size_t)(a->pruned / ARCHIVE_TILE_WIDTH);
    uint64_t end = nb < a->n_bundles ? a->bundle_off[nb] : 0;
    pthread_mutex_unlock(&a->lock);
    if (!end || a->opt.read_only || a->verify_only)
        return 0;
    if (fallocate(a->fd_entries, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)end) != 0) {
        PW_LOG_WARN("archive", "pruned entries refused, but their space not freed", "err=%s",
                    strerror(errno));
        return 0;
    }
    return end;
}

/* The open's starting point below the pruned index P: the tree from the stored tiles, the bundle
 * offsets from the bundle index, the entries from bundle P/256 on. Checkpoints below P are
 * checked against the tiles (their entries are gone). */
static int prune_setup(struct archive *a, char *why, size_t cap)
{
    uint64_t P = a->pruned, nb = P / ARCHIVE_TILE_WIDTH;
    struct stat st;
    if (a->fd_bundles < 0 || fstat(a->fd_bundles, &st) != 0 ||
        (uint64_t)st.st_size < (nb + 1) * 8) {
        snprintf(why, cap, "the bundle index does not reach the pruned index %" PRIu64, P);
        return PW_ECORRUPT;
    }
    uint8_t *raw = pw_xmalloc((size_t)(nb + 1) * 8);
    int rc = pread_full(a->fd_bundles, raw, (size_t)(nb + 1) * 8, 0);
    if (rc == PW_OK) {
        a->cap_bundles = (size_t)nb + 1;
        a->bundle_off = pw_xrealloc(a->bundle_off, a->cap_bundles * sizeof *a->bundle_off);
        for (size_t i = 0; i < nb; i++)
            a->bundle_off[i] = be64(raw + 8 * i);
        a->n_bundles = (size_t)nb;
        a->entries_len = be64(raw + 8 * nb);
    }
    free(raw);
    archive_frontier_init(&a->f);
    for (int k = 0; rc == PW_OK && k < 64; k++)
        if (P >> k & 1)
            rc = stored_subtree(a, k, (P >> k) - 1, a->f.h[k]);
    if (rc != PW_OK) {
        snprintf(why, cap, "the hash tiles below the pruned index %" PRIu64 " cannot be read", P);
        return PW_ECORRUPT;
    }
    a->f.size = P;
    for (int l = 0; l < MAX_LEVELS; l++)
        a->hash_len[l] = (P >> (8 * l)) * ARCHIVE_HASH;
    a->bundles_written = (size_t)nb;
    /* checkpoints (and --from) below P: against the tiles */
    while (a->next_cp < a->n_cps && a->cps[a->next_cp].size < P) {
        uint8_t root[ARCHIVE_HASH];
        if (archive_root_from(stored_subtree, a, a->cps[a->next_cp].size, root) != PW_OK ||
            sodium_memcmp(root, a->cps[a->next_cp].root, ARCHIVE_HASH) != 0)
            integrity_error(a,
                            "the stored hash tiles give another root at size %" PRIu64
                            " (below the pruned index) than the checkpoint signed for it",
                            a->cps[a->next_cp].size);
        a->next_cp++;
    }
    if (a->has_from && !a->from_seen && a->from.size < P) {
        uint8_t root[ARCHIVE_HASH];
        a->from_seen = true;
        if (archive_root_from(stored_subtree, a, a->from.size, root) != PW_OK ||
            sodium_memcmp(root, a->from.root, ARCHIVE_HASH) != 0)
            integrity_error(a,
                            "the stored tiles give another root at size %" PRIu64
                            " than the checkpoint given with --from (the log was rewritten)",
                            a->from.size);
    }
    return PW_OK;
}

int archive_prune(struct archive *a, uint64_t below, uint64_t *freed, char *err, size_t errcap)
{
    pthread_mutex_lock(&a->lock);
    uint64_t size = a->latest.len ? a->signed_size : 0, have = a->pruned;
    pthread_mutex_unlock(&a->lock);
    *freed = 0;
    if (below % ARCHIVE_TILE_WIDTH != 0 || below <= have || below >= size) {
        seterr(err, errcap,
               "below: a multiple of 256 above the pruned index %" PRIu64
               " and below the latest checkpoint's size %" PRIu64,
               have, size);
        return PW_EINVAL;
    }
    char path[4200], text[64];
    snprintf(path, sizeof path, "%s/pruned", a->dir);
    int n = snprintf(text, sizeof text, "below %" PRIu64 "\n", below);
    int rc = pw_file_replace(path, text, (size_t)n);
    if (rc != PW_OK) {
        seterr(err, errcap, "cannot write %s: %s", path, pw_strerror(rc));
        return rc;
    }
    pthread_mutex_lock(&a->lock);
    a->pruned = below;
    pthread_mutex_unlock(&a->lock);
    *freed = punch_pruned(a);
    PW_LOG_INFO("archive", "entries pruned", "below=%" PRIu64 " bytes=%" PRIu64, below, *freed);
    return PW_OK;
}

uint64_t archive_pruned(struct archive *a)
{
    pthread_mutex_lock(&a->lock);
    uint64_t p = a->pruned;
    pthread_mutex_unlock(&a->lock);
    return p;
}

/* Once per next key: a leaf recording the rotation (kind archive; "key-rotation v1\nold
 * <vkey>\nnew <vkey>\n"), durable before the first checkpoint the new key signs; <dir>/rotation
 * remembers the new key it was logged for. */
static int log_rotation(struct archive *a)
{
    char oldk[300], newk[300], path[4200], *have = NULL;
    size_t hl = 0;
    archive_vkey_format(&a->key, oldk, sizeof oldk);
    archive_vkey_format(&a->next, newk, sizeof newk);
    snprintf(path, sizeof path, "%s/rotation", a->dir);
    if (pw_file_read(path, 1024, &have, &hl) == PW_OK) {
        bool done = hl == strlen(newk) && memcmp(have, newk, hl) == 0;
        free(have);
        if (done)
            return PW_OK;
    }
    char body[700];
    int bl = snprintf(body, sizeof body, "key-rotation v1\nold %s\nnew %s\n", oldk, newk);
    uint8_t leaf[800];
    size_t ll = archive_leaf_encode(leaf, sizeof leaf, ARCHIVE_KIND_ARCHIVE, pw_now_ms(), "archive",
                                    body, (size_t)bl);
    if (ll == 0 || archive_append(a, leaf, ll) < 0)
        return PW_ETOOBIG;
    int rc = archive_write(a);
    struct archive_sync_ticket t;
    if (rc == PW_OK && archive_sync_prepare(a, &t)) {
        archive_sync_perform(&t);
        rc = archive_sync_finish(a, &t);
    }
    if (rc == PW_OK)
        rc = pw_file_replace(path, newk, strlen(newk));
    if (rc == PW_OK)
        PW_LOG_INFO("archive", "key rotation logged; signing with both keys", "old=%s new=%s", oldk,
                    newk);
    return rc;
}

static int open_common(const struct archive_opts *o, const char *vkey, bool verify_only,
                       const struct cp_rec *from, struct archive **out, char *err, size_t errcap)
{
    if (!m_leaves)
        metrics_init();
    struct archive *a = pw_xcalloc(1, sizeof *a);
    a->opt = *o;
    if (!a->opt.io)
        a->opt.io = &posix_io;
    a->verify_only = verify_only;
    a->integrity_ok = true;
    if (from) {
        a->has_from = true;
        a->from = *from;
    }
    a->fd_entries = a->fd_cps = a->fd_bundles = -1;
    for (int l = 0; l < MAX_LEVELS; l++) {
        a->fd_hash[l] = -1;
        pw_buf_init(&a->pend_hash[l], 0);
    }
    pw_buf_init(&a->pend_entries, 0);
    pw_buf_init(&a->latest, 0);
    pw_buf_init(&a->cosigs, 0);
    pthread_mutex_init(&a->lock, NULL);
    archive_frontier_init(&a->f);
    snprintf(a->dir, sizeof a->dir, "%s", o->dir);
    int rc = PW_OK;
    bool ro = o->read_only || verify_only;

    if (vkey) {
        /* "current[,older,...]" */
        char first[512];
        const char *comma = strchr(vkey, ',');
        size_t fl = comma ? (size_t)(comma - vkey) : strlen(vkey);
        snprintf(first, sizeof first, "%.*s", (int)(fl < sizeof first ? fl : sizeof first - 1),
                 vkey);
        if ((rc = archive_vkey_parse(first, &a->key, err, errcap)) != PW_OK) {
            rc = PW_ECONFIG;
            goto fail;
        }
        a->have_key = true;
        if (comma && (rc = parse_prev(a, comma + 1, err, errcap)) != PW_OK)
            goto fail;
    } else if (o->key_file && o->key_file[0]) {
        uint8_t seed[32];
        rc = archive_key_load(o->key_file, !ro, seed, err, errcap);
        if (rc == PW_OK) {
            const char *name = o->origin ? o->origin : "";
            rc = archive_key_from_seed(&a->key, name, seed);
            static const char ctx[] = "parkwatch archive verified-prefix state v1";
            crypto_generichash(a->state_key, sizeof a->state_key, (const uint8_t *)ctx,
                               sizeof ctx - 1, seed, sizeof seed);
            a->have_state_key = true;
            sodium_memzero(seed, sizeof seed);
            if (rc != PW_OK) {
                seterr(err, errcap, "archive origin '%s' is not a valid key name", name);
                rc = PW_ECONFIG;
                goto fail;
            }
            a->have_key = true;
        } else if (!ro) {
            goto fail;
        }
        rc = PW_OK;
    }
    if (!vkey && o->previous_vkeys && (rc = parse_prev(a, o->previous_vkeys, err, errcap)) != PW_OK)
        goto fail;
    if (!ro && o->next_key_file && o->next_key_file[0]) {
        uint8_t seed[32];
        if ((rc = archive_key_load(o->next_key_file, true, seed, err, errcap)) != PW_OK)
            goto fail;
        archive_key_from_seed(&a->next, a->key.name, seed);
        sodium_memzero(seed, sizeof seed);
        a->have_next = true;
        if (memcmp(a->next.pk, a->key.pk, 32) == 0) {
            seterr(err, errcap, "archive.next_key_file is the same key as archive.key_file");
            rc = PW_ECONFIG;
            goto fail;
        }
    }
    if (!ro && !a->have_key) {
        seterr(err, errcap, "archive: no signing key (archive.key_file)");
        rc = PW_ECONFIG;
        goto fail;
    }
    if (!ro && (rc = pw_mkdir_p(a->dir)) != PW_OK) {
        seterr(err, errcap, "archive: cannot create %s", a->dir);
        goto fail;
    }
    if ((rc = open_file(a, "entries", &a->fd_entries, ro)) != PW_OK ||
        (rc = open_file(a, "checkpoints", &a->fd_cps, ro)) != PW_OK) {
        seterr(err, errcap, "archive: cannot open the files in %s: %s", a->dir, pw_strerror(rc));
        goto fail;
    }
    if (ro && a->fd_entries < 0) {
        seterr(err, errcap, "archive: %s/entries does not exist", a->dir);
        rc = PW_ENOTFOUND;
        goto fail;
    }
    for (int l = 0; l < MAX_LEVELS; l++) {
        char name[32];
        snprintf(name, sizeof name, "hashes.%d", l);
        if ((rc = open_file(a, name, &a->fd_hash[l], ro)) != PW_OK) {
            seterr(err, errcap, "archive: cannot open %s/%s", a->dir, name);
            goto fail;
        }
    }
    if ((rc = open_file(a, "bundles", &a->fd_bundles, ro)) != PW_OK) {
        seterr(err, errcap, "archive: cannot open %s/bundles", a->dir);
        goto fail;
    }
    int64_t t0 = pw_mono_ns();
    /* a start checks only what follows the prefix an earlier one verified */
    struct vstate vs;
    a->pruned = load_pruned(a);
    bool have_state = !ro && a->fd_cps >= 0 && load_state(a, &vs);
    bool prefix = have_state && take_prefix(a, &vs);
    if (prefix)
        a->n_signed = vs.n_signed - 1;
    if (a->fd_cps >= 0 && (rc = load_checkpoints(a, prefix ? vs.cp_off : 0)) != PW_OK) {
        seterr(err, errcap, "archive: cannot read the checkpoints: %s", pw_strerror(rc));
        goto fail;
    }
    /* the checkpoints file only grows: fewer records than a start verified means some were removed
     * (and a different root could be signed for a size signed before) */
    if (have_state && !prefix && a->n_signed < vs.n_signed)
        integrity_error(a,
                        "the checkpoints file holds %zu checkpoints, fewer than the %zu an earlier "
                        "start verified (checkpoints were removed)",
                        a->n_signed, vs.n_signed);
    char pwhy[256];
    if (!prefix && a->pruned && (rc = prune_setup(a, pwhy, sizeof pwhy)) != PW_OK) {
        seterr(err, errcap, "archive: pruned below %" PRIu64 ", but %s", a->pruned, pwhy);
        goto fail;
    }
    if ((rc = scan_entries(a)) != PW_OK) {
        seterr(err, errcap, "archive: cannot read the entries: %s", pw_strerror(rc));
        goto fail;
    }
    if (!ro && a->bad_tile && a->integrity_ok && a->signed_size <= a->f.size) {
        /* the entries agree with every checkpoint: the hash tiles were damaged; rewrite them */
        PW_LOG_WARN("archive", "hash tiles differ from the entries; rebuilding them", "dir=%s",
                    a->dir);
        archive_frontier_init(&a->f);
        a->n_bundles = 0;
        a->bundles_written = 0;
        a->entries_len = 0;
        a->verified_prefix = 0;
        a->next_cp = 0;
        for (int l = 0; l < MAX_LEVELS; l++)
            a->hash_len[l] = 0;
        a->repair = true;
        a->bad_tile = false;
        if (a->pruned && (rc = prune_setup(a, pwhy, sizeof pwhy)) != PW_OK) {
            seterr(err, errcap, "archive: pruned below %" PRIu64 ", but %s", a->pruned, pwhy);
            goto fail;
        }
        if ((rc = scan_entries(a)) != PW_OK) {
            seterr(err, errcap, "archive: cannot read the entries: %s", pw_strerror(rc));
            goto fail;
        }
        a->repair = false;
        a->bad_tile = false;
    } else if (!ro && a->bad_tile && a->first_bad_tile_level == 0) {
        /* name the entry first: that is what an operator has to look at */
        char first[sizeof a->problem];
        snprintf(first, sizeof first, "%s", a->problem);
        integrity_error(a, "entry %" PRIu64 " differs from its hash stored when it was appended",
                        a->first_bad_tile_index);
        if (first[0])
            snprintf(a->problem, sizeof a->problem,
                     "entry %" PRIu64 " was changed after it was appended (%.300s)",
                     a->first_bad_tile_index, first);
    }
    if (a->has_from && !a->from_seen)
        integrity_error(a,
                        "entries missing: %" PRIu64 " stored, but the checkpoint given with "
                        "--from has %" PRIu64,
                        a->f.size, a->from.size);
    if (a->signed_size > a->f.size)
        integrity_error(a, "entries missing: %" PRIu64 " stored, but a checkpoint signed %" PRIu64,
                        a->f.size, a->signed_size);
    if (!ro) {
        for (int l = 0; l < MAX_LEVELS; l++)
            if (ftruncate(a->fd_hash[l], (off_t)a->hash_len[l]) != 0) {
                rc = pw_err_from_errno(errno);
                seterr(err, errcap, "archive: cannot trim hashes.%d", l);
                goto fail;
            }
        if ((rc = write_bundles(a)) != PW_OK ||
            ftruncate(a->fd_bundles, (off_t)a->n_bundles * 8) != 0) {
            rc = rc != PW_OK ? rc : pw_err_from_errno(errno);
            seterr(err, errcap, "archive: cannot write %s/bundles", a->dir);
            goto fail;
        }
        char vk[300], path[4200];
        archive_vkey_format(&a->key, vk, sizeof vk);
        size_t vl = strlen(vk);
        vk[vl++] = '\n';
        snprintf(path, sizeof path, "%s/vkey", a->dir);
        if ((rc = pw_file_replace(path, vk, vl)) != PW_OK) {
            seterr(err, errcap, "archive: cannot write %s", path);
            goto fail;
        }
    }
    a->written = a->durable = a->f.size;
    a->written_bytes = a->durable_bytes = a->entries_len;
    mark_written(a);
    archive_frontier_root(&a->f, a->written_root);
    memcpy(a->durable_root, a->written_root, ARCHIVE_HASH);
    pw_gauge_set(m_size, a->signed_size);
    if (!verify_only)
        PW_LOG_INFO("archive", "open",
                    "dir=%s leaves=%" PRIu64 " checkpoints=%zu signed=%" PRIu64
                    " verified_prefix=%" PRIu64 " rehashed=%" PRIu64 " integrity=%s ms=%lld",
                    a->dir, a->f.size, a->n_signed, a->signed_size, a->verified_prefix, a->rehashed,
                    a->integrity_ok ? "ok" : "BROKEN", (long long)((pw_mono_ns() - t0) / 1000000));
    if (!ro && a->have_next && a->integrity_ok && (rc = log_rotation(a)) != PW_OK) {
        seterr(err, errcap, "archive: cannot log the key rotation: %s", pw_strerror(rc));
        goto fail;
    }
    if (!ro && a->pruned)
        (void)punch_pruned(a);
    /* the command line's actions taken while the daemon was down */
    size_t spooled = 0;
    if (!ro && (rc = archive_spool_drain(a, &spooled)) != PW_OK) {
        seterr(err, errcap, "archive: cannot append the spooled actions: %s", pw_strerror(rc));
        goto fail;
    }
    /* what was recovered is durable: sign it now (the first start signs the empty tree) */
    if (!ro && a->integrity_ok && (!a->latest.len || a->f.size > a->signed_size))
        (void)archive_checkpoint_maybe(a, pw_now_ms(), true);
    /* what this start verified is the next start's prefix */
    if (!ro && a->integrity_ok && a->signed_size == a->f.size &&
        save_verified(a, a->f.size, a->entries_len) != PW_OK)
        PW_LOG_WARN("archive", "verified-prefix state not stored (the next start checks more)",
                    "dir=%s", a->dir);
    *out = a;
    return PW_OK;
fail:
    free_archive(a);
    return rc;
}

int archive_open(const struct archive_opts *o, struct archive **out, char *err, size_t errcap)
{
    return open_common(o, NULL, false, NULL, out, err, errcap);
}

void archive_close(struct archive *a)
{
    if (!a)
        return;
    if (!a->opt.read_only && !a->verify_only) {
        if (archive_write(a) == PW_OK) {
            struct archive_sync_ticket t;
            if (archive_sync_prepare(a, &t)) {
                archive_sync_perform(&t);
                archive_sync_finish(a, &t);
            }
            if (a->durable > a->signed_size)
                archive_checkpoint_maybe(a, pw_now_ms(), true);
            /* what this process appended, synced and signed itself is the next start's
             * prefix (archive verify still re-hashes it) */
            if (a->integrity_ok && a->signed_size == a->durable && a->written == a->durable)
                (void)save_verified(a, a->durable, a->durable_bytes);
        }
    }
    free_archive(a);
}

/* ---- writer ---- */

int64_t archive_append_hashed(struct archive *a, const void *leaf, size_t len,
                              const uint8_t leaf_hash[ARCHIVE_HASH])
{
    if (len > ARCHIVE_MAX_ENTRY)
        return PW_ETOOBIG;
    uint64_t off = a->entries_len + a->pend_entries.len;
    uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    pw_buf_append(&a->pend_entries, hdr, 2);
    pw_buf_append(&a->pend_entries, leaf, len);
    int64_t index = (int64_t)a->f.size;
    push_leaf_hash(a, leaf_hash, off);
    pw_counter_add(m_leaves, 1);
    return index;
}

int64_t archive_append(struct archive *a, const void *leaf, size_t len)
{
    uint8_t lh[ARCHIVE_HASH];
    if (len > ARCHIVE_MAX_ENTRY)
        return PW_ETOOBIG;
    archive_leaf_hash(leaf, len, lh);
    return archive_append_hashed(a, leaf, len, lh);
}

/* Remembers the tree as written (the point a refused write rolls back to). */
static void mark_written(struct archive *a)
{
    a->f_written = a->f;
    a->bundles_at_written = a->n_bundles;
    memcpy(a->hash_len_written, a->hash_len, sizeof a->hash_len);
}

/* A write refused for lack of space (nothing was fsync'd, so nothing is lost): the leaves
 * appended since the last write are dropped, as if never appended; their batches fail and are
 * resent. Later writes go to the same offsets. */
static void rollback_unwritten(struct archive *a)
{
    a->f = a->f_written;
    pthread_mutex_lock(&a->lock);
    a->n_bundles = a->bundles_at_written;
    pthread_mutex_unlock(&a->lock);
    if (a->bundles_written > a->n_bundles)
        a->bundles_written = a->n_bundles;
    memcpy(a->hash_len, a->hash_len_written, sizeof a->hash_len);
    pw_buf_reset(&a->pend_entries);
    for (int l = 0; l < MAX_LEVELS; l++)
        pw_buf_reset(&a->pend_hash[l]);
    if (ftruncate(a->fd_entries, (off_t)a->entries_len) != 0)
        PW_LOG_WARN("archive", "cannot cut a refused write", "err=%s", strerror(errno));
}

int archive_write(struct archive *a)
{
    if (a->broken)
        return PW_EIO;
    if (a->pend_entries.len == 0)
        return PW_OK;
    int rc = pwrite_io(a->opt.io, a->fd_entries, a->pend_entries.data, a->pend_entries.len,
                       a->entries_len);
    if (rc == PW_OK)
        rc = write_bundles(a);
    for (int l = 0; rc == PW_OK && l < MAX_LEVELS; l++) {
        if (a->pend_hash[l].len == 0)
            continue;
        rc = pwrite_io(a->opt.io, a->fd_hash[l], a->pend_hash[l].data, a->pend_hash[l].len,
                       a->hash_len[l]);
        a->hash_len[l] += a->pend_hash[l].len;
        pw_buf_reset(&a->pend_hash[l]);
    }
    if (rc == PW_ENOSPC) {
        pw_counter_add(m_errors, 1);
        PW_LOG_ERROR("archive", "write refused for lack of space; its leaves are not stored",
                     "dir=%s leaves=%" PRIu64, a->dir, a->f.size - a->written);
        rollback_unwritten(a);
        return rc;
    }
    if (rc != PW_OK) {
        a->broken = true;
        pw_counter_add(m_errors, 1);
        PW_LOG_ERROR("archive", "write failed; nothing more is stored or signed", "dir=%s err=%s",
                     a->dir, pw_errname(rc));
        return rc;
    }
    pw_counter_add(m_bytes, a->pend_entries.len);
    a->entries_len += a->pend_entries.len;
    pw_buf_reset(&a->pend_entries);
    if (a->pend_entries.cap > 4 * SCAN_CHUNK) {
        pw_buf_release(&a->pend_entries);
        pw_buf_init(&a->pend_entries, 0);
    }
    a->written = a->f.size;
    a->written_bytes = a->entries_len;
    archive_frontier_root(&a->f, a->written_root);
    mark_written(a);
    if (!a->opt.fsync) {
        pthread_mutex_lock(&a->lock);
        a->durable = a->written;
        a->durable_bytes = a->written_bytes;
        memcpy(a->durable_root, a->written_root, ARCHIVE_HASH);
        pthread_mutex_unlock(&a->lock);
    }
    return PW_OK;
}

uint64_t archive_written(const struct archive *a)
{
    return a->written;
}

uint64_t archive_appended(const struct archive *a)
{
    return a->f.size;
}

uint64_t archive_durable(const struct archive *a)
{
    pthread_mutex_t *l = (pthread_mutex_t *)&a->lock;
    pthread_mutex_lock(l);
    uint64_t d = a->durable;
    pthread_mutex_unlock(l);
    return d;
}

bool archive_sync_prepare(struct archive *a, struct archive_sync_ticket *t)
{
    if (a->broken || !a->opt.fsync || a->written == a->durable)
        return false;
    t->size = a->written;
    t->bytes = a->written_bytes;
    memcpy(t->root, a->written_root, ARCHIVE_HASH);
    t->fd = a->fd_entries;
    t->io = a->opt.io;
    t->rc = PW_OK;
    return true;
}

int archive_sync_perform(struct archive_sync_ticket *t)
{
    int r;
    do
        r = t->io->fdatasync(t->io->ctx, t->fd);
    while (r != 0 && errno == EINTR);
    t->rc = r == 0 ? PW_OK : pw_err_from_errno(errno);
    return t->rc;
}

int archive_sync_finish(struct archive *a, const struct archive_sync_ticket *t)
{
    if (t->rc != PW_OK) {
        /* the kernel may have dropped the dirty pages: nothing after durable can be trusted */
        a->broken = true;
        pw_counter_add(m_errors, 1);
        PW_LOG_ERROR("archive", "fsync failed; nothing more is stored or signed", "dir=%s err=%s",
                     a->dir, pw_errname(t->rc));
        return t->rc;
    }
    pthread_mutex_lock(&a->lock);
    if (t->size > a->durable) {
        a->durable = t->size;
        memcpy(a->durable_root, t->root, ARCHIVE_HASH);
        a->durable_bytes = t->bytes;
    }
    pthread_mutex_unlock(&a->lock);
    return PW_OK;
}

/* ---- the daily record ----
 *
 * The last checkpoint signed on each day (Beijing time, UTC+8, the park's legal day) is kept as
 * <dir>/daily/<YYYY-MM-DD>, the signed note exactly: a regulator fetches it (GET
 * /archive/daily/<date>) or receives it in the 备案包, and once they hold it the log cannot be
 * rewritten below it unnoticed. <dir>/daily/day names the day of the latest checkpoint; the first
 * checkpoint signed on a later day files the latest one under that day. */

#define DAY_OFFSET_MS (8 * 3600 * 1000LL)

void archive_day_of(int64_t ms, char out[11])
{
    int64_t days = (ms + DAY_OFFSET_MS) / 86400000LL;
    if ((ms + DAY_OFFSET_MS) % 86400000LL < 0)
        days--;
    /* civil from days (Howard Hinnant) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02d", (int)(y % 10000), (int)m, (int)d);
    memcpy(out, tmp, 10);
    out[10] = '\0';
}

/* Before a checkpoint is signed at now_ms: files the latest one under its day when now_ms is on a
 * later day. Errors are logged, never fatal (the checkpoints file holds every checkpoint). */
static void daily_roll(struct archive *a, int64_t now_ms)
{
    char dir[4200], path[4300], today[11], *have = NULL;
    size_t hl = 0;
    archive_day_of(now_ms, today);
    snprintf(dir, sizeof dir, "%s/daily", a->dir);
    snprintf(path, sizeof path, "%s/day", dir);
    if (a->daily_day[0] && strcmp(a->daily_day, today) == 0)
        return;
    if (!a->daily_day[0] && pw_file_read(path, 64, &have, &hl) == PW_OK) {
        snprintf(a->daily_day, sizeof a->daily_day, "%.10s", have);
        free(have);
        if (strcmp(a->daily_day, today) == 0)
            return;
    }
    int rc = pw_mkdir_p(dir);
    if (rc == PW_OK && a->daily_day[0] && a->latest.len) {
        char rec[4300];
        snprintf(rec, sizeof rec, "%s/%s", dir, a->daily_day);
        rc = pw_file_replace(rec, a->latest.data, a->latest.len);
        if (rc == PW_OK)
            PW_LOG_INFO("archive", "daily checkpoint filed", "day=%s size=%" PRIu64, a->daily_day,
                        a->signed_size);
    }
    if (rc == PW_OK)
        rc = pw_file_replace(path, today, 10);
    if (rc != PW_OK) {
        PW_LOG_WARN("archive", "daily checkpoint not filed", "err=%s", pw_errname(rc));
        return;
    }
    snprintf(a->daily_day, sizeof a->daily_day, "%s", today);
}

int archive_checkpoint_maybe(struct archive *a, int64_t now_ms, bool force)
{
    if (!a->integrity_ok || a->broken)
        return PW_ECONFLICT;
    pthread_mutex_lock(&a->lock);
    uint64_t size = a->durable;
    uint8_t root[ARCHIVE_HASH];
    memcpy(root, a->durable_root, ARCHIVE_HASH);
    bool have = a->latest.len > 0;
    pthread_mutex_unlock(&a->lock);
    bool grew = !have || size > a->signed_size;
    int64_t since = now_ms - a->last_sign_ms;
    if (!force && !(grew && since >= a->opt.checkpoint_interval_ms) &&
        !(since >= a->opt.resign_interval_ms))
        return PW_OK;
    if (have && size < a->signed_size)
        return PW_ECONFLICT;
    if (have && size == a->signed_size && sodium_memcmp(root, a->signed_root, ARCHIVE_HASH) != 0) {
        integrity_error(a, "refusing to sign another root for size %" PRIu64, size);
        return PW_ECONFLICT;
    }
    daily_roll(a, a->opt.day_ms ? a->opt.day_ms(now_ms) : now_ms);
    struct archive_checkpoint cp = {.size = size};
    snprintf(cp.origin, sizeof cp.origin, "%s", a->key.name);
    memcpy(cp.root, root, ARCHIVE_HASH);
    struct pw_buf text, rec;
    pw_buf_init(&text, 0);
    pw_buf_init(&rec, 0);
    archive_checkpoint_text(&cp, &text);
    pw_buf_append(&rec, "\0\0\0\0", 4);
    int rc = archive_note_sign(&a->key, text.data, text.len, &rec);
    if (rc == PW_OK && a->have_next)
        rc = archive_note_sign_line(&a->next, text.data, text.len, &rec);
    if (rc == PW_OK) {
        uint32_t n = (uint32_t)(rec.len - 4);
        rec.data[0] = (char)(n >> 24);
        rec.data[1] = (char)(n >> 16);
        rec.data[2] = (char)(n >> 8);
        rec.data[3] = (char)n;
        rc = pwrite_io(a->opt.io, a->fd_cps, rec.data, rec.len, a->cps_len);
    }
    if (rc == PW_OK && a->opt.fsync && a->opt.io->fdatasync(a->opt.io->ctx, a->fd_cps) != 0)
        rc = pw_err_from_errno(errno);
    if (rc != PW_OK) {
        pw_counter_add(m_errors, 1);
        PW_LOG_ERROR("archive", "checkpoint not stored", "err=%s", pw_errname(rc));
        goto out;
    }
    a->latest_off = a->cps_len;
    a->cps_len += rec.len;
    a->last_sign_ms = now_ms;
    pthread_mutex_lock(&a->lock);
    pw_buf_reset(&a->latest);
    pw_buf_append(&a->latest, rec.data + 4, rec.len - 4);
    pw_buf_reset(&a->cosigs);
    a->signed_size = size;
    memcpy(a->signed_root, root, ARCHIVE_HASH);
    keep_checkpoint(a, size, root);
    pthread_mutex_unlock(&a->lock);
    pw_counter_add(m_checkpoints, 1);
    pw_gauge_set(m_size, size);
out:
    pw_buf_release(&text);
    pw_buf_release(&rec);
    return rc;
}

/* ---- readers ---- */

bool archive_integrity_ok(const struct archive *a)
{
    return a->integrity_ok;
}

const char *archive_problem(const struct archive *a)
{
    return a->integrity_ok ? "" : a->problem;
}

int archive_latest_checkpoint(struct archive *a, struct pw_buf *out)
{
    pthread_mutex_lock(&a->lock);
    int rc = a->latest.len ? pw_buf_append(out, a->latest.data, a->latest.len) : PW_ENOTFOUND;
    if (rc == PW_OK && a->cosigs.len)
        rc = pw_buf_append(out, a->cosigs.data, a->cosigs.len);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

int archive_latest_signed(struct archive *a, struct pw_buf *out, uint64_t *size)
{
    pthread_mutex_lock(&a->lock);
    int rc = a->latest.len ? pw_buf_append(out, a->latest.data, a->latest.len) : PW_ENOTFOUND;
    *size = a->signed_size;
    pthread_mutex_unlock(&a->lock);
    return rc;
}

bool archive_add_cosignature(struct archive *a, const char *cp_text, size_t len, const char *line,
                             size_t line_len)
{
    bool added = false;
    pthread_mutex_lock(&a->lock);
    if (a->latest.len > len && memcmp(a->latest.data, cp_text, len) == 0 &&
        a->latest.data[len] == '\n' && a->cosigs.len + line_len < ARCHIVE_MAX_NOTE) {
        pw_buf_append(&a->cosigs, line, line_len);
        added = true;
    }
    pthread_mutex_unlock(&a->lock);
    return added;
}

const char *archive_dir(const struct archive *a)
{
    return a->dir;
}

void archive_vkey(const struct archive *a, char *out, size_t cap)
{
    archive_vkey_format(&a->key, out, cap);
}

/* Entry bundle bytes for entries [256n, 256n + w) of a tree with `size` durable leaves. */
static int read_bundle(struct archive *a, uint64_t n, unsigned w, struct pw_buf *out)
{
    pthread_mutex_lock(&a->lock);
    if (n < a->pruned / ARCHIVE_TILE_WIDTH) {
        pthread_mutex_unlock(&a->lock);
        return PW_ENOTFOUND; /* pruned */
    }
    uint64_t start = n < a->n_bundles ? a->bundle_off[n] : UINT64_MAX;
    uint64_t end = n + 1 < a->n_bundles ? a->bundle_off[n + 1] : a->durable_bytes;
    if (end > a->durable_bytes)
        end = a->durable_bytes; /* the bundle's later entries may not be written yet */
    pthread_mutex_unlock(&a->lock);
    if (start == UINT64_MAX || end < start)
        return PW_ENOTFOUND;
    size_t len = (size_t)(end - start);
    size_t base = out->len;
    int rc = pw_buf_reserve(out, len);
    if (rc != PW_OK)
        return rc;
    if ((rc = pread_full(a->fd_entries, out->data + base, len, start)) != PW_OK)
        return rc;
    /* cut after w entries */
    size_t p = 0;
    for (unsigned i = 0; i < w; i++) {
        if (p + 2 > len)
            return PW_ECORRUPT;
        size_t el = (size_t)(uint8_t)out->data[base + p] << 8 | (uint8_t)out->data[base + p + 1];
        p += 2 + el;
        if (p > len)
            return PW_ECORRUPT;
    }
    out->len = base + p;
    out->data[out->len] = '\0';
    return PW_OK;
}

int archive_tile_read(struct archive *a, int level, uint64_t n, unsigned w, struct pw_buf *out)
{
    pthread_mutex_lock(&a->lock);
    uint64_t size = a->latest.len ? a->signed_size : 0;
    pthread_mutex_unlock(&a->lock);
    unsigned have = archive_tile_width(level, n, size);
    if (w == 0 || w > have)
        return PW_ENOTFOUND;
    if (level < 0)
        return read_bundle(a, n, w, out);
    if (level >= MAX_LEVELS || a->fd_hash[level] < 0)
        return PW_ENOTFOUND;
    size_t len = (size_t)w * ARCHIVE_HASH, base = out->len;
    int rc = pw_buf_reserve(out, len);
    if (rc != PW_OK)
        return rc;
    rc =
        pread_full(a->fd_hash[level], out->data + base, len, n * ARCHIVE_TILE_WIDTH * ARCHIVE_HASH);
    if (rc != PW_OK)
        return rc;
    out->len = base + len;
    out->data[out->len] = '\0';
    return PW_OK;
}

int archive_entry_read(struct archive *a, uint64_t index, struct pw_buf *out)
{
    if (index >= archive_durable(a))
        return PW_ENOTFOUND;
    struct pw_buf b;
    pw_buf_init(&b, 0);
    unsigned w = (unsigned)(index % ARCHIVE_TILE_WIDTH) + 1;
    int rc = read_bundle(a, index / ARCHIVE_TILE_WIDTH, w, &b);
    if (rc == PW_OK) {
        size_t p = 0, el = 0;
        for (unsigned i = 0; i < w; i++) {
            el = (size_t)(uint8_t)b.data[p] << 8 | (uint8_t)b.data[p + 1];
            if (i + 1 < w)
                p += 2 + el;
        }
        rc = pw_buf_append(out, b.data + p + 2, el);
    }
    pw_buf_release(&b);
    return rc;
}

/* The receive time of the first leaf of bundle n (INT64_MIN when unreadable). */
static int64_t bundle_time(struct archive *a, uint64_t n)
{
    pthread_mutex_lock(&a->lock);
    uint64_t off = n < a->n_bundles ? a->bundle_off[n] : UINT64_MAX;
    pthread_mutex_unlock(&a->lock);
    uint8_t h[2 + ARCHIVE_LEAF_HEADER];
    if (off == UINT64_MAX || pread_full(a->fd_entries, h, sizeof h, off) != PW_OK)
        return INT64_MIN;
    size_t len = (size_t)h[0] << 8 | h[1];
    if (len < ARCHIVE_LEAF_HEADER || h[2] != ARCHIVE_LEAF_VERSION)
        return INT64_MIN;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | h[4 + i];
    return (int64_t)t;
}

int archive_find(struct archive *a, int64_t from_ms, uint64_t max_leaves,
                 bool (*match)(const uint8_t *leaf, size_t len, void *arg), void *arg,
                 uint64_t *index)
{
    pthread_mutex_lock(&a->lock);
    uint64_t size = a->latest.len ? a->signed_size : 0;
    pthread_mutex_unlock(&a->lock);
    uint64_t nb = (size + ARCHIVE_TILE_WIDTH - 1) / ARCHIVE_TILE_WIDTH;
    if (nb == 0)
        return PW_ENOTFOUND;
    /* the last bundle that starts before from_ms: its later leaves may be the first after it */
    uint64_t lo = archive_pruned(a) / ARCHIVE_TILE_WIDTH, hi = nb;
    if (lo >= nb)
        return PW_ENOTFOUND;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (bundle_time(a, mid) < from_ms)
            lo = mid;
        else
            hi = mid;
    }
    struct pw_buf b;
    pw_buf_init(&b, 0);
    uint64_t seen = 0;
    int rc = PW_ENOTFOUND;
    for (uint64_t n = lo; n < nb && seen < max_leaves; n++) {
        unsigned w = archive_tile_width(-1, n, size);
        pw_buf_reset(&b);
        int r = read_bundle(a, n, w, &b);
        if (r != PW_OK) {
            rc = r;
            break;
        }
        size_t p = 0;
        for (unsigned i = 0; i < w && seen < max_leaves; i++) {
            size_t el = (size_t)(uint8_t)b.data[p] << 8 | (uint8_t)b.data[p + 1];
            const uint8_t *leaf = (const uint8_t *)b.data + p + 2;
            p += 2 + el;
            struct archive_leaf l;
            if (archive_leaf_decode(leaf, el, &l) != PW_OK || l.time_ms < from_ms)
                continue;
            seen++;
            if (match(leaf, el, arg)) {
                *index = n * ARCHIVE_TILE_WIDTH + i;
                rc = PW_OK;
                goto out;
            }
        }
    }
out:
    pw_buf_release(&b);
    return rc;
}

/* Subtree hashes from the hash files: a height that is a multiple of 8 is stored; others are
 * folded from up to 128 hashes of the level below. */
static int stored_subtree(void *ctx, int level, uint64_t index, uint8_t out[ARCHIVE_HASH])
{
    struct archive *a = ctx;
    int l = level / ARCHIVE_TILE_HEIGHT, r = level % ARCHIVE_TILE_HEIGHT;
    if (l >= MAX_LEVELS || a->fd_hash[l] < 0)
        return PW_ENOTFOUND;
    size_t count = (size_t)1 << r;
    uint8_t h[128][ARCHIVE_HASH];
    int rc = pread_full(a->fd_hash[l], h, count * ARCHIVE_HASH, (index << r) * ARCHIVE_HASH);
    if (rc != PW_OK)
        return rc == PW_ECORRUPT ? PW_ENOTFOUND : rc;
    while (count > 1) {
        for (size_t i = 0; i < count / 2; i++)
            archive_node_hash(h[2 * i], h[2 * i + 1], h[i]);
        count /= 2;
    }
    memcpy(out, h[0], ARCHIVE_HASH);
    return PW_OK;
}

int archive_prove(struct archive *a, uint64_t index, uint64_t size, uint8_t proof[][ARCHIVE_HASH],
                  size_t *n)
{
    if (size > archive_durable(a))
        return PW_ENOTFOUND;
    return archive_inclusion_proof(stored_subtree, a, index, size, proof, n);
}

int archive_prove_consistency(struct archive *a, uint64_t old_size, uint64_t size,
                              uint8_t proof[][ARCHIVE_HASH], size_t *n)
{
    if (size > archive_durable(a))
        return PW_ENOTFOUND;
    return archive_consistency_proof(stored_subtree, a, old_size, size, proof, n);
}

/* ---- offline ---- */

static int read_vkey_file(const char *dir, char *out, size_t cap)
{
    char path[4200], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/vkey", dir);
    int rc = pw_file_read(path, 1024, &data, &len);
    if (rc != PW_OK)
        return rc;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        data[--len] = '\0';
    snprintf(out, cap, "%s", data);
    free(data);
    return PW_OK;
}

int archive_verify_dir(const char *dir, const char *vkey, const char *from, size_t from_len,
                       struct pw_buf *report)
{
    char vk[1100], err[512] = "", first[512];
    if (!vkey) {
        if (read_vkey_file(dir, vk, sizeof vk) != PW_OK) {
            pw_buf_printf(report, "error: no verifier key given and none in %s/vkey\n", dir);
            return PW_EINVAL;
        }
        pw_buf_printf(report,
                      "note: using the verifier key stored in %s/vkey; give the one you "
                      "hold with --vkey\n",
                      dir);
        vkey = vk;
    }
    struct archive_opts o;
    archive_opts_init(&o);
    o.dir = dir;
    o.read_only = true;
    struct archive *a = NULL;
    struct cp_rec held;
    if (from) {
        struct archive_key k;
        struct archive_checkpoint cp;
        size_t tl = 0;
        snprintf(first, sizeof first, "%.*s", (int)strcspn(vkey, ","), vkey);
        int vr = archive_vkey_parse(first, &k, err, sizeof err);
        if (vr == PW_OK)
            vr = archive_note_verify(&k, from, from_len, &tl);
        if (vr == PW_OK)
            vr = archive_checkpoint_parse(from, tl, &cp, err, sizeof err);
        if (vr != PW_OK) {
            pw_buf_printf(report, "error: the --from checkpoint is not a checkpoint signed by %s\n",
                          vkey);
            return PW_EINVAL;
        }
        held.size = cp.size;
        memcpy(held.root, cp.root, ARCHIVE_HASH);
    }
    int rc = open_common(&o, vkey, true, from ? &held : NULL, &a, err, sizeof err);
    if (rc != PW_OK) {
        pw_buf_printf(report, "error: %s\n", err);
        return rc == PW_ECONFIG ? PW_EINVAL : PW_EIO;
    }
    pw_buf_printf(report, "key %s\nentries %" PRIu64 "\ncheckpoints %zu (%zu distinct)\n",
                  a->key.name, a->f.size, a->n_signed, a->n_cps);
    if (a->pruned) {
        pw_buf_printf(report,
                      "pruned below %" PRIu64 ": those entries were removed; their hashes are "
                      "checked against the signed roots only\n",
                      a->pruned);
        if (!a->prune_seen)
            integrity_error(a,
                            "entries below %" PRIu64 " are gone and no archive.prune record in "
                            "the log says an operator pruned them",
                            a->pruned);
    }
    /* explicit consistency of each checkpoint with the next, from the stored tiles */
    for (size_t i = 0; a->integrity_ok && i + 1 < a->n_cps; i++) {
        uint8_t proof[ARCHIVE_MAX_PROOF][ARCHIVE_HASH];
        size_t n = 0;
        const struct cp_rec *x = &a->cps[i], *y = &a->cps[i + 1];
        if (x->size == 0)
            continue;
        int prc = archive_consistency_proof(stored_subtree, a, x->size, y->size, proof, &n);
        if (prc != PW_OK ||
            archive_consistency_verify(x->size, y->size, x->root, y->root,
                                       (const uint8_t(*)[ARCHIVE_HASH])proof, n) != PW_OK)
            integrity_error(a,
                            "checkpoint %zu (size %" PRIu64 ") is not consistent with "
                            "checkpoint %zu (size %" PRIu64 ")",
                            i + 1, x->size, i + 2, y->size);
    }
    /* the daily record: each day's checkpoint is signed by the log and its root is the tree's */
    struct pw_buf days, note;
    pw_buf_init(&days, 0);
    pw_buf_init(&note, 0);
    size_t n_daily = 0;
    if (archive_daily_list(dir, &days) == PW_OK && days.len) {
        for (char *d = days.data; a->integrity_ok && d && *d;) {
            char *nl = strchr(d, '\n');
            if (nl)
                *nl = '\0';
            pw_buf_reset(&note);
            size_t tl = 0;
            struct archive_checkpoint cp;
            uint8_t root[ARCHIVE_HASH];
            if (archive_daily_read(dir, d, &note) != PW_OK ||
                note_verify_any(a, note.data, note.len, &tl) != PW_OK ||
                archive_checkpoint_parse(note.data, tl, &cp, err, sizeof err) != PW_OK ||
                strcmp(cp.origin, a->key.name) != 0)
                integrity_error(a, "daily checkpoint %s is not a checkpoint signed by this log", d);
            else if (cp.size > a->f.size)
                integrity_error(
                    a, "daily checkpoint %s has %" PRIu64 " leaves, the entries only %" PRIu64, d,
                    cp.size, a->f.size);
            else if (cp.size && (archive_root_from(stored_subtree, a, cp.size, root) != PW_OK ||
                                 sodium_memcmp(root, cp.root, ARCHIVE_HASH) != 0))
                integrity_error(
                    a, "daily checkpoint %s: the entries give another root at size %" PRIu64, d,
                    cp.size);
            n_daily++;
            d = nl ? nl + 1 : NULL;
        }
        pw_buf_printf(report, "daily checkpoints %zu\n", n_daily);
    }
    pw_buf_release(&days);
    pw_buf_release(&note);
    if (a->bad_tile) {
        char tp[64];
        uint64_t first_entry = a->first_bad_tile_index << (8 * a->first_bad_tile_level);
        archive_tile_path((int)a->first_bad_tile_level,
                          a->first_bad_tile_index / ARCHIVE_TILE_WIDTH, ARCHIVE_TILE_WIDTH, tp,
                          sizeof tp);
        if (a->first_bad_tile_level == 0)
            pw_buf_printf(report,
                          "damaged: entry %" PRIu64 " (its hash in %s differs from the "
                          "stored entry)\n",
                          first_entry, tp);
        else
            pw_buf_printf(report,
                          "damaged: hash tile %s (hash %" PRIu64 " of level %" PRId64
                          " differs from the entries)\n",
                          tp, a->first_bad_tile_index, a->first_bad_tile_level);
        a->integrity_ok = false;
    }
    if (!a->integrity_ok && a->problem[0])
        pw_buf_printf(report, "damaged: %s\n", a->problem);
    rc = a->integrity_ok ? PW_OK : PW_ECORRUPT;
    if (rc == PW_OK)
        pw_buf_printf(report,
                      "ok: every tile and checkpoint agrees with the %" PRIu64 " stored entries\n",
                      a->f.size);
    free_archive(a);
    return rc;
}

static int write_out(const char *out_dir, const char *rel, const void *data, size_t len)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", out_dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int rc = pw_mkdir_p(path);
    *slash = '/';
    if (rc != PW_OK)
        return rc;
    return pw_file_replace(path, data, len);
}

/* out_dir/checkpoints: the distinct checkpoint notes of the log in signing order, streamed
 * (the log adds one every 10 s while it grows), written durably. */
static int export_checkpoints(struct archive *a, const char *out_dir, size_t *count)
{
    char path[4300], tmp[4310];
    snprintf(path, sizeof path, "%s/checkpoints", out_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return pw_err_from_errno(errno);
    char *note = pw_xmalloc(ARCHIVE_MAX_NOTE + 1);
    uint64_t off = 0, prev_size = UINT64_MAX;
    uint8_t prev_root[ARCHIVE_HASH] = {0};
    int rc = PW_OK;
    *count = 0;
    while (off + 4 <= a->cps_len) {
        uint8_t h[4];
        if ((rc = pread_full(a->fd_cps, h, 4, off)) != PW_OK)
            break;
        uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        if (n > ARCHIVE_MAX_NOTE || off + 4 + n > a->cps_len) {
            rc = PW_ECORRUPT;
            break;
        }
        if ((rc = pread_full(a->fd_cps, note, n, off + 4)) != PW_OK)
            break;
        off += 4 + n;
        struct archive_checkpoint cp;
        char err[128];
        const char *sep = memmem(note, n, "\n\n", 2);
        if (!sep ||
            archive_checkpoint_parse(note, (size_t)(sep - note) + 1, &cp, err, sizeof err) != PW_OK)
            continue;
        if (cp.size == prev_size && memcmp(cp.root, prev_root, ARCHIVE_HASH) == 0)
            continue; /* re-signed unchanged */
        prev_size = cp.size;
        memcpy(prev_root, cp.root, ARCHIVE_HASH);
        if (fwrite(note, 1, n, f) != n) {
            rc = pw_err_from_errno(errno);
            break;
        }
        (*count)++;
    }
    free(note);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = rc == PW_OK ? pw_err_from_errno(errno) : rc;
    fclose(f);
    if (rc == PW_OK && rename(tmp, path) != 0)
        rc = pw_err_from_errno(errno);
    if (rc == PW_OK)
        rc = pw_fsync_dir(out_dir);
    if (rc != PW_OK)
        unlink(tmp);
    return rc;
}

int archive_export_dir(const char *dir, const char *vkey, const char *out_dir,
                       struct pw_buf *report)
{
    char vk[1100], err[512] = "";
    if (!vkey) {
        if (read_vkey_file(dir, vk, sizeof vk) != PW_OK) {
            pw_buf_printf(report, "error: no verifier key in %s/vkey\n", dir);
            return PW_EINVAL;
        }
        vkey = vk;
    }
    struct archive_opts o;
    archive_opts_init(&o);
    o.dir = dir;
    o.read_only = true;
    struct archive *a = NULL;
    int rc = open_common(&o, vkey, true, NULL, &a, err, sizeof err);
    if (rc != PW_OK) {
        pw_buf_printf(report, "error: %s\n", err);
        return rc;
    }
    if (!a->integrity_ok) {
        pw_buf_printf(report, "error: the archive is damaged: %s\n", a->problem);
        free_archive(a);
        return PW_ECORRUPT;
    }
    if (!a->latest.len) {
        pw_buf_printf(report, "error: no signed checkpoint yet\n");
        free_archive(a);
        return PW_ENOTFOUND;
    }
    /* tiles up to the latest checkpoint */
    a->durable = a->f.size;
    a->durable_bytes = a->entries_len;
    struct pw_buf t;
    pw_buf_init(&t, 0);
    uint64_t size = a->signed_size, tiles = 0;
    /* the current key first, then earlier ones of a rotation, one per line */
    char vkl[4200];
    int vn = snprintf(vkl, sizeof vkl, "%s\n", vkey);
    for (char *q = vkl; *q; q++)
        if (*q == ',')
            *q = '\n';
    rc = write_out(out_dir, "checkpoint", a->latest.data, a->latest.len);
    if (rc == PW_OK && a->pruned) {
        char pr[64];
        int pl = snprintf(pr, sizeof pr, "below %" PRIu64 "\n", a->pruned);
        rc = write_out(out_dir, "pruned", pr, (size_t)pl);
    }
    if (rc == PW_OK)
        rc = write_out(out_dir, "vkey", vkl, (size_t)vn);
    for (int l = -1; rc == PW_OK && l < MAX_LEVELS; l++) {
        for (uint64_t n = l < 0 ? a->pruned / ARCHIVE_TILE_WIDTH : 0;; n++) {
            unsigned w = archive_tile_width(l, n, size);
            if (w == 0)
                break;
            char p[64];
            archive_tile_path(l, n, w, p, sizeof p);
            pw_buf_reset(&t);
            if ((rc = archive_tile_read(a, l, n, w, &t)) != PW_OK ||
                (rc = write_out(out_dir, p, t.data, t.len)) != PW_OK)
                break;
            tiles++;
        }
    }
    /* every distinct checkpoint, oldest first, one signed note after the other */
    size_t written_cps = 0;
    if (rc == PW_OK)
        rc = export_checkpoints(a, out_dir, &written_cps);
    /* the daily record: daily/<YYYY-MM-DD>, each the day's last checkpoint */
    struct pw_buf days;
    pw_buf_init(&days, 0);
    size_t n_daily = 0;
    if (rc == PW_OK)
        rc = archive_daily_list(dir, &days);
    for (char *d = days.data; rc == PW_OK && d && *d;) {
        char *nl = strchr(d, '\n');
        if (nl)
            *nl = '\0';
        char rel[64];
        pw_buf_reset(&t);
        snprintf(rel, sizeof rel, "daily/%.16s", d);
        if ((rc = archive_daily_read(dir, d, &t)) == PW_OK)
            rc = write_out(out_dir, rel, t.data, t.len);
        n_daily++;
        d = nl ? nl + 1 : NULL;
    }
    pw_buf_release(&days);
    pw_buf_release(&t);
    if (rc == PW_OK)
        pw_buf_printf(report,
                      "exported size %" PRIu64 ": %" PRIu64 " tiles, %zu checkpoints, %zu daily "
                      "checkpoints, vkey to %s\n",
                      size, tiles, written_cps, n_daily, out_dir);
    else
        pw_buf_printf(report, "error: export to %s failed: %s\n", out_dir, pw_strerror(rc));
    free_archive(a);
    return rc;
}
