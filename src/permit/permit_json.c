/* permit_json.c — a permit as JSON: the API's input (permit_from_json), the stored form and the
 * contract's output (permit_to_json), findings, and the spot-check draw (pure). Every message
 * names the field: "$[3].planned_end: expected an RFC 3339 time". */
#include "permit/permit.h"

#include "base/err.h"
#include "base/hash.h"
#include "base/timeutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool valid_text(const char *s)
{
    for (const unsigned char *q = (const unsigned char *)s; *q; q++)
        if (*q < 0x20 || *q == 0x7f)
            return false;
    return true;
}

/* Optional string member: PW_OK (dst "" when absent or null), PW_EINVAL with err. */
static int get_str(const cJSON *j, const char *key, const char *path, char *dst, size_t cap,
                   bool required, char *err, size_t ecap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    dst[0] = '\0';
    if (!v || cJSON_IsNull(v)) {
        if (required) {
            snprintf(err, ecap, "%s.%s: required", path, key);
            return PW_EINVAL;
        }
        return PW_OK;
    }
    if (!cJSON_IsString(v)) {
        snprintf(err, ecap, "%s.%s: expected a string", path, key);
        return PW_EINVAL;
    }
    size_t n = strlen(v->valuestring);
    if (n >= cap || !valid_text(v->valuestring)) {
        snprintf(err, ecap, "%s.%s: expected at most %zu bytes without control characters", path,
                 key, cap - 1);
        return PW_EINVAL;
    }
    if (required && n == 0) {
        snprintf(err, ecap, "%s.%s: required", path, key);
        return PW_EINVAL;
    }
    memcpy(dst, v->valuestring, n + 1);
    return PW_OK;
}

static int get_time(const cJSON *j, const char *key, const char *path, int64_t *out,
                    bool required, char *err, size_t ecap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    *out = 0;
    if (!v || cJSON_IsNull(v)) {
        if (!required)
            return PW_OK;
        snprintf(err, ecap, "%s.%s: required (an RFC 3339 time)", path, key);
        return PW_EINVAL;
    }
    if (!cJSON_IsString(v) || pw_time_parse(v->valuestring, out) != PW_OK || *out <= 0) {
        snprintf(err, ecap, "%s.%s: expected an RFC 3339 time", path, key);
        return PW_EINVAL;
    }
    return PW_OK;
}

static bool lonlat(const cJSON *a, double *lon, double *lat)
{
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 2)
        return false;
    const cJSON *x = cJSON_GetArrayItem(a, 0), *y = cJSON_GetArrayItem(a, 1);
    if (!cJSON_IsNumber(x) || !cJSON_IsNumber(y))
        return false;
    *lon = x->valuedouble;
    *lat = y->valuedouble;
    return isfinite(*lon) && isfinite(*lat) && *lon >= -180 && *lon <= 180 && *lat >= -90 &&
           *lat <= 90;
}

/* A ring of [lon, lat] (closing vertex dropped). */
static int ring(const cJSON *a, const char *path, struct permit *p, char *err, size_t ecap)
{
    int n = cJSON_GetArraySize(a), k = 0;
    for (int i = 0; i < n; i++) {
        double lo, la;
        if (!lonlat(cJSON_GetArrayItem(a, i), &lo, &la)) {
            snprintf(err, ecap, "%s.location: vertex %d: expected [lon, lat] in degrees", path, i);
            return PW_EINVAL;
        }
        if (i == n - 1 && k > 0 && lo == p->lon[0] && la == p->lat[0])
            break;
        if (k >= PERMIT_POLY_MAX) {
            snprintf(err, ecap, "%s.location: at most %d vertices", path, PERMIT_POLY_MAX);
            return PW_EINVAL;
        }
        p->lon[k] = lo;
        p->lat[k] = la;
        k++;
    }
    if (k < 3) {
        snprintf(err, ecap, "%s.location: a polygon needs at least 3 vertices", path);
        return PW_EINVAL;
    }
    p->nloc = k;
    return PW_OK;
}

