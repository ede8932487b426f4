/* lookup_ingest.c — model lookups for the MQTT client, the Modbus poller and the device event
 * log (declared at the end of model.h).
 *
 * Modbus addresses and register maps are not columns of their own: they live in the canonical
 * JSON (`doc`) the importer stored for each device and point, which the importer has already
 * validated (docs/park-model.md). They are parsed here with cJSON; a doc that does not parse (it
 * cannot, short of a hand-edited database) makes its device or point invisible, never an error.
 *
 * Every function takes m->mu for its whole run, as the rest of the model does. */
#include "model/model_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void brief_row(sqlite3_stmt *st, int col, struct model_device_brief *b)
{
    memset(b, 0, sizeof *b);
    model_db_col_text(st, col, b->id, sizeof b->id);
    model_db_col_text(st, col + 1, b->enterprise, sizeof b->enterprise);
    model_db_col_text(st, col + 2, b->kind, sizeof b->kind);
    model_db_col_text(st, col + 3, b->protocol, sizeof b->protocol);
}

#define BRIEF_COLS "d.id, d.enterprise_id, d.kind, d.protocol"

int model_device_brief(struct model *m, const char *id, struct model_device_brief *out)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, "SELECT " BRIEF_COLS " FROM device d WHERE d.id = ?1", &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW)
            brief_row(st, 0, out);
        else
            rc = s == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- MQTT ---- */

int model_mqtt_device_by_topic(struct model *m, const char *prefix, struct model_mqtt_device *out)
{
    struct model_mqtt_device d;
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    memset(&d, 0, sizeof d);
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              "SELECT " BRIEF_COLS ", d.mqtt_topic FROM device d"
                              " WHERE d.mqtt_topic = ?1 AND d.protocol = 'mqtt'",
                              &st);
    if (rc)
        goto out;
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW) {
        rc = s == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
        goto out;
    }
    brief_row(st, 0, &d.dev);
    model_db_col_text(st, 4, d.topic, sizeof d.topic);
    sqlite3_finalize(st);
    st = NULL;
    rc = model_db_prepare(m,
                          "SELECT id, quantity, series_key FROM point WHERE device_id = ?1"
                          " AND series_key IS NOT NULL ORDER BY rid",
                          &st);
    if (rc)
        goto out;
    sqlite3_bind_text(st, 1, d.dev.id, -1, SQLITE_TRANSIENT);
    while ((s = sqlite3_step(st)) == SQLITE_ROW && d.n_points < MODEL_POINTS_PER_DEVICE_MAX) {
        if (d.n_points == cap) {
            cap = cap ? cap * 2 : 8;
            d.points = pw_xrealloc(d.points, cap * sizeof *d.points);
        }
        struct model_ingest_point *p = &d.points[d.n_points++];
        model_db_col_text(st, 0, p->id, sizeof p->id);
        model_db_col_text(st, 1, p->quantity, sizeof p->quantity);
        model_db_col_text(st, 2, p->series_key, sizeof p->series_key);
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        rc = PW_EDB;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    if (rc)
        free(d.points);
    else
        *out = d;
    return rc;
}

void model_mqtt_device_release(struct model_mqtt_device *d)
{
    if (!d)
        return;
    free(d->points);
    d->points = NULL;
    d->n_points = 0;
}

int model_mqtt_topics_foreach(struct model *m,
                              int (*fn)(const char *device, const char *topic, void *arg),
                              void *arg)
{
    sqlite3_stmt *st;
    char id[MODEL_ID_MAX + 1], topic[257];
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              "SELECT id, mqtt_topic FROM device WHERE protocol = 'mqtt'"
                              " AND mqtt_topic IS NOT NULL ORDER BY rid",
                              &st);
    if (!rc) {
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            model_db_col_text(st, 0, id, sizeof id);
            model_db_col_text(st, 1, topic, sizeof topic);
            if ((rc = fn(id, topic, arg)) != PW_OK)
                break;
        }
        if (!rc && s != SQLITE_DONE)
            rc = PW_EDB;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- Modbus ---- */

