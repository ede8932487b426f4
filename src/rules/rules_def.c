/* rules_def.c — rule definitions: the override document parser (format in rules.h), the JSON
 * writer of a definition, and the small string map used for series, device and area lookup. */
#include "rules/rules_int.h"

#include "base/err.h"
#include "base/hash.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "jsonv/jsonv.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rules_kind_names[RK_COUNT] = {
    [RK_GAS] = "gas",           [RK_THRESHOLD] = "threshold", [RK_EXCEED] = "exceed",
    [RK_EARLY] = "early",       [RK_FLATLINE] = "flatline",   [RK_ROC] = "roc",
    [RK_CURVE] = "curve",
};

/* ---- string map ---- */

void smap_init(struct smap *m)
{
    m->cap = 64;
    m->n = 0;
    m->s = pw_xcalloc(m->cap, sizeof *m->s);
}

void smap_release(struct smap *m)
{
    free(m->s);
    m->s = NULL;
    m->cap = m->n = 0;
}

static struct smap_slot *smap_find(const struct smap *m, const char *k, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct smap_slot *s = &m->s[i];
        if (!s->k || (s->h == h && strcmp(s->k, k) == 0))
            return s;
    }
}

uint32_t *smap_get(const struct smap *m, const char *k)
{
    uint64_t h = pw_hash64(k, strlen(k), 0);
    struct smap_slot *s = smap_find(m, k, h);
    return s->k ? &s->v : NULL;
}

void smap_put(struct smap *m, const char *k, uint32_t v)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct smap old = *m;
        m->cap *= 2;
        m->n = 0;
        m->s = pw_xcalloc(m->cap, sizeof *m->s);
        for (size_t i = 0; i < old.cap; i++)
            if (old.s[i].k) {
                struct smap_slot *s = smap_find(m, old.s[i].k, old.s[i].h);
                *s = old.s[i];
                m->n++;
            }
        free(old.s);
    }
    uint64_t h = pw_hash64(k, strlen(k), 0);
    struct smap_slot *s = smap_find(m, k, h);
    if (!s->k)
        m->n++;
    s->h = h;
    s->k = k;
    s->v = v;
}

/* ---- definitions ---- */

void rules_def_copy(struct rdef *dst, const struct rdef *src)
{
    *dst = *src;
    if (src->curve) {
        dst->curve = pw_xmalloc(sizeof *dst->curve);
        *dst->curve = *src->curve;
    }
}

void rules_ovr_release(struct rovr *o)
{
    for (int k = 0; k < RK_COUNT; k++) {
        free(o->def[k].curve);
        o->def[k].curve = NULL;
    }
}

/* ---- override parser ---- */

struct pctx {
    char *err;
    size_t errcap;
};

static int perr(struct pctx *c, const char *path, const char *what)
{
    return jsonv_fail(c->err, c->errcap, path, "%s", what);
}

static int get_num(struct pctx *c, const cJSON *o, const char *kind, const char *key, double *out,
                   bool *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char path[96];
    *present = false;
    if (!v)
        return PW_OK;
    snprintf(path, sizeof path, "%s.%s", kind, key);
    if (jsonv_number(v, -HUGE_VAL, HUGE_VAL, false, out) != JSONV_NUM_OK)
        return perr(c, path, "expected a finite number");
    *present = true;
    return PW_OK;
}

static int dur_of(struct pctx *c, const cJSON *v, const char *path, int64_t *out)
{
    double ms;
    if (cJSON_IsNumber(v)) {
        if (jsonv_number(v, 0, 1e13, true, &ms) != JSONV_NUM_OK)
            return perr(c, path, "expected a duration (\"30s\") or milliseconds >= 0");
        *out = (int64_t)ms;
        return PW_OK;
    }
    if (cJSON_IsString(v) && pw_duration_parse(v->valuestring, out) == PW_OK && *out >= 0)
        return PW_OK;
    return perr(c, path, "expected a duration (\"30s\") or milliseconds >= 0");
}

