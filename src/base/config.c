/* config.c — parse, bound-check and print the configuration table of config_keys.h. */
#include "base/config.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const struct pw_config_key keys[] = {
#define PW_CFG_ROW(sec, k, type, def, mn, mx, rt, doc)                                             \
    {#sec "." #k, #sec, #k, PW_CFG_##type, def,                                                    \
     mn,          mx,   rt, doc,           offsetof(struct pw_config, sec##_##k)},
    PW_CONFIG_KEYS(PW_CFG_ROW)
#undef PW_CFG_ROW
};

const struct pw_config_key *pw_config_keys(size_t *n)
{
    *n = PW_ARRAY_LEN(keys);
    return keys;
}

const struct pw_config_key *pw_config_find(const char *name)
{
    for (size_t i = 0; i < PW_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

int pw_size_parse(const char *s, int64_t *out)
{
    static const struct {
        const char *suf;
        int64_t mult;
    } sufs[] = {{"", 1},          {"B", 1},     {"KiB", 1024},   {"MiB", 1 << 20},
                {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000},
                {"k", 1024},      {"K", 1024},  {"M", 1 << 20},  {"G", 1 << 30}};
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return PW_EINVAL;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s)
        return PW_EINVAL;
    for (size_t i = 0; i < PW_ARRAY_LEN(sufs); i++) {
        if (strcmp(end, sufs[i].suf) == 0) {
            if (v > INT64_MAX / sufs[i].mult)
                return PW_EINVAL;
            *out = v * sufs[i].mult;
            return PW_OK;
        }
    }
    return PW_EINVAL;
}

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s)
        return PW_EINVAL;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return PW_EINVAL;
    *out = v;
    return PW_OK;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "1")) {
        *out = true;
        return PW_OK;
    }
    if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "0")) {
        *out = false;
        return PW_OK;
    }
    return PW_EINVAL;
}

static int enum_has(const char *choices, const char *v)
{
    size_t vl = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && strncmp(p, v, l) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

/* Parses value for key k into a number (INT, DUR, SIZE) with bounds, or validates it. */
static int parse_num(const struct pw_config_key *k, const char *s, int64_t *out)
{
    switch (k->type) {
    case PW_CFG_INT:
        return parse_int(s, out);
    case PW_CFG_DUR:
        return pw_duration_parse(s, out);
    case PW_CFG_SIZE:
        return pw_size_parse(s, out);
    default:
        return PW_EINVAL;
    }
}

static const char *type_name(enum pw_cfg_type t)
{
    switch (t) {
    case PW_CFG_STR:
        return "string";
    case PW_CFG_INT:
        return "integer";
    case PW_CFG_BOOL:
        return "boolean";
    case PW_CFG_ENUM:
        return "one of";
    case PW_CFG_DUR:
        return "duration";
    case PW_CFG_SIZE:
        return "size";
    }
    return "?";
}

int pw_config_set(struct pw_config *c, const char *name, const char *value, char *err, size_t cap)
{
    const struct pw_config_key *k = pw_config_find(name);
    char *field;
    if (!k) {
        snprintf(err, cap, "unknown configuration key '%s'", name);
        return PW_ECONFIG;
    }
    field = (char *)c + k->offset;
    switch (k->type) {
    case PW_CFG_STR:
        if (strlen(value) > 4096) {
            snprintf(err, cap, "%s: value longer than 4096 bytes", name);
            return PW_ECONFIG;
        }
        free(*(char **)field);
        *(char **)field = pw_xstrdup(value);
        return PW_OK;
    case PW_CFG_ENUM:
        if (!enum_has(k->min, value)) {
            snprintf(err, cap, "%s: '%s' is not one of %s", name, value, k->min);
            return PW_ECONFIG;
        }
        free(*(char **)field);
        *(char **)field = pw_xstrdup(value);
        return PW_OK;
    case PW_CFG_BOOL: {
        bool b;
        if (parse_bool(value, &b) != PW_OK) {
            snprintf(err, cap, "%s: '%s' is not a boolean (true or false)", name, value);
            return PW_ECONFIG;
        }
        *(bool *)field = b;
        return PW_OK;
    }
    case PW_CFG_INT:
    case PW_CFG_DUR:
    case PW_CFG_SIZE: {
        int64_t v, lo, hi;
        if (parse_num(k, value, &v) != PW_OK) {
            snprintf(err, cap, "%s: '%s' is not a valid %s%s", name, value, type_name(k->type),
                     k->type == PW_CFG_DUR    ? " (e.g. 500ms, 30s, 10m, 12h, 30d, 5y)"
                     : k->type == PW_CFG_SIZE ? " (e.g. 512KiB, 64MiB)"
                                              : "");
            return PW_ECONFIG;
        }
        if ((*k->min && parse_num(k, k->min, &lo) == PW_OK && v < lo) ||
            (*k->max && parse_num(k, k->max, &hi) == PW_OK && v > hi)) {
            snprintf(err, cap, "%s: '%s' is out of range [%s, %s]", name, value, k->min, k->max);
            return PW_ECONFIG;
        }
        *(int64_t *)field = v;
        return PW_OK;
    }
    }
    snprintf(err, cap, "%s: unsupported type", name);
    return PW_ECONFIG;
}

int pw_config_set_arg(struct pw_config *c, const char *arg, char *err, size_t cap)
{
    const char *eq = strchr(arg, '=');
    char name[128];
    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof name) {
        snprintf(err, cap, "--set expects section.key=value, got '%s'", arg);
        return PW_ECONFIG;
    }
    memcpy(name, arg, (size_t)(eq - arg));
    name[eq - arg] = '\0';
    return pw_config_set(c, name, eq + 1, err, cap);
}