static int enum_index(const char *s, const char *const *names, int dflt)
{
    if (!s)
        return dflt;
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double json_num(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* Fills d's address from the device doc. Returns false when the doc has no usable modbus
 * object. */
static bool modbus_addr(const char *doc, struct model_modbus_device *d)
{
    cJSON *root = cJSON_Parse(doc);
    const cJSON *mb = cJSON_GetObjectItemCaseSensitive(root, "modbus");
    const char *host = json_str(mb, "host");
    bool ok = cJSON_IsObject(mb) && host && strlen(host) < sizeof d->host;
    if (ok) {
        snprintf(d->host, sizeof d->host, "%s", host);
        d->port = (int)json_num(mb, "port", 502);
        d->unit = (int)json_num(mb, "unit", 1);
        const char *pi = json_str(mb, "poll_interval");
        if (!pi || pw_duration_parse(pi, &d->poll_ms) != PW_OK)
            d->poll_ms = 0;
    }
    cJSON_Delete(root);
    return ok;
}

/* Fills p's register from the point doc. Returns false when there is none. */
static bool modbus_register(const char *doc, struct model_modbus_point *p)
{
    static const char *const tables[] = {"holding", "input", "coil", "discrete", NULL};
    static const char *const types[] = {"int16", "uint16", "int32", "uint32", "float32", NULL};
    static const char *const orders[] = {"big", "little", NULL};
    cJSON *root = cJSON_Parse(doc);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "register");
    bool ok = false;
    if (cJSON_IsObject(r)) {
        int t = enum_index(json_str(r, "table"), tables, -1);
        int ty = enum_index(json_str(r, "type"), types, MODEL_MB_UINT16);
        int wo = enum_index(json_str(r, "word_order"), orders, 0);
        double a = json_num(r, "address", -1);
        if (t >= 0 && ty >= 0 && wo >= 0 && a >= 0 && a <= 65535) {
            p->table = (enum model_mb_table)t;
            p->type = (enum model_mb_type)ty;
            p->word_little = wo == 1;
            p->address = (uint16_t)a;
            p->scale = json_num(r, "scale", 1);
            p->offset = json_num(r, "offset", 0);
            ok = true;
        }
    }
    cJSON_Delete(root);
    return ok;
}

int model_modbus_devices(struct model *m, struct model_modbus_device **out, size_t *n)
{
    struct model_modbus_device *v = NULL;
    size_t nv = 0, cap = 0;
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              "SELECT " BRIEF_COLS ", d.doc, p.id, p.series_key, p.doc"
                              " FROM device d LEFT JOIN point p ON p.device_id = d.id"
                              " AND p.series_key IS NOT NULL"
                              " WHERE d.protocol = 'modbus' ORDER BY d.rid, p.rid",
                              &st);
    if (rc)
        goto out;
    char id[MODEL_ID_MAX + 1];
    size_t pcap = 0;
    bool skip = false;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        model_db_col_text(st, 0, id, sizeof id);
        if (nv == 0 || strcmp(v[nv - 1].dev.id, id) != 0) {
            if (nv == cap) {
                cap = cap ? cap * 2 : 16;
                v = pw_xrealloc(v, cap * sizeof *v);
            }
            struct model_modbus_device *d = &v[nv];
            memset(d, 0, sizeof *d);
            brief_row(st, 0, &d->dev);
            const char *doc = (const char *)sqlite3_column_text(st, 4);
            skip = !doc || !modbus_addr(doc, d);
            if (skip)
                continue; /* not kept: nv unchanged, the next row of it is skipped below */
            nv++;
            pcap = 0;
        } else if (skip) {
            continue;
        }
        struct model_modbus_device *d = &v[nv - 1];
        const char *pdoc = (const char *)sqlite3_column_text(st, 7);
        if (!pdoc || d->n_points >= MODEL_POINTS_PER_DEVICE_MAX)
            continue;
        struct model_modbus_point p;
        memset(&p, 0, sizeof p);
        if (!modbus_register(pdoc, &p))
            continue;
        model_db_col_text(st, 5, p.id, sizeof p.id);
        model_db_col_text(st, 6, p.series_key, sizeof p.series_key);
        if (d->n_points == pcap) {
            pcap = pcap ? pcap * 2 : 4;
            d->points = pw_xrealloc(d->points, pcap * sizeof *d->points);
        }
        d->points[d->n_points++] = p;
    }
    if (s != SQLITE_DONE)
        rc = PW_EDB;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    if (rc) {
        model_modbus_devices_free(v, nv);
    } else {
        *out = v;
        *n = nv;
    }
    return rc;
}

void model_modbus_devices_free(struct model_modbus_device *d, size_t n)
{
    if (!d)
        return;
    for (size_t i = 0; i < n; i++)
        free(d[i].points);
    free(d);
}
