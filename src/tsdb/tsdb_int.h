/* tsdb_int.h — internals of the time-series engine shared by its source files. Not part of the
 * public API: only src/tsdb/ and the tsdb unit tests and benchmarks include it.
 *
 * Files:  util.c    CRC32C, little-endian and varint helpers, sample arrays
 *         codec.c   chunk compression (format at its top)
 *         io.c      the storage I/O table: POSIX and fault injection
 *         index.c   canonical keys, the series table, the inverted index, selectors
 *         wal.c     WAL and series-log record framing, writing, replay (format at its top)
 *         block.c   block files: building, loading, reading, fsck (format at its top)
 *         tsdb.c    options, directory layout and helpers, open/close, stats
 *         head.c    the head (chunks, seqlock writer side), series refs, appends, commit, sync
 *         recovery.c  open's recovery: series log, blocks and salvage, WAL replay, repairs
 *         checkpoint.c  checkpoint, retention, compaction, maintain
 *         query.c   merging runs; reads, downsampling, last values, export
 *         fsck.c    checking a directory read-only
 */
#ifndef PW_TSDB_INT_H
#define PW_TSDB_INT_H

#include "tsdb/tsdb.h"

#include "base/buf.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ---- util.c ---------------------------------------------------------------------------- */

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), init ~0 and final xor ~0 handled
 * inside: tsdb_crc32c(0, p, n) is the standard CRC-32C of p; chaining passes the previous value.
 * Uses SSE4.2 when the CPU has it. */
uint32_t tsdb_crc32c(uint32_t crc, const void *p, size_t n);

static inline void tsdb_put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4); /* little-endian hosts only: checked in util.c */
}
static inline void tsdb_put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static inline uint32_t tsdb_get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t tsdb_get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline uint64_t tsdb_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t tsdb_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}
/* Writes v as LEB128 (at most 10 bytes) at p; returns the bytes written. */
static inline size_t tsdb_put_uvarint(uint8_t *p, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (uint8_t)v;
    return i;
}
/* Reads a LEB128 value from [*p, end); advances *p. Returns false on truncation or overlong. */
static inline bool tsdb_get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    unsigned shift = 0;
    const uint8_t *q = *p;
    while (q < end && shift < 64) {
        uint8_t b = *q++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *p = q;
            *v = r;
            return true;
        }
        shift += 7;
    }
    return false;
}

/* Grows s to hold at least `extra` more samples. */
void tsdb_samples_reserve(struct tsdb_samples *s, size_t extra);
static inline void tsdb_samples_push(struct tsdb_samples *s, int64_t ts, double v, uint8_t q)
{
    if (s->n == s->cap)
        tsdb_samples_reserve(s, 1);
    s->ts[s->n] = ts;
    s->value[s->n] = v;
    s->quality[s->n] = q;
    s->n++;
}

/* Converts an -errno from the I/O table to a pw_err. */
int tsdb_err_io(long neg_errno);
/* Writes all n bytes at off, retrying short writes. PW_OK or the error. */
int tsdb_io_write_all(const struct tsdb_io *io, int fd, const void *p, size_t n, off_t off);
/* Reads exactly n bytes at off. PW_OK, PW_ECORRUPT (file shorter) or the error. */
int tsdb_io_read_all(const struct tsdb_io *io, int fd, void *p, size_t n, off_t off);

/* ---- codec.c --------------------------------------------------------------------------- */

enum tsdb_enc { TSDB_ENC_AUTO = -1, TSDB_ENC_XOR = 0, TSDB_ENC_DEC = 1 };
#define TSDB_CHUNK_MAX 65535u /* samples in one chunk */

/* Encodes n (1..TSDB_CHUNK_MAX) samples as one chunk appended to out (unbounded buffer). Any
 * int64 timestamps and any doubles round-trip bit-exactly. enc AUTO encodes the values both ways
 * when decimal scaling applies and keeps the smaller. Returns PW_OK or PW_EINVAL (n out of range,
 * or DEC forced on values that do not scale). */
int tsdb_chunk_encode(const int64_t *ts, const double *v, const uint8_t *q, size_t n,
                      enum tsdb_enc enc, struct pw_buf *out);
/* Decodes a chunk of len bytes, appending to out the samples with lo <= ts <= hi (the chunk's
 * timestamps must ascend for the early stop to be right; pass TSDB_TS_MIN-1/INT64_MAX to take
 * all). Returns PW_OK or PW_ECORRUPT (out may then hold a prefix). */
