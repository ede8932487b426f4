/* Unit tests for the vehicle supervision state machine (src/supervise/vehicles.c): positions with
 * explicit device times, ticks with explicit wall-clock times, the entry/exit log on disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "events/events.h"
#include "supervise/vehicles.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the park of tests/integration/data/small-park.json */
static const char geofences[] =
    "[{\"id\":\"G-PARK\",\"name\":\"p\",\"kind\":\"park_boundary\",\"polygon\":[[118.15,36.17],"
    "[118.19,36.17],[118.19,36.19],[118.15,36.19]]},"
    "{\"id\":\"G-GATE-S\",\"name\":\"g\",\"kind\":\"gate\",\"polygon\":[[118.168,36.168],"
    "[118.172,36.168],[118.172,36.172],[118.168,36.172]]},"
    "{\"id\":\"G-GATE-E\",\"name\":\"g\",\"kind\":\"gate\",\"polygon\":[[118.188,36.178],"
    "[118.192,36.178],[118.192,36.182],[118.188,36.182]]},"
    "{\"id\":\"G-LOT\",\"name\":\"l\",\"kind\":\"hazmat_parking\",\"polygon\":[[118.180,36.182],"
    "[118.186,36.182],[118.186,36.186],[118.180,36.186]]},"
    "{\"id\":\"G-RESTRICT\",\"name\":\"r\",\"kind\":\"restricted\",\"polygon\":[[118.155,36.185],"
    "[118.160,36.185],[118.160,36.188],[118.155,36.188]],\"holes\":[[[118.157,36.186],"
    "[118.158,36.186],[118.158,36.187],[118.157,36.187]]]},"
    "{\"id\":\"G-ROUTE\",\"name\":\"r\",\"kind\":\"route\",\"polyline\":[[118.170,36.165],"
    "[118.170,36.180],[118.183,36.180],[118.183,36.183],[118.190,36.183]],\"width_m\":30,"
    "\"speed_limit_kmh\":20}]";

#define T0 INT64_C(1795400000000)
#define SEC 1000

struct fx {
    char dir[64];
    char db[128];
    struct vehicles *vs;
    struct events_store *es;
    int raised, cleared;
    char last[48], last_cleared[48];
};

static void on_alarm(const struct vehicle_alarm *a, void *arg)
{
    struct fx *f = arg;
    if (a->raise)
        f->raised++;
    else
        f->cleared++;
    if (!a->raise)
        snprintf(f->last_cleared, sizeof f->last_cleared, "%s", a->name);
    snprintf(f->last, sizeof f->last, "%s", a->name);
}

