/* model.c — opening meta.db, the schema and its migrations, the read queries for the HTTP API,
 * the lookups for ingest, export, and small validators shared with import.c and auth.c.
 *
 * Schema (migration 1). Every model object table has `rid INTEGER PRIMARY KEY` (import order:
 * an upsert keeps the rid, so export order is stable), `id TEXT UNIQUE` (the model id), `doc` (the
 * canonical JSON object as imported, without nested children: a device's doc has no `points`,
 * the park's has no `site_plan`), and the columns used by lookups, filters and constraints, all
 * written from the same validated object by import.c. Foreign keys tie areas, installations,
 * devices and vehicles to enterprises, points to devices (ON DELETE CASCADE), accounts to
 * enterprises (RESTRICT: import --replace refuses to delete an enterprise with users), tokens to
 * enterprises and sessions to accounts (CASCADE). */
#include "model/model_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "db/db.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- migrations: append only; never edit a released entry ---- */

static const char *const migrations[] = {
    /* 1: the park model and accounts */
    "CREATE TABLE park ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  utc_offset_minutes INTEGER NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  site_plan TEXT"
    ");"
    "CREATE TABLE enterprise ("
    "  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
    "  uscc TEXT UNIQUE, doc TEXT NOT NULL"
    ");"
    "CREATE TABLE area ("
    "  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
    "  enterprise_id TEXT REFERENCES enterprise(id), kind TEXT, doc TEXT NOT NULL"
    ");"
    "CREATE INDEX area_enterprise ON area(enterprise_id);"
    "CREATE TABLE installation ("
    "  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
    "  enterprise_id TEXT NOT NULL REFERENCES enterprise(id), area_id TEXT REFERENCES area(id),"
    "  kind TEXT, hazard_grade INTEGER, doc TEXT NOT NULL"
    ");"
    "CREATE INDEX installation_enterprise ON installation(enterprise_id);"
    "CREATE INDEX installation_area ON installation(area_id);"
    "CREATE TABLE device ("
    "  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, kind TEXT NOT NULL,"
    "  enterprise_id TEXT REFERENCES enterprise(id), area_id TEXT REFERENCES area(id),"
    "  installation_id TEXT REFERENCES installation(id), protocol TEXT NOT NULL,"
    "  hj212_mn TEXT UNIQUE, hj212_password TEXT, hj212_st TEXT, utc_offset_minutes INTEGER,"
    "  phone TEXT, phone_key TEXT UNIQUE, mqtt_topic TEXT, doc TEXT NOT NULL"
    ");"
    "CREATE INDEX device_enterprise ON device(enterprise_id);"
    "CREATE INDEX device_area ON device(area_id);"
    "CREATE INDEX device_installation ON device(installation_id);"
    "CREATE TABLE point ("
    "  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    "  device_id TEXT NOT NULL REFERENCES device(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL, quantity TEXT, unit TEXT, series TEXT, series_key TEXT UNIQUE,"
    "  alarm1 REAL, alarm2 REAL, hi REAL, hihi REAL, lo REAL, lolo REAL, deadband REAL,"
    "  limit_ REAL, range_min REAL, range_max REAL, has_register INTEGER NOT NULL DEFAULT 0,"
    "  doc TEXT NOT NULL"
    ");"
    "CREATE INDEX point_device ON point(device_id);"
    "CREATE TABLE vehicle ("
    "  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, plate TEXT UNIQUE,"
    "  enterprise_id TEXT REFERENCES enterprise(id), terminal_phone TEXT,"
    "  phone_key TEXT UNIQUE, hazmat_class TEXT, un_number TEXT, doc TEXT NOT NULL"
    ");"
    "CREATE INDEX vehicle_enterprise ON vehicle(enterprise_id);"
    "CREATE TABLE geofence ("
    "  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, kind TEXT NOT NULL,"
    "  speed_limit_kmh REAL, doc TEXT NOT NULL"
    ");"
    "CREATE TABLE account ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, display_name TEXT,"
    "  role TEXT NOT NULL CHECK (role IN ('admin','supervisor','enterprise','viewer')),"
    "  enterprise_id TEXT REFERENCES enterprise(id) ON DELETE RESTRICT,"
    "  pwhash TEXT NOT NULL, created_ms INTEGER NOT NULL, last_login_ms INTEGER,"
    "  failed_logins INTEGER NOT NULL DEFAULT 0, last_failed_ms INTEGER,"
    "  CHECK ((role = 'enterprise') = (enterprise_id IS NOT NULL))"
    ");"
    "CREATE TABLE token ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, hash BLOB NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin','supervisor','enterprise','viewer')),"
    "  enterprise_id TEXT REFERENCES enterprise(id) ON DELETE CASCADE,"
    "  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, revoked_ms INTEGER,"
    "  last_used_ms INTEGER,"
    "  CHECK ((role = 'enterprise') = (enterprise_id IS NOT NULL))"
    ");"
    "CREATE TABLE session ("
    "  id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
    "  account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    "  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX session_account ON session(account_id);"
    "CREATE INDEX session_expires ON session(expires_ms);",
    /* 2: the regulator role (reads the tamper-evident archive only). SQLite cannot change a
     * CHECK constraint: account and token are rebuilt, sessions kept aside meanwhile so the
     * cascade from account does not remove them. */
    "CREATE TABLE session_keep AS SELECT * FROM session;"
    "DROP TABLE session;"
    "CREATE TABLE account_v2 ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, display_name TEXT,"
    "  role TEXT NOT NULL CHECK (role IN ('admin','supervisor','enterprise','viewer',"
    "    'regulator')),"
    "  enterprise_id TEXT REFERENCES enterprise(id) ON DELETE RESTRICT,"
    "  pwhash TEXT NOT NULL, created_ms INTEGER NOT NULL, last_login_ms INTEGER,"
    "  failed_logins INTEGER NOT NULL DEFAULT 0, last_failed_ms INTEGER,"
    "  CHECK ((role = 'enterprise') = (enterprise_id IS NOT NULL))"
    ");"
    "INSERT INTO account_v2 SELECT * FROM account;"
    "DROP TABLE account;"
    "ALTER TABLE account_v2 RENAME TO account;"
    "CREATE TABLE session ("
    "  id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
    "  account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    "  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL"
    ");"
    "INSERT INTO session SELECT * FROM session_keep;"
    "DROP TABLE session_keep;"
    "CREATE INDEX session_account ON session(account_id);"
    "CREATE INDEX session_expires ON session(expires_ms);"
    "CREATE TABLE token_v2 ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, hash BLOB NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin','supervisor','enterprise','viewer',"
    "    'regulator')),"
    "  enterprise_id TEXT REFERENCES enterprise(id) ON DELETE CASCADE,"
    "  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, revoked_ms INTEGER,"
    "  last_used_ms INTEGER,"
    "  CHECK ((role = 'enterprise') = (enterprise_id IS NOT NULL))"
    ");"
    "INSERT INTO token_v2 SELECT * FROM token;"
    "DROP TABLE token;"
    "ALTER TABLE token_v2 RENAME TO token;",
    /* 3: the chemical table (docs/park-model.md, chemicals[]) */
    "CREATE TABLE chemical ("
    "  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, name_zh TEXT,"
    "  formula TEXT, cas TEXT, doc TEXT NOT NULL"
    ");",
    /* 4: the park's departments (安监, 环保, 应急, 消防, 交通 …); accounts and tokens bound to one
     * (role 'department'). The account and token tables are rebuilt to widen their CHECKs, the
     * sessions kept aside meanwhile so the cascade from account does not remove them. */
    "CREATE TABLE department ("
    "  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, kind TEXT,"
    "  doc TEXT NOT NULL"
    ");"
    "CREATE TABLE session_keep AS SELECT * FROM session;"
    "DROP TABLE session;"
    "CREATE TABLE account_v2 ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, display_name TEXT,"
    "  role TEXT NOT NULL CHECK (role IN ('admin','supervisor','enterprise','viewer',"
    "    'regulator','department')),"
    "  enterprise_id TEXT REFERENCES enterprise(id) ON DELETE RESTRICT,"
    "  pwhash TEXT NOT NULL, created_ms INTEGER NOT NULL, last_login_ms INTEGER,"
    "  failed_logins INTEGER NOT NULL DEFAULT 0, last_failed_ms INTEGER,"
    "  department_id TEXT REFERENCES department(id) ON DELETE RESTRICT,"
    "  CHECK ((role = 'enterprise') = (enterprise_id IS NOT NULL)),"
    "  CHECK ((role = 'department') = (department_id IS NOT NULL))"
    ");"
    "INSERT INTO account_v2(id, name, display_name, role, enterprise_id, pwhash, created_ms,"
    "  last_login_ms, failed_logins, last_failed_ms)"
    "  SELECT id, name, display_name, role, enterprise_id, pwhash, created_ms, last_login_ms,"
    "  failed_logins, last_failed_ms FROM account;"
    "DROP TABLE account;"
    "ALTER TABLE account_v2 RENAME TO account;"
    "CREATE TABLE session ("
    "  id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
    "  account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    "  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL"
    ");"
    "INSERT INTO session SELECT * FROM session_keep;"
    "DROP TABLE session_keep;"
    "CREATE INDEX session_account ON session(account_id);"
    "CREATE INDEX session_expires ON session(expires_ms);"
    "CREATE TABLE token_v2 ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, hash BLOB NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin','supervisor','enterprise','viewer',"
    "    'regulator','department')),"
    "  enterprise_id TEXT REFERENCES enterprise(id) ON DELETE CASCADE,"
    "  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, revoked_ms INTEGER,"
    "  last_used_ms INTEGER,"
    "  department_id TEXT REFERENCES department(id) ON DELETE CASCADE,"
    "  CHECK ((role = 'enterprise') = (enterprise_id IS NOT NULL)),"
    "  CHECK ((role = 'department') = (department_id IS NOT NULL))"
    ");"
    "INSERT INTO token_v2(id, name, hash, role, enterprise_id, created_ms, expires_ms,"
    "  revoked_ms, last_used_ms)"
    "  SELECT id, name, hash, role, enterprise_id, created_ms, expires_ms, revoked_ms,"
    "  last_used_ms FROM token;"
    "DROP TABLE token;"
    "ALTER TABLE token_v2 RENAME TO token;",
    /* 5: gathering places (docs/park-model.md, gathering_places[]): offices, canteens, control
     * rooms, gates, parking, villages and schools near the park with their GB 36894 class */
    "CREATE TABLE gathering_place ("
    "  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, kind TEXT NOT NULL,"
    "  class INTEGER, doc TEXT NOT NULL"
    ");",
};

/* ---- small shared helpers ---- */

int model_db_exec(struct model *m, const char *sql)
{
    return db_exec(m->dbh, sql); /* logged; the error names its cause (ENOSPC, EIO, ...) */
}

int model_db_prepare(struct model *m, const char *sql, sqlite3_stmt **st)
{
    return db_prepare(m->dbh, sql, st);
}

void model_db_col_text(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

bool model_valid_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
        if (n >= MODEL_ID_MAX)
            return false;
    }
    return n > 0;
}

