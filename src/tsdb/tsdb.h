/* tsdb.h — the time-series engine: series index, write-ahead log, in-memory head, immutable
 * time-partitioned blocks, queries. It knows nothing about parks; it could be lifted out as a
 * library. Formats and durability are specified in docs/storage.md and at the top of wal.c,
 * block.c and codec.c.
 *
 * Data model (Prometheus): a series is a metric name (label `__name__`) plus labels. Its
 * canonical key is the Prometheus text form with labels sorted by name and empty labels dropped:
 * `name{a="x",b="y"}` (just `name` without labels). Every series has a compact id, its *ref*
 * (uint32), stable for the life of the data directory. A sample is (int64 ms timestamp, double
 * value, 8-bit quality code). Timestamps must lie in [TSDB_TS_MIN, TSDB_TS_MAX].
 *
 * Threading contract
 *   - ONE writer thread (the pipeline) calls the functions marked [writer]: append, commit,
 *     sync, checkpoint, maintain, series_ref. They are not safe to call from two threads.
 *   - Any number of reader threads call the functions marked [reader] concurrently with the
 *     writer. A reader sees each series consistently: a sample is visible to readers from the
 *     moment tsdb_append returns (before it is durable). Readers take, briefly: a per-series mutex
 *     (to copy the head's open chunk pointers), a read lock on the block list (for the duration of
 *     one series' read) and a read lock on the label index (for matcher evaluation). The writer
 *     takes the write locks only when it creates a series (index) or installs/drops blocks
 *     (checkpoint, retention, compaction).
 *   - open/close and fsck run alone.
 *
 * Group commit and acknowledgement
 *     tsdb_append(...) x N            samples go to the head and to the pending WAL batch
 *     tsdb_commit(db, &seq)           the batch is written to the WAL (one write); seq names it
 *     tsdb_sync(db, &durable)         fsync per storage.fsync; every commit with seq <= durable
 *                                     is durable: acknowledge its devices now, not before.
 *   With fsync=always tsdb_commit itself fsyncs (durable == seq on return); with fsync=batch one
 *   tsdb_sync covers every commit since the last one; with fsync=off sync never calls fsync and
 *   "durable" only means "written to the OS" (survives kill -9, not power loss).
 *
 * Disk full: a failed WAL write or fsync returns PW_ENOSPC/PW_EIO from tsdb_commit/tsdb_sync; the
 * unwritten batch is kept in memory and the engine enters a refusing state in which tsdb_append
 * returns the same error without storing anything. Reads keep working. Every later
 * tsdb_commit (and tsdb_append, at most once a second) retries the write; when it succeeds the
 * engine accepts samples again. Nothing already durable is touched by a failed write.
 */
#ifndef PW_TSDB_H
#define PW_TSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pw_buf;
struct tsdb;

#define TSDB_TS_MIN (-(INT64_C(1) << 62))
#define TSDB_TS_MAX (INT64_C(1) << 62)
#define TSDB_MAX_LABELS 32      /* labels per series, __name__ included */
#define TSDB_MAX_KEY 4096       /* bytes of a canonical key */
#define TSDB_MAX_MATCHERS 16    /* matchers per selector */
#define TSDB_NO_TS INT64_MIN    /* "no sample" in tsdb_sample.ts */

/* ---- storage I/O table ------------------------------------------------------------------ */

/* Every write-side file operation goes through this table so tests can inject faults. Each
 * function returns >= 0 on success and -errno on failure (never sets errno for the caller).
 * Readers of block files call pread concurrently: an implementation must allow that. */
struct tsdb_io {
    int (*open)(void *ctx, const char *path, int flags, int mode); /* fd */
    ssize_t (*pwrite)(void *ctx, int fd, const void *p, size_t n, off_t off);
    ssize_t (*pread)(void *ctx, int fd, void *p, size_t n, off_t off);
    int (*fsync)(void *ctx, int fd);
    int (*ftruncate)(void *ctx, int fd, off_t len);
    int (*close)(void *ctx, int fd);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*fsync_dir)(void *ctx, const char *path);
    void *ctx;
};

/* The plain POSIX implementation (static; never freed). */
const struct tsdb_io *tsdb_io_posix(void);

/* A fault-injecting wrapper for tests. Fill the knobs at any time from the writer thread:
 *   enospc       every pwrite/fsync/ftruncate-to-grow fails with -ENOSPC (0 = off)
 *   fail_in      the fail_in-th following pwrite fails with -fail_errno (0 = off; counts down)
 *   short_writes every pwrite writes at most half the bytes asked (forces the retry loop)
 *   eio_fsync    every fsync fails with -EIO
 * Counters (writes, fsyncs, failures) are updated by the wrapper. */
