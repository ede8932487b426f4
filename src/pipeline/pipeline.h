/* pipeline.h — the single writer. Ingest threads hand it batches of samples; its one thread
 * appends them to the time-series engine (and, as they land, to the rules), commits the WAL once
 * for everything that arrived together, syncs once (group commit), and only then reports each
 * batch as done — so a device is acknowledged only after its data is durable. The fsync runs on
 * a second thread, so the writer applies (and evaluates) the next group while the previous one
 * is being synced. Work is applied in slices (PIPELINE_SLICE samples or PIPELINE_SLICE_NS,
 * whichever ends first), small batches first, so a reading that crosses a setpoint is evaluated
 * within about a slice of arriving, however large the bodies queued ahead of it.
 *
 *     struct pipeline_batch *b = pipeline_batch_new();
 *     pipeline_batch_add(b, labels, n, ts, value, quality);   // copies labels
 *     pipeline_batch_add_position(b, &pos);                   // typed records, after the samples
 *     pipeline_batch_set_events(b, events, n);                // device events, to the event store
 *     pipeline_submit(p, b, on_done, arg);                    // p owns b from here
 *     ... on_done(b, rc, arg) runs on the pipeline thread once b is durable (rc == PW_OK), or
 *         failed (rc < 0, b->stored samples were stored); the pipeline frees b after it returns.
 *
 * Refused samples: a sample this store will never take as it is — its label set is invalid
 * (PW_EINVAL) or too big (PW_ETOOBIG), it would create a series past storage.max_series
 * (PW_EFULL), its timestamp is out of range (PW_ERANGE) — costs only itself: it is counted in
 * b->refused and listed in b->refusals, and the batch still succeeds (rc == PW_OK, stored =
 * n - refused) so its sender is acknowledged for what was stored and does not resend what can
 * never be stored. They are counted in /metrics (parkwatch_pipeline_refused_samples_total by
 * reason) and logged at most once a minute. rc < 0 means the whole batch failed (storage error,
 * queue full, shutting down).
 *
 * on_done calls come in submission order, whatever order the batches were applied in (a
 * listener's replies queued as empty batches behind its acknowledgements rely on it).
 *
 * on_done must be quick and must not call back into the pipeline: a libuv listener posts the
 * acknowledgement to its loop with uv_async_send; a blocking caller uses pipeline_write(),
 * which waits on a condition variable.
 *
 * Backpressure: at most opts.max_queued_samples wait in the queue; beyond that pipeline_submit
 * answers PW_EFULL at once and the caller must not acknowledge (HTTP answers 503, devices resend).
 *
 * Threads: pipeline_* functions are safe from any thread except pipeline_close, which must be
 * called once, by the owner, after the producers stopped submitting. */
#ifndef PW_PIPELINE_H
#define PW_PIPELINE_H

#include "alarm/alarm.h"
#include "archive/archive.h"
#include "base/buf.h"
#include "events/events.h"
#include "rules/rules.h"
#include "tsdb/tsdb.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pipeline;
struct pipeline_batch;

/* A decoded vehicle position (JT/T 808 0x0200 / 0x0704) with who it belongs to: a typed record
 * of a batch, handed to the supervisor (pipeline_opts.supervisor) on the writer thread after the
 * batch's samples were applied. Strings are copied into the record (NUL-terminated). */
struct pipeline_position {
    char phone[21];      /* normalised terminal phone; the key */
    char vehicle[65];    /* model vehicle id; "" for an accepted unknown terminal */
    char plate[33];
    char enterprise[65]; /* "" = none */
    bool hazmat;         /* the lot and corridor rules apply */
    bool positioned;     /* false: lat/lon/speed/heading not usable */
    int64_t ts;          /* device time, ms UTC */
    int64_t rx_ms;       /* wall clock when received */
    double lat, lon, speed_kmh, heading, altitude_m;
    uint32_t alarm, status; /* the 0x0200 alarm and status DWORDs */
};