static int get_dur(struct pctx *c, const cJSON *o, const char *kind, const char *key,
                   int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char path[96];
    if (!v)
        return PW_OK;
    snprintf(path, sizeof path, "%s.%s", kind, key);
    return dur_of(c, v, path, out);
}

/* Every key of o must be in the NULL-terminated list. */
static int only_keys(struct pctx *c, const cJSON *o, const char *kind, const char *const *keys)
{
    bool dup;
    const cJSON *it = jsonv_bad_key(o, keys, false, &dup);
    if (!it)
        return PW_OK;
    char path[160];
    snprintf(path, sizeof path, "%s.%.64s", kind, it->string ? it->string : "?");
    return perr(c, path, "unknown key");
}

static int parse_band(struct pctx *c, const cJSON *o, const char *kind, struct rdef *d,
                      const char *n1, const char *n2, const char *n3, const char *n4)
{
    const char *const names[4] = {n1, n2, n3, n4};
    double *slots[4] = {&d->up1, &d->up2, &d->dn1, &d->dn2};
    const unsigned bits[4] = {RB_UP1, RB_UP2, RB_DN1, RB_DN2};
    bool p;
    int rc;
    for (int i = 0; i < 4; i++) {
        if (!names[i])
            continue;
        if ((rc = get_num(c, o, kind, names[i], slots[i], &p)) != PW_OK)
            return rc;
        if (p)
            d->set |= bits[i];
    }
    if ((rc = get_num(c, o, kind, "deadband", &d->deadband, &p)) != PW_OK)
        return rc;
    if (d->deadband < 0)
        return perr(c, kind, "deadband must be >= 0");
    if ((rc = get_dur(c, o, kind, "on_delay", &d->on_delay)) != PW_OK ||
        (rc = get_dur(c, o, kind, "off_delay", &d->off_delay)) != PW_OK)
        return rc;
    if (!d->set)
        return perr(c, kind, "no setpoint given");
    if ((d->set & RB_UP1) && (d->set & RB_UP2) && d->up2 < d->up1)
        return perr(c, kind, "second setpoint below the first");
    if ((d->set & RB_DN1) && (d->set & RB_DN2) && d->dn2 > d->dn1)
        return perr(c, kind, "second low setpoint above the first");
    return PW_OK;
}

static int parse_curve(struct pctx *c, const cJSON *o, struct rdef *d)
{
    static const char *const keys[] = {"start", "tolerance", "deadband", "points", "on_delay",
                                       "off_delay", NULL};
    int rc;
    bool p;
    if ((rc = only_keys(c, o, "curve", keys)) != PW_OK)
        return rc;
    d->curve = pw_xcalloc(1, sizeof *d->curve);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "start");
    if (cJSON_IsNumber(st) && st->valuedouble == floor(st->valuedouble) &&
        fabs(st->valuedouble) < 1e15)
        d->curve->start = (int64_t)st->valuedouble;
    else if (!cJSON_IsString(st) || pw_time_parse(st->valuestring, &d->curve->start) != PW_OK)
        return perr(c, "curve.start", "expected RFC 3339, Unix seconds or milliseconds");
    if ((rc = get_num(c, o, "curve", "tolerance", &d->tolerance, &p)) != PW_OK)
        return rc;
    if (!p || d->tolerance <= 0)
        return perr(c, "curve.tolerance", "expected a number > 0");
    if ((rc = get_num(c, o, "curve", "deadband", &d->deadband, &p)) != PW_OK)
        return rc;
    if (d->deadband < 0 || d->deadband >= d->tolerance)
        return perr(c, "curve.deadband", "must be >= 0 and below the tolerance");
    if ((rc = get_dur(c, o, "curve", "on_delay", &d->on_delay)) != PW_OK ||
        (rc = get_dur(c, o, "curve", "off_delay", &d->off_delay)) != PW_OK)
        return rc;
    const cJSON *pts = cJSON_GetObjectItemCaseSensitive(o, "points");
    int n = cJSON_IsArray(pts) ? cJSON_GetArraySize(pts) : -1;
    if (n < 2 || n > RULES_CURVE_POINTS_MAX)
        return perr(c, "curve.points", "expected an array of 2..64 [offset, value] pairs");
    int i = 0;
    for (const cJSON *it = pts->child; it; it = it->next, i++) {
        char path[64];
        snprintf(path, sizeof path, "curve.points[%d]", i);
        if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2)
            return perr(c, path, "expected [offset, value]");
        if ((rc = dur_of(c, it->child, path, &d->curve->off[i])) != PW_OK)
            return rc;
        if (jsonv_number(it->child->next, -HUGE_VAL, HUGE_VAL, false, &d->curve->val[i]) !=
            JSONV_NUM_OK)
            return perr(c, path, "value: expected a number");
        if (i > 0 && d->curve->off[i] <= d->curve->off[i - 1])
            return perr(c, path, "offsets must increase");
    }
    d->curve->n = (size_t)n;
    d->set = RB_UP1 | RB_DN1;
    d->up1 = d->tolerance;
    d->dn1 = -d->tolerance;
    return PW_OK;
}