bool model_valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t len;
        unsigned min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (p[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

const char *model_phone_key(const char *s, char buf[MODEL_PHONE_KEY_CAP])
{
    while (s[0] == '0' && s[1])
        s++;
    size_t k = 0;
    for (; s[k] && k + 1 < MODEL_PHONE_KEY_CAP; k++)
        buf[k] = s[k] >= 'A' && s[k] <= 'F' ? (char)(s[k] - 'A' + 'a') : s[k];
    buf[k] = '\0';
    return buf;
}

/* ---- lifecycle ---- */

static int user_version(struct model *m, int *v)
{
    sqlite3_stmt *st;
    int rc = model_db_prepare(m, "PRAGMA user_version", &st);
    if (rc)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        *v = sqlite3_column_int(st, 0);
    else
        rc = PW_EDB;
    sqlite3_finalize(st);
    return rc;
}

int model_open(const char *path, struct model **out)
{
    if (sodium_init() < 0)
        return PW_ENOMEM;
    struct model *m = pw_xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    /* DB_DURABLE (synchronous=FULL): imports, accounts, tokens, sessions and terminal auth codes
     * are durable when the call returns */
    struct db_opts o = {.what = "meta", .durability = DB_DURABLE, .migrations = migrations,
                        .n_migrations = PW_ARRAY_LEN(migrations), .foreign_keys = true};
    _Static_assert(PW_ARRAY_LEN(migrations) == MODEL_SCHEMA_LATEST,
                   "MODEL_SCHEMA_LATEST is the number of migrations");
    int rc = db_open(path, &o, &m->dbh);
    if (rc != PW_OK)
        goto out;
    m->db = db_handle(m->dbh);
    /* outside the numbered migrations on purpose: every version tolerates the extra table, and
     * the counter must exist in databases of any schema version (created once; opening an
     * existing database writes nothing) */
    sqlite3_stmt *st = NULL;
    bool has_gen = sqlite3_prepare_v2(m->db, "SELECT gen FROM model_generation WHERE id = 1", -1,
                                      &st, NULL) == SQLITE_OK &&
                   sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!has_gen &&
        (rc = model_db_exec(m, "CREATE TABLE IF NOT EXISTS model_generation ("
                               " id INTEGER PRIMARY KEY CHECK (id = 1), gen INTEGER NOT NULL);"
                               "INSERT OR IGNORE INTO model_generation VALUES (1, 1);")) != PW_OK)
        goto out;
    *out = m;
    m = NULL;
out:
    model_close(m);
    return rc;
}

void model_close(struct model *m)
{
    if (!m)
        return;
    model_sessions_close(m);
    db_close(m->dbh);
    pthread_mutex_destroy(&m->mu);
    sodium_memzero(m->dummy_hash, sizeof m->dummy_hash);
    free(m);
}

/* Reads the generation (caller holds m->mu). */
static void generation_read(struct model *m)
{
    sqlite3_stmt *st;
    if (model_db_prepare(m, "SELECT gen FROM model_generation WHERE id = 1", &st) != PW_OK)
        return;
    if (sqlite3_step(st) == SQLITE_ROW) {
        sqlite3_int64 g = sqlite3_column_int64(st, 0);
        atomic_store(&m->gen, (unsigned long long)(g > 0 ? g : 1));
    }
    sqlite3_finalize(st);
}

uint64_t model_generation(struct model *m)
{
    int64_t now = pw_mono_ns();
    int64_t at = atomic_load(&m->gen_at_ns);
    if ((at == 0 || now - at >= (int64_t)MODEL_GENERATION_POLL_MS * 1000000) &&
        pthread_mutex_trylock(&m->mu) == 0) {
        generation_read(m);
        atomic_store(&m->gen_at_ns, now);
        pthread_mutex_unlock(&m->mu);
    }
    uint64_t g = atomic_load(&m->gen);
    return g ? g : 1;
}

int model_schema_version(struct model *m)
{
    int v = -1;
    pthread_mutex_lock(&m->mu);
    user_version(m, &v);
    pthread_mutex_unlock(&m->mu);
    return v;
}

/* ---- series selectors ---- */

struct label {
    const char *name;
    size_t nlen;
    size_t voff, vlen; /* decoded value in the scratch buffer */
};

static bool name_start(char c, bool metric)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
}

