/* inc_int.h — internals shared by the files of src/incident/. Not a public header. */
#ifndef PW_INC_INT_H
#define PW_INC_INT_H

#include "incident/incident.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct db;

/* ---- the store: incidents.db (inc_store.c); every function under the engine's store lock ---- */
struct inc_row {
    int64_t id, opened_ms, updated_ms, closed_ms, alarm_id;
    char state[8];
    char chemical[33], quantity[33];
    struct geo_point origin;
    char *audience;  /* ",E1,E2," malloc'ed */
    char *calc;      /* inc_output_json's members, malloc'ed, "" = not computed yet */
    char *detectors; /* the member points, comma-separated, malloc'ed */
    char closed_by[64];
    char close_reason[256];
};
void inc_row_release(struct inc_row *r);

int inc_store_open(const char *path, struct db **out);
/* New incident: *id gets its number. */
int inc_store_insert(struct db *d, const struct inc_row *r, int64_t *id);
/* Writes updated_ms, audience, calc and detectors of r->id; PW_ENOTFOUND when it is closed. */
int inc_store_update(struct db *d, const struct inc_row *r);
int inc_store_close(struct db *d, int64_t id, int64_t at, const char *by, const char *reason);
int inc_store_event(struct db *d, int64_t id, int64_t at, const char *text);
/* Whether an order was recorded for (id, enterprise); records it (order 0 = none) when not and
 * *first is set. */
int inc_store_order(struct db *d, int64_t id, const char *enterprise, int64_t order, bool *first);
int inc_store_get(struct db *d, int64_t id, struct inc_row *r);
/* ids of the open incidents, oldest first, at most cap */
int inc_store_open_ids(struct db *d, int64_t *ids, size_t cap, size_t *n);
/* The incident JSON (docs/api.md) of row r with its timeline, appended to out. */
int inc_store_json(struct db *d, const struct inc_row *r, struct pw_buf *out);
/* ids newest first by state (NULL = all), at most limit, visible to scope (NULL = all) */
int inc_store_list(struct db *d, const char *state, const char *scope, int limit, int64_t *ids,
                   size_t *n);

/* "INC-000007" into buf (>= 16 bytes) */
void inc_id_format(int64_t id, char *buf, size_t cap);

#endif
