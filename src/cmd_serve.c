/* cmd_serve.c — `parkwatch serve`: lock and open the data directory, start every listener, run
 * until SIGTERM/SIGINT, then shut down in reverse order.
 *
 * One daemon per data directory: <data>/lock is held (flock) for the whole run and names our
 * pid; a second `serve` on the same directory exits at once naming the holder (two writers
 * would overwrite each other's WAL and lose acknowledged samples).
 *
 * Signals: the handler only sets a flag (first signal) — the main thread notices it within
 * 100 ms and shuts down cleanly: listeners stop accepting, in-flight requests finish, the
 * pipeline writes what is queued, the time-series store is checkpointed (the WAL's samples go
 * into compressed blocks, bounded by storage.shutdown_checkpoint) and closed. A second signal
 * during shutdown exits at once (_exit), which is safe because everything acknowledged is
 * already durable. SIGUSR1 asks for a flush (a checkpoint now): `parkwatch flush` sends it
 * with sigqueue and a token, and reads the result from <data>/flush.result. */
#include "cli.h"

#include "base/dirlock.h"
#include "archive/archive.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "http/http.h"
#include "ingest/field.h"
#include "ingest/ingest.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "supervise/supervise.h"
#include "tsdb/tsdb.h"
#include "uplink/uplink.h"

#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define LOW_SPACE_BYTES (256ull << 20)

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t flush_requests, flush_token;

static void on_flush_signal(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    flush_token = si->si_code == SI_QUEUE ? si->si_value.sival_int : 0;
    flush_requests++;
}

static void on_signal(int sig)
{
    if (stop_requested)
        _exit(128 + sig);
    stop_requested = sig;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = NULL;
    sa.sa_sigaction = on_flush_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
}

/* Creates and locks the data directory; says why not (another daemon, read-only, full). */
static int lock_data_dir(struct cli *c, struct pw_dirlock *lk)
{
    struct pw_dirlock_holder h;
    int rc = pw_mkdir_p(c->data_dir);
    if (rc == PW_OK)
        rc = pw_dirlock_take(c->data_dir, "serve", lk, &h);
    if (rc == PW_ECONFLICT) {
        fprintf(stderr,
                "parkwatch serve: data directory %s is in use by pid %ld (parkwatch %s since %s);"
                " one process writes a data directory — stop that one first, or use another "
                "--data\n",
                c->data_dir, (long)h.pid, h.command[0] ? h.command : "?",
                h.since[0] ? h.since : "?");
        return rc;
    }
    if (rc != PW_OK) {
        fprintf(stderr, "parkwatch serve: cannot write the data directory %s: %s (%s)%s\n",
                c->data_dir, pw_strerror(rc), pw_errname(rc),
                rc == PW_EROFS ? "; remount it read-write or choose another --data" : "");
        return rc;
    }
    return PW_OK;
}

/* A flush asked for by SIGUSR1: checkpoint through the pipeline, result to <data>/flush.result
 * (read by `parkwatch flush`, matched by its token). */
static void serve_flush(struct cli *c, struct pipeline *pl, struct tsdb *db, int token)
{
    char path[4096], text[512];
    struct tsdb_stats a, b;
    tsdb_stats(db, &a);
    int64_t t0 = pw_mono_ns();
    int rc = pipeline_flush(pl, 60000);
    long long ms = (long long)((pw_mono_ns() - t0) / 1000000);
    tsdb_stats(db, &b);
    if (rc == PW_OK)
        PW_LOG_INFO("serve", "flush", "samples=%" PRIu64 " ms=%lld", a.head_samples, ms);
    else
        PW_LOG_ERROR("serve", "flush failed", "err=%s", pw_errname(rc));
    int n = snprintf(text, sizeof text,
                     "token=%d\nrc=%s\nsamples=%" PRIu64 "\nms=%lld\nwal_bytes_before=%" PRIu64
                     "\nwal_bytes_after=%" PRIu64 "\nblocks=%" PRIu64 "\nblock_bytes=%" PRIu64
                     "\n",
                     token, pw_errname(rc), a.head_samples, ms, a.wal_bytes, b.wal_bytes,
                     b.blocks, b.block_bytes);
    snprintf(path, sizeof path, "%s/flush.result", c->data_dir);
    if (pw_file_replace(path, text, (size_t)n) != PW_OK)
        PW_LOG_WARN("serve", "cannot write the flush result", "path=%s", path);
}