static int location(const cJSON *v, const char *path, struct permit *p, char *err, size_t ecap)
{
    double lo, la;
    if (!v || cJSON_IsNull(v)) {
        snprintf(err, ecap, "%s.location: required (a GeoJSON Point or Polygon, or [lon, lat])",
                 path);
        return PW_EINVAL;
    }
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 &&
        cJSON_IsNumber(cJSON_GetArrayItem(v, 0))) {
        if (!lonlat(v, &lo, &la)) {
            snprintf(err, ecap, "%s.location: expected [lon, lat] in degrees", path);
            return PW_EINVAL;
        }
        p->nloc = 1;
        p->lon[0] = lo;
        p->lat[0] = la;
        return PW_OK;
    }
    if (cJSON_IsArray(v))
        return ring(v, path, p, err, ecap);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "type");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "coordinates");
    if (cJSON_IsString(t) && strcmp(t->valuestring, "Point") == 0 && lonlat(c, &lo, &la)) {
        p->nloc = 1;
        p->lon[0] = lo;
        p->lat[0] = la;
        return PW_OK;
    }
    if (cJSON_IsString(t) && strcmp(t->valuestring, "Polygon") == 0 && cJSON_IsArray(c) &&
        cJSON_GetArraySize(c) >= 1)
        return ring(cJSON_GetArrayItem(c, 0), path, p, err, ecap);
    snprintf(err, ecap, "%s.location: expected a GeoJSON Point or Polygon, or [lon, lat]", path);
    return PW_EINVAL;
}

int permit_analysis_from_json(const cJSON *j, const char *path, struct permit_analysis *out,
                              char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(j)) {
        snprintf(err, cap, "%s: expected an object", path);
        return PW_EINVAL;
    }
    int rc = get_time(j, "at", path, &out->at, true, err, cap);
    if (!rc)
        rc = get_str(j, "point", path, out->point, sizeof out->point, false, err, cap);
    if (!rc)
        rc = get_str(j, "gas", path, out->gas, sizeof out->gas, true, err, cap);
    if (!rc)
        rc = get_str(j, "unit", path, out->unit, sizeof out->unit, true, err, cap);
    if (!rc)
        rc = get_str(j, "analyst", path, out->analyst, sizeof out->analyst, false, err, cap);
    if (rc)
        return rc;
    for (char *q = out->gas; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
            *q = (char)(*q - 'A' + 'a');
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "value");
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0) {
        snprintf(err, cap, "%s.value: expected a number >= 0", path);
        return PW_EINVAL;
    }
    out->value = v->valuedouble;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "lel_pct");
    if (l && !cJSON_IsNull(l)) {
        if (!cJSON_IsNumber(l) || !(l->valuedouble > 0) || l->valuedouble > 100) {
            snprintf(err, cap, "%s.lel_pct: expected a number in (0, 100]", path);
            return PW_EINVAL;
        }
        out->lel_pct = l->valuedouble;
    }
    return PW_OK;
}