struct tsdb_fault {
    struct tsdb_io io; /* pass &f->io as tsdb_options.io */
    const struct tsdb_io *under;
    volatile int enospc;
    volatile long fail_in;
    volatile int fail_errno;
    volatile int short_writes;
    volatile int eio_fsync;
    unsigned long writes, fsyncs, failures;
};
void tsdb_fault_init(struct tsdb_fault *f, const struct tsdb_io *under);

/* ---- open / close ----------------------------------------------------------------------- */

enum tsdb_fsync { TSDB_FSYNC_BATCH = 0, TSDB_FSYNC_ALWAYS = 1, TSDB_FSYNC_OFF = 2 };

struct tsdb_options {
    enum tsdb_fsync fsync;          /* storage.fsync; default batch */
    int64_t retention_ms;           /* storage.retention; 0 = keep forever; default 5y */
    uint32_t max_series;            /* storage.max_series; default 10,000,000 */
    int64_t partition_ms;           /* block partition length; default 1 day */
    uint64_t checkpoint_wal_bytes;  /* checkpoint when the WAL grows past this; default 256 MiB */
    int64_t checkpoint_interval_ms; /* tsdb_maintain checkpoints a head older than this; 1h */
    const struct tsdb_io *io;       /* NULL = tsdb_io_posix() */
};

/* Fills the defaults above. */
void tsdb_options_init(struct tsdb_options *o);
/* "always" | "batch" | "off" → PW_OK and *out, or PW_EINVAL (*out untouched). */
int tsdb_fsync_parse(const char *s, enum tsdb_fsync *out);

/* Opens (creating if needed) the engine in `dir` (the daemon passes <data>/tsdb): locks it
 * (flock on dir/lock; PW_ECONFLICT while another handle has it open), loads the series log and
 * block indexes, replays the WAL, and removes leftover temporary files. Damage never stops it
 * and never costs more than the damaged bytes (docs/storage.md, "Recovery on start"): a torn
 * tail is cut off; a damaged log region is skipped (logged as an error with file and offset),
 * the records after it are kept, the file copied to dir/damaged/ and repaired; a block with a
 * damaged header, footer or index is salvaged from its chunks' checksums. Returns PW_OK and
 * *out, or PW_ECONFLICT, PW_EIO/PW_ENOSPC/PW_EROFS/PW_EPERM/PW_EINVAL; *out untouched on error. */
int tsdb_open(const char *dir, const struct tsdb_options *opt, struct tsdb **out);

/* Writes and syncs whatever is pending and frees everything. Returns the first error of that
 * final commit (the memory is freed regardless). NULL is accepted. No checkpoint is made: the
 * next open replays the WAL. */
int tsdb_close(struct tsdb *db);

/* ---- writing [writer] ------------------------------------------------------------------- */

struct tsdb_label {
    const char *name;
    const char *value;
};

/* Resolves a label set (any order; `__name__` is the metric name; empty values are dropped) to
 * its series ref, creating the series when new. Fast path: one hash lookup of the canonical key.
 * Returns PW_OK and *ref; PW_EINVAL for bad names/duplicates, PW_ETOOBIG past TSDB_MAX_KEY or
 * TSDB_MAX_LABELS, PW_EFULL past max_series, or the refusing-state error. [writer] */
int tsdb_series_ref(struct tsdb *db, const struct tsdb_label *labels, size_t n, uint32_t *ref);

/* Resolves the label sets of EXISTING series to their refs without creating anything: refs[i] is
 * the ref of set i, or UINT32_MAX for a new series (resolve it on the writer with
 * tsdb_series_ref) or an invalid set. Lets producers resolve series in parallel so the writer
 * only appends by ref; the index lock is taken once per 32 sets. Uses ~130 KiB of stack.
 * [reader] */
int tsdb_series_lookup_many(struct tsdb *db, const struct tsdb_label *const *sets,
                            const size_t *nlabels, size_t n, uint32_t *refs);

/* Appends one sample to a series. Out-of-order and duplicate timestamps are accepted; a duplicate
 * timestamp keeps the last write. Returns PW_OK; PW_ENOTFOUND for an unknown ref, PW_ERANGE for a
 * timestamp outside [TSDB_TS_MIN, TSDB_TS_MAX], or the refusing-state error (PW_ENOSPC ...), in
 * which case nothing was stored. [writer] */