/* Domain supervision beside the rules, on the writer thread (supervise/ fills it). */
struct pipeline_supervisor {
    /* the device events of one batch once appended to the event store (duplicates flagged),
     * after its samples */
    void (*events)(struct pipeline *p, const struct device_event *e, size_t n, void *arg);
    /* the position records of one batch, after its samples (not called when storage refused
     * the batch) */
    void (*positions)(struct pipeline *p, const struct pipeline_position *pos, size_t n,
                      void *arg);
    /* about once a second, after rules_tick */
    void (*tick)(struct pipeline *p, int64_t now, void *arg);
    void *arg;
    /* every stored sample, after the rules saw it (must be cheap: permits, supervise/) */
    void (*sample)(struct pipeline *p, uint32_t ref, int64_t ts, double value, uint8_t quality,
                   void *arg);
};

/* A side store: a database other than the tsdb that the writer thread writes while it applies
 * batches, committed with the group commit so that "acknowledged means durable" covers it too.
 * commit runs on the writer thread when the applied batches are committed (it must not fsync:
 * e.g. an SQLite COMMIT with synchronous=NORMAL in WAL mode, which only writes the WAL); sync
 * runs on the sync thread beside the tsdb fsync and makes everything committed so far durable
 * (e.g. fsync of the SQLite WAL). A batch is acknowledged only when both succeeded for the
 * commit that covers it; an error fails the group as a tsdb error does. */
struct pipeline_side_store {
    const char *name; /* for the log */
    int (*commit)(void *arg);
    int (*sync)(void *arg);
    void *arg;
};
#define PIPELINE_SIDE_STORES_MAX 4

/* A tap on what the group commit makes durable (uplink/ fills it: its outbox is a side store,
 * so what it records is durable exactly when the data is). On the writer thread; must be quick.
 *   batch       each batch about to be committed whose samples were all stored or refused
 *               (rc == PW_OK), before the side stores commit; read its samples with
 *               pipeline_batch_stored and its device events (ids assigned) from b->events
 *   transition  each alarm transition the alarm store took, with the id of the alarm it raised
 *               or changed (0: a clear that matched no open alarm) */
struct pipeline_tap {
    void (*batch)(struct pipeline *p, const struct pipeline_batch *b, void *arg);
    void (*transition)(const struct alarm_transition *t, int64_t alarm_id, void *arg);
    void *arg;
};

/* A slice: at most this many samples, or this much time (0.2 ms), before batches that arrived
 * meanwhile get a turn. */
#define PIPELINE_SLICE 1024
#define PIPELINE_SLICE_NS 200000

/* One refused sample: its index in the batch and why (PW_EINVAL, PW_ETOOBIG, PW_EFULL,
 * PW_ERANGE). */
struct pipeline_refusal {
    size_t index;
    int why;
};

struct pipeline_batch {
    /* filled by pipeline_batch_add */
    size_t n;                 /* samples */
    size_t stored;            /* set before on_done: samples stored */
    int rc;                   /* set before on_done */
    size_t first_error_index; /* when rc != PW_OK: the sample that failed */
    size_t refused;           /* set before on_done: samples refused (see above) */
    struct pipeline_refusal *refusals; /* the refused samples in order (malloc'ed; the pipeline
                                        * frees it with b unless on_done takes it, NULLing it) */
    int64_t origin_ns;        /* pw_mono_ns() when the samples were decoded; 0 = at submit. Carried
                               * to the alarm events they raise (latency measurement) */
    /* internal */
    struct pw_buf arena;      /* label strings */
    struct pl_sample *samples;
    size_t cap;
    void (*done)(struct pipeline_batch *b, int rc, void *arg);
    void *arg;
    /* work to run on the writer thread before the samples (device events, vehicle alarms,
     * rule queries): see pipeline_exec */
    void (*exec)(struct pipeline *p, void *ctx);
    void *exec_ctx;
    struct pipeline_position *pos; /* typed records (pipeline_batch_add_position) */
    size_t npos, pos_cap;
    struct device_event *events;   /* borrowed (pipeline_batch_set_events) */
    size_t nevents;
    bool records_done;             /* events and positions applied (writer thread) */
    size_t applied;           /* samples [0, applied) done (writer thread) */
    uint64_t seq;             /* tsdb commit that covers it (writer thread) */
    bool finished;            /* durable or failed; on_done waits for the batches before it */
    struct pipeline_batch *next;
    struct pipeline_batch *onext; /* submission order (writer thread) */
    /* archive leaves (pipeline_batch_archive): uint16 length, leaf hash, leaf; appended to the
     * archive with the batch and durable in the same group commit */
    struct pw_buf leaves;
    uint64_t arch_end;        /* archive size after its leaves (writer thread); 0 = none */
};