static int parse(const cJSON *j, const char *path, struct permit *p, bool stored, char *err,
                 size_t cap)
{
    char tmp[64], sub[96];
    memset(p, 0, sizeof *p);
    if (!cJSON_IsObject(j)) {
        snprintf(err, cap, "%s: expected a permit object", path);
        return PW_EINVAL;
    }
    int rc = get_str(j, "type", path, tmp, sizeof tmp, true, err, cap);
    if (rc)
        return rc;
    if (permit_type_parse(tmp, &p->type) != PW_OK) {
        snprintf(err, cap,
                 "%s.type: expected hot_work, confined_space, blind_plate, height, lifting, "
                 "temp_power, earthwork or road_closure",
                 path);
        return PW_EINVAL;
    }
    if ((rc = get_str(j, "grade", path, tmp, sizeof tmp, false, err, cap)))
        return rc;
    if (permit_type_graded(p->type)) {
        if (permit_grade_parse(tmp, &p->grade) != PW_OK) {
            snprintf(err, cap, "%s.grade: hot work needs special, first or second (特级/一级/二级)",
                     path);
            return PW_EINVAL;
        }
    } else if (tmp[0]) {
        snprintf(err, cap, "%s.grade: only hot work has a grade", path);
        return PW_EINVAL;
    }
    if ((rc = get_str(j, "enterprise", path, p->enterprise, sizeof p->enterprise, false, err, cap)) ||
        (rc = get_str(j, "area", path, p->area, sizeof p->area, false, err, cap)) ||
        (rc = get_str(j, "equipment", path, p->equipment, sizeof p->equipment, false, err, cap)) ||
        (rc = get_str(j, "leader", path, p->leader, sizeof p->leader, false, err, cap)) ||
        (rc = get_str(j, "guardian", path, p->guardian, sizeof p->guardian, false, err, cap)) ||
        (rc = get_str(j, "video", path, p->video, sizeof p->video, false, err, cap)) ||
        (rc = get_str(j, "number", path, p->number, sizeof p->number, false, err, cap)))
        return rc;
    if ((rc = location(cJSON_GetObjectItemCaseSensitive(j, "location"), path, p, err, cap)))
        return rc;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "outdoor");
    if (o && !cJSON_IsNull(o) && !cJSON_IsBool(o)) {
        snprintf(err, cap, "%s.outdoor: expected true or false", path);
        return PW_EINVAL;
    }
    p->outdoor = cJSON_IsTrue(o);
    if ((rc = get_time(j, "planned_start", path, &p->planned_start, true, err, cap)) ||
        (rc = get_time(j, "planned_end", path, &p->planned_end, true, err, cap)))
        return rc;
    if (p->planned_end <= p->planned_start) {
        snprintf(err, cap, "%s.planned_end: must be after planned_start", path);
        return PW_EINVAL;
    }
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "workers");
    if (w && !cJSON_IsNull(w)) {
        if (!cJSON_IsArray(w) || cJSON_GetArraySize(w) > PERMIT_WORKERS_MAX) {
            snprintf(err, cap, "%s.workers: expected an array of at most %d names", path,
                     PERMIT_WORKERS_MAX);
            return PW_EINVAL;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, w)
        {
            if (!cJSON_IsString(e) || strlen(e->valuestring) > PERMIT_NAME_MAX ||
                !valid_text(e->valuestring)) {
                snprintf(err, cap, "%s.workers[%d]: expected a name of at most %d bytes", path,
                         p->nworkers, PERMIT_NAME_MAX);
                return PW_EINVAL;
            }
            snprintf(p->workers[p->nworkers++], PERMIT_NAME_MAX + 1, "%s", e->valuestring);
        }
    }
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(j, "analyses");
    if (an && !cJSON_IsNull(an)) {
        if (!cJSON_IsArray(an) || cJSON_GetArraySize(an) > PERMIT_ANALYSES_MAX) {
            snprintf(err, cap, "%s.analyses: expected an array of at most %d analyses", path,
                     PERMIT_ANALYSES_MAX);
            return PW_EINVAL;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, an)
        {
            snprintf(sub, sizeof sub, "%s.analyses[%d]", path, p->nanalyses);
            if ((rc = permit_analysis_from_json(e, sub, &p->analyses[p->nanalyses], err, cap)))
                return rc;
            p->nanalyses++;
        }
    }
    if (!stored)
        return PW_OK;
    /* the store's own fields */
    get_str(j, "id", path, p->id, sizeof p->id, false, err, cap);
    if (get_str(j, "state", path, tmp, sizeof tmp, true, err, cap) ||
        permit_state_parse(tmp, &p->state) != PW_OK)
        return PW_EINVAL;
    get_time(j, "filed_at", path, &p->filed_at, false, err, cap);
    get_time(j, "started_at", path, &p->started_at, false, err, cap);
    get_time(j, "ended_at", path, &p->ended_at, false, err, cap);
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(j, "rev");
    p->rev = cJSON_IsNumber(rv) ? (int64_t)rv->valuedouble : 0;
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "pauses"), *e;
    cJSON_ArrayForEach(e, ps)
    {
        if (p->npauses >= PERMIT_PAUSES_MAX)
            break;
        struct permit_pause *q = &p->pauses[p->npauses++];
        get_time(e, "from", path, &q->from, false, err, cap);
        get_time(e, "to", path, &q->to, false, err, cap);
    }
    return PW_OK;
}

int permit_from_json(const cJSON *j, const char *path, struct permit *out, char *err, size_t cap)
{
    return parse(j, path, out, false, err, cap);
}