/* The data directory's free space and read-only flag, as gauges; a warning when space runs low
 * or the file system turns read-only (once per change). */
static void watch_disk(struct cli *c, bool *low, bool *ro)
{
    static struct pw_counter *g_free, *g_ro;
    struct statvfs v;
    if (!g_free) {
        g_free = pw_gauge_get("parkwatch_storage_free_bytes", "",
                              "Free bytes on the data directory's file system.");
        g_ro = pw_gauge_get("parkwatch_storage_read_only", "",
                            "1 when the data directory's file system is mounted read-only.");
    }
    if (statvfs(c->data_dir, &v) != 0)
        return;
    unsigned long long free_b = (unsigned long long)v.f_bavail * v.f_frsize;
    bool now_low = free_b < LOW_SPACE_BYTES, now_ro = v.f_flag & ST_RDONLY;
    pw_gauge_set(g_free, free_b);
    pw_gauge_set(g_ro, now_ro);
    if (now_low && !*low)
        PW_LOG_WARN("serve", "little free space in the data directory", "data=%s free_bytes=%llu",
                    c->data_dir, free_b);
    if (now_ro && !*ro)
        PW_LOG_ERROR("serve", "the data directory's file system is read-only",
                     "data=%s cause=\"%s\"", c->data_dir, pw_strerror(PW_EROFS));
    *low = now_low;
    *ro = now_ro;
}

/* Clean shutdown: the WAL's samples into blocks, bounded by storage.shutdown_checkpoint. */
static void shutdown_checkpoint(struct cli *c, struct tsdb *db)
{
    struct tsdb_stats a, b;
    if (c->cfg.storage_shutdown_checkpoint <= 0)
        return;
    tsdb_stats(db, &a);
    if (a.head_samples == 0)
        return;
    int64_t t0 = pw_mono_ns();
    int rc = tsdb_checkpoint_within(db, c->cfg.storage_shutdown_checkpoint);
    long long ms = (long long)((pw_mono_ns() - t0) / 1000000);
    if (rc != PW_OK) {
        PW_LOG_WARN("serve", "shutdown checkpoint not made, the next start replays the WAL",
                    "err=%s ms=%lld", pw_errname(rc), ms);
        return;
    }
    tsdb_stats(db, &b);
    PW_LOG_INFO("serve", "shutdown checkpoint", "samples=%" PRIu64 " ms=%lld wal_bytes=%" PRIu64
                " block_bytes=%" PRIu64, a.head_samples, ms, a.wal_bytes, b.block_bytes);
}

/* First start: create the admin user from PARKWATCH_ADMIN_PASSWORD or a generated password
 * printed once. */
/* Raises the soft limit on open files to the hard limit: the listeners are sized for tens of
 * thousands of device connections (hj212/jt808.max_connections), far above the usual soft limit
 * of 1024. Logs the limit the daemon runs with, and warns when it is below what the listeners
 * are configured to hold. */
static void raise_fd_limit(const struct pw_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t before = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    long long want = (long long)cfg->http_max_connections + cfg->hj212_max_connections +
                     cfg->jt808_max_connections + 64;
    if (rl.rlim_cur != RLIM_INFINITY && (long long)rl.rlim_cur < want)
        PW_LOG_WARN("serve", "open-file limit below the configured connection limits",
                    "nofile=%llu was=%llu wanted=%lld hint=\"raise the hard limit (LimitNOFILE=, "
                    "ulimit -Hn) or lower *.max_connections\"",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)before, want);
    else
        PW_LOG_INFO("serve", "open-file limit", "nofile=%llu was=%llu",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)before);
}

