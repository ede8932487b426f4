/* write_cache.c — the lock-free series-resolution cache of POST /write; write_cache_int.h has the
 * contract.
 *
 * Layout
 *   - Line heads: one open-addressing table (linear probing) of atomic pointers to immutable
 *     series entries, keyed by write_cache_hash(db, raw series).
 *   - Field keys: each series entry carries its own list of field entries, WC_BLOCK atomic
 *     pointers embedded in the entry and further blocks chained behind it, filled in order. The
 *     fields of a line are thus found next to its series entry (no second random memory access
 *     per sample), and since devices write their fields in the same order every time, the caller's
 *     hint (the position after the previous field's) usually finds a field at the first compare.
 *     At most WC_MAX_FIELDS field keys are kept per series entry, which bounds a lookup to that
 *     many compares; further keys are not cached.
 *
 * Publication: a slot goes from NULL to an entry (or block) once, by compare-and-swap, and never
 * changes again, so a reader that loads a non-NULL pointer (acquire) sees it fully built, and a
 * search that meets NULL knows the key is absent as of that load.
 *
 * Bounds: series entries are counted before they are built (fetch-add, undone when over
 * max_entries), so published and in-flight entries never exceed max_entries < half the slots and
 * every probe ends at an empty slot. All entry and block memory is counted the same way against
 * max_bytes, with the allocator's per-chunk overhead (glibc: 8 bytes, 16-byte granules, 32 bytes
 * minimum). */
#include "http/write_cache_int.h"

#include "base/err.h"
#include "base/hash.h"
#include "base/mem.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SEED_DB 0x7763616368656462ULL /* "wcachedb" */
#define WC_BLOCK 8                    /* field pointers per block */
#define WC_MAX_FIELDS 64              /* field keys per series entry */

/* Slots and blocks are zero-filled (calloc, memset) rather than atomic_init'ed one by one: a
 * lock-free atomic pointer is represented as a plain pointer, whose all-zero bytes are NULL on
 * every platform we build for. */
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "atomic pointers must be lock-free");

struct wc_field {
    uint32_t ref;
    uint32_t len;
    char key[]; /* the raw field key */
};

struct wc_block {
    _Atomic(struct wc_field *) f[WC_BLOCK];
    _Atomic(struct wc_block *) next;
};

struct write_cache_series {
    uint64_t hash;   /* write_cache_hash of (db, series) */
    uint32_t db_len; /* key = db bytes, then series bytes */
    uint32_t len;    /* of the series bytes */
    struct wc_block fields;
    char key[];
};

struct write_cache {
    _Atomic(struct write_cache_series *) *series;
    size_t mask;        /* slots - 1 */
    size_t max_entries; /* series entries */
    size_t max_bytes;
    atomic_size_t n_series, n_fields, bytes, refused;
};

_Static_assert(WC_MAX_FIELDS % WC_BLOCK == 0, "whole blocks");

static size_t entry_cost(size_t size)
{
    size_t c = (size + 8 + 15) & ~(size_t)15;
    return c < 32 ? 32 : c;
}

/* Counts `cost` bytes (and, when n is not NULL, one entry against max_entries). Returns false,
 * with nothing counted, when a bound is reached. */
static bool reserve(struct write_cache *c, atomic_size_t *n, size_t cost)
{
    if (n && atomic_fetch_add_explicit(n, 1, memory_order_relaxed) >= c->max_entries)
        goto refuse_n;
    if (atomic_fetch_add_explicit(&c->bytes, cost, memory_order_relaxed) + cost > c->max_bytes)
        goto refuse_bytes;
    return true;
refuse_bytes:
    atomic_fetch_sub_explicit(&c->bytes, cost, memory_order_relaxed);
refuse_n:
    if (n)
        atomic_fetch_sub_explicit(n, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->refused, 1, memory_order_relaxed);
    return false;
}

static void unreserve(struct write_cache *c, atomic_size_t *n, size_t cost)
{
    atomic_fetch_sub_explicit(&c->bytes, cost, memory_order_relaxed);
    if (n)
        atomic_fetch_sub_explicit(n, 1, memory_order_relaxed);
}