int tsdb_append(struct tsdb *db, uint32_t ref, int64_t ts, double value, uint8_t quality);
/* Hints that ref will be appended to soon (prefetches its head into the cache). [writer] */
void tsdb_prefetch(struct tsdb *db, uint32_t ref);

struct tsdb_point {
    const struct tsdb_label *labels;
    size_t nlabels;
    int64_t ts;
    double value;
    uint8_t quality;
};
/* Resolves and appends n points. Stops at the first failure and returns its error; *done (may be
 * NULL) is the number of points stored before it. [writer] */
int tsdb_append_batch(struct tsdb *db, const struct tsdb_point *pts, size_t n, size_t *done);

/* Writes the pending batch to the WAL (and fsyncs with fsync=always). Returns PW_OK and *seq (the
 * batch's commit sequence; unchanged from the previous commit when nothing was pending), or
 * PW_ENOSPC/PW_EIO: the batch stays pending and the engine refuses appends until a retry works.
 * May run a checkpoint when the WAL passed checkpoint_wal_bytes (its failure is logged, not
 * returned). [writer] */
int tsdb_commit(struct tsdb *db, uint64_t *seq);

/* Makes every written commit durable per storage.fsync (one fsync for the whole group) and
 * returns the highest durable commit sequence in *durable. On fsync failure returns PW_EIO or
 * PW_ENOSPC; the unsynced commits are rewritten by the next commit. Not while a ticket is
 * outstanding (PW_EAGAIN). [writer] */
int tsdb_sync(struct tsdb *db, uint64_t *durable);

/* Asynchronous sync, so the writer applies the next group while this one is fsynced:
 *     tsdb_sync_prepare(db, &t)        [writer] after tsdb_commit: a ticket covering every commit
 *                                      written so far; false when there is nothing to fsync
 *                                      (everything durable, or storage.fsync is not "batch")
 *     tsdb_sync_perform(&t)            [any one thread] the fsyncs; touches no engine state
 *     tsdb_sync_finish(db, &t, &dur)   [writer] publishes the result as tsdb_sync would
 * Between prepare and finish the writer may append and commit; a checkpoint that falls due
 * meanwhile (tsdb_commit, tsdb_maintain) is deferred to tsdb_sync_finish, and tsdb_sync and
 * tsdb_checkpoint refuse with PW_EAGAIN. At most one ticket is outstanding. */
struct tsdb_sync_ticket {
    uint64_t seq; /* every commit with seq <= this is durable once the ticket succeeds */
    /* internal */
    const struct tsdb_io *io;
    int fd[2];       /* series log, WAL */
    size_t bytes[2]; /* written bytes the fsyncs cover */
    int rc;
};
bool tsdb_sync_prepare(struct tsdb *db, struct tsdb_sync_ticket *t);
int tsdb_sync_perform(struct tsdb_sync_ticket *t);
int tsdb_sync_finish(struct tsdb *db, struct tsdb_sync_ticket *t, uint64_t *durable);

/* Highest durable commit sequence. [any thread] */
uint64_t tsdb_durable_seq(struct tsdb *db);

/* Moves the whole head into block files (one per touched partition, published atomically) and
 * truncates the WAL. On failure nothing visible changes and the WAL is kept. [writer] */
int tsdb_checkpoint(struct tsdb *db);

/* tsdb_checkpoint bounded in time: when building the blocks takes longer than max_ms it gives
 * up with PW_ETIMEDOUT and nothing changed (the WAL keeps everything; the next open replays
 * it). Writing the built blocks is not interrupted. For a clean shutdown. [writer] */
int tsdb_checkpoint_within(struct tsdb *db, int64_t max_ms);

/* PW_OK while appends are accepted, else the error they are refused with (PW_ENOSPC disk full,
 * PW_EROFS read-only file system, PW_EIO ...). [any thread] */
int tsdb_write_state(struct tsdb *db);

/* Housekeeping, call every few seconds to minutes: checkpoint when due, drop partitions that
 * ended before now_ms - retention, merge the blocks of a partition that has several. Returns the
 * first error (work continues past it). [writer] */
int tsdb_maintain(struct tsdb *db, int64_t now_ms);

/* ---- selectors [reader] ------------------------------------------------------------------- */

enum tsdb_match_op { TSDB_MATCH_EQ, TSDB_MATCH_NE, TSDB_MATCH_RE, TSDB_MATCH_NRE };

struct tsdb_matcher {
    enum tsdb_match_op op;
    char *name;  /* owned */
    char *value; /* owned; the regex source for RE/NRE */
    void *re;    /* compiled, anchored, bounded regex (pcre2_code *) for RE/NRE */
};