int permit_from_stored(const char *json, size_t len, struct permit *out)
{
    char err[200];
    cJSON *j = cJSON_ParseWithLength(json, len);
    int rc = j ? parse(j, "$", out, true, err, sizeof err) : PW_ECORRUPT;
    cJSON_Delete(j);
    return rc ? PW_ECORRUPT : PW_OK;
}

static int time_member(struct pw_buf *b, const char *key, int64_t ms)
{
    pw_buf_printf(b, ",\"%s\":", key);
    return pw_buf_json_time(b, ms);
}

static int location_json(const struct permit *p, struct pw_buf *b)
{
    if (p->nloc == 1)
        return pw_buf_printf(b, "{\"type\":\"Point\",\"coordinates\":[%.7f,%.7f]}", p->lon[0],
                             p->lat[0]);
    pw_buf_puts(b, "{\"type\":\"Polygon\",\"coordinates\":[[");
    for (int i = 0; i <= p->nloc; i++) {
        int k = i % p->nloc;
        pw_buf_printf(b, "%s[%.7f,%.7f]", i ? "," : "", p->lon[k], p->lat[k]);
    }
    return pw_buf_puts(b, "]]}");
}

int permit_findings_json(const struct permit_findings *fs, struct pw_buf *b)
{
    pw_buf_putc(b, '[');
    for (int i = 0; fs && i < fs->n; i++) {
        const struct permit_finding *f = &fs->f[i];
        pw_buf_printf(b, "%s{\"rule\":\"%s\",\"severity\":\"%s\",\"text\":", i ? "," : "",
                      permit_rule_name(f->rule), permit_severity_name(f->severity));
        pw_buf_json_str(b, f->text);
        pw_buf_puts(b, ",\"at\":");
        pw_buf_json_time(b, f->at);
        pw_buf_puts(b, ",\"evidence\":");
        cJSON *ev = cJSON_Parse(f->evidence);
        pw_buf_puts(b, ev && cJSON_IsObject(ev) ? f->evidence : "{}");
        cJSON_Delete(ev);
        pw_buf_putc(b, '}');
    }
    return pw_buf_putc(b, ']');
}

int permit_findings_from_json(const char *json, size_t len, struct permit_findings *out)
{
    out->n = 0;
    cJSON *a = cJSON_ParseWithLength(json, len), *e;
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return PW_ECORRUPT;
    }
    cJSON_ArrayForEach(e, a)
    {
        if (out->n >= PERMIT_FINDINGS_MAX)
            break;
        struct permit_finding *f = &out->f[out->n];
        memset(f, 0, sizeof *f);
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "rule");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "severity");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "text");
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(e, "at");
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(e, "evidence");
        if (!cJSON_IsString(r) || permit_rule_parse(r->valuestring, &f->rule) != PW_OK ||
            !cJSON_IsString(s))
            continue;
        f->severity = strcmp(s->valuestring, "red") == 0     ? PERMIT_SEV_RED
                      : strcmp(s->valuestring, "amber") == 0 ? PERMIT_SEV_AMBER
                                                             : PERMIT_SEV_INFO;
        if (cJSON_IsString(t))
            snprintf(f->text, sizeof f->text, "%s", t->valuestring);
        if (cJSON_IsString(at))
            pw_time_parse(at->valuestring, &f->at);
        char *evs = ev ? cJSON_PrintUnformatted(ev) : NULL;
        snprintf(f->evidence, sizeof f->evidence, "%s", evs && strlen(evs) < sizeof f->evidence ? evs : "{}");
        free(evs);
        out->n++;
    }
    cJSON_Delete(a);
    return PW_OK;
}