int tsdb_chunk_decode(const uint8_t *p, size_t len, int64_t lo, int64_t hi,
                      struct tsdb_samples *out);
/* Sample count and value encoding from a chunk header; PW_ECORRUPT when unreadable. */
int tsdb_chunk_info(const uint8_t *p, size_t len, uint32_t *n, int *enc);

/* ---- index.c --------------------------------------------------------------------------- */

/* Open-addressing map from byte strings to pointers. Keys are not copied: they must live as long
 * as the entry (they point into the value object). Single-threaded; callers lock. */
struct tsdb_map_slot {
    uint64_t hash;
    const char *key;
    uint32_t klen;
    void *val;
};
struct tsdb_map {
    struct tsdb_map_slot *slots;
    size_t cap, n;
};
void *tsdb_map_get(const struct tsdb_map *m, const char *key, size_t klen, uint64_t hash);
void tsdb_map_put(struct tsdb_map *m, const char *key, size_t klen, uint64_t hash, void *val);
void tsdb_map_release(struct tsdb_map *m);
uint64_t tsdb_key_hash(const char *key, size_t klen);

/* Builds the canonical key of a label set into buf (cap >= TSDB_MAX_KEY + 1). Returns PW_OK and
 * *len, PW_EINVAL (bad or duplicate name), PW_ETOOBIG. */
int tsdb_key_build(const struct tsdb_label *labels, size_t n, char *buf, size_t cap,
                   size_t *len);
/* Parses a canonical key into labels (name first, then sorted): *lbuf is one malloc'ed block
 * holding the unescaped strings; out holds at most TSDB_MAX_LABELS. PW_EINVAL when malformed. */
int tsdb_key_parse(const char *key, size_t len, struct tsdb_label *out, size_t *n, char **lbuf);

/* One series. Identity fields are immutable after publication. The head belongs to the writer:
 * it changes it inside a write section of seq (odd while changing), and when it reallocates or
 * frees head memory it holds mu as well. Readers hold mu (so nothing they follow moves or is
 * freed) and retry their copy when seq changed meanwhile (see head.c, "the head", and the
 * seqlock below). */
struct tsdb_hchunk {
    int64_t mint, maxt;
    uint32_t n, len;
    uint8_t data[];
};
struct tsdb_run_raw {
    struct tsdb_sample *s;
    uint32_t n, cap;
};
struct tsdb_series {
    /* head (guarded by mu against readers); first, so an append touches few cache lines */
    pthread_mutex_t mu;
    _Atomic uint32_t seq;         /* odd while the writer changes the head */
    struct tsdb_run_raw open;     /* in-order open chunk (raw, ascending) */
    int64_t max_ts;               /* largest ts in the in-order run; TSDB_NO_TS when empty */
    struct tsdb_sample last;      /* newest sample ever (ts TSDB_NO_TS: none) */
    uint64_t head_samples;        /* appended since the last checkpoint (upper bound) */
    struct tsdb_hchunk **chunks; /* in-order sealed chunks, ascending, disjoint */
    uint32_t nchunks, capchunks;
    struct tsdb_hchunk **ooo;    /* out-of-order sealed chunks, in sealing order */
    uint32_t nooo, capooo;
    struct tsdb_run_raw ooo_open; /* out-of-order open buffer (raw, ascending) */
    /* identity */
    uint32_t id;
    uint32_t keylen;
    char *key;
    size_t nlabels;
    char *lbuf;
    struct tsdb_label labels[TSDB_MAX_LABELS]; /* name first when present */
};

/* Head synchronisation (a seqlock for the common case): an append that fits the open chunk's
 * allocation only stores into memory that stays put, inside a write section of s->seq, without
 * any atomic read-modify-write (an uncontended mutex was a fifth of the writer's time: its
 * locked instructions wait for the cache misses of the stores before them). Reallocating,
 * sealing and out-of-order inserts also hold s->mu. Readers hold s->mu and copy inside
 * tsdb_head_read_begin/tsdb_head_read_retry. */
static inline void tsdb_head_write_begin(struct tsdb_series *s)
{
    uint32_t q = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, q + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static inline void tsdb_head_write_end(struct tsdb_series *s)
{
    uint32_t q = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, q + 1, memory_order_release);
}