static int parse_kind(struct pctx *c, enum rk k, const cJSON *o, struct rdef *d)
{
    static const char *const band_keys[] = {"alarm1", "alarm2", "hi", "hihi", "lo", "lolo",
                                            "limit", "deadband", "on_delay", "off_delay", NULL};
    static const char *const roc_keys[] = {"max_per_min", "window", "deadband", NULL};
    static const char *const flat_keys[] = {"window", "epsilon", NULL};
    static const char *const early_keys[] = {"window", "horizon", "alarm1", NULL};
    const char *kn = rules_kind_names[k];
    int rc;
    bool p;
    memset(d, 0, sizeof *d);
    if (!cJSON_IsObject(o))
        return perr(c, kn, "expected an object or false");
    if (k != RK_CURVE && (rc = only_keys(c, o, kn, k == RK_ROC        ? roc_keys
                                                 : k == RK_FLATLINE ? flat_keys
                                                 : k == RK_EARLY    ? early_keys
                                                                    : band_keys)) != PW_OK)
        return rc;
    switch (k) {
    case RK_GAS:
        return parse_band(c, o, kn, d, "alarm1", "alarm2", NULL, NULL);
    case RK_THRESHOLD:
        return parse_band(c, o, kn, d, "hi", "hihi", "lo", "lolo");
    case RK_EXCEED:
        d->strict = true;
        return parse_band(c, o, kn, d, "limit", NULL, NULL, NULL);
    case RK_ROC:
        if ((rc = get_num(c, o, kn, "max_per_min", &d->max_per_min, &p)) != PW_OK)
            return rc;
        if (!p || d->max_per_min <= 0)
            return perr(c, "roc.max_per_min", "expected a number > 0");
        d->window = 60000;
        if ((rc = get_dur(c, o, kn, "window", &d->window)) != PW_OK)
            return rc;
        if (d->window <= 0)
            return perr(c, "roc.window", "must be > 0");
        if ((rc = get_num(c, o, kn, "deadband", &d->deadband, &p)) != PW_OK)
            return rc;
        if (d->deadband < 0 || d->deadband >= d->max_per_min)
            return perr(c, "roc.deadband", "must be >= 0 and below max_per_min");
        d->set = RB_UP1 | RB_DN1;
        d->up1 = d->max_per_min;
        d->dn1 = -d->max_per_min;
        return PW_OK;
    case RK_FLATLINE:
        if ((rc = get_dur(c, o, kn, "window", &d->window)) != PW_OK)
            return rc;
        if (d->window <= 0)
            return perr(c, "flatline.window", "expected a duration > 0");
        if ((rc = get_num(c, o, kn, "epsilon", &d->epsilon, &p)) != PW_OK)
            return rc;
        if (d->epsilon < 0)
            return perr(c, "flatline.epsilon", "must be >= 0");
        return PW_OK;
    case RK_EARLY:
        if ((rc = get_dur(c, o, kn, "window", &d->window)) != PW_OK ||
            (rc = get_dur(c, o, kn, "horizon", &d->horizon)) != PW_OK)
            return rc;
        if ((rc = get_num(c, o, kn, "alarm1", &d->alarm1, &p)) != PW_OK)
            return rc;
        if (p)
            d->set = RB_UP1; /* marks "alarm1 given" */
        return PW_OK;
    case RK_CURVE:
        return parse_curve(c, o, d);
    default:
        return perr(c, kn, "unknown kind");
    }
}

