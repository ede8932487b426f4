/* The uplink outbox against the stores after a crash inside a group commit (docs/province.md).
 *
 * A child process writes batches (samples of a few series and a device event each) through the
 * pipeline with the uplink on (its nats-server is nowhere: the outbox only fills), then dies
 * with _exit in the middle of one group commit: right after the tsdb's WAL write, or right
 * before it. The parent reopens the tsdb, the event store and the outbox (uplink_open checks
 * the last group after an unclean stop) and requires that the outbox names exactly the samples
 * the tsdb holds and the events the event store holds — nothing the park keeps is left out of
 * what it forwards (the province would never get it), nothing it forwards is missing at the
 * park. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "uplink/uplink.h"

#include "base/config.h"
#include "base/err.h"
#include "base/timeutil.h"
#include "alarm/alarm.h"
#include "base/log.h"
#include "events/events.h"
#include "pipeline/pipeline.h"
#include "tsdb/tsdb.h"

#include <cjson/cJSON.h>
#include <nats/nats.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERIES 5
#define PER 20 /* samples per series per batch */

static void quiet(const char *line, size_t len, void *arg)
{
}

/* A tsdb io that ends the process at the armed WAL write: before it (die_before) or after. */
static struct {
    struct tsdb_io io;
    const struct tsdb_io *under;
    int wal_fd;
    volatile int armed;
    int die_before;
} crash;

static int c_open(void *ctx, const char *path, int flags, int mode)
{
    int fd = crash.under->open(crash.under->ctx, path, flags, mode);
    if (fd >= 0 && strstr(path, "/wal/") && strstr(path, ".wal"))
        crash.wal_fd = fd;
    return fd;
}

static ssize_t c_pwrite(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    if (crash.armed && fd == crash.wal_fd && crash.die_before)
        _exit(9);
    ssize_t r = crash.under->pwrite(crash.under->ctx, fd, p, n, off);
    if (crash.armed && fd == crash.wal_fd)
        _exit(9);
    return r;
}

static ssize_t c_pread(void *ctx, int fd, void *p, size_t n, off_t off)
{
    return crash.under->pread(crash.under->ctx, fd, p, n, off);
}
static int c_fsync(void *ctx, int fd)
{
    return crash.under->fsync(crash.under->ctx, fd);
}
static int c_ftruncate(void *ctx, int fd, off_t len)
{
    return crash.under->ftruncate(crash.under->ctx, fd, len);
}
static int c_close(void *ctx, int fd)
{
    return crash.under->close(crash.under->ctx, fd);
}
static int c_rename(void *ctx, const char *a, const char *b)
{
    return crash.under->rename(crash.under->ctx, a, b);
}
static int c_unlink(void *ctx, const char *path)
{
    return crash.under->unlink(crash.under->ctx, path);
}
static int c_fsync_dir(void *ctx, const char *path)
{
    return crash.under->fsync_dir(crash.under->ctx, path);
}

static void config(struct pw_config *c)
{
    char err[200];
    pw_config_init(c);
    assert_int_equal(pw_config_set(c, "uplink.enabled", "true", err, sizeof err), PW_OK);
    assert_int_equal(pw_config_set(c, "uplink.park", "t", err, sizeof err), PW_OK);
    /* nothing listens there: the forwarder retries in the background, the outbox fills */
    assert_int_equal(pw_config_set(c, "uplink.nats_url", "nats://127.0.0.1:9", err, sizeof err),
                     PW_OK);
}

