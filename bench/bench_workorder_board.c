/* Work orders at park scale: a park model of 1,000 enterprises, 10,000 open work orders spread
 * over them (a third of them overdue at L1 or L2, some returned, some signed late), then:
 *
 *   workorder_list_10k_open_ms      <ms>   GET /api/v1/workorders?state=open&limit=10000: the
 *                                          store's query and JSON (median of 5)
 *   workorder_list_10k_bytes        <n>    size of that JSON
 *   workorder_board_1k_units_ms     <ms>   the board for 1,000 units from the store: the units
 *                                          from the model, the orders of the window from SQLite,
 *                                          the rule, rank, JSON (median of 5)
 *   workorder_board_core_1k_ms      <ms>   the pure rule alone (sv_board_compute) on the same
 *                                          1,000 units and 10,000 orders (median of 5)
 *   workorder_report_month_10k_ms   <ms>   the regulator's report (JSON) of the month holding the
 *                                          10,000 orders, from their history (median of 5)
 *
 * The databases live in /dev/shm when it exists (the figures measure queries, not fsyncs; the
 * store's durability cost per action is one fsync'ed SQLite transaction). */
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "supervision/supervision.h"
#include "workorder/workorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNITS 1000
#define ORDERS 10000
#define RUNS 5

static void quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof *v, cmp_d);
    return v[RUNS / 2];
}

static double ms_since(int64_t t0)
{
    return (double)(pw_mono_ns() - t0) / 1e6;
}

int main(void)
{
    char dir[64], path[128], ev[128], meta[128], cmd[160], err[256];
    struct stat sb;
    snprintf(dir, sizeof dir, "%s/pw_bench_wo_XXXXXX",
             stat("/dev/shm", &sb) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        return 1;
    pw_log_set_sink(quiet, NULL);
    snprintf(path, sizeof path, "%s/workorders.db", dir);
    snprintf(ev, sizeof ev, "%s/evidence", dir);
    snprintf(meta, sizeof meta, "%s/meta.db", dir);
    struct model *m;
    if (model_open(meta, &m) != PW_OK)
        return 1;
    struct pw_buf b;
    pw_buf_init(&b, 0);
    pw_buf_puts(&b, "{\"version\":1,\"enterprises\":[");
    for (int i = 0; i < UNITS; i++)
        pw_buf_printf(&b, "%s{\"id\":\"E%04d\",\"name\":\"企业%04d\"}", i ? "," : "", i, i);
    pw_buf_puts(&b, "]}");
    if (model_import_json(m, b.data, b.len, 0, err, sizeof err) != PW_OK) {
        fprintf(stderr, "import: %s\n", err);
        return 1;
    }
    struct sv_rules r;
    struct sv_board_rule br;
    sv_rules_init(&r);
    sv_board_rule_init(&br);
    struct wo_store *s;
    if (wo_store_open(path, ev, m, &r, &br, 1 << 20, &s) != PW_OK)
        return 1;
    int64_t t0 = pw_now_ms() - 10 * SV_DAY_MS;
    struct wo_scope park = {NULL, NULL}, ent = {NULL, NULL};
    for (int i = 0; i < ORDERS; i++) {
        char unit[16];
        snprintf(unit, sizeof unit, "E%04d", (i * 7919) % UNITS);
        struct wo_new n = {.title = "巡检发现问题整改",
                           .description = "bench",
                           .priority = i % 4 + 1,
                           .enterprise = unit};
        int64_t id;
        if (wo_create(s, &park, SV_ROLE_PARK, "bench", &n, t0 + i, &id, err, sizeof err) != PW_OK) {
            fprintf(stderr, "create: %s\n", err);
            return 1;
        }
        ent.enterprise = unit;
        if (i % 5 == 0)
            wo_act(s, &ent, SV_ROLE_ENTERPRISE, "e", id, SV_SIGN, NULL, t0 + 3 * SV_DAY_MS, err,
                   sizeof err);
    }
    /* escalations: the P1/P2 orders are overdue by now */
    wo_tick(s, pw_now_ms(), NULL, NULL);

    double v[RUNS];
    size_t bytes = 0;
    struct wo_filter f;
    wo_filter_init(&f);
    f.state = "open";
    f.limit = ORDERS;
    for (int k = 0; k < RUNS; k++) {
        pw_buf_reset(&b);
        int64_t a = pw_mono_ns();
        if (wo_list_json(s, &park, &f, pw_now_ms(), &b) != PW_OK)
            return 1;
        v[k] = ms_since(a);
        bytes = b.len;
    }
    printf("workorder_list_10k_open_ms %.2f ms\n", median(v));
    printf("workorder_list_10k_bytes %zu bytes\n", bytes);
    for (int k = 0; k < RUNS; k++) {
        pw_buf_reset(&b);
        int64_t a = pw_mono_ns();
        if (wo_board_json(s, &park, false, pw_now_ms(), &b) != PW_OK)
            return 1;
        v[k] = ms_since(a);
    }
    printf("workorder_board_1k_units_ms %.2f ms\n", median(v));
    char month[8];
    {
        char tb[40];
        pw_time_format(t0 + SV_BEIJING_OFFSET_MS, tb, sizeof tb); /* Beijing calendar month */
        snprintf(month, sizeof month, "%.7s", tb);
    }
    for (int k = 0; k < RUNS; k++) {
        pw_buf_reset(&b);
        int64_t a = pw_mono_ns();
        if (wo_report_json(s, month, pw_now_ms(), false, &b, err, sizeof err) != PW_OK ||
            !strstr(b.data, "\"dispatched\":10000")) {
            fprintf(stderr, "report %s: %s\n", month, err);
            return 1;
        }
        v[k] = ms_since(a);
    }
    printf("workorder_report_month_10k_ms %.2f ms\n", median(v));

    /* the pure rule on the same sizes */
    static struct sv_board_unit units[UNITS];
    static struct sv_board_order orders[ORDERS];
    static struct sv_board_row rows[UNITS];
    static char names[UNITS][16];
    for (int i = 0; i < UNITS; i++) {
        snprintf(units[i].unit, sizeof units[i].unit, "E%04d", i);
        snprintf(names[i], sizeof names[i], "E%04d", i);
        units[i].kind = SV_UNIT_ENTERPRISE;
        units[i].prev_rank = i + 1;
    }
    int64_t now = pw_now_ms();
    for (int i = 0; i < ORDERS; i++)
        orders[i] = (struct sv_board_order){.unit = names[(i * 7919) % UNITS],
                                            .priority = i % 4 + 1,
                                            .overdue_level = i % 3,
                                            .returns = i % 7 == 0,
                                            .late_sign = i % 11 == 0,
                                            .open = true,
                                            .dispatched_at = now - SV_DAY_MS};
    for (int k = 0; k < RUNS; k++) {
        int64_t a = pw_mono_ns();
        if (sv_board_compute(&br, units, UNITS, orders, ORDERS, now, rows) != PW_OK)
            return 1;
        v[k] = ms_since(a);
    }
    printf("workorder_board_core_1k_ms %.3f ms\n", median(v));

    pw_buf_release(&b);
    wo_store_close(s);
    model_close(m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