static bool name_char(char c, bool metric)
{
    return name_start(c, metric) || (c >= '0' && c <= '9');
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Decodes a quoted string at *pp ('...' or "...", escapes \\ \" \' \n) into scratch[*sl...];
 * false when it does not parse or does not fit. */
static bool quoted(const char **pp, char *scratch, size_t *sl)
{
    const char *p = *pp;
    char quote = *p++;
    while (*p != quote) {
        char c = *p++;
        if (c == '\0')
            return false;
        if (c == '\\') {
            c = *p++;
            if (c == 'n')
                c = '\n';
            else if (c != '\\' && c != '"' && c != '\'')
                return false;
        }
        if (*sl >= MODEL_SERIES_MAX)
            return false;
        scratch[(*sl)++] = c;
    }
    *pp = p + 1;
    return true;
}

static bool bare(const char *s, size_t n, bool metric)
{
    if (n == 0 || !name_start(s[0], metric))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!name_char(s[i], metric))
            return false;
    return true;
}

/* Appends a name as the tsdb's canonical key writes it: bare when the classic syntax allows,
 * otherwise quoted and escaped like a value (Prometheus 3). */
static int put_name(struct pw_buf *b, const char *s, size_t n, bool metric)
{
    if (bare(s, n, metric))
        return pw_buf_append(b, s, n);
    int rc = pw_buf_putc(b, '"');
    for (size_t k = 0; k < n && !rc; k++) {
        if (s[k] == '\\' || s[k] == '"')
            rc = pw_buf_putc(b, '\\');
        if (!rc)
            rc = s[k] == '\n' ? pw_buf_append(b, "\\n", 2) : pw_buf_putc(b, s[k]);
    }
    return rc ? rc : pw_buf_putc(b, '"');
}

int model_series_key(const char *series, char *buf, size_t cap)
{
    enum { MAX_LABELS = 32 };
    struct label lb[MAX_LABELS];
    char scratch[MODEL_SERIES_MAX + 1];
    size_t nl = 0, sl = 0;
    if (strlen(series) > MODEL_SERIES_MAX)
        return PW_ETOOBIG;
    const char *p = skip_ws(series), *name = p;
    size_t namelen;
    bool in_braces = false;
    if (*p == '{') {
        /* Prometheus 3: {"cpu-load_value", "host.name"="a"} — the quoted metric name first */
        p = skip_ws(p + 1);
        if (*p != '"' && *p != '\'')
            return PW_EINVAL;
        size_t off = sl;
        if (!quoted(&p, scratch, &sl) || sl == off)
            return PW_EINVAL;
        name = scratch + off;
        namelen = sl - off;
        p = skip_ws(p);
        if (*p != ',' && *p != '}')
            return PW_EINVAL;
        in_braces = true;
        if (*p == ',')
            p = skip_ws(p + 1);
    } else {
        if (!name_start(*p, true))
            return PW_EINVAL;
        while (name_char(*p, true))
            p++;
        namelen = (size_t)(p - name);
        p = skip_ws(p);
    }
    if (in_braces || *p == '{') {
        if (!in_braces)
            p = skip_ws(p + 1);
        while (*p != '}') {
            if (nl == MAX_LABELS)
                return PW_EINVAL;
            struct label *l = &lb[nl];
            if (*p == '"' || *p == '\'') {
                size_t off = sl;
                if (!quoted(&p, scratch, &sl) || sl == off)
                    return PW_EINVAL;
                l->name = scratch + off;
                l->nlen = sl - off;
            } else {
                if (!name_start(*p, false))
                    return PW_EINVAL;
                l->name = p;
                while (name_char(*p, false))
                    p++;
                l->nlen = (size_t)(p - l->name);
            }
            if (l->nlen == 8 && memcmp(l->name, "__name__", 8) == 0)
                return PW_EINVAL;
            p = skip_ws(p);
            if (*p != '=' || p[1] == '~')
                return PW_EINVAL;
            p = skip_ws(p + 1);
            char quote = *p;
            if (quote != '"' && quote != '\'')
                return PW_EINVAL;
            p++;
            l->voff = sl;
            while (*p != quote) {
                char c = *p++;
                if (c == '\0')
                    return PW_EINVAL;
                if (c == '\\') {
                    c = *p++;
                    if (c == 'n')
                        c = '\n';
                    else if (c != '\\' && c != '"' && c != '\'')
                        return PW_EINVAL;
                }
                if (sl >= MODEL_SERIES_MAX)
                    return PW_ETOOBIG;
                scratch[sl++] = c;
            }
            l->vlen = sl - l->voff;
            for (size_t k = 0; k < nl; k++)
                if (lb[k].nlen == l->nlen && memcmp(lb[k].name, l->name, l->nlen) == 0)
                    return PW_EINVAL; /* duplicate label */
            nl++;
            p = skip_ws(p + 1);
            if (*p == ',')
                p = skip_ws(p + 1);
            else if (*p != '}')
                return PW_EINVAL;
        }
        p = skip_ws(p + 1);
    }
    if (*p)
        return PW_EINVAL;
    /* insertion sort by label name */
    for (size_t i = 1; i < nl; i++) {
        struct label t = lb[i];
        size_t j = i;
        while (j > 0) {
            size_t n = t.nlen < lb[j - 1].nlen ? t.nlen : lb[j - 1].nlen;
            int c = memcmp(lb[j - 1].name, t.name, n);
            if (c < 0 || (c == 0 && lb[j - 1].nlen <= t.nlen))
                break;
            lb[j] = lb[j - 1];
            j--;
        }
        lb[j] = t;
    }
    struct pw_buf b;
    pw_buf_init(&b, cap ? cap - 1 : 0);
    bool qname = !bare(name, namelen, true);
    int rc = cap ? PW_OK : PW_ETOOBIG;
    if (!rc && !qname)
        rc = pw_buf_append(&b, name, namelen);
    if ((nl || qname) && !rc)
        rc = pw_buf_putc(&b, '{');
    if (qname && !rc)
        rc = put_name(&b, name, namelen, true);
    for (size_t i = 0; i < nl && !rc; i++) {
        if (i || qname)
            rc = pw_buf_putc(&b, ',');
        if (!rc)
            rc = put_name(&b, lb[i].name, lb[i].nlen, false);
        if (!rc)
            rc = pw_buf_append(&b, "=\"", 2);
        for (size_t k = 0; k < lb[i].vlen && !rc; k++) {
            char c = scratch[lb[i].voff + k];
            if (c == '\\' || c == '"')
                rc = pw_buf_putc(&b, '\\');
            if (!rc)
                rc = c == '\n' ? pw_buf_append(&b, "\\n", 2) : pw_buf_putc(&b, c);
        }
        if (!rc)
            rc = pw_buf_putc(&b, '"');
    }
    if ((nl || qname) && !rc)
        rc = pw_buf_putc(&b, '}');
    if (!rc)
        memcpy(buf, b.data, b.len + 1);
    pw_buf_release(&b);
    return rc;
}

/* ---- read queries ---- */

static void restore(struct pw_buf *out, size_t len)
{
    out->len = len;
    if (out->data)
        out->data[len] = '\0';
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Appends a stored doc, with `"device":"<id>"` injected as its first key when dev != NULL. */
static int put_doc(struct pw_buf *out, const char *doc, const char *dev)
{
    if (!dev)
        return pw_buf_puts(out, doc);
    int rc = pw_buf_puts(out, "{\"device\":");
    if (!rc)
        rc = pw_buf_json_str(out, dev);
    if (!rc)
        rc = pw_buf_putc(out, doc[1] == '}' ? ' ' : ',');
    if (!rc)
        rc = pw_buf_puts(out, doc + 1);
    return rc;
}

/* Runs a prepared statement whose rows are (doc) or (doc, device) and appends them as a JSON
 * array (list) or a single object (!list; no row = PW_ENOTFOUND). Finalizes st. */
static int emit_rows(sqlite3_stmt *st, bool with_device, bool list, struct pw_buf *out)
{
    int rc = PW_OK, n = 0, s = SQLITE_DONE;
    if (list)
        rc = pw_buf_putc(out, '[');
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ && list)
            rc = pw_buf_putc(out, ',');
        if (!rc)
            rc = put_doc(out, (const char *)sqlite3_column_text(st, 0),
                         with_device ? (const char *)sqlite3_column_text(st, 1) : NULL);
        if (!list)
            break;
    }
    if (!rc && s != SQLITE_ROW && s != SQLITE_DONE)
        rc = PW_EDB;
    if (!rc && list)
        rc = pw_buf_putc(out, ']');
    if (!rc && !list && n == 0)
        rc = PW_ENOTFOUND;
    sqlite3_finalize(st);
    return rc;
}