int rules_ovr_parse(const char *target, const char *json, size_t len, struct rovr *o, char *err,
                    size_t errcap)
{
    struct pctx c = {err, errcap};
    int rc = PW_OK;
    memset(o, 0, sizeof *o);
    if (len > RULES_OVERRIDE_MAX) {
        if (errcap)
            snprintf(err, errcap, "override larger than %d bytes", RULES_OVERRIDE_MAX);
        return PW_ETOOBIG;
    }
    bool area = strncmp(target, "area:", 5) == 0;
    const char *id = area ? target + 5 : target;
    size_t idn = strlen(id);
    if (idn == 0 || idn > RULES_ID_MAX || strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
                                                      "RSTUVWXYZ0123456789_.:-") != idn)
        return perr(&c, "target", "expected a point id or area:<id>");
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        rc = perr(&c, "$", "expected a JSON object");
        goto out;
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        const char *key = it->string;
        if (area) {
            if (strcmp(key, "linked") != 0) {
                rc = perr(&c, key, "unknown key for an area (only \"linked\")");
                goto out;
            }
            o->has_linked = true;
            if (cJSON_IsFalse(it) || cJSON_IsNull(it)) {
                o->linked_off = true;
                continue;
            }
            static const char *const lk[] = {"count", "level", "window", NULL};
            double cnt = 2, lvl = 1;
            bool p;
            o->linked_window = 300000;
            if (!cJSON_IsObject(it)) {
                rc = perr(&c, "linked", "expected an object or false");
                goto out;
            }
            if ((rc = only_keys(&c, it, "linked", lk)) != PW_OK ||
                (rc = get_num(&c, it, "linked", "count", &cnt, &p)) != PW_OK ||
                (rc = get_num(&c, it, "linked", "level", &lvl, &p)) != PW_OK ||
                (rc = get_dur(&c, it, "linked", "window", &o->linked_window)) != PW_OK)
                goto out;
            if (cnt < 1 || cnt > 1000 || cnt != floor(cnt)) {
                rc = perr(&c, "linked.count", "expected an integer 1..1000");
                goto out;
            }
            if (lvl != 1 && lvl != 2) {
                rc = perr(&c, "linked.level", "expected 1 or 2");
                goto out;
            }
            o->linked_count = (int)cnt;
            o->linked_level = (int)lvl;
            continue;
        }
        if (strcmp(key, "offline") == 0) {
            o->has_offline = true;
            if (cJSON_IsFalse(it) || cJSON_IsNull(it)) {
                o->offline_off = true;
                continue;
            }
            static const char *const ok[] = {"after", NULL};
            if (!cJSON_IsObject(it)) {
                rc = perr(&c, "offline", "expected an object or false");
                goto out;
            }
            if ((rc = only_keys(&c, it, "offline", ok)) != PW_OK ||
                (rc = get_dur(&c, it, "offline", "after", &o->offline_after)) != PW_OK)
                goto out;
            if (o->offline_after <= 0) {
                rc = perr(&c, "offline.after", "expected a duration > 0");
                goto out;
            }
            continue;
        }
        int k = 0;
        while (k < RK_COUNT && strcmp(rules_kind_names[k], key) != 0)
            k++;
        if (k == RK_COUNT) {
            char path[80];
            snprintf(path, sizeof path, "%.64s", key);
            rc = perr(&c, path, "unknown rule kind");
            goto out;
        }
        o->has |= 1u << k;
        if (cJSON_IsFalse(it) || cJSON_IsNull(it)) {
            o->off |= 1u << k;
            continue;
        }
        if ((rc = parse_kind(&c, (enum rk)k, it, &o->def[k])) != PW_OK)
            goto out;
    }
