/* config.h — the daemon's configuration, generated from the table in config_keys.h.
 *
 * Values are applied in order: table defaults, then the INI file (--config), then each
 * `--set section.key=value`. Every value goes through the same parser and bounds check; an
 * unknown key or an out-of-range value is refused with a message naming the key. */
#ifndef PW_CONFIG_H
#define PW_CONFIG_H

#include "base/config_keys.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PW_CFG_CTYPE_STR char *
#define PW_CFG_CTYPE_ENUM char *
#define PW_CFG_CTYPE_INT int64_t
#define PW_CFG_CTYPE_DUR int64_t
#define PW_CFG_CTYPE_SIZE int64_t
#define PW_CFG_CTYPE_BOOL bool

struct pw_config {
#define PW_CFG_FIELD(sec, key, type, def, mn, mx, rt, doc) PW_CFG_CTYPE_##type sec##_##key;
    PW_CONFIG_KEYS(PW_CFG_FIELD)
#undef PW_CFG_FIELD
};

enum pw_cfg_type { PW_CFG_STR, PW_CFG_INT, PW_CFG_BOOL, PW_CFG_ENUM, PW_CFG_DUR, PW_CFG_SIZE };

struct pw_config_key {
    const char *name; /* "section.key" */
    const char *section;
    const char *key;
    enum pw_cfg_type type;
    const char *def, *min, *max; /* for ENUM, min = "a|b|c" */
    bool runtime;
    const char *doc;
    size_t offset; /* of the field in struct pw_config */
};

/* Fills c with the table's defaults. Aborts if the table itself is invalid (a programmer error). */
void pw_config_init(struct pw_config *c);
void pw_config_release(struct pw_config *c);

/* Sets "section.key" from its textual value. Returns PW_OK, or PW_ECONFIG with a message in err
 * naming the key and the reason; c is unchanged on error. */
int pw_config_set(struct pw_config *c, const char *name, const char *value, char *err, size_t cap);
/* Parses an `--set` argument "section.key=value". */
int pw_config_set_arg(struct pw_config *c, const char *arg, char *err, size_t cap);
/* Loads an INI file; the first error stops it and names file, line and key. */
int pw_config_load_file(struct pw_config *c, const char *path, char *err, size_t cap);

/* The table, for listing and docs. */
const struct pw_config_key *pw_config_keys(size_t *n);
const struct pw_config_key *pw_config_find(const char *name);
/* Writes the current value of key k as text. */
void pw_config_format(const struct pw_config *c, const struct pw_config_key *k, char *buf,
                      size_t cap);

/* Writes a complete, commented INI file: with c == NULL the defaults, otherwise c's values. */
void pw_config_write_ini(FILE *f, const struct pw_config *c);
/* Writes the table as a Markdown reference (docs/configuration.md is generated from this). */
void pw_config_write_markdown(FILE *f);

/* Parses "64MiB", "1KiB", "512", "10MB" → bytes. */
int pw_size_parse(const char *s, int64_t *out);

#endif
