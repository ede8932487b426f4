/* rules_fx.h — shared fixture of the rules unit tests: a temporary park model built from a JSON
 * fragment of devices, a rule set on it, and a recorder of emitted transitions. Header-only
 * (static inline) so each test binary stays a single translation unit. */
#ifndef PW_TEST_RULES_FX_H
#define PW_TEST_RULES_FX_H

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "model/model.h"
#include "rules/rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FX_MAX_TR 512
#define T0 INT64_C(1800000000000) /* 2027-01-15, a round "now" */

struct fx_tr {
    int action;
    char source[80], rule[32], condition[32], area[80], enterprise[80], device[80];
    int level, gas_level;
    double value;
    int64_t ts;
};

struct fx {
    char dir[64];
    char path[128];
    struct model *m;
    struct rules_db *db;
    struct rules *rs;
    struct rules_opts o;
    struct fx_tr tr[FX_MAX_TR];
    size_t n;
};

static inline void fx_quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

static inline void fx_emit(const struct alarm_transition *t, void *arg)
{
    struct fx *f = arg;
    if (f->n >= FX_MAX_TR)
        abort();
    struct fx_tr *r = &f->tr[f->n++];
    r->action = t->action;
    snprintf(r->source, sizeof r->source, "%s", t->source);
    snprintf(r->rule, sizeof r->rule, "%s", t->rule);
    snprintf(r->condition, sizeof r->condition, "%s", t->condition);
    snprintf(r->area, sizeof r->area, "%s", t->area);
    snprintf(r->enterprise, sizeof r->enterprise, "%s", t->enterprise);
    snprintf(r->device, sizeof r->device, "%s", t->device);
    r->level = t->level;
    r->gas_level = t->gas_level;
    r->value = t->value;
    r->ts = t->ts;
}

/* Creates the model from a JSON array body of devices (e.g. "{...},{...}") and opens the rule
 * set with f->o (callers may change f->o between fx_new and fx_open). */
static inline struct fx *fx_new(const char *devices)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_rules_XXXXXX");
    if (!mkdtemp(f->dir))
        abort();
    pw_log_set_sink(fx_quiet, NULL);
    snprintf(f->path, sizeof f->path, "%s/meta.db", f->dir);
    if (model_open(f->path, &f->m) != PW_OK)
        abort();
    struct pw_buf b;
    pw_buf_init(&b, 0);
    pw_buf_printf(&b,
                  "{\"version\":1,\"park\":{\"id\":\"P\",\"name\":\"p\"},"
                  "\"enterprises\":[{\"id\":\"E1\",\"name\":\"e1\"},"
                  "{\"id\":\"E2\",\"name\":\"e2\"}],"
                  "\"areas\":[{\"id\":\"A1\",\"name\":\"a1\",\"enterprise\":\"E1\"},"
                  "{\"id\":\"A2\",\"name\":\"a2\",\"enterprise\":\"E2\"}],"
                  "\"devices\":[%s]}",
                  devices);
    char err[256];
    if (model_import_json(f->m, b.data, b.len, 0, err, sizeof err) != PW_OK) {
        fprintf(stderr, "model import: %s\n", err);
        abort();
    }
    pw_buf_release(&b);
    snprintf(f->path, sizeof f->path, "%s/rules.db", f->dir);
    if (rules_db_open(f->path, &f->db) != PW_OK)
        abort();
    rules_opts_init(&f->o);
    f->o.offline_after_ms = 0;
    f->o.early_window_ms = 0;
    f->o.early_horizon_ms = 0;
    f->o.linked_count = 0;
    return f;
}

static inline void fx_open(struct fx *f, int64_t now)
{
    if (rules_open(f->m, f->db, &f->o, now, &f->rs) != PW_OK)
        abort();
}

static inline void fx_free(struct fx *f)
{
    char cmd[128];
    rules_close(f->rs);
    rules_db_close(f->db);
    model_close(f->m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        abort();
    free(f);
}

static inline int fx_sample(struct fx *f, const char *key, int64_t ts, double v)
{
    return rules_on_sample(f->rs, RULES_NO_REF, key, ts, v, 0, ts, fx_emit, f);
}

static inline int fx_sample_q(struct fx *f, const char *key, int64_t ts, double v, uint8_t q)
{
    return rules_on_sample(f->rs, RULES_NO_REF, key, ts, v, q, ts, fx_emit, f);
}

static inline void fx_tick(struct fx *f, int64_t now)
{
    rules_tick(f->rs, now, fx_emit, f);
}

/* The i-th transition from the end (0 = last). */
static inline const struct fx_tr *fx_last(const struct fx *f, size_t back)
{
    return f->n > back ? &f->tr[f->n - 1 - back] : NULL;
}

/* A gas detector device with one point. */
#define FX_GAS(dev, area, ent, q, unit, sp)                                                        \
    "{\"id\":\"" dev "\",\"name\":\"d\",\"kind\":\"gas_detector\",\"enterprise\":\"" ent           \
    "\",\"area\":\"" area "\",\"protocol\":\"mqtt\",\"mqtt\":{\"topic\":\"t/" dev "\"},"           \
    "\"points\":[{\"id\":\"" dev ".p\",\"name\":\"n\",\"quantity\":\"" q "\",\"unit\":\"" unit     \
    "\",\"series\":\"gas{device=\\\"" dev "\\\"}\",\"setpoints\":" sp "}]}"
#define FX_KEY(dev) "gas{device=\"" dev "\"}"

#endif