/* Prepares sql, binds params[0..n) (NULL binds SQL NULL), emits, restores out on error. Takes
 * and releases m->mu. */
static int query_json(struct model *m, const char *sql, const char *const *params, int n,
                      bool with_device, bool list, struct pw_buf *out)
{
    size_t start = out->len;
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, sql, &st);
    if (!rc) {
        for (int i = 0; i < n; i++)
            bind_opt(st, i + 1, params[i]);
        rc = emit_rows(st, with_device, list, out);
    }
    pthread_mutex_unlock(&m->mu);
    if (rc)
        restore(out, start);
    return rc;
}

int model_json_park(struct model *m, struct pw_buf *out)
{
    size_t start = out->len;
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, "SELECT doc, site_plan IS NOT NULL FROM park LIMIT 1", &st);
    if (!rc) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *doc = (const char *)sqlite3_column_text(st, 0);
            size_t dl = strlen(doc);
            rc = pw_buf_append(out, doc, dl - 1);
            if (!rc)
                rc = pw_buf_printf(out, "%s\"has_site_plan\":%s}", dl > 2 ? "," : "",
                                   sqlite3_column_int(st, 1) ? "true" : "false");
        } else {
            rc = PW_ENOTFOUND;
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    if (rc)
        restore(out, start);
    return rc;
}