static int ensure_admin(struct model *m)
{
    char generated[32], err[256] = "";
    const char *pass = getenv("PARKWATCH_ADMIN_PASSWORD");
    bool has = false;
    int rc = model_has_users(m, &has);
    if (rc != PW_OK || has)
        return rc;
    if (!pass || !*pass) {
        static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        for (int i = 0; i < 16; i++)
            generated[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
        generated[16] = '\0';
        pass = generated;
    }
    rc = model_user_add(m, "admin", pass, MODEL_ROLE_ADMIN, NULL, "Administrator", err,
                            sizeof err);
    if (rc != PW_OK) {
        PW_LOG_ERROR("serve", "cannot create the admin user", "err=\"%s\"", err);
        return rc;
    }
    if (pass == generated)
        fprintf(stderr,
                "\n  parkwatch first start: created user 'admin' with password %s\n"
                "  (shown once; set PARKWATCH_ADMIN_PASSWORD to choose it)\n\n",
                generated);
    else
        PW_LOG_INFO("serve", "admin user created", "password_from=PARKWATCH_ADMIN_PASSWORD");
    return PW_OK;
}

/* Opens <data>/tsdb with the storage.* configuration. */
static int open_tsdb(struct cli *c, struct tsdb **out)
{
    char dir[4096];
    struct tsdb_options o;
    tsdb_options_init(&o);
    tsdb_fsync_parse(c->cfg.storage_fsync, &o.fsync);
    o.retention_ms = c->cfg.storage_retention;
    o.max_series = (uint32_t)c->cfg.storage_max_series;
    snprintf(dir, sizeof dir, "%s/tsdb", c->data_dir);
    int64_t t0 = pw_mono_ns();
    int rc = tsdb_open(dir, &o, out);
    if (rc != PW_OK) {
        PW_LOG_ERROR("serve", "cannot open the time-series store", "dir=%s err=%s", dir,
                     pw_errname(rc));
        return rc;
    }
    struct tsdb_stats st;
    tsdb_stats(*out, &st);
    PW_LOG_INFO("serve", "time-series store open", "dir=%s series=%llu replayed=%llu ms=%lld", dir,
                (unsigned long long)st.series, (unsigned long long)st.replayed_samples,
                (long long)((pw_mono_ns() - t0) / 1000000));
    return PW_OK;
}

/* <data>/archive with the archive.* configuration (archive.enabled = false: *out stays NULL). */
static int open_archive(struct cli *c, struct archive **out)
{
    char dir[4096], key[4096], origin[256], err[512] = "";
    if (!c->cfg.archive_enabled)
        return PW_OK;
    cli_archive_paths(c, dir, sizeof dir, key, sizeof key, origin, sizeof origin);
    struct archive_opts o;
    archive_opts_init(&o);
    o.dir = dir;
    o.key_file = key;
    o.origin = origin;
    o.fsync = strcmp(c->cfg.storage_fsync, "off") != 0;
    o.checkpoint_interval_ms = c->cfg.archive_checkpoint_interval;
    o.resign_interval_ms = c->cfg.archive_resign_interval;
    o.next_key_file = c->cfg.archive_next_key_file;
    o.previous_vkeys = c->cfg.archive_previous_vkeys;
    int rc = archive_open(&o, out, err, sizeof err);
    if (rc != PW_OK)
        PW_LOG_ERROR("serve", "cannot open the archive", "dir=%s err=%s detail=\"%s\"", dir,
                     pw_errname(rc), err);
    return rc;
}

/* The witness for other logs (archive.witness_for) and the pusher of our checkpoints to
 * witnesses (archive.witnesses); either may stay NULL. */
static int start_witnessing(struct cli *c, struct archive *ar, struct archive_witness **wit,
                            struct archive_pusher **push, char *wvkey, size_t cap)
{
    char err[512] = "", dir[4096];
    int rc = PW_OK;
    if (c->cfg.archive_witness_for[0]) {
        struct archive_key wk;
        if ((rc = cli_archive_witness_key(c, &wk, err, sizeof err)) == PW_OK) {
            snprintf(dir, sizeof dir, "%s/archive/witness", c->data_dir);
            rc = archive_witness_open(dir, &wk, c->cfg.archive_witness_for, wit, err, sizeof err);
            archive_witness_vkey_format(&wk, wvkey, cap);
            sodium_memzero(&wk, sizeof wk);
        }
        if (rc != PW_OK) {
            PW_LOG_ERROR("serve", "cannot start the witness", "err=%s detail=\"%s\"",
                         pw_errname(rc), err);
            return rc;
        }
        PW_LOG_INFO("serve", "witnessing other archives", "vkey=%s", wvkey);
    }
    rc = archive_pusher_start(ar, c->cfg.archive_witnesses, push, err, sizeof err);
    if (rc != PW_OK)
        PW_LOG_ERROR("serve", "cannot push to the witnesses", "err=%s detail=\"%s\"",
                     pw_errname(rc), err);
    return rc;
}

/* MQTT, Modbus and device event intake (into the event store through the pipeline); started
 * after the pipeline. */
static int start_field(struct cli *c, struct model *m, struct pipeline *pl,
                       struct events_store *store, struct field_handles *fh)
{
    int rc = devevents_open(store, m, pl, &fh->events);
    if (rc != PW_OK)
        return rc;
    struct field_deps fd = {.cfg = &c->cfg, .model = m, .pipeline = pl, .events = fh->events};
    if ((rc = modbus_poller_start(&fd, &fh->modbus)) != PW_OK)
        return rc;
    return mqtt_ingest_start(&fd, &fh->mqtt);
}

/* Reverse order; before pipeline_close. */
static void stop_field(struct field_handles *fh)
{
    mqtt_ingest_stop(fh->mqtt);
    modbus_poller_stop(fh->modbus);
    devevents_close(fh->events);
    memset(fh, 0, sizeof *fh);
}

int cmd_serve(struct cli *c)
{
    struct field_handles fh = {0};
    struct model *m = NULL;
    struct tsdb *db = NULL;
    struct pipeline *pl = NULL;
    struct http_server *http = NULL;
    struct ingest *ig = NULL;
    struct supervise *sv = NULL;
    struct pw_dirlock lock = {-1};
    struct archive *ar = NULL;
    struct archive_witness *wit = NULL;
    struct archive_pusher *push = NULL;
    char wvkey[300] = "";
    struct workorders *wk = NULL;
    struct permits *pk = NULL;
    struct incidents *inc = NULL;
    int status = 1;
    sig_atomic_t flushes_done = 0;
    struct uplink *up = NULL;
    struct province *pv = NULL;
    const char *role = cli_take_opt(c, "--role");
    if (!role)
        role = "park";
    if (strcmp(role, "park") != 0 && strcmp(role, "province") != 0) {
        fprintf(stderr, "parkwatch serve: --role must be park or province, not '%s'\n", role);
        return 2;
    }
    if (c->argc > 0) {
        fprintf(stderr, "parkwatch serve: unexpected argument '%s'\n", c->argv[0]);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "parkwatch: libsodium failed to initialise\n");
        return 1;
    }
    install_signals();
    if (lock_data_dir(c, &lock) != PW_OK)
        return 1;
    PW_LOG_INFO("serve", "starting", "version=%s data=%s", PARKWATCH_VERSION, c->data_dir);
    raise_fd_limit(&c->cfg);
    m = cli_open_model(c);
    if (!m)
        goto out;
    if (ensure_admin(m) != PW_OK)
        goto out;

    if (open_tsdb(c, &db) != PW_OK)
        goto out;
    if (open_archive(c, &ar) != PW_OK)
        goto out;
    if (supervise_open(&c->cfg, c->data_dir, m, db, &sv) != PW_OK)
        goto out;
    struct pipeline_opts po;
    pipeline_opts_init(&po);
    supervise_pipeline_opts(sv, &po);
    if (!(pk = permits_open(c, m, &po)))
        goto out;
    po.archive = ar;
    struct uplink_deps ud = {.cfg = &c->cfg, .data_dir = c->data_dir, .db = db};
    if (strcmp(role, "park") == 0 && uplink_open(&ud, &po, &up) != PW_OK)
        goto out;
    if (pipeline_open(db, &po, &pl) != PW_OK)
        goto out;
    struct province_deps pd = {.cfg = &c->cfg, .data_dir = c->data_dir, .pipeline = pl};
    if (strcmp(role, "province") == 0 && province_open(&pd, &pv) != PW_OK)
        goto out;

    if (ar && start_witnessing(c, ar, &wit, &push, wvkey, sizeof wvkey) != PW_OK)
        goto out;

    struct ingest_deps id = {.cfg = &c->cfg, .model = m, .pipeline = pl, .tsdb = db,
                             .vehicles = supervise_vehicles(sv)};
    if (ingest_start(&id, &ig) != PW_OK)
        goto out;
    if (start_field(c, m, pl, supervise_events(sv), &fh) != PW_OK)
        goto out;
    if (!(wk = workorders_open(c, m, supervise_alarms(sv))))
        goto out;
    if (permits_start(pk, pl, workorders_store(wk)) != PW_OK)
        goto out;
    if (!(inc = incidents_open(c, m, db, pl, supervise_alarms(sv), supervise_vehicles(sv),
                               workorders_store(wk))))
        goto out;

    struct http_deps hd = {.cfg = &c->cfg,
                           .model = m,
                           .tsdb = db,
                           .pipeline = pl,
                           .ingest = ig,
                           .data_dir = c->data_dir,
                           .field = &fh,
                           .alarms = supervise_alarms(sv),
                           .rules_db = supervise_rules_db(sv),
                           .archive = ar,
                           .witness = wit,
                           .province = pv,
                           .workorders = workorders_store(wk),
                           .permits = permits_store(pk),
                           .incidents = incidents_engine(inc)};
    snprintf(hd.witness_vkey, sizeof hd.witness_vkey, "%s", wvkey);
    if (http_start(&hd, &http) != PW_OK)
        goto out;

    PW_LOG_INFO("serve", "ready", "http=%s", c->cfg.http_listen);
    int64_t last_purge = pw_now_ms(), last_disk = 0;
    bool disk_low = false, disk_ro = false;
    while (!stop_requested) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (pw_now_ms() - last_disk >= 5000) {
            last_disk = pw_now_ms();
            watch_disk(c, &disk_low, &disk_ro);
        }
        if (flush_requests != flushes_done) {
            flushes_done = flush_requests;
            serve_flush(c, pl, db, flush_token);
        }
        if (pw_now_ms() - last_purge >= 60000) {
            int n = 0;
            last_purge = pw_now_ms();
            if (model_session_purge(m, last_purge, &n) == PW_OK && n > 0)
                PW_LOG_INFO("serve", "expired sessions removed", "count=%d", n);
        }
    }
    PW_LOG_INFO("serve", "shutting down", "signal=%d", (int)stop_requested);
    status = 0;
out:
    /* reverse order: stop taking requests, write what is queued, close the stores */
    http_stop(http);
    ingest_stop(ig);
    stop_field(&fh);
    incidents_close(inc);
    province_close(pv);
    pipeline_close(pl);
    uplink_close(up);
    archive_pusher_stop(push);
    archive_close(ar);
    archive_witness_close(wit);
    permits_close(pk);
    workorders_close(wk);
    supervise_close(sv);
    if (db && status == 0)
        shutdown_checkpoint(c, db);
    if (db) {
        int rc = tsdb_close(db);
        if (rc != PW_OK) {
            PW_LOG_ERROR("serve", "closing the time-series store failed", "err=%s",
                         pw_errname(rc));
            status = 1;
        }
    }
    model_close(m);
    pw_dirlock_release(&lock);
    if (status == 0)
        PW_LOG_INFO("serve", "stopped", "%s", "");
    return status;
}
