/* jsonv.h — the JSON validation shared by the park model import (model/import.c), device events
 * (ingest/devevents.c) and rule overrides (rules/rules_def.c).
 *
 * The pieces every validator of a parsed cJSON tree needs, without the wording of its messages
 * (each caller keeps the messages its users and tests know): the JSON path of the value being
 * checked ("$.devices[3].points[0]"), classification of a number against a range, lookup of an
 * enum string, the list of allowed names for a message, the check of an object's keys against
 * the allowed ones (unknown and repeated keys), a short description of a value for a message, and
 * an error that names its path. No allocation; every output is bounded by the caller's buffer. */
#ifndef PW_JSONV_H
#define PW_JSONV_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* ---- the JSON path: a NUL-terminated string in path[0..cap) whose length is *len ---- */

/* Appends ".key" (cut to fit) and returns the old length, for jsonv_path_pop. */
size_t jsonv_path_key(char *path, size_t cap, size_t *len, const char *key);
/* Appends "[i]" and returns the old length. */
size_t jsonv_path_idx(char *path, size_t cap, size_t *len, size_t i);
/* Goes back to the length a push returned. */
void jsonv_path_pop(char *path, size_t *len, size_t old);

/* Writes "path: message" (only the message when path is NULL) into err[0..cap) and
 * returns PW_EINVAL. cap 0 writes nothing. */
int jsonv_fail(char *err, size_t cap, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- values ---- */

enum jsonv_num {
    JSONV_NUM_OK,
    JSONV_NUM_TYPE,     /* not a JSON number */
    JSONV_NUM_INFINITE, /* too large for a double (1e999) */
    JSONV_NUM_FRACTION, /* integer wanted, has a fraction */
    JSONV_NUM_RANGE,    /* outside [lo, hi] */
};

/* Classifies v against [lo, hi] (integer: no fraction), checked in the order of the enum; sets
 * *out (may be NULL) only on JSONV_NUM_OK. */
enum jsonv_num jsonv_number(const cJSON *v, double lo, double hi, bool integer, double *out);

/* Index of s in the NULL-terminated names, -1 when absent (s NULL → -1). */
int jsonv_enum(const char *s, const char *const *names);

/* names joined by sep into buf[0..cap), cut when it does not fit. */
void jsonv_list(const char *const *names, const char *sep, char *buf, size_t cap);

/* A short description of v for messages: "high" (quoted, cut at 40 bytes on a UTF-8 boundary),
 * 12, true, null, an object, an array. Returns buf. */
const char *jsonv_describe(const cJSON *v, char *buf, size_t cap);

/* The first member of object obj whose key is not in the NULL-terminated allowed list, or (with
 * refuse_dups) repeats an earlier key (only the first 64 allowed names are tracked); *dup says
 * which. NULL when every key is fine. A member without a key counts as unknown. */
const cJSON *jsonv_bad_key(const cJSON *obj, const char *const *allowed, bool refuse_dups,
                           bool *dup);

#endif