struct write_cache *write_cache_new(size_t max_entries, size_t max_bytes)
{
    struct write_cache *c = pw_xcalloc(1, sizeof *c);
    size_t slots = 4;
    if (max_entries < 1)
        max_entries = 1;
    while (slots < 2 * max_entries)
        slots *= 2;
    /* left as calloc made them (see the assertion above): pages of the slot array that no entry
     * hashes to are never written, so never resident */
    c->series = pw_xcalloc(slots, sizeof *c->series);
    c->mask = slots - 1;
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    atomic_init(&c->n_series, 0);
    atomic_init(&c->n_fields, 0);
    atomic_init(&c->bytes, 0);
    atomic_init(&c->refused, 0);
    return c;
}

static void free_fields(struct wc_block *b, bool embedded)
{
    while (b) {
        struct wc_block *next = atomic_load_explicit(&b->next, memory_order_relaxed);
        for (int i = 0; i < WC_BLOCK; i++)
            free(atomic_load_explicit(&b->f[i], memory_order_relaxed));
        if (!embedded)
            free(b);
        embedded = false;
        b = next;
    }
}

void write_cache_free(struct write_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i <= c->mask; i++) {
        struct write_cache_series *e = atomic_load_explicit(&c->series[i], memory_order_relaxed);
        if (e) {
            free_fields(&e->fields, true);
            free(e);
        }
    }
    free(c->series);
    free(c);
}

uint64_t write_cache_seed(const char *db, size_t db_len)
{
    return pw_hash64(db_len ? db : "", db_len, SEED_DB);
}

uint64_t write_cache_hash(uint64_t seed, const char *series, size_t len)
{
    return pw_hash64(series, len, seed);
}

/* ---- series entries ---- */

static inline bool series_is(const struct write_cache_series *e, uint64_t hash, const char *db,
                             size_t db_len, const char *series, size_t len)
{
    return e->hash == hash && e->len == len && e->db_len == db_len &&
           memcmp(e->key + db_len, series, len) == 0 &&
           (!db_len || memcmp(e->key, db, db_len) == 0);
}

const struct write_cache_series *write_cache_series_get(const struct write_cache *c, uint64_t hash,
                                                        const char *db, size_t db_len,
                                                        const char *series, size_t len)
{
    for (size_t i = hash & c->mask;; i = (i + 1) & c->mask) {
        const struct write_cache_series *e =
            atomic_load_explicit(&c->series[i], memory_order_acquire);
        if (!e)
            return NULL;
        if (series_is(e, hash, db, db_len, series, len))
            return e;
    }
}

const struct write_cache_series *write_cache_series_put(struct write_cache *c, uint64_t hash,
                                                        const char *db, size_t db_len,
                                                        const char *series, size_t len)
{
    if (db_len + len > WRITE_CACHE_MAX_KEY)
        return NULL;
    const struct write_cache_series *found =
        write_cache_series_get(c, hash, db, db_len, series, len);
    if (found)
        return found;
    size_t size = sizeof(struct write_cache_series) + db_len + len;
    size_t cost = entry_cost(size);
    if (!reserve(c, &c->n_series, cost))
        return NULL;
    struct write_cache_series *e = pw_xmalloc(size);
    memset(e, 0, sizeof *e); /* the empty field block: NULL pointers */
    e->hash = hash;
    e->db_len = (uint32_t)db_len;
    e->len = (uint32_t)len;
    if (db_len)
        memcpy(e->key, db, db_len);
    if (len)
        memcpy(e->key + db_len, series, len);
    for (size_t i = hash & c->mask;; i = (i + 1) & c->mask) {
        struct write_cache_series *cur = atomic_load_explicit(&c->series[i], memory_order_acquire);
        if (!cur && atomic_compare_exchange_strong_explicit(
                        &c->series[i], &cur, e, memory_order_acq_rel, memory_order_acquire))
            return e;
        /* cur: the entry in the slot (possibly published by a racing insert just now) */
        if (series_is(cur, hash, db, db_len, series, len)) {
            free(e);
            unreserve(c, &c->n_series, cost);
            return cur;
        }
    }
}

/* ---- field entries ---- */

static inline bool field_is(const struct wc_field *f, const char *field, size_t len)
{
    return f->len == len && memcmp(f->key, field, len) == 0;
}

/* The block holding field position pos (< WC_MAX_FIELDS) of s, or NULL when not there yet. */
static const struct wc_block *block_at(const struct write_cache_series *s, size_t pos)
{
    const struct wc_block *b = &s->fields;
    for (size_t k = pos / WC_BLOCK; k && b; k--)
        b = atomic_load_explicit(&b->next, memory_order_acquire);
    return b;
}