static struct pipeline_batch *make_batch(int round, struct device_event *ev)
{
    struct pipeline_batch *b = pipeline_batch_new();
    for (int s = 0; s < SERIES; s++) {
        char dev[16];
        snprintf(dev, sizeof dev, "d%d", s);
        struct tsdb_label l[2] = {{"__name__", "up_v"}, {"dev", dev}};
        for (int j = 0; j < PER; j++)
            assert_int_equal(pipeline_batch_add(b, l, 2, 1000000 + round * 1000 + j,
                                                round * 100.0 + s * PER + j, 0),
                             PW_OK);
    }
    memset(ev, 0, sizeof *ev);
    ev->ts = 1000000 + round * 1000;
    ev->received_ms = ev->ts;
    ev->type = DEVEV_FIRE_PANEL;
    snprintf(ev->kind, sizeof ev->kind, "fire");
    snprintf(ev->device, sizeof ev->device, "FP-1");
    snprintf(ev->source, sizeof ev->source, "http");
    snprintf(ev->ext_id, sizeof ev->ext_id, "ev-%d", round);
    ev->loop = ev->zone = ev->detector = ev->people = ev->vehicles = -1;
    pipeline_batch_set_events(b, ev, 1);
    return b;
}

/* The child: good rounds, then one round whose commit dies. Never returns. */
static void child(const char *dir, int good, int die_before)
{
    struct pw_config cfg;
    config(&cfg);
    crash.under = tsdb_io_posix();
    crash.io = (struct tsdb_io){c_open, c_pwrite, c_pread, c_fsync, c_ftruncate,
                                c_close, c_rename, c_unlink, c_fsync_dir, NULL};
    crash.wal_fd = -1;
    crash.die_before = die_before;
    struct tsdb_options o;
    tsdb_options_init(&o);
    o.retention_ms = 0;
    o.io = &crash.io;
    struct tsdb *db = NULL;
    if (tsdb_open(dir, &o, &db) != PW_OK)
        _exit(2);
    char path[300];
    snprintf(path, sizeof path, "%s/events.db", dir);
    struct events_store *es = NULL;
    if (events_open(path, NULL, &es) != PW_OK)
        _exit(3);
    struct pipeline_opts po;
    pipeline_opts_init(&po);
    po.events = es;
    struct uplink_deps ud = {.cfg = &cfg, .data_dir = dir, .db = db, .events = es};
    struct uplink *up = NULL;
    struct pipeline *p = NULL;
    if (uplink_open(&ud, &po, &up) != PW_OK || pipeline_open(db, &po, &p) != PW_OK)
        _exit(4);
    static struct device_event ev[64];
    int round = 0;
    for (; round < good; round++) {
        size_t stored = 0;
        if (pipeline_write(p, make_batch(round, &ev[round]), &stored) != PW_OK)
            _exit(5);
    }
    crash.armed = 1;
    size_t stored = 0;
    pipeline_write(p, make_batch(round, &ev[round]), &stored);
    _exit(6); /* the armed write did not happen */
}

struct seen {
    int64_t ts[SERIES * PER * 64];
    size_t n;
};

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* (series index * 1e9 + ts) of every sample the tsdb holds / the outbox names */
static void tsdb_keys(struct tsdb *db, struct seen *out)
{
    out->n = 0;
    for (int s = 0; s < SERIES; s++) {
        char sel[64], err[128], dev[16];
        snprintf(dev, sizeof dev, "d%d", s);
        snprintf(sel, sizeof sel, "up_v{dev=\"%s\"}", dev);
        struct tsdb_selector se;
        assert_int_equal(tsdb_selector_parse(sel, strlen(sel), &se, err, sizeof err), PW_OK);
        uint32_t *refs = NULL;
        size_t n = 0;
        assert_int_equal(tsdb_select(db, &se, 0, &refs, &n), PW_OK);
        tsdb_selector_release(&se);
        for (size_t i = 0; i < n; i++) {
            struct tsdb_samples ss = {0};
            assert_int_equal(tsdb_read(db, refs[i], 0, INT64_MAX, 0, &ss), PW_OK);
            for (size_t k = 0; k < ss.n; k++)
                out->ts[out->n++] = (int64_t)s * 1000000000 + ss.ts[k];
            tsdb_samples_release(&ss);
        }
        free(refs);
    }
    qsort(out->ts, out->n, sizeof out->ts[0], cmp64);
}