out:
    cJSON_Delete(root);
    if (rc != PW_OK)
        rules_ovr_release(o);
    return rc;
}

/* ---- JSON of a definition ---- */

static int put_dur(struct pw_buf *b, const char *key, int64_t ms)
{
    char d[32];
    return pw_buf_printf(b, ",\"%s\":\"%s\"", key, pw_duration_format(ms, d, sizeof d));
}

int rules_def_json(enum rk k, const struct rdef *d, struct pw_buf *b)
{
    int rc = pw_buf_putc(b, '{');
    const char *n[4] = {NULL, NULL, NULL, NULL};
    const double v[4] = {d->up1, d->up2, d->dn1, d->dn2};
    const unsigned bits[4] = {RB_UP1, RB_UP2, RB_DN1, RB_DN2};
    switch (k) {
    case RK_GAS:
        if (d->o2) {
            n[0] = "hi";
            n[2] = "lo";
        } else {
            n[0] = "alarm1";
            n[1] = "alarm2";
        }
        break;
    case RK_THRESHOLD:
        n[0] = "hi", n[1] = "hihi", n[2] = "lo", n[3] = "lolo";
        break;
    case RK_EXCEED:
        n[0] = "limit";
        break;
    case RK_ROC:
        rc = rc ? rc : pw_buf_printf(b, "\"max_per_min\":%.17g", d->max_per_min);
        rc = rc ? rc : put_dur(b, "window", d->window);
        rc = rc ? rc : pw_buf_printf(b, ",\"deadband\":%.17g}", d->deadband);
        return rc;
    case RK_FLATLINE:
        rc = rc ? rc : pw_buf_printf(b, "\"epsilon\":%.17g", d->epsilon);
        rc = rc ? rc : put_dur(b, "window", d->window);
        return rc ? rc : pw_buf_putc(b, '}');
    case RK_EARLY:
        rc = rc ? rc : pw_buf_printf(b, "\"alarm1\":%.17g", d->alarm1);
        rc = rc ? rc : put_dur(b, "window", d->window);
        rc = rc ? rc : put_dur(b, "horizon", d->horizon);
        return rc ? rc : pw_buf_putc(b, '}');
    case RK_CURVE: {
        char t[32];
        rc = rc ? rc : pw_buf_printf(b, "\"start\":\"%s\",\"tolerance\":%.17g,\"deadband\":%.17g",
                                     pw_time_format(d->curve->start, t, sizeof t), d->tolerance,
                                     d->deadband);
        rc = rc ? rc : put_dur(b, "on_delay", d->on_delay);
        rc = rc ? rc : put_dur(b, "off_delay", d->off_delay);
        rc = rc ? rc : pw_buf_puts(b, ",\"points\":[");
        for (size_t i = 0; i < d->curve->n && !rc; i++)
            rc = pw_buf_printf(b, "%s[\"%s\",%.17g]", i ? "," : "",
                               pw_duration_format(d->curve->off[i], t, sizeof t),
                               d->curve->val[i]);
        return rc ? rc : pw_buf_puts(b, "]}");
    }
    default:
        break;
    }
    bool first = true;
    for (int i = 0; i < 4 && !rc; i++)
        if (n[i] && (d->set & bits[i])) {
            rc = pw_buf_printf(b, "%s\"%s\":%.17g", first ? "" : ",", n[i], v[i]);
            first = false;
        }
    rc = rc ? rc : pw_buf_printf(b, "%s\"deadband\":%.17g", first ? "" : ",", d->deadband);
    rc = rc ? rc : put_dur(b, "on_delay", d->on_delay);
    rc = rc ? rc : put_dur(b, "off_delay", d->off_delay);
    return rc ? rc : pw_buf_putc(b, '}');
}