int model_site_plan(struct model *m, struct pw_buf *out)
{
    size_t start = out->len;
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, "SELECT site_plan FROM park WHERE site_plan IS NOT NULL", &st);
    if (!rc) {
        if (sqlite3_step(st) == SQLITE_ROW)
            rc = pw_buf_puts(out, (const char *)sqlite3_column_text(st, 0));
        else
            rc = PW_ENOTFOUND;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    if (rc)
        restore(out, start);
    return rc;
}

int model_json_enterprises(struct model *m, const char *scope, struct pw_buf *out)
{
    const char *p[] = {scope};
    return query_json(m, "SELECT doc FROM enterprise WHERE ?1 IS NULL OR id = ?1 ORDER BY rid", p,
                      1, false, true, out);
}

int model_json_enterprise(struct model *m, const char *scope, const char *id, struct pw_buf *out)
{
    const char *p[] = {scope, id};
    return query_json(m, "SELECT doc FROM enterprise WHERE (?1 IS NULL OR id = ?1) AND id = ?2", p,
                      2, false, false, out);
}

int model_json_areas(struct model *m, const char *scope, struct pw_buf *out)
{
    const char *p[] = {scope};
    return query_json(m, "SELECT doc FROM area WHERE ?1 IS NULL OR enterprise_id = ?1 ORDER BY rid",
                      p, 1, false, true, out);
}

int model_json_installations(struct model *m, const char *scope, struct pw_buf *out)
{
    const char *p[] = {scope};
    return query_json(
        m, "SELECT doc FROM installation WHERE ?1 IS NULL OR enterprise_id = ?1 ORDER BY rid", p, 1,
        false, true, out);
}

int model_json_devices(struct model *m, const char *scope, const struct model_device_filter *f,
                       struct pw_buf *out)
{
    static const struct model_device_filter none;
    if (!f)
        f = &none;
    const char *p[] = {scope, f->enterprise, f->kind, f->area, f->installation, f->protocol};
    return query_json(m,
                      "SELECT doc FROM device WHERE (?1 IS NULL OR enterprise_id = ?1)"
                      " AND (?2 IS NULL OR (?2 = '-' AND enterprise_id IS NULL)"
                      "      OR enterprise_id = ?2)"
                      " AND (?3 IS NULL OR kind = ?3) AND (?4 IS NULL OR area_id = ?4)"
                      " AND (?5 IS NULL OR installation_id = ?5)"
                      " AND (?6 IS NULL OR protocol = ?6) ORDER BY rid",
                      p, 6, false, true, out);
}