static void outbox_keys(struct tsdb *db, const char *dir, struct seen *out, int64_t *evids,
                        size_t *nev)
{
    char path[300];
    snprintf(path, sizeof path, "%s/uplink.db", dir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT kind, body FROM outbox ORDER BY seq", -1,
                                        &st, NULL),
                     SQLITE_OK);
    out->n = 0;
    *nev = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int kind = sqlite3_column_int(st, 0);
        const unsigned char *b = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        if (kind == UPLINK_SAMPLES) {
            assert_true(len >= 4 && (len - 4) % 21 == 0);
            for (size_t off = 4; off < len; off += 21) {
                uint32_t ref = 0;
                int64_t ts = 0;
                for (int i = 0; i < 4; i++)
                    ref |= (uint32_t)b[off + i] << (8 * i);
                for (int i = 0; i < 8; i++)
                    ts |= (int64_t)((uint64_t)b[off + 4 + i] << (8 * i));
                struct tsdb_label l[4];
                size_t n = tsdb_series_labels(db, ref, l, 4);
                int s = -1;
                for (size_t i = 0; i < n; i++)
                    if (strcmp(l[i].name, "dev") == 0)
                        s = (int)strtol(l[i].value + 1, NULL, 10);
                assert_true(s >= 0);
                out->ts[out->n++] = (int64_t)s * 1000000000 + ts;
            }
        } else if (kind == UPLINK_EVENTS) {
            cJSON *doc = cJSON_ParseWithLength((const char *)b, len);
            assert_true(cJSON_IsArray(doc));
            for (cJSON *o = doc->child; o; o = o->next)
                evids[(*nev)++] = (int64_t)cJSON_GetObjectItem(o, "id")->valuedouble;
            cJSON_Delete(doc);
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    qsort(out->ts, out->n, sizeof out->ts[0], cmp64);
    qsort(evids, *nev, sizeof evids[0], cmp64);
}

