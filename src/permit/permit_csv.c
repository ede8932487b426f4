/* permit_csv.c — permits from a spreadsheet (CSV, RFC 4180): the header names the columns (any
 * order, unknown columns refused so a typo is not silently dropped), each row becomes a permit
 * validated exactly as a JSON one (each row is built into the JSON object and parsed by
 * permit_from_json), a bad row is reported with its line and column. Bounded: PERMIT_IMPORT_MAX
 * bytes, PERMIT_BATCH_MAX rows, CSV_COLS columns, CSV_CELL bytes a cell. */
#include "permit/permit.h"

#include "base/err.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CSV_COLS 32
#define CSV_CELL 4096

static const char *const known[] = {"type",     "grade",        "enterprise",  "area",
                                    "lon",      "lat",          "polygon",     "outdoor",
                                    "equipment", "planned_start", "planned_end", "leader",
                                    "workers",  "guardian",     "video",       "number"};
#define NKNOWN (sizeof known / sizeof known[0])

struct reader {
    const char *p, *end;
    int line;
};

/* Reads one record into cells (each NUL-terminated, malloc'ed in one block *buf). Returns the
 * number of cells, 0 at the end, -1 on a malformed record (err set). */
static int record(struct reader *r, char **cells, char **buf, char *err, size_t cap)
{
    if (r->p >= r->end)
        return 0;
    size_t rest = (size_t)(r->end - r->p), most = (size_t)CSV_COLS * (CSV_CELL + 1) + 1;
    size_t room = rest + CSV_COLS + 1 < most ? rest + CSV_COLS + 1 : most;
    char *out = malloc(room), *o = out;
    int n = 0;
    *buf = out;
    if (!out) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    cells[n++] = o;
    size_t cell = 0;
    bool quoted = false, at_start = true;
    while (r->p < r->end) {
        char c = *r->p++;
        if (quoted) {
            if (c == '"') {
                if (r->p < r->end && *r->p == '"') {
                    r->p++;
                } else {
                    quoted = false;
                    continue;
                }
            } else if (c == '\n') {
                r->line++;
            }
        } else if (c == '"' && at_start) {
            quoted = true;
            at_start = false;
            continue;
        } else if (c == ',') {
            *o++ = '\0';
            if (n >= CSV_COLS) {
                snprintf(err, cap, "more than %d columns", CSV_COLS);
                return -1;
            }
            cells[n++] = o;
            cell = 0;
            at_start = true;
            continue;
        } else if (c == '\r' && r->p < r->end && *r->p == '\n') {
            continue;
        } else if (c == '\n') {
            r->line++;
            *o = '\0';
            return n;
        } else if (c == '"') {
            snprintf(err, cap, "a quote inside an unquoted cell");
            return -1;
        }
        if (c == '\0') {
            snprintf(err, cap, "a NUL byte");
            return -1;
        }
        if (++cell > CSV_CELL) {
            snprintf(err, cap, "a cell longer than %d bytes", CSV_CELL);
            return -1;
        }
        at_start = false;
        *o++ = c;
    }
    if (quoted) {
        snprintf(err, cap, "a quoted cell is not closed");
        return -1;
    }
    *o = '\0';
    return n;
}

static bool blank_row(char **cells, int n)
{
    for (int i = 0; i < n; i++)
        if (cells[i][0])
            return false;
    return true;
}

static void trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    if (i)
        memmove(s, s + i, n - i + 1);
}