/* Bounds of one query, polled while it selects (about every TSDB_POLL_EVERY label values or
 * series) [reader]. */
#define TSDB_POLL_EVERY 1024
struct tsdb_budget {
    int64_t deadline_ns;          /* pw_mono_ns() clock; 0 = none: PW_ETIMEDOUT past it */
    bool (*cancelled)(void *arg); /* NULL = never; true: PW_ECLOSED (client gone, shutdown) */
    void *arg;
};

struct tsdb_selector {
    size_t n;
    struct tsdb_matcher m[TSDB_MAX_MATCHERS];
    const struct tsdb_budget *budget; /* NULL = unbounded; borrowed; set after parsing */
};

/* Parses a PromQL selector `metric{label="v",other=~"re",x!="y",y!~"re"}` (metric optional,
 * strings in "..." or '...' with Go escapes). Names outside the classic syntax are quoted as in
 * Prometheus 3: `{"cpu-load_value","host.name"="a"}` (a quoted string alone is the metric
 * name). Regexes are RE2-like and bounded (PCRE2 with match limits, anchored at both ends as
 * Prometheus anchors them; index.c has the rules); a regex that cannot compile within the
 * limits is refused here. At most `len` bytes of s are read. Returns PW_OK and *sel (release it
 * with tsdb_selector_release), or PW_EINVAL with a message naming the offset in err. */
int tsdb_selector_parse(const char *s, size_t len, struct tsdb_selector *sel, char *err,
                        size_t errcap);
/* Adds one matcher (copies name and value, compiles a regex). PW_EFULL past TSDB_MAX_MATCHERS. */
int tsdb_selector_add(struct tsdb_selector *sel, enum tsdb_match_op op, const char *name,
                      const char *value, char *err, size_t errcap);
void tsdb_selector_init(struct tsdb_selector *sel);
void tsdb_selector_release(struct tsdb_selector *sel);

/* ---- queries [reader] ------------------------------------------------------------------- */

/* Series matching every matcher, sorted by ref. As in Prometheus an absent label matches as "",
 * and at least one matcher must not match the empty string (PW_EINVAL otherwise). At most
 * `limit` refs (0 = no limit; PW_ETOOBIG when more match: *refs holds the first `limit`).
 * *refs is malloc'ed (caller frees). PW_ERANGE when a regex exceeded its match limits,
 * PW_ETIMEDOUT / PW_ECLOSED from sel->budget (nothing returned then). */
int tsdb_select(struct tsdb *db, const struct tsdb_selector *sel, size_t limit, uint32_t **refs,
                size_t *n);

/* The labels of a series; pointers stay valid until tsdb_close. Returns the label count (name
 * first) or 0 for an unknown ref; fills at most cap entries. */
size_t tsdb_series_labels(struct tsdb *db, uint32_t ref, struct tsdb_label *out, size_t cap);
/* The canonical key; valid until tsdb_close; NULL for an unknown ref. */
const char *tsdb_series_key(struct tsdb *db, uint32_t ref);
/* Appends the series' labels as a JSON object {"__name__":"x","a":"b"}. */
int tsdb_series_json(struct tsdb *db, uint32_t ref, struct pw_buf *out);

/* Sorted distinct label names (or values of label `name`) over the series matching sel (NULL or
 * an empty selector = all series). *out is a malloc'ed array of malloc'ed strings; free with
 * tsdb_strings_free. */
int tsdb_label_names(struct tsdb *db, const struct tsdb_selector *sel, char ***out, size_t *n);
int tsdb_label_values(struct tsdb *db, const char *name, const struct tsdb_selector *sel,
                      char ***out, size_t *n);
void tsdb_strings_free(char **v, size_t n);

struct tsdb_sample {
    int64_t ts; /* TSDB_NO_TS: none */
    double value;
    uint8_t quality;
};

/* A growable result (struct of arrays). Zero-initialise it; tsdb_samples_release frees it. */
struct tsdb_samples {
    int64_t *ts;
    double *value;
    uint8_t *quality;
    size_t n, cap;
};
void tsdb_samples_release(struct tsdb_samples *s);

/* Raw samples of one series with start <= ts <= end, merged from blocks and head in timestamp
 * order (a duplicate timestamp shows the last write). out is reset first. At most max samples
 * (0 = no limit): PW_ETOOBIG when more exist (out holds the first max). PW_ENOTFOUND for an
 * unknown ref. A corrupt chunk is logged (file, offset), counted and skipped. */
int tsdb_read(struct tsdb *db, uint32_t ref, int64_t start, int64_t end, size_t max,
              struct tsdb_samples *out);