static void crash_case(int die_before)
{
    pw_log_set_sink(quiet, NULL);
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/pw-uplink-outbox-XXXXXX");
    assert_non_null(mkdtemp(dir));
    const int good = 3;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child(dir, good, die_before);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 9);

    struct pw_config cfg;
    config(&cfg);
    struct tsdb_options o;
    tsdb_options_init(&o);
    o.retention_ms = 0;
    struct tsdb *db = NULL;
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    char path[300];
    snprintf(path, sizeof path, "%s/events.db", dir);
    struct events_store *es = NULL;
    assert_int_equal(events_open(path, NULL, &es), PW_OK);
    struct pipeline_opts po;
    pipeline_opts_init(&po);
    struct uplink_deps ud = {.cfg = &cfg, .data_dir = dir, .db = db, .events = es};
    struct uplink *up = NULL;
    assert_int_equal(uplink_open(&ud, &po, &up), PW_OK); /* checks the last group */

    static struct seen in_tsdb, in_outbox;
    static int64_t evids[256];
    size_t nev = 0;
    tsdb_keys(db, &in_tsdb);
    outbox_keys(db, dir, &in_outbox, evids, &nev);
    /* the crashed round is in the tsdb (died after the WAL write) or not (before it) */
    assert_int_equal(in_tsdb.n, (size_t)(SERIES * PER * (good + (die_before ? 0 : 1))));
    assert_int_equal(in_outbox.n, in_tsdb.n);
    assert_memory_equal(in_outbox.ts, in_tsdb.ts, in_tsdb.n * sizeof in_tsdb.ts[0]);
    /* events: the outbox names exactly the stored ones */
    size_t stored_events = 0;
    for (int64_t id = 1; id <= good + 1; id++)
        stored_events += events_has(es, id) == 1;
    assert_int_equal(nev, stored_events);
    for (size_t i = 0; i < nev; i++)
        assert_int_equal(events_has(es, evids[i]), 1);
    assert_true(stored_events >= (size_t)good);

    uplink_close(up);
    events_close(es);
    tsdb_close(db);
    pw_config_release(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Died after the tsdb wrote its WAL: the park keeps the round (it replays the WAL), so the
 * outbox must have it too (before, the outbox committed after the tsdb and lost it). */
static void test_crash_after_wal_write(void **state)
{
    crash_case(0);
}

/* Died before the tsdb's WAL write: the outbox (committed first) names samples and an event
 * the stores never got; the check at open drops them. */
static void test_crash_before_wal_write(void **state)
{
    crash_case(1);
}

/* The alarm store commits a transition by itself, the outbox with the next group: a crash
 * between the two leaves a clear the outbox never got. After an unclean stop the outbox gets
 * the current state of the alarms changed just before it. */
static void test_alarm_changes_resent_after_crash(void **state)
{
    pw_log_set_sink(quiet, NULL);
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/pw-uplink-alarms-XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct pw_config cfg;
    config(&cfg);
    struct tsdb_options o;
    tsdb_options_init(&o);
    o.retention_ms = 0;
    struct tsdb *db = NULL;
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    char path[300];
    snprintf(path, sizeof path, "%s/alarms.db", dir);
    struct alarm_opts ao;
    alarm_opts_init(&ao);
    struct alarm_store *as = NULL;
    assert_int_equal(alarm_store_open(path, &ao, &as), PW_OK);
    struct uplink_deps ud = {.cfg = &cfg, .data_dir = dir, .db = db, .alarms = as};
    struct pipeline_opts po;
    pipeline_opts_init(&po);
    struct uplink *up = NULL;
    assert_int_equal(uplink_open(&ud, &po, &up), PW_OK); /* the outbox exists */
    uplink_close(up);
    char clean[300];
    snprintf(clean, sizeof clean, "%s/uplink/clean", dir);
    assert_int_equal(unlink(clean), 0); /* as after a kill -9 */

    /* committed by the alarm store, never tapped into the outbox */
    struct alarm_transition t = {.action = ALARM_RAISE, .source = "E1-GD-001", .source_kind = "point",
                                 .rule = "gas", .condition = "high", .level = 3, .value = 60,
                                 .threshold = 50, .ts = 1000, .message = "high"};
    int64_t id = 0, id2 = 0;
    assert_int_equal(alarm_apply(as, &t, pw_now_ms(), &id), PW_OK);
    assert_true(id > 0);
    t.action = ALARM_CLEAR;
    assert_int_equal(alarm_apply(as, &t, pw_now_ms(), &id2), PW_OK);

    pipeline_opts_init(&po);
    assert_int_equal(uplink_open(&ud, &po, &up), PW_OK);
    uplink_close(up);
    sqlite3 *h = NULL;
    snprintf(path, sizeof path, "%s/uplink.db", dir);
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT body FROM outbox WHERE kind = 2", -1, &st, NULL),
                     SQLITE_OK);
    bool cleared = false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *doc = cJSON_ParseWithLength((const char *)sqlite3_column_blob(st, 0),
                                           (size_t)sqlite3_column_bytes(st, 0));
        for (cJSON *x = doc ? doc->child : NULL; x; x = x->next)
            if ((int64_t)cJSON_GetObjectItem(x, "alarm_id")->valuedouble == id &&
                strcmp(cJSON_GetObjectItem(x, "action")->valuestring, "clear") == 0)
                cleared = true;
        cJSON_Delete(doc);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    assert_true(cleared);
    alarm_store_close(as);
    tsdb_close(db);
    pw_config_release(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_after_wal_write),
        cmocka_unit_test(test_crash_before_wal_write),
        cmocka_unit_test(test_alarm_changes_resent_after_crash),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nats_Close();
    return rc;
}