void pw_config_init(struct pw_config *c)
{
    char err[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < PW_ARRAY_LEN(keys); i++) {
        if (pw_config_set(c, keys[i].name, keys[i].def, err, sizeof err) != PW_OK) {
            fprintf(stderr, "level=fatal mod=config msg=\"bad default in table\" err=\"%s\"\n",
                    err);
            abort();
        }
    }
}

void pw_config_release(struct pw_config *c)
{
    for (size_t i = 0; i < PW_ARRAY_LEN(keys); i++) {
        if (keys[i].type == PW_CFG_STR || keys[i].type == PW_CFG_ENUM) {
            char **f = (char **)((char *)c + keys[i].offset);
            free(*f);
            *f = NULL;
        }
    }
}

struct ini_ctx {
    struct pw_config *c;
    const char *path;
    char *err;
    size_t cap;
    int rc;
};

static int ini_on_key(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    char full[160], msg[384];
    if (x->rc != PW_OK)
        return 0;
    snprintf(full, sizeof full, "%s.%s", section, name);
    if (pw_config_set(x->c, full, value, msg, sizeof msg) != PW_OK) {
        snprintf(x->err, x->cap, "%s", msg);
        x->rc = PW_ECONFIG;
        return 0;
    }
    return 1;
}

int pw_config_load_file(struct pw_config *c, const char *path, char *err, size_t cap)
{
    struct ini_ctx x = {c, path, err, cap, PW_OK};
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "%s: cannot open: %s", path, strerror(errno));
        return PW_ECONFIG;
    }
    /* returns 0, or the line of the first error (syntax or refused by the handler) */
    int line = ini_parse_file(f, ini_on_key, &x);
    fclose(f);
    if (line != 0) {
        /* inih reports the first failing line, whether a syntax error or a refused key */
        char msg[384];
        snprintf(msg, sizeof msg, "%s",
                 x.rc != PW_OK ? err : "syntax error (expected [section] or key = value)");
        snprintf(err, cap, "%s:%d: %s", path, line, msg);
        x.rc = PW_ECONFIG;
    }
    return x.rc;
}