static inline uint32_t tsdb_head_read_begin(struct tsdb_series *s)
{
    uint32_t q;
    int spins = 0;
    while ((q = atomic_load_explicit(&s->seq, memory_order_acquire)) & 1) {
        if (++spins > 100)
            sched_yield(); /* the writer was preempted inside its (tiny) section */
    }
    return q;
}

static inline bool tsdb_head_read_retry(struct tsdb_series *s, uint32_t q)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&s->seq, memory_order_relaxed) != q;
}

/* ---- wal.c ----------------------------------------------------------------------------- */

#define TSDB_REC_HDR 12
#define TSDB_REC_MAX (16u << 20)     /* payload bound of one record */
#define TSDB_REC_SPLIT (1u << 20)    /* a sample record is closed once its payload passes this */
#define TSDB_SEG_HDR 16
enum tsdb_rec_type { TSDB_REC_SERIES = 1, TSDB_REC_SAMPLES = 2 };

/* An append-only record log file (a WAL segment or the series log) with its write buffer:
 * bytes [0, written) of buf are on disk at [synced_off, ...) but not yet fsynced; bytes
 * [written, len) are pending (the open record, if any, is at rec_start). */
struct tsdb_log {
    const struct tsdb_io *io;
    int fd;
    char path[4096];
    uint64_t index;     /* segment number (WAL) */
    off_t synced_off;   /* file offset up to which data is fsynced (or was, before the buffer) */
    struct pw_buf buf;
    size_t written;
    size_t rec_start;   /* offset in buf of the open record header; SIZE_MAX = none */
    uint8_t rec_type;
    int64_t rec_prev_ts;
};

/* Creates (truncating) or opens a log file; writes the 16-byte header when new. */
int tsdb_log_create(struct tsdb_log *l, const struct tsdb_io *io, const char *path,
                    const char magic[8], uint64_t index);
/* Opens an existing log for appending at off (already validated by replay); truncates there. */
int tsdb_log_reopen(struct tsdb_log *l, const struct tsdb_io *io, const char *path, off_t off,
                    uint64_t index);
void tsdb_log_close(struct tsdb_log *l);
/* Starts a record of type t (closing a different open one) and returns where to write: the
 * caller appends payload bytes with pw_buf_append and calls tsdb_log_end when done or when the
 * payload passes TSDB_REC_SPLIT. */
void tsdb_log_begin(struct tsdb_log *l, uint8_t type);
void tsdb_log_end(struct tsdb_log *l);
/* Appends one sample to the open SAMPLES record (begins one when needed). */
void tsdb_log_sample(struct tsdb_log *l, uint32_t id, int64_t ts, double v, uint8_t q);
/* Closes the open record and writes all pending bytes; on failure truncates the file back and
 * keeps them pending. */
int tsdb_log_flush(struct tsdb_log *l);
/* fsyncs (only when do_fsync); on success drops the written bytes from memory; on failure
 * truncates the file back to the last synced offset and makes every unsynced byte pending
 * again. */
int tsdb_log_sync(struct tsdb_log *l, bool do_fsync);
/* The first `bytes` written bytes were fsynced (elsewhere): drops them from memory. */
void tsdb_log_synced(struct tsdb_log *l, size_t bytes);
/* An fsync failed: truncates the file back to the last synced offset and makes every unsynced
 * byte pending again. */
void tsdb_log_unsync(struct tsdb_log *l);
/* Bytes in the file plus pending. */
uint64_t tsdb_log_size(const struct tsdb_log *l);
/* Drops all buffered bytes (after a checkpoint made them redundant). */
void tsdb_log_discard(struct tsdb_log *l);

/* The largest record the writer makes: a record is closed once its payload passes TSDB_REC_SPLIT,
 * and one sample (24 bytes) or one series entry (<= 15 + TSDB_MAX_KEY bytes) goes past it. */
#define TSDB_REC_WRITTEN_MAX (TSDB_REC_SPLIT + 16 + 4096)

/* What tsdb_log_replay found. on_damage/damage_arg are set by the caller (optional): called for
 * every damaged region (offset, length, what was wrong at its start). */
