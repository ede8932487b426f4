/* write_cache_int.h — the series-resolution cache of `POST /write` (internal to src/http/).
 *
 * Maps the raw bytes of a line-protocol line to tsdb series refs, so that a line whose series
 * already exist costs one hash and one memcmp of its `measurement[,tags]` part plus a short
 * compare per field, instead of copying labels and building, hashing and looking up a canonical
 * key per sample. Two levels:
 *
 *     (db, raw series)                 → series entry     one per distinct line head
 *     (series entry, raw field key)    → tsdb series ref  one per sample name
 *
 * "Raw" is influx_sample.series / .field: the bytes exactly as written, escapes included. The
 * mapping is sound only while the sample's name and labels are a function of (db, raw series,
 * raw field): true for the options POST /write uses (default separator, neither
 * skip_single_field nor skip_measurement); the caller bypasses the cache otherwise. Different
 * spellings of one series (tags in another order, other escapes) get separate entries with the
 * same ref.
 *
 * Entries are never removed and never change once published, except that a series entry's list
 * of field entries grows: tsdb never changes or deletes a ref, so nothing can go stale. Callers
 * insert only refs that tsdb resolved for a sample that passed every check of POST /write (labels
 * count, NUL bytes), so a hit (an exact byte match on db, series and field) needs no check again.
 *
 * Threads: any number of threads call every function concurrently, without locks. Lookups are
 * acquire loads of atomic pointers (an open-addressing table of series entries; per series entry,
 * blocks of field entries); an insert publishes a fully built entry with compare-and-swap into an
 * empty slot (a racing insert of the same key keeps the first and frees its own).
 * write_cache_free runs alone.
 *
 * Memory: bounded at creation. The series table has a fixed slot array (a power of two at least
 * twice max_entries, 8 bytes a slot) and takes at most max_entries series entries (load factor
 * <= 1/2: probes stay short and always end). A series entry keeps at most 64 field keys (a lookup
 * is at most that many short compares; in practice one, see write_cache_field_get). Entry memory
 * (headers, keys, field blocks, allocator overhead) is counted and capped at max_bytes. Past any
 * bound inserts are refused (NULL / PW_EFULL) and callers resolve through tsdb as without the
 * cache. Keys longer than WRITE_CACHE_MAX_KEY bytes are never cached. */
#ifndef PW_HTTP_WRITE_CACHE_INT_H
#define PW_HTTP_WRITE_CACHE_INT_H

#include <stddef.h>
#include <stdint.h>

#define WRITE_CACHE_MAX_KEY 4096 /* bytes of db + raw series, or of a raw field key */

struct write_cache;
struct write_cache_series; /* a series entry; lives as long as the cache */

struct write_cache_stats {
    size_t series;          /* series entries (with those being inserted right now) */
    size_t fields;          /* field entries */
    size_t bytes;           /* entry memory counted against max_bytes */
    size_t refused;         /* inserts refused by a bound */
    size_t max_bytes_total; /* the memory bound: slot array + max_bytes */
};

/* Creates an empty cache for up to max_entries series entries (>= 1) with at most max_bytes of
 * entry memory. Never fails (allocation failure aborts). */
struct write_cache *write_cache_new(size_t max_entries, size_t max_bytes);
/* Frees c and every entry. NULL is accepted. No other thread may use c any more. */
void write_cache_free(struct write_cache *c);

/* The hash of (db, raw series): seed = write_cache_seed(db) once per request, then
 * write_cache_hash(seed, series) once per line. db may be NULL when db_len is 0. */
uint64_t write_cache_seed(const char *db, size_t db_len);
uint64_t write_cache_hash(uint64_t seed, const char *series, size_t len);

/* Returns the entry of (db, series), hash being their write_cache_hash, or NULL. */
const struct write_cache_series *write_cache_series_get(const struct write_cache *c, uint64_t hash,
                                                        const char *db, size_t db_len,
                                                        const char *series, size_t len);
/* Returns the entry of (db, series), inserting it when absent; NULL when a bound refuses it. */
const struct write_cache_series *write_cache_series_put(struct write_cache *c, uint64_t hash,
                                                        const char *db, size_t db_len,
                                                        const char *series, size_t len);

/* Returns the ref cached for field key `field` of series entry s, or UINT32_MAX. *hint is a
 * position in s's field list to try first, and is set past the position found on a hit (left
 * unmodified on a miss): start each line at 0 and pass the same variable for each of its fields,
 * so fields written in the usual order are found at the first compare. */
uint32_t write_cache_field_get(const struct write_cache *c, const struct write_cache_series *s,
                               const char *field, size_t len, size_t *hint);
/* Caches ref for field key `field` of s. Returns PW_OK (also when the key was already there: the
 * first ref stays) or PW_EFULL when a bound refuses it. */
int write_cache_field_put(struct write_cache *c, const struct write_cache_series *s,
                          const char *field, size_t len, uint32_t ref);

/* Current figures (each read atomically; together they are a sketch under concurrent inserts). */
void write_cache_stats(const struct write_cache *c, struct write_cache_stats *st);

#endif