int model_json_device(struct model *m, const char *scope, const char *id, struct pw_buf *out)
{
    size_t start = out->len;
    sqlite3_stmt *st = NULL, *pt = NULL;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              "SELECT doc FROM device WHERE (?1 IS NULL OR enterprise_id = ?1)"
                              " AND id = ?2",
                              &st);
    if (rc)
        goto out;
    bind_opt(st, 1, scope);
    bind_opt(st, 2, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = PW_ENOTFOUND;
        goto out;
    }
    const char *doc = (const char *)sqlite3_column_text(st, 0);
    if ((rc = pw_buf_append(out, doc, strlen(doc) - 1)) != PW_OK ||
        (rc = pw_buf_puts(out, ",\"points\":")) != PW_OK)
        goto out;
    if ((rc = model_db_prepare(m, "SELECT doc FROM point WHERE device_id = ?1 ORDER BY rid",
                               &pt)) != PW_OK)
        goto out;
    bind_opt(pt, 1, id);
    rc = emit_rows(pt, false, true, out);
    pt = NULL;
    if (!rc)
        rc = pw_buf_putc(out, '}');
out:
    sqlite3_finalize(st);
    sqlite3_finalize(pt);
    pthread_mutex_unlock(&m->mu);
    if (rc)
        restore(out, start);
    return rc;
}

int model_scope_allows(struct model *m, const char *scope, const char *kind, const char *id)
{
    static const char *const sql[][2] = {
        {"enterprise", "SELECT 1 FROM enterprise WHERE id = ?2 AND id = ?1"},
        {"area", "SELECT 1 FROM area WHERE id = ?2 AND enterprise_id = ?1"},
        {"installation", "SELECT 1 FROM installation WHERE id = ?2 AND enterprise_id = ?1"},
        {"device", "SELECT 1 FROM device WHERE id = ?2 AND enterprise_id = ?1"},
        {"point", "SELECT 1 FROM point p JOIN device d ON d.id = p.device_id"
                  " WHERE p.id = ?2 AND d.enterprise_id = ?1"},
        {"vehicle", "SELECT 1 FROM vehicle WHERE id = ?2 AND enterprise_id = ?1"},
    };
    const char *q = NULL;
    for (size_t i = 0; i < PW_ARRAY_LEN(sql); i++)
        if (kind && strcmp(kind, sql[i][0]) == 0)
            q = sql[i][1];
    if (!q || !id)
        return PW_EINVAL;
    if (!scope)
        return PW_OK;
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, q, &st);
    if (!rc) {
        bind_opt(st, 1, scope);
        bind_opt(st, 2, id);
        int s = sqlite3_step(st);
        rc = s == SQLITE_ROW ? PW_OK : s == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_json_points(struct model *m, const char *scope, const char *device, struct pw_buf *out)
{
    const char *p[] = {scope, device};
    return query_json(m,
                      "SELECT p.doc, p.device_id FROM point p JOIN device d ON d.id = p.device_id"
                      " WHERE (?1 IS NULL OR d.enterprise_id = ?1)"
                      " AND (?2 IS NULL OR p.device_id = ?2) ORDER BY p.rid",
                      p, 2, true, true, out);
}

int model_json_point(struct model *m, const char *scope, const char *id, struct pw_buf *out)
{
    const char *p[] = {scope, id};
    return query_json(m,
                      "SELECT p.doc, p.device_id FROM point p JOIN device d ON d.id = p.device_id"
                      " WHERE (?1 IS NULL OR d.enterprise_id = ?1) AND p.id = ?2",
                      p, 2, true, false, out);
}

int model_json_vehicles(struct model *m, const char *scope, struct pw_buf *out)
{
    const char *p[] = {scope};
    return query_json(m,
                      "SELECT doc FROM vehicle WHERE ?1 IS NULL OR enterprise_id = ?1 ORDER BY rid",
                      p, 1, false, true, out);
}

int model_json_departments(struct model *m, struct pw_buf *out)
{
    return query_json(m, "SELECT doc FROM department ORDER BY rid", NULL, 0, false, true, out);
}

int model_department_exists(struct model *m, const char *id)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, "SELECT 1 FROM department WHERE id = ?1", &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        rc = s == SQLITE_ROW ? PW_OK : s == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_json_geofences(struct model *m, struct pw_buf *out)
{
    return query_json(m, "SELECT doc FROM geofence ORDER BY rid", NULL, 0, false, true, out);
}

int model_json_gathering_places(struct model *m, struct pw_buf *out)
{
    return query_json(m, "SELECT doc FROM gathering_place ORDER BY rid", NULL, 0, false, true,
                      out);
}

int model_json_chemicals(struct model *m, struct pw_buf *out)
{
    return query_json(m, "SELECT doc FROM chemical ORDER BY rid", NULL, 0, false, true, out);
}

int model_json_chemical(struct model *m, const char *key, struct pw_buf *out)
{
    const char *p[1] = {key};
    return query_json(m,
                      "SELECT doc FROM chemical WHERE id = ?1 OR name = ?1 COLLATE NOCASE OR"
                      " name_zh = ?1 OR formula = ?1 COLLATE NOCASE OR cas = ?1 ORDER BY rid"
                      " LIMIT 1",
                      p, 1, false, false, out);
}

/* ---- export ---- */

static int export_section(struct model *m, struct pw_buf *out, const char *key, const char *sql,
                          sqlite3_stmt *points)
{
    sqlite3_stmt *st;
    int rc = model_db_prepare(m, sql, &st), s = SQLITE_DONE, n = 0;
    if (rc)
        return rc;
    rc = pw_buf_printf(out, ",\n\"%s\": [", key);
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *doc = (const char *)sqlite3_column_text(st, 0);
        rc = pw_buf_puts(out, n++ ? ",\n  " : "\n  ");
        if (rc)
            break;
        if (!points) {
            rc = pw_buf_puts(out, doc);
            continue;
        }
        rc = pw_buf_append(out, doc, strlen(doc) - 1);
        if (!rc)
            rc = pw_buf_puts(out, ",\"points\":[");
        sqlite3_reset(points);
        sqlite3_bind_text(points, 1, (const char *)sqlite3_column_text(st, 1), -1,
                          SQLITE_TRANSIENT);
        int k = 0;
        while (!rc && (s = sqlite3_step(points)) == SQLITE_ROW) {
            rc = pw_buf_puts(out, k++ ? ",\n    " : "\n    ");
            if (!rc)
                rc = pw_buf_puts(out, (const char *)sqlite3_column_text(points, 0));
        }
        if (!rc && s != SQLITE_DONE)
            rc = PW_EDB;
        if (!rc)
            rc = pw_buf_puts(out, "]}");
    }
    if (!rc && s != SQLITE_DONE)
        rc = PW_EDB;
    if (!rc)
        rc = pw_buf_puts(out, n ? "\n]" : "]");
    sqlite3_finalize(st);
    return rc;
}