struct tsdb_replay_info {
    void (*on_damage)(void *arg, off_t off, off_t len, const char *what);
    void *damage_arg;
    off_t size;          /* file size */
    off_t end;           /* end of the last valid record (where appending resumes) */
    uint64_t records;    /* valid records replayed */
    uint64_t damaged;    /* damaged regions followed by valid records (corruption) */
    uint64_t damaged_bytes;
    off_t first_damage;  /* offset of the first damaged region */
    off_t tail_off;      /* start of an invalid tail with nothing valid after it; -1 none */
    uint64_t tail_bytes;
    char why[256];       /* the first problem, "offset=N what"; empty when clean */
};

/* Replays one log file: calls fn for every valid record in order, skipping damaged regions
 * (see the top of wal.c). Returns PW_OK, or PW_ENOTFOUND/PW_EIO, PW_ECORRUPT (no valid record
 * and a bad magic: not such a log), or the first error fn returned. ri is filled in (its
 * on_damage and damage_arg are kept). */
typedef int (*tsdb_rec_fn)(void *arg, uint8_t type, const uint8_t *p, size_t len, off_t off);
int tsdb_log_replay(const struct tsdb_io *io, const char *path, const char magic[8],
                    uint64_t *index, tsdb_rec_fn fn, void *arg, struct tsdb_replay_info *ri);

extern const char tsdb_wal_magic[8];
extern const char tsdb_series_magic[8];

/* ---- block.c --------------------------------------------------------------------------- */

struct tsdb_blk_entry {
    uint32_t sid;
    uint32_t nchunks;
    int64_t mint, maxt;
    struct tsdb_sample last;
    const char *key; /* into the index copy */
    uint32_t keylen;
    const uint8_t *refs; /* nchunks x TSDB_CHUNKREF_SIZE, into the index copy */
};
#define TSDB_CHUNKREF_SIZE 32

struct tsdb_block {
    char path[4096];
    int fd;
    int64_t part;            /* partition number: floor(ts / part_ms) */
    int64_t part_ms;         /* partition length the block was written with */
    uint64_t seq;            /* block sequence; higher wins on duplicate timestamps */
    uint64_t covers_from;    /* this block replaces blocks of its partition with seq in
                                [covers_from, seq) */
    int64_t mint, maxt;
    uint64_t size;
    uint8_t *index;          /* the index section */
    struct tsdb_blk_entry *e;
    uint32_t ne;
    bool nocompact;          /* a read failed: leave this partition alone */
    bool salvaged;           /* loaded by tsdb_block_salvage: index is rebuilt */
    bool rewrite;            /* salvaged and its copy kept: rewrite it at the end of open */
};

/* Builds one block in memory. Series must be added in ascending sid order. */
struct tsdb_blk_builder {
    int64_t part;
    struct pw_buf data;  /* header + chunk section */
    struct pw_buf index; /* entries */
    uint32_t nseries;
    int64_t mint, maxt;
    uint64_t samples;
};
void tsdb_blkb_init(struct tsdb_blk_builder *b, int64_t part);
void tsdb_blkb_release(struct tsdb_blk_builder *b);
/* Adds one series' samples (ascending unique timestamps, n >= 1). */
void tsdb_blkb_add(struct tsdb_blk_builder *b, uint32_t sid, const char *key, size_t keylen,
                   const int64_t *ts, const double *v, const uint8_t *q, size_t n);
/* Writes the block durably as `path` (temp file, fsync, rename; the caller fsyncs the
 * directory). On failure the temp file is removed. */
int tsdb_blkb_write(struct tsdb_blk_builder *b, const struct tsdb_io *io, const char *path,
                    int64_t part_ms, uint64_t seq, uint64_t covers_from);

/* Loads a block's header and index. On corruption returns PW_ECORRUPT with "offset=N problem"
 * in why. *out is malloc'ed; tsdb_block_free releases it (and closes the fd). */
int tsdb_block_load(const struct tsdb_io *io, const char *path, struct tsdb_block **out,
                    char *why, size_t whycap);
void tsdb_block_free(const struct tsdb_io *io, struct tsdb_block *b);
/* The entry for sid or NULL (binary search). */
const struct tsdb_blk_entry *tsdb_block_find(const struct tsdb_block *b, uint32_t sid);
/* Appends the entry's samples in [lo, hi] to out. A chunk failing its checksum or decoding is
 * skipped: *bad_off gets its file offset and PW_ECORRUPT is returned after the others are read. */
int tsdb_block_read(const struct tsdb_io *io, const struct tsdb_block *b,
                    const struct tsdb_blk_entry *e, int64_t lo, int64_t hi,
                    struct tsdb_samples *out, uint64_t *bad_off);
