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
#include "tsdb/tsdb.h"

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

/* MQTT, Modbus and the device event log (<data>/events.db); started after the pipeline. */
static int start_field(struct cli *c, struct model *m, struct pipeline *pl,
                       struct field_handles *fh)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/events.db", c->data_dir);
    int rc = devevents_open(path, m, &fh->events);
    if (rc != PW_OK)
        return rc;
    devevents_set_listener(fh->events, alarming_on_device_event, pl);
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
    struct alarming *al = NULL;
    struct workorders *wk = NULL;
    int status = 1;
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
    al = alarming_open(c, m, db);
    if (!al)
        goto out;
    struct pipeline_opts po;
    pipeline_opts_init(&po);
    po.rules = alarming_rules(al);
    po.alarms = alarming_store(al);
    if (pipeline_open(db, &po, &pl) != PW_OK)
        goto out;

    struct ingest_deps id = {.cfg = &c->cfg, .model = m, .pipeline = pl, .tsdb = db,
                             .data_dir = c->data_dir,
                             .on_vehicle_alarm = alarming_on_vehicle_alarm,
                             .on_vehicle_alarm_arg = pl};
    if (ingest_start(&id, &ig) != PW_OK)
        goto out;
    if (start_field(c, m, pl, &fh) != PW_OK)
        goto out;
    if (!(wk = workorders_open(c, m, alarming_store(al))))
        goto out;

    struct http_deps hd = {.cfg = &c->cfg,
                           .model = m,
                           .tsdb = db,
                           .pipeline = pl,
                           .ingest = ig,
                           .data_dir = c->data_dir,
                           .field = &fh,
                           .alarms = alarming_store(al),
                           .rules_db = alarming_rules_db(al),
                           .workorders = workorders_store(wk)};
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
    pipeline_close(pl);
    workorders_close(wk);
    alarming_close(al);
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