int model_export_json(struct model *m, struct pw_buf *out)
{
    size_t start = out->len;
    sqlite3_stmt *st = NULL, *pt = NULL;
    pthread_mutex_lock(&m->mu);
    /* one read transaction: a consistent snapshot even if another process imports meanwhile */
    int rc = model_db_exec(m, "BEGIN");
    if (rc)
        goto out_unlock;
    if ((rc = pw_buf_puts(out, "{\n\"version\": 1")) != PW_OK)
        goto out;
    if ((rc = model_db_prepare(m, "SELECT doc, site_plan FROM park LIMIT 1", &st)) != PW_OK)
        goto out;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *doc = (const char *)sqlite3_column_text(st, 0);
        const char *plan = (const char *)sqlite3_column_text(st, 1);
        rc = pw_buf_puts(out, ",\n\"park\": ");
        if (!rc && plan) {
            size_t dl = strlen(doc);
            rc = pw_buf_append(out, doc, dl - 1);
            if (!rc)
                rc = pw_buf_printf(out, "%s\"site_plan\":", dl > 2 ? "," : "");
            if (!rc)
                rc = pw_buf_puts(out, plan);
            if (!rc)
                rc = pw_buf_putc(out, '}');
        } else if (!rc) {
            rc = pw_buf_puts(out, doc);
        }
        if (rc)
            goto out;
    }
    if ((rc = model_db_prepare(m, "SELECT doc FROM point WHERE device_id = ?1 ORDER BY rid",
                               &pt)) != PW_OK)
        goto out;
    if ((rc = export_section(m, out, "enterprises", "SELECT doc FROM enterprise ORDER BY rid",
                             NULL)) ||
        (rc = export_section(m, out, "areas", "SELECT doc FROM area ORDER BY rid", NULL)) ||
        (rc = export_section(m, out, "installations", "SELECT doc FROM installation ORDER BY rid",
                             NULL)) ||
        (rc = export_section(m, out, "devices", "SELECT doc, id FROM device ORDER BY rid", pt)) ||
        (rc = export_section(m, out, "vehicles", "SELECT doc FROM vehicle ORDER BY rid", NULL)) ||
        (rc = export_section(m, out, "geofences", "SELECT doc FROM geofence ORDER BY rid", NULL)))
        goto out;
    /* chemicals only when there are any: a model without them exports as before */
    sqlite3_stmt *any;
    if ((rc = model_db_prepare(m, "SELECT EXISTS (SELECT 1 FROM chemical)", &any)) != PW_OK)
        goto out;
    bool has_chem = sqlite3_step(any) == SQLITE_ROW && sqlite3_column_int(any, 0);
    sqlite3_finalize(any);
    if (has_chem && (rc = export_section(m, out, "chemicals",
                                         "SELECT doc FROM chemical ORDER BY rid", NULL)))
        goto out;
    /* departments only when there are some: a model without them exports as before */
    if ((rc = model_db_prepare(m, "SELECT EXISTS (SELECT 1 FROM department)", &any)) != PW_OK)
        goto out;
    bool has_dept = sqlite3_step(any) == SQLITE_ROW && sqlite3_column_int(any, 0);
    sqlite3_finalize(any);
    if (has_dept && (rc = export_section(m, out, "departments",
                                         "SELECT doc FROM department ORDER BY rid", NULL)))
        goto out;
    /* gathering places only when there are some (as departments) */
    if ((rc = model_db_prepare(m, "SELECT EXISTS (SELECT 1 FROM gathering_place)", &any)) !=
        PW_OK)
        goto out;
    bool has_gp = sqlite3_step(any) == SQLITE_ROW && sqlite3_column_int(any, 0);
    sqlite3_finalize(any);
    if (has_gp && (rc = export_section(m, out, "gathering_places",
                                       "SELECT doc FROM gathering_place ORDER BY rid", NULL)))
        goto out;
    rc = pw_buf_puts(out, "\n}\n");
out:
    sqlite3_finalize(st);
    sqlite3_finalize(pt);
    model_db_exec(m, "COMMIT");
out_unlock:
    pthread_mutex_unlock(&m->mu);
    if (rc)
        restore(out, start);
    return rc;
}

/* ---- lookups ---- */

