/* rules_int.h — internals shared by the files of src/rules/: rule definitions, the override
 * parser, the string map. Nothing here is part of the public contract. */
#ifndef PW_RULES_INT_H
#define PW_RULES_INT_H

#include "rules/rules.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Rule kinds evaluated per series (offline and linked live on devices and areas). */
enum rk { RK_GAS, RK_THRESHOLD, RK_EXCEED, RK_EARLY, RK_FLATLINE, RK_ROC, RK_CURVE, RK_COUNT };
_Static_assert(RK_COUNT <= RULES_PER_SERIES_MAX, "every kind fits on one series");

extern const char *const rules_kind_names[RK_COUNT];

/* band setpoints present */
#define RB_UP1 1u
#define RB_UP2 2u
#define RB_DN1 4u
#define RB_DN2 8u

struct rcurve {
    int64_t start;
    size_t n;
    int64_t off[RULES_CURVE_POINTS_MAX]; /* ascending */
    double val[RULES_CURVE_POINTS_MAX];
};

/* The parameters of one rule kind on one point. Fields not used by the kind are zero. */
struct rdef {
    unsigned set;            /* RB_* (gas, threshold, exceed) */
    double up1, up2, dn1, dn2;
    double deadband;
    int64_t on_delay, off_delay;
    bool o2;                 /* gas: oxygen band */
    bool strict;             /* exceed: value > limit (not >=) */
    double max_per_min;      /* roc */
    int64_t window;          /* roc, flatline, early */
    double epsilon;          /* flatline */
    int64_t horizon;         /* early */
    double alarm1;           /* early: the level predicted */
    double tolerance;        /* curve */
    struct rcurve *curve;    /* curve (owned) */
};

/* A parsed override document. */
struct rovr {
    unsigned has;            /* bit (1u << rk): the kind is given */
    unsigned off;            /* bit (1u << rk): the kind is given as false */
    struct rdef def[RK_COUNT];
    bool has_offline, offline_off;
    int64_t offline_after;
    bool has_linked, linked_off;
    int linked_count, linked_level;
    int64_t linked_window;
};

/* Parses an override document for target ("area:" prefix = area target). Returns PW_OK and *o
 * (release with rules_ovr_release), PW_EINVAL with a message in err, PW_ETOOBIG. */
int rules_ovr_parse(const char *target, const char *json, size_t len, struct rovr *o, char *err,
                    size_t errcap);
void rules_ovr_release(struct rovr *o);
/* Deep copy of a definition (the curve is duplicated). */
void rules_def_copy(struct rdef *dst, const struct rdef *src);
/* Appends the definition as a JSON object in the override format. */
int rules_def_json(enum rk k, const struct rdef *d, struct pw_buf *out);

/* Loads every override: calls fn(target, json) in target order. */
int rules_db_foreach(struct rules_db *db, int (*fn)(const char *target, const char *json,
                                                    void *arg),
                     void *arg);

/* ---- a string -> uint32 open-addressing map; keys are borrowed and must outlive the map ---- */
struct smap_slot {
    uint64_t h;
    const char *k; /* NULL = empty */
    uint32_t v;
};
struct smap {
    struct smap_slot *s;
    size_t cap, n; /* cap is a power of two */
};
void smap_init(struct smap *m);
void smap_release(struct smap *m);
/* Returns a pointer to the value, or NULL. */
uint32_t *smap_get(const struct smap *m, const char *k);
/* Inserts or replaces. */
void smap_put(struct smap *m, const char *k, uint32_t v);

#endif
