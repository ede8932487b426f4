/* model_int.h — internals shared by the files of src/model/. Not for other modules. */
#ifndef PW_MODEL_INT_H
#define PW_MODEL_INT_H

#include "model/model.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

struct model {
    struct db *dbh;         /* db.h: DB_DURABLE */
    sqlite3 *db;            /* its connection */
    atomic_ullong gen;      /* the model generation last read (model_generation) */
    atomic_llong gen_at_ns; /* pw_mono_ns() of that read; 0 = read at the next call */
    pthread_mutex_t mu; /* guards db and everything below */
    char dummy_hash[128]; /* argon2id of a random password, verified for unknown users ("" = not
                             yet computed) */
    struct model_sessions *sessions; /* login sessions in memory (auth.c); NULL until first use */
    int64_t touch_retry_ms;          /* auth.c: no token last-use write before this (one failed) */
};

/* auth.c: writes the sessions not yet in meta.db (best effort) and frees them. Caller holds no
 * lock; called by model_close. */
void model_sessions_close(struct model *m);

/* Runs `sql` (one or more statements, no results). Returns PW_OK or PW_EDB (logged). Caller holds
 * m->mu. */
int model_db_exec(struct model *m, const char *sql);
/* Prepares sql; returns PW_OK or PW_EDB (logged). */
int model_db_prepare(struct model *m, const char *sql, sqlite3_stmt **st);
/* Copies column i of the current row as text into buf ("" when NULL), truncating to cap-1. */
void model_db_col_text(sqlite3_stmt *st, int i, char *buf, size_t cap);

/* True when s is a valid id: ASCII [A-Za-z0-9_.:-]{1,MODEL_ID_MAX}. */
bool model_valid_id(const char *s);
/* True when s (length n) is valid UTF-8 without NUL or other C0 control characters except tab. */
bool model_valid_utf8(const char *s, size_t n);
/* The key of JT/T 808 phone s, written to buf and returned: leading zeros removed ("0" when all
 * zeros), 'A'-'F' lowered (terminals with hex ids in the phone field), at most
 * MODEL_PHONE_KEY_CAP - 1 characters. The listener names terminals the same way
 * (jt808_phone_normalise), so the model, the auth codes and the series agree. */
#define MODEL_PHONE_KEY_CAP 21
const char *model_phone_key(const char *s, char buf[MODEL_PHONE_KEY_CAP]);

#endif