void pw_config_format(const struct pw_config *c, const struct pw_config_key *k, char *buf,
                      size_t cap)
{
    const char *field = (const char *)c + k->offset;
    switch (k->type) {
    case PW_CFG_STR:
    case PW_CFG_ENUM:
        snprintf(buf, cap, "%s", *(char *const *)field);
        break;
    case PW_CFG_BOOL:
        snprintf(buf, cap, "%s", *(const bool *)field ? "true" : "false");
        break;
    case PW_CFG_INT:
        snprintf(buf, cap, "%lld", (long long)*(const int64_t *)field);
        break;
    case PW_CFG_DUR:
        pw_duration_format(*(const int64_t *)field, buf, cap);
        break;
    case PW_CFG_SIZE: {
        int64_t v = *(const int64_t *)field;
        if (v && v % (1 << 30) == 0)
            snprintf(buf, cap, "%lldGiB", (long long)(v >> 30));
        else if (v && v % (1 << 20) == 0)
            snprintf(buf, cap, "%lldMiB", (long long)(v >> 20));
        else if (v && v % 1024 == 0)
            snprintf(buf, cap, "%lldKiB", (long long)(v >> 10));
        else
            snprintf(buf, cap, "%lld", (long long)v);
        break;
    }
    }
}

static void describe_type(const struct pw_config_key *k, char *buf, size_t cap)
{
    if (k->type == PW_CFG_ENUM)
        snprintf(buf, cap, "one of %s", k->min);
    else if (*k->min || *k->max)
        snprintf(buf, cap, "%s in [%s, %s]", type_name(k->type), k->min, k->max);
    else
        snprintf(buf, cap, "%s", type_name(k->type));
}

/* Writes text as "# " comment lines of at most ~90 columns (INI readers limit line length). */
static void write_comment(FILE *f, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t n = strlen(p);
        if (n > 88) {
            n = 88;
            while (n > 20 && p[n] != ' ')
                n--;
        }
        fprintf(f, "# %.*s\n", (int)n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
}

void pw_config_write_ini(FILE *f, const struct pw_config *c)
{
    struct pw_config defaults;
    const char *section = "";
    char val[4200], type[160];
    if (!c) {
        pw_config_init(&defaults);
        c = &defaults;
    }
    fprintf(f, "# parkwatch configuration (INI).\n"
               "# Generated from the configuration table by `parkwatch config --defaults`.\n"
               "# Every key can also be given on the command line: --set section.key=value.\n");
    for (size_t i = 0; i < PW_ARRAY_LEN(keys); i++) {
        const struct pw_config_key *k = &keys[i];
        if (strcmp(section, k->section) != 0) {
            section = k->section;
            fprintf(f, "\n[%s]\n", section);
        }
        describe_type(k, type, sizeof type);
        pw_config_format(c, k, val, sizeof val);
        fputc('\n', f);
        write_comment(f, k->doc);
        fprintf(f, "# %s; default %s%s\n%s = %s\n", type, *k->def ? k->def : "(empty)",
                k->runtime ? "; changeable at runtime" : "", k->key, val);
    }
    if (c == &defaults)
        pw_config_release(&defaults);
}

void pw_config_write_markdown(FILE *f)
{
    char type[160];
    fprintf(f, "| key | type | default | runtime | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < PW_ARRAY_LEN(keys); i++) {
        const struct pw_config_key *k = &keys[i];
        describe_type(k, type, sizeof type);
        /* a '|' would end the Markdown cell */
        char cell[200];
        size_t o = 0;
        for (const char *p = type; *p && o + 3 < sizeof cell; p++) {
            if (*p == '|')
                cell[o++] = '\\';
            cell[o++] = *p;
        }
        cell[o] = '\0';
        fprintf(f, "| `%s` | %s | `%s` | %s | %s |\n", k->name, cell, k->def,
                k->runtime ? "yes" : "no", k->doc);
    }
}