struct pipeline_opts {
    size_t max_queued_samples; /* default 4,000,000 */
    int64_t maintain_every_ms; /* tsdb_maintain period; default 10 s */
    /* Alarming (both or neither; borrowed; the pipeline thread becomes their only writer): every
     * stored sample is evaluated by rules_on_sample and each transition applied with
     * alarm_apply; rules_tick and alarm_tick run about once a second. */
    struct rules *rules;
    struct alarm_store *alarms;
    struct pipeline_supervisor supervisor; /* positions NULL: records are dropped */
    /* The event store (borrowed): device events of the batches are appended to it on the writer
     * thread and it is committed and synced as a side store (pipeline_open adds it). */
    struct events_store *events;
    struct pipeline_side_store side[PIPELINE_SIDE_STORES_MAX];
    size_t n_side;
    /* The archive (borrowed; NULL = off; the pipeline thread becomes its only writer): each
     * batch's leaves are appended when it is applied, written with the group's commit and
     * fsynced by the sync thread with the storage; a batch is done only once its leaves are
     * durable. Checkpoints are signed from the writer thread when due. */
    struct archive *archive;
    struct pipeline_tap tap; /* batch NULL: none */
};
void pipeline_opts_init(struct pipeline_opts *o);

/* Starts the writer thread on db (borrowed: the pipeline is its only writer from now until
 * pipeline_close). Returns PW_OK and *out, or PW_ENOMEM/PW_EIO. */
int pipeline_open(struct tsdb *db, const struct pipeline_opts *o, struct pipeline **out);
/* Writes and syncs everything queued (calling every on_done), then stops the thread and frees p.
 * NULL is accepted. */
void pipeline_close(struct pipeline *p);

struct pipeline_batch *pipeline_batch_new(void);
/* Adds one sample (labels copied; __name__ is the metric name). Returns PW_OK or PW_ETOOBIG past
 * TSDB_MAX_LABELS / TSDB_MAX_KEY bytes of label text. */
int pipeline_batch_add(struct pipeline_batch *b, const struct tsdb_label *labels, size_t n,
                       int64_t ts, double value, uint8_t quality);
void pipeline_batch_free(struct pipeline_batch *b);
/* Adds an archive leaf to b: header (kind, time, source) and the exact bytes. The batch is
 * reported done only when the leaf is durable. Returns PW_OK or PW_ETOOBIG (leaf above
 * ARCHIVE_MAX_ENTRY). Cheap to skip: see pipeline_archiving. */
int pipeline_batch_archive(struct pipeline_batch *b, enum archive_kind kind, int64_t time_ms,
                           const char *source, const void *bytes, size_t len);
/* Whether p archives leaves (an archive was given at open). */
bool pipeline_archiving(const struct pipeline *p);
/* Adds a sample of a series already resolved with tsdb_series_lookup_many (no labels copied). */
void pipeline_batch_add_ref(struct pipeline_batch *b, uint32_t ref, int64_t ts, double value,
                            uint8_t quality);
