/* cmd_serve.c — `parkwatch serve`: open the data directory, start every listener, run until
 * SIGTERM/SIGINT, then shut down in reverse order.
 *
 * Signals: the handler only sets a flag (first signal) — the main thread notices it within
 * 100 ms and shuts down cleanly: listeners stop accepting, in-flight requests finish, stores are
 * flushed and closed. A second signal during shutdown exits at once (_exit), which is safe
 * because everything acknowledged is already durable. */
#include "cli.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "http/http.h"
#include "ingest/field.h"
#include "ingest/ingest.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "supervise/supervise.h"
#include "tsdb/tsdb.h"
#include "uplink/uplink.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

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
}

/* First start: create the admin user from PARKWATCH_ADMIN_PASSWORD or a generated password
 * printed once. */
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
    struct uplink *up = NULL;
    struct province *pv = NULL;
    int status = 1;
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
    PW_LOG_INFO("serve", "starting", "version=%s data=%s", PARKWATCH_VERSION, c->data_dir);
    m = cli_open_model(c);
    if (!m)
        goto out;
    if (ensure_admin(m) != PW_OK)
        goto out;

    if (open_tsdb(c, &db) != PW_OK)
        goto out;
    if (supervise_open(&c->cfg, c->data_dir, m, db, &sv) != PW_OK)
        goto out;
    struct pipeline_opts po;
    pipeline_opts_init(&po);
    supervise_pipeline_opts(sv, &po);
    struct uplink_deps ud = {.cfg = &c->cfg, .data_dir = c->data_dir, .db = db};
    if (strcmp(role, "park") == 0 && uplink_open(&ud, &po, &up) != PW_OK)
        goto out;
    if (pipeline_open(db, &po, &pl) != PW_OK)
        goto out;
    struct province_deps pd = {.cfg = &c->cfg, .data_dir = c->data_dir, .pipeline = pl};
    if (strcmp(role, "province") == 0 && province_open(&pd, &pv) != PW_OK)
        goto out;

    struct ingest_deps id = {.cfg = &c->cfg, .model = m, .pipeline = pl, .tsdb = db,
                             .vehicles = supervise_vehicles(sv)};
    if (ingest_start(&id, &ig) != PW_OK)
        goto out;
    if (start_field(c, m, pl, supervise_events(sv), &fh) != PW_OK)
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
                           .province = pv};
    if (http_start(&hd, &http) != PW_OK)
        goto out;

    PW_LOG_INFO("serve", "ready", "http=%s", c->cfg.http_listen);
    int64_t last_purge = pw_now_ms();
    while (!stop_requested) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
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
    province_close(pv);
    pipeline_close(pl);
    uplink_close(up);
    supervise_close(sv);
    if (db) {
        int rc = tsdb_close(db);
        if (rc != PW_OK) {
            PW_LOG_ERROR("serve", "closing the time-series store failed", "err=%s",
                         pw_errname(rc));
            status = 1;
        }
    }
    model_close(m);
    if (status == 0)
        PW_LOG_INFO("serve", "stopped", "%s", "");
    return status;
}