/* Block file name for (part, seq): "p<part>-<seq>.blk"; parse returns false when not one. */
void tsdb_block_name(char *buf, size_t cap, int64_t part, uint64_t seq);
bool tsdb_block_name_parse(const char *name, int64_t *part, uint64_t *seq);
/* Does (sid, key) agree with what the series log says? (false: the entry is not trusted) */
typedef bool (*tsdb_key_check_fn)(void *arg, uint32_t sid, const char *key, size_t keylen);

/* What tsdb_block_salvage found: which parts were damaged, what it kept, and one line
 * "offset=N what is missing" per loss in `lost` (the caller initialises and releases it). */
struct tsdb_salvage_info {
    bool header_damaged, footer_damaged, index_damaged;
    uint64_t series, chunks, samples, lost_chunks;
    struct pw_buf lost;
};
/* Reads a block whose header, footer or index is damaged, keeping what the chunks' own CRCs
 * vouch for (see the top of block.c). part/seq (from the file name) and part_ms (the engine's)
 * are used when the header is damaged. key_ok may be NULL. Returns PW_OK and *out (salvaged =
 * true), PW_ECORRUPT when nothing could be kept, or an I/O error. */
int tsdb_block_salvage(const struct tsdb_io *io, const char *path, int64_t part, uint64_t seq,
                       int64_t part_ms, tsdb_key_check_fn key_ok, void *key_arg,
                       struct tsdb_block **out, struct tsdb_salvage_info *info);
/* Offline check of one block file, appending findings to report (live: see TSDB_FSCK_LIVE).
 * key_ok (may be NULL) cross-checks the entries' keys against the series log. */
void tsdb_block_fsck(const char *path, bool live, tsdb_key_check_fn key_ok, void *key_arg,
                     struct pw_buf *report, struct tsdb_fsck_result *res);

/* ---- the engine (tsdb.c, head.c, recovery.c, checkpoint.c, query.c, fsck.c) ------------- */

#define TSDB_PAGE_BITS 12
#define TSDB_PAGE (1u << TSDB_PAGE_BITS)

struct tsdb_lname; /* index.c */

struct tsdb {
    char dir[3800];
    int lock_fd;            /* flock on <dir>/lock while open: one engine per directory */
    struct tsdb_options opt;
    const struct tsdb_io *io;

    /* series table: pages of TSDB_PAGE pointers, never moved; nseries published with release */
    struct tsdb_series ***pages;
    size_t npages;
    _Atomic uint32_t nseries; /* 1 + highest id in use */
    uint32_t live_series;
    struct tsdb_map bykey;    /* canonical key -> series (writer only) */

    /* inverted index: label name -> struct tsdb_lname; guarded by index_lock */
    pthread_rwlock_t index_lock;
    struct tsdb_map names;
    struct tsdb_lname **name_list;
    size_t nnames, capnames;

    /* blocks: sorted by (part, seq); the array is replaced as a whole under blk_lock */
    pthread_rwlock_t blk_lock;
    struct tsdb_block **blocks;
    size_t nblocks;
    uint64_t next_block_seq;

    /* write side (writer thread only) */
    struct tsdb_log wal;
    struct tsdb_log slog; /* series log */
    uint64_t commit_seq;
    uint64_t written_seq;
    _Atomic uint64_t durable_seq;
    int state;             /* PW_OK or the error appends are refused with */
    _Atomic int state_pub; /* a copy of state for other threads */
    int64_t ckpt_deadline_ns; /* tsdb_checkpoint_within: give up building past this */
    int64_t state_retry_ns;
    bool pending;          /* samples appended since the last commit */
    bool sync_outstanding; /* a tsdb_sync_prepare'd ticket is not finished yet */
    int64_t last_checkpoint_ms;
    uint64_t head_total;

    /* counters */
    _Atomic uint64_t corrupt_chunks;
    uint64_t refused, checkpoints, replayed;
    /* recovery at open (docs/storage.md, "Recovery on start") */
    uint64_t damaged_regions, damaged_bytes, torn_tails, lost_series, salvaged_blocks,
        lost_chunks;
    bool slog_damaged, wal_damaged;
};

struct tsdb_series *tsdb_series_get(struct tsdb *db, uint32_t id);
/* Creates and publishes a series with id (from replay/blocks) or the next id (id == UINT32_MAX).
 * Takes index_lock for writing. */