int permit_to_json(const struct permit *p, const struct permit_findings *fs, struct pw_buf *b)
{
    pw_buf_puts(b, "{\"id\":");
    pw_buf_json_str(b, p->id);
    pw_buf_printf(b, ",\"type\":\"%s\",\"grade\":", permit_type_name(p->type));
    pw_buf_json_str_or_null(b, permit_grade_name(p->grade));
    pw_buf_puts(b, ",\"enterprise\":");
    pw_buf_json_str(b, p->enterprise);
    pw_buf_puts(b, ",\"area\":");
    pw_buf_json_str_or_null(b, p->area);
    pw_buf_puts(b, ",\"location\":");
    location_json(p, b);
    pw_buf_printf(b, ",\"outdoor\":%s,\"equipment\":", p->outdoor ? "true" : "false");
    pw_buf_json_str(b, p->equipment);
    pw_buf_puts(b, ",\"number\":");
    pw_buf_json_str(b, p->number);
    time_member(b, "planned_start", p->planned_start);
    time_member(b, "planned_end", p->planned_end);
    pw_buf_puts(b, ",\"leader\":");
    pw_buf_json_str(b, p->leader);
    pw_buf_puts(b, ",\"workers\":[");
    for (int i = 0; i < p->nworkers; i++) {
        if (i)
            pw_buf_putc(b, ',');
        pw_buf_json_str(b, p->workers[i]);
    }
    pw_buf_puts(b, "],\"guardian\":");
    pw_buf_json_str(b, p->guardian);
    pw_buf_puts(b, ",\"video\":");
    pw_buf_json_str_or_null(b, p->video);
    pw_buf_printf(b, ",\"state\":\"%s\"", permit_state_name(p->state));
    time_member(b, "filed_at", p->filed_at);
    time_member(b, "started_at", p->started_at);
    time_member(b, "ended_at", p->ended_at);
    pw_buf_puts(b, ",\"analyses\":[");
    for (int i = 0; i < p->nanalyses; i++) {
        const struct permit_analysis *a = &p->analyses[i];
        pw_buf_puts(b, i ? ",{\"at\":" : "{\"at\":");
        pw_buf_json_time(b, a->at);
        pw_buf_puts(b, ",\"point\":");
        pw_buf_json_str(b, a->point);
        pw_buf_puts(b, ",\"gas\":");
        pw_buf_json_str(b, a->gas);
        pw_buf_printf(b, ",\"value\":%.17g,\"unit\":", a->value);
        pw_buf_json_str(b, a->unit);
        pw_buf_puts(b, ",\"analyst\":");
        pw_buf_json_str(b, a->analyst);
        if (a->lel_pct > 0)
            pw_buf_printf(b, ",\"lel_pct\":%.17g", a->lel_pct);
        pw_buf_putc(b, '}');
    }
    pw_buf_puts(b, "],\"pauses\":[");
    for (int i = 0; i < p->npauses; i++) {
        pw_buf_puts(b, i ? ",{\"from\":" : "{\"from\":");
        pw_buf_json_time(b, p->pauses[i].from);
        pw_buf_puts(b, ",\"to\":");
        pw_buf_json_time(b, p->pauses[i].to);
        pw_buf_putc(b, '}');
    }
    pw_buf_printf(b, "],\"rev\":%lld", (long long)p->rev);
    if (fs) {
        pw_buf_puts(b, ",\"findings\":");
        permit_findings_json(fs, b);
        pw_buf_printf(b, ",\"worst\":\"%s\"", permit_severity_name(permit_findings_worst(fs)));
    }
    return pw_buf_putc(b, '}');
}

/* ---- the daily spot-check draw ---- */
bool permit_spot_drawn(const struct permit_rules *r, const struct permit *p, int64_t day,
                       int past_findings, char *why, size_t cap)
{
    if (p->type == PERMIT_HOT_WORK && p->grade == PERMIT_GRADE_SPECIAL) {
        snprintf(why, cap, "every special-grade hot work (特级动火全部抽查)");
        return true;
    }
    bool first = p->type == PERMIT_HOT_WORK && p->grade == PERMIT_GRADE_FIRST;
    int pct = first ? r->spot_first_pct : r->spot_other_pct;
    int k = past_findings < 0 ? 0 : past_findings > 8 ? 8 : past_findings;
    double weight = 1 + 0.25 * k, prob = pct / 100.0 * weight;
    if (prob > 1)
        prob = 1;
    char key[64];
    int n = snprintf(key, sizeof key, "%lld:%s", (long long)day, p->id);
    uint64_t h = pw_hash64(key, (size_t)n, 0x7065726d6974ull);
    double u = (double)(h >> 11) / 9007199254740992.0;
    snprintf(why, cap, "%s: %d %% × %.2f (%d past findings of the enterprise) = %.0f %%",
             first ? "first-grade hot work" : "other permit", pct, weight, k, prob * 100);
    return u < prob;
}