int model_device_by_mn(struct model *m, const char *mn, struct model_hj212_device *out)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(
        m,
        "SELECT id, enterprise_id, kind, hj212_mn, COALESCE(hj212_password, '123456'),"
        " hj212_st, COALESCE(utc_offset_minutes, (SELECT utc_offset_minutes FROM park LIMIT 1),"
        " 480) FROM device WHERE hj212_mn = ?1",
        &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, mn, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            model_db_col_text(st, 0, out->device, sizeof out->device);
            model_db_col_text(st, 1, out->enterprise, sizeof out->enterprise);
            model_db_col_text(st, 2, out->kind, sizeof out->kind);
            model_db_col_text(st, 3, out->mn, sizeof out->mn);
            model_db_col_text(st, 4, out->password, sizeof out->password);
            model_db_col_text(st, 5, out->st, sizeof out->st);
            out->utc_offset_minutes = sqlite3_column_int(st, 6);
        } else {
            rc = s == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_terminal_by_phone(struct model *m, const char *phone, struct model_jt808_terminal *out)
{
    struct model_jt808_terminal t;
    memset(&t, 0, sizeof t);
    char kb[MODEL_PHONE_KEY_CAP];
    const char *key = model_phone_key(phone, kb);
    sqlite3_stmt *st = NULL;
    bool found = false;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, "SELECT id, enterprise_id, phone FROM device WHERE phone_key = ?1",
                              &st);
    if (rc)
        goto out;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = true;
        model_db_col_text(st, 0, t.device, sizeof t.device);
        model_db_col_text(st, 1, t.enterprise, sizeof t.enterprise);
        model_db_col_text(st, 2, t.phone, sizeof t.phone);
    }
    sqlite3_finalize(st);
    rc = model_db_prepare(m,
                          "SELECT id, plate, enterprise_id, hazmat_class, un_number, terminal_phone"
                          " FROM vehicle WHERE phone_key = ?1",
                          &st);
    if (rc)
        goto out;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = true;
        model_db_col_text(st, 0, t.vehicle, sizeof t.vehicle);
        model_db_col_text(st, 1, t.plate, sizeof t.plate);
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            model_db_col_text(st, 2, t.enterprise, sizeof t.enterprise);
        model_db_col_text(st, 3, t.hazmat_class, sizeof t.hazmat_class);
        model_db_col_text(st, 4, t.un_number, sizeof t.un_number);
        if (!t.phone[0])
            model_db_col_text(st, 5, t.phone, sizeof t.phone);
    }
    sqlite3_finalize(st);
    if (!found)
        rc = PW_ENOTFOUND;
    else
        *out = t;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

#define POINT_COLS                                                                                 \
    "p.id, p.device_id, d.enterprise_id, d.area_id, p.name, p.quantity, p.unit, p.series_key,"     \
    " p.alarm1, p.alarm2, p.hi, p.hihi, p.lo, p.lolo, p.deadband, p.limit_, p.range_min,"          \
    " p.range_max FROM point p JOIN device d ON d.id = p.device_id"

static void point_row(sqlite3_stmt *st, struct model_point_info *p)
{
    memset(p, 0, sizeof *p);
    model_db_col_text(st, 0, p->id, sizeof p->id);
    model_db_col_text(st, 1, p->device, sizeof p->device);
    model_db_col_text(st, 2, p->enterprise, sizeof p->enterprise);
    model_db_col_text(st, 3, p->area, sizeof p->area);
    model_db_col_text(st, 4, p->name, sizeof p->name);
    model_db_col_text(st, 5, p->quantity, sizeof p->quantity);
    model_db_col_text(st, 6, p->unit, sizeof p->unit);
    model_db_col_text(st, 7, p->series_key, sizeof p->series_key);
    for (int i = 0; i < MODEL_SP_COUNT; i++) {
        if (sqlite3_column_type(st, 8 + i) != SQLITE_NULL) {
            p->sp_set |= 1u << i;
            p->sp[i] = sqlite3_column_double(st, 8 + i);
        }
    }
    if (sqlite3_column_type(st, 16) != SQLITE_NULL) {
        p->has_range = true;
        p->range_min = sqlite3_column_double(st, 16);
        p->range_max = sqlite3_column_double(st, 17);
    }
}

int model_point_by_series(struct model *m, const char *series, struct model_point_info *out)
{
    char key[MODEL_SERIES_MAX + 1];
    int rc = model_series_key(series, key, sizeof key);
    if (rc)
        return PW_EINVAL;
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    rc = model_db_prepare(m, "SELECT " POINT_COLS " WHERE p.series_key = ?1", &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW)
            point_row(st, out);
        else
            rc = s == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_points_foreach_locked(struct model *m,
                                int (*fn)(const struct model_point_info *p, void *arg),
                                void *arg)
{
    sqlite3_stmt *st;
    struct model_point_info *p = pw_xmalloc(sizeof *p);
    int rc = model_db_prepare(
        m, "SELECT " POINT_COLS " WHERE p.series_key IS NOT NULL ORDER BY p.rid", &st);
    if (!rc) {
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            point_row(st, p);
            if ((rc = fn(p, arg)) != PW_OK)
                break;
        }
        if (!rc && s != SQLITE_DONE)
            rc = PW_EDB;
        sqlite3_finalize(st);
    }
    free(p);
    return rc;
}

int model_points_foreach(struct model *m, int (*fn)(const struct model_point_info *p, void *arg),
                         void *arg)
{
    pthread_mutex_lock(&m->mu);
    int rc = model_points_foreach_locked(m, fn, arg);
    pthread_mutex_unlock(&m->mu);
    return rc;
}