/* Attaches n device events to b, appended to the event store after b's samples, ids and
 * duplicate flags written back into e. e is borrowed and must stay valid until on_done ran:
 * use it with pipeline_write. A batch whose events could not be appended fails (rc) and is not
 * acknowledged; without an event store it fails with PW_EINVAL. */
void pipeline_batch_set_events(struct pipeline_batch *b, struct device_event *e, size_t n);
/* Adds a typed position record (copied). */
void pipeline_batch_add_position(struct pipeline_batch *b, const struct pipeline_position *pos);
/* Preallocates for about `samples` samples and `label_bytes` bytes of label text. */
void pipeline_batch_reserve(struct pipeline_batch *b, size_t samples, size_t label_bytes);

/* In a tap's batch callback: fn(ref, ts, value, quality, arg) for each stored sample of b, in
 * order (refused samples skipped). */
void pipeline_batch_stored(const struct pipeline_batch *b,
                           void (*fn)(uint32_t ref, int64_t ts, double v, uint8_t q, void *arg),
                           void *arg);

/* Queues b; p owns it from now on, even on error (then on_done is not called and b is freed).
 * Returns PW_OK, PW_EFULL (queue full) or PW_ECLOSED (shutting down). */
int pipeline_submit(struct pipeline *p, struct pipeline_batch *b,
                    void (*on_done)(struct pipeline_batch *b, int rc, void *arg), void *arg);

/* Runs fn(p, ctx) on the writer thread, in order with the batches (the only way to touch the
 * rule set from another thread). Waits until it ran when wait is true; otherwise ctx must stay
 * valid until fn ran (fn frees it). Returns PW_OK, PW_EFULL, PW_ECLOSED; on error fn will not
 * run and the caller still owns ctx. */
int pipeline_exec(struct pipeline *p, void (*fn)(struct pipeline *p, void *ctx), void *ctx,
                  bool wait);
/* Runs the once-a-second work (rules_tick, the supervisor's tick, alarm_tick) on the writer
 * thread as soon as possible, e.g. after this process changed the park model, so consumers that
 * watch the model generation apply it at once instead of within a second. PW_OK or as
 * pipeline_exec. */
int pipeline_tick_now(struct pipeline *p);
/* The rule set and alarm store given at open (NULL without alarming). pipeline_rules() may only
 * be used inside a pipeline_exec function. */
struct rules *pipeline_rules(struct pipeline *p);
/* The canonical key of series ref (writer thread: inside a supervisor hook). */
const char *pipeline_series_key(struct pipeline *p, uint32_t ref);
struct alarm_store *pipeline_alarms(struct pipeline *p);
/* Applies a rules transition to the alarm store (for fn's run by pipeline_exec, e.g.
 * rules_on_event(pipeline_rules(p), ..., pipeline_emit, p)). */
void pipeline_emit(const struct alarm_transition *t, void *p);

/* Checkpoints the store now, on the writer thread in order with the batches (every sample
 * acknowledged before the call is in blocks when it returns PW_OK; the WAL is truncated). Waits
 * at most timeout_ms for an outstanding fsync to end first. Returns tsdb_checkpoint's result,
 * PW_ETIMEDOUT, PW_EFULL or PW_ECLOSED. */
int pipeline_flush(struct pipeline *p, int64_t timeout_ms);

/* Submits b and waits until it is durable or failed. Returns its rc (PW_OK: every sample not
 * refused is durable) and *stored; frees b. PW_EFULL/PW_ECLOSED when it could not be queued
 * (nothing stored). */
int pipeline_write(struct pipeline *p, struct pipeline_batch *b, size_t *stored);

/* pipeline_write, also telling which samples were refused and why. */
struct pipeline_report {
    size_t stored;
    size_t refused;
    struct pipeline_refusal *refusals; /* `refused` entries in sample order, malloc'ed (free()) */
};
int pipeline_write_report(struct pipeline *p, struct pipeline_batch *b,
                          struct pipeline_report *rep);

#endif