uint32_t write_cache_field_get(const struct write_cache *c, const struct write_cache_series *s,
                               const char *field, size_t len, size_t *hint)
{
    size_t h = *hint;
    if (h < WC_MAX_FIELDS) {
        const struct wc_block *b = block_at(s, h);
        const struct wc_field *f =
            b ? atomic_load_explicit(&b->f[h % WC_BLOCK], memory_order_acquire) : NULL;
        if (f && field_is(f, field, len)) {
            *hint = h + 1;
            return f->ref;
        }
    }
    /* in another order: every position, up to the first empty one */
    size_t pos = 0;
    for (const struct wc_block *b = &s->fields; b;
         b = atomic_load_explicit(&b->next, memory_order_acquire)) {
        for (int i = 0; i < WC_BLOCK; i++, pos++) {
            const struct wc_field *f = atomic_load_explicit(&b->f[i], memory_order_acquire);
            if (!f)
                return UINT32_MAX;
            if (field_is(f, field, len)) {
                *hint = pos + 1;
                return f->ref;
            }
        }
    }
    return UINT32_MAX;
}

int write_cache_field_put(struct write_cache *c, const struct write_cache_series *cs,
                          const char *field, size_t len, uint32_t ref)
{
    /* entries are immutable for readers; the field blocks are the one part inserters write to,
     * only through compare-and-swap on their NULL pointers */
    struct write_cache_series *s = (struct write_cache_series *)cs;
    if (len > WRITE_CACHE_MAX_KEY)
        return PW_EFULL;
    size_t size = sizeof(struct wc_field) + len, cost = entry_cost(size);
    struct wc_field *e = NULL;
    struct wc_block *b = &s->fields;
    int rc = PW_EFULL;
    for (size_t blocks = 1;; blocks++) {
        for (int i = 0; i < WC_BLOCK; i++) {
            struct wc_field *cur = atomic_load_explicit(&b->f[i], memory_order_acquire);
            if (!cur) {
                if (!e) {
                    if (!reserve(c, NULL, cost))
                        return PW_EFULL;
                    e = pw_xmalloc(size);
                    e->ref = ref;
                    e->len = (uint32_t)len;
                    if (len)
                        memcpy(e->key, field, len);
                }
                if (atomic_compare_exchange_strong_explicit(&b->f[i], &cur, e, memory_order_acq_rel,
                                                            memory_order_acquire)) {
                    atomic_fetch_add_explicit(&c->n_fields, 1, memory_order_relaxed);
                    return PW_OK;
                }
            }
            /* cur: the field in this position (possibly published by a racing insert) */
            if (field_is(cur, field, len)) {
                rc = PW_OK; /* already there: the first ref stays */
                goto out;
            }
        }
        struct wc_block *next = atomic_load_explicit(&b->next, memory_order_acquire);
        if (!next) {
            if (blocks == WC_MAX_FIELDS / WC_BLOCK) {
                atomic_fetch_add_explicit(&c->refused, 1, memory_order_relaxed);
                goto out;
            }
            size_t bcost = entry_cost(sizeof *next);
            if (!reserve(c, NULL, bcost))
                goto out;
            struct wc_block *nb = pw_xcalloc(1, sizeof *nb);
            if (atomic_compare_exchange_strong_explicit(&b->next, &next, nb, memory_order_acq_rel,
                                                        memory_order_acquire)) {
                next = nb;
            } else {
                free(nb); /* a racing insert chained one first: next is it */
                unreserve(c, NULL, bcost);
            }
        }
        b = next;
    }
out:
    if (e) {
        free(e);
        unreserve(c, NULL, cost);
    }
    return rc;
}

void write_cache_stats(const struct write_cache *c, struct write_cache_stats *st)
{
    st->series = atomic_load_explicit(&c->n_series, memory_order_relaxed);
    st->fields = atomic_load_explicit(&c->n_fields, memory_order_relaxed);
    st->bytes = atomic_load_explicit(&c->bytes, memory_order_relaxed);
    st->refused = atomic_load_explicit(&c->refused, memory_order_relaxed);
    st->max_bytes_total = (c->mask + 1) * sizeof(void *) + c->max_bytes;
}