int tsdb_series_create(struct tsdb *db, const char *key, size_t keylen, uint32_t id,
                       struct tsdb_series **out);
void tsdb_index_release(struct tsdb *db);
/* Does the series satisfy the matcher? (absent label = "") */
bool tsdb_matcher_match(const struct tsdb_matcher *m, const struct tsdb_series *s);

/* Head insert used by append and replay (caller is the writer). */
void tsdb_head_insert(struct tsdb_series *s, int64_t ts, double v, uint8_t q);

/* ---- tsdb.c: directory helpers ---- */

/* out = "a/b"; PW_EINVAL when it does not fit cap. */
int tsdb_path_join(char *out, size_t cap, const char *a, const char *b);
/* WAL segment numbers found in waldir (<dir>/wal), ascending; sl->idx is malloc'ed (free it).
 * Any thread; reads only the directory. */
struct tsdb_seglist {
    uint64_t *idx;
    size_t n, cap;
};
int tsdb_list_segments(const char *waldir, struct tsdb_seglist *sl);
/* out = "<dir>/wal/<16 hex>.wal" for segment idx. */
void tsdb_seg_path(char *out, size_t cap, const char *dir, uint64_t idx);
/* qsort comparator of struct tsdb_block * by (part, seq): the order of db->blocks. */
int tsdb_cmp_block(const void *a, const void *b);

/* ---- head.c ---- */

/* No chunk, open sample or out-of-order sample in the head (nothing to checkpoint). Writer. */
bool tsdb_head_empty(const struct tsdb_series *s);
/* Publishes the write state rc (PW_OK or the error appends are refused with) to other threads
 * (tsdb_write_state) and to the parkwatch_tsdb_writable gauge. Writer. */
void tsdb_publish_state(struct tsdb *db, int rc);
/* PW_OK when the engine is writable; in the refusing state retries the pending writes at most
 * once a second and returns the state (counting a refusal) while they still fail. Writer. */
int tsdb_check_state(struct tsdb *db);

/* ---- query.c: merging sorted runs ---- */

/* Sorted sample runs in ascending precedence (a later run wins on equal timestamps). */
struct tsdb_runs {
    struct tsdb_samples *r;
    size_t n, cap;
};
void tsdb_runs_release(struct tsdb_runs *rs);
/* Merges runs (ascending precedence) into out (reset first). */
void tsdb_runs_merge(struct tsdb_runs *rs, struct tsdb_samples *out);
/* Appends the head's runs of s within [lo, hi] (ascending precedence). The caller holds
 * blk_lock for reading, or is the writer; takes s->mu while copying. */
void tsdb_head_runs(struct tsdb_series *s, int64_t lo, int64_t hi, struct tsdb_runs *rs);
/* Appends the runs of series sid within [lo, hi] from blocks[0..nblocks) (sorted by part, seq).
 * The caller holds blk_lock (either mode). A chunk failing its checksum is skipped, counted and
 * logged; *bad (may be NULL) is set then. */
void tsdb_block_runs(struct tsdb *db, uint32_t sid, int64_t lo, int64_t hi,
                     struct tsdb_runs *rs, struct tsdb_block *const *blocks, size_t nblocks,
                     bool *bad);

/* ---- recovery.c: the steps of tsdb_open, in this order (before other threads see db) ---- */

/* Reads series.log into the series table (damage skipped and counted, torn tail cut off, an
 * unreadable log kept in damaged/ and replaced by an empty one) and opens it for appending. */
int tsdb_open_series_log(struct tsdb *db);
/* Loads blocks/ (temp files removed, damaged blocks salvaged, blocks a finished compaction
 * replaced removed), registers their series and sorts db->blocks. */
int tsdb_load_blocks(struct tsdb *db);
/* Replays wal/ into the head (lost keys become pw_lost_series{id}), counts damage and torn
 * tails, and opens the last segment (or a new one) for appending. */
int tsdb_replay_wal(struct tsdb *db);
/* After a damaged series log was read: writes every known series into a fresh series log
 * (temp file, fsync, rename, directory fsync) and appends to that from now on. */
int tsdb_rewrite_series_log(struct tsdb *db);
/* Rewrites salvaged block db->blocks[i] in place with what was recovered (same name and seq);
 * on failure the salvaged block stays as it is. */
int tsdb_rewrite_salvaged(struct tsdb *db, size_t i);

#endif