/* The next non-empty ';'-separated piece of *p (cut in place), or NULL at the end. */
static char *next_piece(char **p)
{
    char *s = *p;
    while (*s == ';')
        s++;
    if (!*s)
        return NULL;
    char *e = strchr(s, ';');
    if (e) {
        *e = '\0';
        *p = e + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

static bool parse_num(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s && !*end;
}

/* The row as the API's JSON object; NULL with *col and why set. */
static cJSON *row_json(char **cells, int n, const int *colof, const char **col, char *why,
                       size_t cap)
{
    cJSON *j = cJSON_CreateObject();
    const char *v[NKNOWN] = {0};
    for (size_t k = 0; k < NKNOWN; k++)
        v[k] = colof[k] >= 0 && colof[k] < n ? cells[colof[k]] : "";
    for (size_t k = 0; k < NKNOWN; k++) {
        const char *name = known[k];
        if (!v[k][0] || !strcmp(name, "lon") || !strcmp(name, "lat") ||
            !strcmp(name, "polygon") || !strcmp(name, "outdoor") || !strcmp(name, "workers"))
            continue;
        cJSON_AddStringToObject(j, name, v[k]);
    }
    /* location: polygon "lon lat;lon lat;…" or lon + lat */
    const char *poly = v[6], *lon = v[4], *lat = v[5];
    if (poly[0]) {
        cJSON *ring = cJSON_AddArrayToObject(j, "location");
        char tmp[CSV_CELL + 1];
        snprintf(tmp, sizeof tmp, "%s", poly);
        char *cur = tmp;
        for (char *t = next_piece(&cur); t; t = next_piece(&cur)) {
            double x, y;
            char *sp = t;
            while (*sp == ' ')
                sp++;
            char *end;
            x = strtod(sp, &end);
            if (end == sp) {
                *col = "polygon";
                snprintf(why, cap, "expected \"lon lat;lon lat;…\"");
                goto fail;
            }
            char *rest = end;
            y = strtod(rest, &end);
            while (*end == ' ')
                end++;
            if (end == rest || *end) {
                *col = "polygon";
                snprintf(why, cap, "expected \"lon lat;lon lat;…\"");
                goto fail;
            }
            cJSON *pt = cJSON_CreateArray();
            cJSON_AddItemToArray(pt, cJSON_CreateNumber(x));
            cJSON_AddItemToArray(pt, cJSON_CreateNumber(y));
            cJSON_AddItemToArray(ring, pt);
        }
    } else if (lon[0] || lat[0]) {
        double x, y;
        if (!parse_num(lon, &x)) {
            *col = "lon";
            snprintf(why, cap, "expected a number, got \"%.40s\"", lon);
            goto fail;
        }
        if (!parse_num(lat, &y)) {
            *col = "lat";
            snprintf(why, cap, "expected a number, got \"%.40s\"", lat);
            goto fail;
        }
        cJSON *pt = cJSON_AddArrayToObject(j, "location");
        cJSON_AddItemToArray(pt, cJSON_CreateNumber(x));
        cJSON_AddItemToArray(pt, cJSON_CreateNumber(y));
    }
    const char *od = v[7];
    if (od[0]) {
        bool t = !strcasecmp(od, "true") || !strcmp(od, "1") || !strcasecmp(od, "yes") ||
                 !strcmp(od, "是") || !strcmp(od, "室外");
        bool f = !strcasecmp(od, "false") || !strcmp(od, "0") || !strcasecmp(od, "no") ||
                 !strcmp(od, "否") || !strcmp(od, "室内");
        if (!t && !f) {
            *col = "outdoor";
            snprintf(why, cap, "expected true or false, got \"%.40s\"", od);
            goto fail;
        }
        cJSON_AddBoolToObject(j, "outdoor", t);
    }
    if (v[12][0]) {
        cJSON *w = cJSON_AddArrayToObject(j, "workers");
        char tmp[CSV_CELL + 1];
        snprintf(tmp, sizeof tmp, "%s", v[12]);
        /* ';' or '、' separate names */
        for (char *q = strstr(tmp, "、"); q; q = strstr(q, "、")) {
            q[0] = ';';
            memmove(q + 1, q + 3, strlen(q + 3) + 1);
        }
        char *cur = tmp;
        for (char *t = next_piece(&cur); t; t = next_piece(&cur)) {
            trim(t);
            if (*t)
                cJSON_AddItemToArray(w, cJSON_CreateString(t));
        }
    }
    return j;
fail:
    cJSON_Delete(j);
    return NULL;
}

int permit_csv_parse(const char *csv, size_t len,
                     void (*fn)(int line, const struct permit *p, void *arg),
                     void (*bad)(int line, const char *column, const char *why, void *arg),
                     void *arg, char *err, size_t cap)
{
    int rc = PW_OK;
    if (len > PERMIT_IMPORT_MAX) {
        snprintf(err, cap, "CSV larger than %u bytes", PERMIT_IMPORT_MAX);
        return PW_ETOOBIG;
    }
    struct reader r = {csv, csv + len, 1};
    if (len >= 3 && memcmp(csv, "\xEF\xBB\xBF", 3) == 0)
        r.p += 3;
    char *cells[CSV_COLS + 1], *buf = NULL;
    int colof[NKNOWN];
    for (size_t k = 0; k < NKNOWN; k++)
        colof[k] = -1;
    int n = record(&r, cells, &buf, err, cap);
    if (n <= 0 || blank_row(cells, n)) {
        if (n == 0 || (n > 0 && blank_row(cells, n)))
            snprintf(err, cap, "line 1: expected a header row naming the columns");
        free(buf);
        return PW_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        trim(cells[i]);
        size_t k = 0;
        while (k < NKNOWN && strcasecmp(cells[i], known[k]) != 0)
            k++;
        if (k == NKNOWN) {
            snprintf(err, cap, "line 1: column %d \"%.40s\": unknown (columns: type, grade, "
                     "enterprise, area, lon, lat, polygon, outdoor, equipment, planned_start, "
                     "planned_end, leader, workers, guardian, video, number)", i + 1, cells[i]);
            rc = PW_EINVAL;
            goto out;
        }
        if (colof[k] >= 0) {
            snprintf(err, cap, "line 1: column \"%s\" appears twice", known[k]);
            rc = PW_EINVAL;
            goto out;
        }
        colof[k] = i;
    }
    static const char *const required[] = {"type", "planned_start", "planned_end"};
    for (size_t q = 0; q < 3; q++) {
        size_t k = 0;
        while (strcmp(known[k], required[q]) != 0)
            k++;
        if (colof[k] < 0) {
            snprintf(err, cap, "line 1: the required column \"%s\" is missing", required[q]);
            rc = PW_EINVAL;
            goto out;
        }
    }
    if (colof[6] < 0 && (colof[4] < 0 || colof[5] < 0)) {
        snprintf(err, cap, "line 1: the location needs the columns lon and lat, or polygon");
        rc = PW_EINVAL;
        goto out;
    }
    int rows = 0;
    for (;;) {
        free(buf);
        buf = NULL;
        int line = r.line;
        char why[200] = "";
        n = record(&r, cells, &buf, why, sizeof why);
        if (n == 0)
            break;
        if (n < 0) {
            bad(line, "", why, arg);
            /* the rest of the input cannot be framed reliably */
            break;
        }
        if (blank_row(cells, n))
            continue;
        if (++rows > PERMIT_BATCH_MAX) {
            snprintf(err, cap, "more than %d rows", PERMIT_BATCH_MAX);
            rc = PW_ETOOBIG;
            goto out;
        }
        for (int i = 0; i < n; i++)
            trim(cells[i]);
        const char *col = "";
        cJSON *j = row_json(cells, n, colof, &col, why, sizeof why);
        if (!j) {
            bad(line, col, why, arg);
            continue;
        }
        struct permit *p = malloc(sizeof *p);
        char perr[240];
        if (!p) {
            cJSON_Delete(j);
            rc = PW_ENOMEM;
            goto out;
        }
        if (permit_from_json(j, "", p, perr, sizeof perr) != PW_OK) {
            /* ".planned_end: why" → column planned_end */
            char column[32] = "";
            const char *m = perr[0] == '.' ? perr + 1 : perr, *colon = strstr(m, ": ");
            size_t cl = colon ? (size_t)(colon - m) : 0;
            if (cl < sizeof column) {
                memcpy(column, m, cl);
                column[cl] = '\0';
            }
            char *dot = strchr(column, '.');
            if (dot)
                *dot = '\0';
            if (!strcmp(column, "location"))
                snprintf(column, sizeof column, "%s", colof[6] >= 0 ? "polygon" : "lon");
            bad(line, column, colon ? colon + 2 : perr, arg);
        } else {
            fn(line, p, arg);
        }
        free(p);
        cJSON_Delete(j);
    }
out:
    free(buf);
    return rc;
}