enum tsdb_agg {
    TSDB_AGG_AVG, TSDB_AGG_MIN, TSDB_AGG_MAX, TSDB_AGG_SUM, TSDB_AGG_COUNT, TSDB_AGG_FIRST,
    TSDB_AGG_LAST,
};
/* "avg" | "min" | "max" | "sum" | "count" | "first" | "last". */
int tsdb_agg_parse(const char *s, enum tsdb_agg *out);

/* Downsamples [start, end] into buckets [start + k*step, start + (k+1)*step); one output sample
 * per non-empty bucket, stamped with the bucket start. NaN samples are skipped by avg/min/max/sum
 * (a bucket of only NaN gives NaN) and counted by count. The quality of first/last is that
 * sample's; of the others the largest code in the bucket. step >= 1; at most 1,000,000 buckets
 * (PW_ERANGE). */
int tsdb_downsample(struct tsdb *db, uint32_t ref, int64_t start, int64_t end, int64_t step,
                    enum tsdb_agg agg, struct tsdb_samples *out);

/* The newest sample (largest timestamp) of each series, from memory. out[i].ts = TSDB_NO_TS for an
 * unknown ref or a series without samples. */
void tsdb_last_values(struct tsdb *db, const uint32_t *refs, size_t n, struct tsdb_sample *out);

/* Appends one line of VictoriaMetrics export JSON for [start, end]:
 * {"metric":{"__name__":"x","a":"b"},"values":[1.5,2],"timestamps":[1700000000000,...]}\n
 * Nothing is written when the range has no samples. NaN and ±Inf are written as the JSON strings
 * "NaN", "+Inf", "-Inf" (as the Prometheus API does). PW_ETOOBIG when out's bound is reached. */
int tsdb_export_json(struct tsdb *db, uint32_t ref, int64_t start, int64_t end,
                     struct pw_buf *out);
/* The same for a series of at most max samples in the range (0 = no limit): PW_ERANGE, with
 * nothing written, when it has more. *written (may be NULL) = samples written. */
int tsdb_export_json_max(struct tsdb *db, uint32_t ref, int64_t start, int64_t end, size_t max,
                         size_t *written, struct pw_buf *out);

struct tsdb_stats {
    uint64_t series;
    uint64_t head_samples;      /* samples in memory not yet in blocks */
    uint64_t head_bytes;        /* memory used by head chunks and buffers */
    uint64_t blocks;
    uint64_t block_bytes;
    uint64_t wal_bytes;         /* current segment */
    uint64_t commit_seq, durable_seq;
    uint64_t checkpoints;
    uint64_t corrupt_chunks;    /* skipped by reads since open */
    uint64_t refused_appends;   /* refused while the WAL could not be written */
    uint64_t replayed_samples;  /* at open */
    /* found at open: damaged log regions skipped (valid records after them were kept) and their
     * bytes, torn tails cut off, series whose key was lost with a damaged series record (kept
     * as pw_lost_series{id="N"}), blocks read past a damaged header/footer/index, and block
     * chunks lost in them */
    uint64_t damaged_regions, damaged_bytes, torn_tails, lost_series, salvaged_blocks,
        lost_chunks;
    int state;                  /* 0 ok, else the error the writer is refusing with */
};
void tsdb_stats(struct tsdb *db, struct tsdb_stats *st);

/* ---- offline check ------------------------------------------------------------------- */

struct tsdb_fsck_result {
    uint64_t files, wal_records, samples, chunks;
    uint64_t errors;   /* corruption found */
    uint64_t warnings; /* e.g. a torn WAL tail (normal after a crash) */
};
/* Checks a data directory without opening it for writing: the series log, every WAL record and
 * every block (header, footer, index, each chunk's checksum and decoding). One line per finding
 * `<level> <file> offset=<n> <problem>` is appended to report. Returns PW_OK when no error was
 * found, PW_ECORRUPT when some was, PW_ENOTFOUND/PW_EIO when dir cannot be read. */
int tsdb_fsck(const char *dir, struct pw_buf *report, struct tsdb_fsck_result *res);
/* The same with flags. TSDB_FSCK_LIVE: a daemon is writing the directory (its lock is held):
 * an incomplete record at the end of the last WAL segment or the series log is a write in
 * flight (reported as info), and files a checkpoint removed meanwhile are skipped. */
#define TSDB_FSCK_LIVE 1u
int tsdb_fsck_ex(const char *dir, unsigned flags, struct pw_buf *report,
                 struct tsdb_fsck_result *res);

#endif