static struct vehicles_opts opts(void)
{
    struct vehicles_opts o = {.max_stop_outside_lot_ms = 60 * SEC,
                              .speeding_for_ms = 5 * SEC,
                              .max_stay_ms = 3600 * SEC,
                              .silent_after_ms = 300 * SEC,
                              .speed_limit_kmh = 30,
                              .terminal_alarm_mask = 0x7C00018Fu,
                              .stop_speed_kmh = 3};
    return o;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pw-veh-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/events.db", f->dir);
    struct vehicles_opts o = opts();
    assert_int_equal(events_open(f->db, NULL, &f->es), PW_OK);
    assert_int_equal(vehicles_open(f->es, &o, on_alarm, f, &f->vs), PW_OK);
    assert_int_equal(vehicles_load_geofences(f->vs, geofences, strlen(geofences), 118.17, 36.18),
                     PW_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    vehicles_close(f->vs);
    events_close(f->es);
    char p[160];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->db, sfx[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static const struct vehicle_ident V1 = {"13800000001", "V1", "鲁C12345", "E1", true};
static const struct vehicle_ident V2 = {"13800000002", "V2", "鲁C00002", "E2", false};

static void at(struct fx *f, const struct vehicle_ident *id, int64_t ts, double lat, double lon,
               double speed)
{
    struct vehicle_pos p = {.ts = ts, .lat = lat, .lon = lon, .speed_kmh = speed,
                            .positioned = true};
    vehicles_position(f->vs, id, &p, ts);
}

static bool on(struct fx *f, const char *phone, enum vehicle_alarm_kind k)
{
    return vehicles_alarm_active(f->vs, phone, k, -1);
}

static char *entries(struct fx *f, const char *scope)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    /* what the pipeline's group commit does: rows become visible once committed */
    assert_int_equal(events_commit(f->es), PW_OK);
    assert_int_equal(events_sync(f->es), PW_OK);
    assert_int_equal(vehicles_entries_json(f->vs, scope, INT64_MIN, INT64_MAX, 100, 0, &b), PW_OK);
    pw_buf_putc(&b, '\0');
    return b.data;
}

static void test_entry_exit_log(void **state)
{
    struct fx *f = *state;
    at(f, &V1, T0, 36.166, 118.170, 30); /* outside */
    assert_int_equal(vehicles_in_park(f->vs, V1.phone), 0);
    char *e = entries(f, NULL);
    assert_non_null(strstr(e, "\"entries\":[]"));
    free(e);
    at(f, &V1, T0 + SEC, 36.171, 118.170, 15); /* in, through the south gate */
    assert_int_equal(vehicles_in_park(f->vs, V1.phone), 1);
    at(f, &V1, T0 + 2 * SEC, 36.183, 118.1895, 15);
    at(f, &V1, T0 + 3 * SEC, 36.183, 118.1915, 15); /* out on the east side */
    assert_int_equal(vehicles_in_park(f->vs, V1.phone), 0);
    e = entries(f, NULL);
    /* newest first */
    const char *out = strstr(e, "\"direction\":\"out\"");
    const char *in = strstr(e, "\"direction\":\"in\"");
    assert_non_null(out);
    assert_non_null(in);
    assert_true(out < in);
    assert_non_null(strstr(e, "\"gate\":\"G-GATE-S\""));
    assert_non_null(strstr(e, "\"gate\":\"G-GATE-E\""));
    assert_non_null(strstr(e, "\"plate\":\"鲁C12345\""));
    assert_non_null(strstr(e, "\"ts\":\"2026-11-23T02:13:21")); /* T0 + 1 s, RFC 3339 */
    free(e);
    /* scoped */
    e = entries(f, "E2");
    assert_non_null(strstr(e, "\"entries\":[]"));
    free(e);
    /* persists across a reopen */
    vehicles_close(f->vs);
    events_close(f->es);
    struct vehicles_opts o = opts();
    assert_int_equal(events_open(f->db, NULL, &f->es), PW_OK);
    assert_int_equal(vehicles_open(f->es, &o, on_alarm, f, &f->vs), PW_OK);
    e = entries(f, "E1");
    assert_non_null(strstr(e, "\"direction\":\"out\""));
    free(e);
}

/* Rows written but not yet committed by the group commit are not visible (nor acknowledged). */
static void test_rows_visible_after_commit(void **state)
{
    struct fx *f = *state;
    at(f, &V1, T0, 36.166, 118.170, 30);
    at(f, &V1, T0 + SEC, 36.171, 118.170, 15); /* in */
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(vehicles_entries_json(f->vs, NULL, INT64_MIN, INT64_MAX, 100, 0, &b), PW_OK);
    pw_buf_putc(&b, '\0');
    assert_non_null(strstr(b.data, "\"entries\":[]"));
    pw_buf_release(&b);
    char *e = entries(f, NULL); /* commits */
    assert_non_null(strstr(e, "\"direction\":\"in\""));
    free(e);
}

/* After a restart the open alarms are restored into the state: a position that finds the
 * condition gone clears them (issue 15: a terminal bit alarm stayed active forever). */
static void test_restored_alarm_clears(void **state)
{
    struct fx *f = *state;
    struct vehicle_pos p = {.ts = T0, .lat = 36.176, .lon = 118.175, .alarm = 0x1u,
                            .positioned = true};
    vehicles_position(f->vs, &V1, &p, T0);
    assert_true(vehicles_alarm_active(f->vs, V1.phone, VEHICLE_ALARM_TERMINAL, 0));
    at(f, &V2, T0, 36.176, 118.175, 50); /* V2 speeding starts */
    /* restart: a new supervisor knows nothing until the restore */
    vehicles_close(f->vs);
    struct vehicles_opts o = opts();
    assert_int_equal(vehicles_open(f->es, &o, on_alarm, f, &f->vs), PW_OK);
    assert_int_equal(vehicles_load_geofences(f->vs, geofences, strlen(geofences), 118.17, 36.18),
                     PW_OK);
    vehicles_declare(f->vs, &V1);
    assert_int_equal(vehicles_restore_alarm(f->vs, "V1", "terminal_emergency", T0), PW_OK);
    assert_int_equal(vehicles_restore_alarm(f->vs, "13900000009", "silent", T0), PW_OK);
    assert_int_equal(vehicles_restore_alarm(f->vs, "V1", "no_such_alarm", T0), PW_ENOTFOUND);
    assert_int_equal(vehicles_restore_alarm(f->vs, "V-GONE", "speeding", T0), PW_ENOTFOUND);
    assert_true(vehicles_alarm_active(f->vs, V1.phone, VEHICLE_ALARM_TERMINAL, 0));
    assert_true(vehicles_alarm_active(f->vs, "13900000009", VEHICLE_ALARM_SILENT, -1));
    int cleared = f->cleared;
    p = (struct vehicle_pos){.ts = T0 + 10 * SEC, .lat = 36.176, .lon = 118.175, .alarm = 0,
                             .positioned = true};
    vehicles_position(f->vs, &V1, &p, T0 + 10 * SEC);
    assert_false(vehicles_alarm_active(f->vs, V1.phone, VEHICLE_ALARM_TERMINAL, 0));
    assert_int_equal(f->cleared, cleared + 1);
    assert_string_equal(f->last_cleared, "terminal_emergency");
}

/* After a restart, an alarm whose condition still holds stays raised with no transition, and
 * the stay counts from the entry in the log, not from the first position after the restart. */
static void test_restored_state_still_true(void **state)
{
    struct fx *f = *state;
    at(f, &V2, T0, 36.166, 118.170, 10);
    at(f, &V2, T0 + SEC, 36.176, 118.175, 10); /* in */
    at(f, &V1, T0, 36.166, 118.170, 10);
    at(f, &V1, T0 + SEC, 36.176, 118.175, 0);        /* V1 (hazmat) stops outside the lot */
    at(f, &V1, T0 + 62 * SEC, 36.176, 118.175, 0);   /* stop_outside_lot raised */
    at(f, &V2, T0 + 3602 * SEC, 36.176, 118.175, 10); /* overstay raised */
    assert_true(on(f, V1.phone, VEHICLE_ALARM_STOP_OUTSIDE_LOT));
    assert_true(on(f, V2.phone, VEHICLE_ALARM_OVERSTAY));
    free(entries(f, NULL)); /* the group commit */
    vehicles_close(f->vs);
    struct vehicles_opts o = opts();
    assert_int_equal(vehicles_open(f->es, &o, on_alarm, f, &f->vs), PW_OK);
    assert_int_equal(vehicles_load_geofences(f->vs, geofences, strlen(geofences), 118.17, 36.18),
                     PW_OK);
    vehicles_declare(f->vs, &V1);
    vehicles_declare(f->vs, &V2);
    assert_int_equal(vehicles_restore_alarm(f->vs, "V1", "stop_outside_lot", T0 + 62 * SEC),
                     PW_OK);
    assert_int_equal(vehicles_restore_alarm(f->vs, "V2", "overstay", T0 + 3602 * SEC), PW_OK);
    assert_int_equal(vehicles_restore_alarm(f->vs, "V1", "off_route", T0 + SEC), PW_OK);
    vehicles_restore_presence(f->vs, V2.phone, true, T0 + SEC);
    int raised = f->raised, cleared = f->cleared;
    at(f, &V1, T0 + 4000 * SEC, 36.176, 118.175, 0);  /* still stopped outside the lot */
    at(f, &V2, T0 + 4000 * SEC, 36.176, 118.175, 10); /* still in the park */
    assert_true(on(f, V1.phone, VEHICLE_ALARM_STOP_OUTSIDE_LOT));
    assert_true(on(f, V2.phone, VEHICLE_ALARM_OVERSTAY));
    assert_int_equal(f->cleared, cleared);
    assert_int_equal(f->raised, raised);
    assert_int_equal(vehicles_in_park(f->vs, V2.phone), 1);
}

static void test_first_position_inside_logs_nothing(void **state)
{
    struct fx *f = *state;
    at(f, &V1, T0, 36.176, 118.170, 15);
    assert_int_equal(vehicles_in_park(f->vs, V1.phone), 1);
    char *e = entries(f, NULL);
    assert_non_null(strstr(e, "\"entries\":[]"));
    free(e);
}

static void test_off_route_and_stop_outside_lot(void **state)
{
    struct fx *f = *state;
    at(f, &V1, T0, 36.166, 118.170, 30);
    at(f, &V1, T0 + 10 * SEC, 36.176, 118.170, 15); /* on the route */
    assert_false(on(f, V1.phone, VEHICLE_ALARM_OFF_ROUTE));
    at(f, &V1, T0 + 20 * SEC, 36.176, 118.1704, 15); /* ~36 m east: outside the 30 m corridor */
    assert_true(on(f, V1.phone, VEHICLE_ALARM_OFF_ROUTE));
    assert_string_equal(f->last, "off_route");
    at(f, &V1, T0 + 30 * SEC, 36.176, 118.1704, 0); /* stopped */
    at(f, &V1, T0 + 80 * SEC, 36.176, 118.1704, 0);
    assert_false(on(f, V1.phone, VEHICLE_ALARM_STOP_OUTSIDE_LOT)); /* 50 s */
    at(f, &V1, T0 + 91 * SEC, 36.176, 118.1704, 1);
    assert_true(on(f, V1.phone, VEHICLE_ALARM_STOP_OUTSIDE_LOT)); /* 61 s */
    /* moving again clears the stop; back on the route clears off_route */
    at(f, &V1, T0 + 100 * SEC, 36.177, 118.1700, 10);
    assert_false(on(f, V1.phone, VEHICLE_ALARM_STOP_OUTSIDE_LOT));
    assert_false(on(f, V1.phone, VEHICLE_ALARM_OFF_ROUTE));
    /* stopped in the lot: no alarm, however long */
    at(f, &V1, T0 + 200 * SEC, 36.184, 118.184, 0);
    at(f, &V1, T0 + 2000 * SEC, 36.184, 118.184, 0);
    assert_false(on(f, V1.phone, VEHICLE_ALARM_STOP_OUTSIDE_LOT));
    assert_false(on(f, V1.phone, VEHICLE_ALARM_OFF_ROUTE));
    /* a non-hazmat vehicle may stop anywhere */
    at(f, &V2, T0, 36.176, 118.175, 0);
    at(f, &V2, T0 + 500 * SEC, 36.176, 118.175, 0);
    assert_false(on(f, V2.phone, VEHICLE_ALARM_STOP_OUTSIDE_LOT));
    assert_false(on(f, V2.phone, VEHICLE_ALARM_OFF_ROUTE));
    assert_int_equal(f->raised, 2);
    assert_int_equal(f->cleared, 2);
}

static void test_stop_detected_by_tick(void **state)
{
    struct fx *f = *state;
    at(f, &V1, T0, 36.176, 118.175, 0); /* stopped outside the lot, reports stop */
    vehicles_tick(f->vs, T0 + 30 * SEC);
    assert_false(on(f, V1.phone, VEHICLE_ALARM_STOP_OUTSIDE_LOT));
    vehicles_tick(f->vs, T0 + 61 * SEC);
    assert_true(on(f, V1.phone, VEHICLE_ALARM_STOP_OUTSIDE_LOT));
}

static void test_restricted_zone_with_hole(void **state)
{
    struct fx *f = *state;
    at(f, &V2, T0, 36.1855, 118.1555, 10);
    assert_true(on(f, V2.phone, VEHICLE_ALARM_RESTRICTED));
    at(f, &V2, T0 + SEC, 36.1865, 118.1575, 10); /* in the hole */
    assert_false(on(f, V2.phone, VEHICLE_ALARM_RESTRICTED));
    at(f, &V2, T0 + 2 * SEC, 36.1855, 118.1555, 10);
    assert_true(on(f, V2.phone, VEHICLE_ALARM_RESTRICTED));
    struct pw_buf b;
    pw_buf_init(&b, 0);
    vehicles_alarms_json(f->vs, NULL, &b);
    pw_buf_putc(&b, '\0');
    assert_non_null(strstr(b.data, "\"kind\":\"restricted_zone\""));
    assert_non_null(strstr(b.data, "inside G-RESTRICT"));
    pw_buf_reset(&b);
    vehicles_alarms_json(f->vs, "E1", &b);
    pw_buf_putc(&b, '\0');
    assert_string_equal(b.data, "[]\n");
    pw_buf_release(&b);
}

static void test_speeding_needs_duration(void **state)
{
    struct fx *f = *state;
    at(f, &V2, T0, 36.176, 118.175, 40); /* park limit 30 */
    at(f, &V2, T0 + 3 * SEC, 36.176, 118.176, 40);
    assert_false(on(f, V2.phone, VEHICLE_ALARM_SPEEDING));
    at(f, &V2, T0 + 4 * SEC, 36.176, 118.177, 25); /* below: the clock restarts */
    at(f, &V2, T0 + 5 * SEC, 36.176, 118.178, 40);
    at(f, &V2, T0 + 9 * SEC, 36.176, 118.179, 40);
    assert_false(on(f, V2.phone, VEHICLE_ALARM_SPEEDING));
    at(f, &V2, T0 + 10 * SEC, 36.176, 118.180, 40);
    assert_true(on(f, V2.phone, VEHICLE_ALARM_SPEEDING));
    /* the corridor's own limit (20) applies on the route */
    at(f, &V2, T0 + 11 * SEC, 36.176, 118.170, 25);
    assert_true(on(f, V2.phone, VEHICLE_ALARM_SPEEDING));
    at(f, &V2, T0 + 12 * SEC, 36.177, 118.170, 19);
    assert_false(on(f, V2.phone, VEHICLE_ALARM_SPEEDING));
    /* outside the park no limit is checked */
    at(f, &V2, T0 + 20 * SEC, 36.160, 118.160, 90);
    at(f, &V2, T0 + 40 * SEC, 36.160, 118.161, 90);
    assert_false(on(f, V2.phone, VEHICLE_ALARM_SPEEDING));
}

static void test_overstay_and_silence(void **state)
{
    struct fx *f = *state;
    at(f, &V2, T0, 36.166, 118.170, 10);
    at(f, &V2, T0 + SEC, 36.176, 118.175, 10);
    vehicles_tick(f->vs, T0 + 200 * SEC);
    assert_false(on(f, V2.phone, VEHICLE_ALARM_SILENT));
    vehicles_tick(f->vs, T0 + 302 * SEC);
    assert_true(on(f, V2.phone, VEHICLE_ALARM_SILENT));
    at(f, &V2, T0 + 303 * SEC, 36.176, 118.175, 10);
    assert_false(on(f, V2.phone, VEHICLE_ALARM_SILENT));
    at(f, &V2, T0 + 3600 * SEC, 36.176, 118.175, 10);
    assert_false(on(f, V2.phone, VEHICLE_ALARM_OVERSTAY)); /* exactly max_stay - 1 s */
    at(f, &V2, T0 + 3602 * SEC, 36.176, 118.175, 10);
    assert_true(on(f, V2.phone, VEHICLE_ALARM_OVERSTAY));
    at(f, &V2, T0 + 3603 * SEC, 36.166, 118.170, 10); /* leaves */
    assert_false(on(f, V2.phone, VEHICLE_ALARM_OVERSTAY));
    /* outside the park a silent terminal is no alarm */
    vehicles_tick(f->vs, T0 + 9000 * SEC);
    assert_false(on(f, V2.phone, VEHICLE_ALARM_SILENT));
}

static void test_backfill_does_not_move_state(void **state)
{
    struct fx *f = *state;
    at(f, &V2, T0 + 100 * SEC, 36.176, 118.175, 10); /* in the park */
    at(f, &V2, T0, 36.166, 118.170, 10);              /* older: back-fill, ignored */
    assert_int_equal(vehicles_in_park(f->vs, V2.phone), 1);
    char *e = entries(f, NULL);
    assert_non_null(strstr(e, "\"entries\":[]"));
    free(e);
}

static void test_terminal_bits_and_unpositioned(void **state)
{
    struct fx *f = *state;
    struct vehicle_pos p = {.ts = T0, .lat = 36.176, .lon = 118.175, .alarm = 0x101u,
                            .positioned = true};
    vehicles_position(f->vs, &V2, &p, T0);
    assert_true(vehicles_alarm_active(f->vs, V2.phone, VEHICLE_ALARM_TERMINAL, 0));
    assert_true(vehicles_alarm_active(f->vs, V2.phone, VEHICLE_ALARM_TERMINAL, 8));
    assert_true(on(f, V2.phone, VEHICLE_ALARM_TERMINAL));
    /* not positioned: bits still count, the position is kept */
    p = (struct vehicle_pos){.ts = T0 + SEC, .lat = 0, .lon = 0, .alarm = 0x1u,
                             .positioned = false};
    vehicles_position(f->vs, &V2, &p, T0 + SEC);
    assert_true(vehicles_alarm_active(f->vs, V2.phone, VEHICLE_ALARM_TERMINAL, 0));
    assert_false(vehicles_alarm_active(f->vs, V2.phone, VEHICLE_ALARM_TERMINAL, 8));
    assert_int_equal(vehicles_in_park(f->vs, V2.phone), 1);
    /* a bit outside the mask (GNSS antenna open, bit 5) is not an alarm */
    p = (struct vehicle_pos){.ts = T0 + 2 * SEC, .lat = 36.176, .lon = 118.175, .alarm = 0x20u,
                             .positioned = true};
    vehicles_position(f->vs, &V2, &p, T0 + 2 * SEC);
    assert_false(on(f, V2.phone, VEHICLE_ALARM_TERMINAL));
    struct pw_buf b;
    pw_buf_init(&b, 0);
    vehicles_live_json(f->vs, "E2", &b);
    pw_buf_putc(&b, '\0');
    assert_non_null(strstr(b.data, "\"id\":\"V2\""));
    assert_non_null(strstr(b.data, "\"in_park\":true"));
    assert_non_null(strstr(b.data, "\"geofences\":[\"G-PARK\"]"));
    assert_null(strstr(b.data, "\"V1\""));
    pw_buf_release(&b);
}

static void test_bad_geofences(void **state)
{
    struct fx *f = *state;
    assert_int_equal(vehicles_load_geofences(f->vs, "{}", 2, NAN, NAN), PW_EINVAL);
    const char *j = "[{\"id\":\"X\",\"kind\":\"restricted\",\"polygon\":[[1,2]]},"
                    "{\"id\":\"P\",\"kind\":\"park_boundary\",\"polygon\":[[118.15,36.17],"
                    "[118.19,36.17],[118.19,36.19]]}]";
    assert_int_equal(vehicles_load_geofences(f->vs, j, strlen(j), NAN, NAN), PW_OK);
    at(f, &V2, T0, 36.172, 118.185, 10);
    assert_int_equal(vehicles_in_park(f->vs, V2.phone), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_entry_exit_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_visible_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restored_alarm_clears, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restored_state_still_true, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_position_inside_logs_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_off_route_and_stop_outside_lot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_detected_by_tick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restricted_zone_with_hole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_speeding_needs_duration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overstay_and_silence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backfill_does_not_move_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_terminal_bits_and_unpositioned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_geofences, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
