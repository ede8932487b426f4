/* index.c — canonical keys, the series table, the inverted label index, selectors and matchers.
 *
 * Series table: db->pages is a fixed directory of pages of TSDB_PAGE series pointers; a page is
 * allocated once and never moved, so readers index it without a lock after loading
 * db->nseries with acquire ordering (the writer fills the slot, then publishes with release).
 *
 * Inverted index: label name -> label value -> postings (ascending series ids). The writer adds
 * a series under index_lock held for writing (rare: only when a series is created); readers
 * evaluate matchers under index_lock held for reading.
 *
 * Regular expressions (=~, !~) are PCRE2, compiled anchored at both ends (as Prometheus anchors
 * its RE2 regexes), UTF-8 (invalid subjects allowed), `$` only at the very end, `.` not matching
 * a newline — RE2's defaults — and refused when they use backreferences (not RE2). PCRE2
 * backtracks, so every regex is bounded instead of linear-time:
 *   compile   pattern at most TSDB_MAX_KEY bytes, parentheses nested at most RE_NEST_LIMIT deep,
 *             compiled program within PCRE2's own size limit (so `(((.{1,40}){1,40}){1,40})`
 *             is refused: "regular expression is too large");
 *   match     at most RE_MATCH_LIMIT backtracking steps, RE_DEPTH_LIMIT depth and RE_HEAP_KIB
 *             KiB of heap per subject (JIT: the step limit and a 32 KiB JIT stack). A subject
 *             over a limit fails the whole query (PW_ERANGE: "regex too expensive"), never
 *             counts as a match or a non-match;
 *   query     selector->budget (deadline, cancellation) is polled every TSDB_POLL_EVERY
 *             label values or series, so a regex cheap per value but run over millions of them
 *             stops at the deadline or when the client left (PW_ETIMEDOUT, PW_ECLOSED).
 * PCRE2 rather than POSIX regcomp (exponential backtracking, no limits) or RE2 (C++ only in
 * Debian): a maintained C library with exactly these knobs.
 */
#include "tsdb/tsdb_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/mem.h"

#include "base/timeutil.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct tsdb_lvalue {
    char *value;
    size_t vlen;
    uint32_t *ids;
    uint32_t n, cap;
};

struct tsdb_lname {
    char *name;
    size_t nlen;
    struct tsdb_map vals;
    struct tsdb_lvalue **list;
    size_t nvals, capvals;
};

/* ---- map ---- */

uint64_t tsdb_key_hash(const char *key, size_t klen)
{
    return pw_hash64(key, klen, 0x7473646275ULL);
}

void *tsdb_map_get(const struct tsdb_map *m, const char *key, size_t klen, uint64_t hash)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const struct tsdb_map_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->hash == hash && s->klen == klen && memcmp(s->key, key, klen) == 0)
            return s->val;
    }
}

static void map_insert(struct tsdb_map_slot *slots, size_t cap, struct tsdb_map_slot e)
{
    size_t mask = cap - 1;
    size_t i = e.hash & mask;
    while (slots[i].key)
        i = (i + 1) & mask;
    slots[i] = e;
}

void tsdb_map_put(struct tsdb_map *m, const char *key, size_t klen, uint64_t hash, void *val)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct tsdb_map_slot *ns = pw_xcalloc(cap, sizeof *ns);
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].key)
                map_insert(ns, cap, m->slots[i]);
        free(m->slots);
        m->slots = ns;
        m->cap = cap;
    }
    map_insert(m->slots, m->cap, (struct tsdb_map_slot){hash, key, (uint32_t)klen, val});
    m->n++;
}

void tsdb_map_release(struct tsdb_map *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- names and keys ---- */

/* A name the classic Prometheus syntax can write bare: [a-zA-Z_:][a-zA-Z0-9_:]* for metric
 * names, the same without ':' for label names. Other names (UTF-8, '-', '.', spaces ... as
 * InfluxDB and VictoriaMetrics accept them) are written quoted, as Prometheus 3 writes them. */
static bool name_is_bare(const char *s, size_t n, bool metric)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (metric && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* Any non-empty name is stored (they are NUL-terminated strings: no NUL inside). */
static bool label_name_ok(const char *s, size_t n, bool metric)
{
    return n > 0;
}

int tsdb_key_build(const struct tsdb_label *labels, size_t n, char *buf, size_t cap,
                   size_t *len)
{
    const struct tsdb_label *l[TSDB_MAX_LABELS];
    const char *name = NULL;
    size_t nl = 0, o = 0;
    if (n > TSDB_MAX_LABELS)
        return PW_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        if (!labels[i].name || !labels[i].value)
            return PW_EINVAL;
        if (strcmp(labels[i].name, "__name__") == 0) {
            if (name)
                return PW_EINVAL;
            name = labels[i].value;
            if (!label_name_ok(name, strlen(name), true))
                return PW_EINVAL;
            continue;
        }
        if (!label_name_ok(labels[i].name, strlen(labels[i].name), false))
            return PW_EINVAL;
        if (labels[i].value[0] == '\0')
            continue; /* an empty label is no label */
        /* insertion sort by name */
        size_t j = nl++;
        while (j > 0 && strcmp(l[j - 1]->name, labels[i].name) > 0) {
            l[j] = l[j - 1];
            j--;
        }
        l[j] = &labels[i];
        if (j > 0 && strcmp(l[j - 1]->name, labels[i].name) == 0)
            return PW_EINVAL;
        if (j + 1 < nl && strcmp(l[j + 1]->name, labels[i].name) == 0)
            return PW_EINVAL;
    }
    if (!name && nl == 0)
        return PW_EINVAL;
    size_t lim = cap - 1 < TSDB_MAX_KEY ? cap - 1 : TSDB_MAX_KEY;
#define PUT(p, k)                                                                                  \
    do {                                                                                           \
        if (o + (k) > lim)                                                                         \
            return PW_ETOOBIG;                                                                     \
        memcpy(buf + o, (p), (k));                                                                 \
        o += (k);                                                                                  \
    } while (0)
#define PUTQ(str)                                                                                  \
    do {                                                                                           \
        PUT("\"", 1);                                                                              \
        for (const char *v = (str); *v; v++) {                                                     \
            if (*v == '\\')                                                                        \
                PUT("\\\\", 2);                                                                    \
            else if (*v == '"')                                                                    \
                PUT("\\\"", 2);                                                                    \
            else if (*v == '\n')                                                                   \
                PUT("\\n", 2);                                                                     \
            else                                                                                   \
                PUT(v, 1);                                                                         \
        }                                                                                          \
        PUT("\"", 1);                                                                              \
    } while (0)
    /* name{a="x"} for classic names; {"name","a.b"="x"} (Prometheus 3's quoting) otherwise */
    bool quoted_name = name && !name_is_bare(name, strlen(name), true);
    if (name && !quoted_name)
        PUT(name, strlen(name));
    if (nl || quoted_name) {
        PUT("{", 1);
        if (quoted_name)
            PUTQ(name);
        for (size_t i = 0; i < nl; i++) {
            if (i || quoted_name)
                PUT(",", 1);
            if (name_is_bare(l[i]->name, strlen(l[i]->name), false))
                PUT(l[i]->name, strlen(l[i]->name));
            else
                PUTQ(l[i]->name);
            PUT("=", 1);
            PUTQ(l[i]->value);
        }
        PUT("}", 1);
    }
#undef PUTQ
#undef PUT
    buf[o] = '\0';
    *len = o;
    return PW_OK;
}

/* ---- selector lexer (shared by key parsing and selectors) ---- */

struct sel_item {
    enum tsdb_match_op op;
    const char *name; /* NUL-terminated, in the value buffer */
    const char *value;
};

static void skip_ws(const char *s, size_t len, size_t *i)
{
    while (*i < len && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r'))
        (*i)++;
}

/* Parses a quoted string at s[*i] into vb (advancing *vo); NUL-terminates. */
static bool lex_string(const char *s, size_t len, size_t *i, char *vb, size_t *vo)
{
    char q = s[*i];
    if (q != '"' && q != '\'' && q != '`')
        return false;
    (*i)++;
    while (*i < len && s[*i] != q) {
        char c = s[(*i)++];
        if (c == '\\' && q != '`') {
            if (*i >= len)
                return false;
            char e = s[(*i)++];
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'a': c = '\a'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'v': c = '\v'; break;
            case '\\':
            case '"':
            case '\'': c = e; break;
            default: return false;
            }
        } else if (c == '\0') {
            return false;
        }
        vb[(*vo)++] = c;
    }
    if (*i >= len)
        return false;
    (*i)++;
    vb[(*vo)++] = '\0';
    return true;
}

/* vb must hold len + 2 * TSDB_MAX_MATCHERS + 16 bytes. */
static int sel_lex(const char *s, size_t len, char *vb, struct sel_item *it, size_t *n,
                   size_t max, char *err, size_t errcap)
{
    size_t i = 0, vo = 0, k = 0;
    skip_ws(s, len, &i);
    size_t st = i;
    while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                       s[i] == '_' || s[i] == ':' || (i > st && s[i] >= '0' && s[i] <= '9')))
        i++;
    bool has_name = i > st;
    if (i > st) {
        memcpy(vb + vo, "__name__", 9);
        it[k].name = vb + vo;
        vo += 9;
        memcpy(vb + vo, s + st, i - st);
        it[k].value = vb + vo;
        vo += i - st;
        vb[vo++] = '\0';
        it[k++].op = TSDB_MATCH_EQ;
    }
    skip_ws(s, len, &i);
    if (i < len && s[i] == '{') {
        i++;
        for (;;) {
            skip_ws(s, len, &i);
            if (i < len && s[i] == '}') {
                i++;
                break;
            }
            if (k >= max) {
                snprintf(err, errcap, "too many matchers (at most %zu) at offset %zu", max, i);
                return PW_EINVAL;
            }
            st = i;
            if (i < len && (s[i] == '"' || s[i] == '\'')) {
                /* a quoted name (Prometheus 3): "host.name"="x", or alone the metric name */
                it[k].name = vb + vo;
                if (!lex_string(s, len, &i, vb, &vo) || !it[k].name[0]) {
                    snprintf(err, errcap, "bad quoted name at offset %zu", st);
                    return PW_EINVAL;
                }
                skip_ws(s, len, &i);
                if (i < len && (s[i] == ',' || s[i] == '}')) {
                    if (has_name) {
                        snprintf(err, errcap, "second metric name at offset %zu", st);
                        return PW_EINVAL;
                    }
                    has_name = true;
                    it[k].value = it[k].name;
                    memcpy(vb + vo, "__name__", 9);
                    it[k].name = vb + vo;
                    vo += 9;
                    it[k++].op = TSDB_MATCH_EQ;
                    if (s[i] == ',')
                        i++;
                    continue;
                }
            } else {
                while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                                   s[i] == '_' || (i > st && s[i] >= '0' && s[i] <= '9')))
                    i++;
                if (i == st) {
                    snprintf(err, errcap, "expected a label name at offset %zu", i);
                    return PW_EINVAL;
                }
                memcpy(vb + vo, s + st, i - st);
                it[k].name = vb + vo;
                vo += i - st;
                vb[vo++] = '\0';
            }
            skip_ws(s, len, &i);
            if (i + 1 < len && s[i] == '=' && s[i + 1] == '~') {
                it[k].op = TSDB_MATCH_RE;
                i += 2;
            } else if (i + 1 < len && s[i] == '!' && s[i + 1] == '=') {
                it[k].op = TSDB_MATCH_NE;
                i += 2;
            } else if (i + 1 < len && s[i] == '!' && s[i + 1] == '~') {
                it[k].op = TSDB_MATCH_NRE;
                i += 2;
            } else if (i < len && s[i] == '=') {
                it[k].op = TSDB_MATCH_EQ;
                i += 1;
            } else {
                snprintf(err, errcap, "expected =, !=, =~ or !~ at offset %zu", i);
                return PW_EINVAL;
            }
            skip_ws(s, len, &i);
            it[k].value = vb + vo;
            if (i >= len || !lex_string(s, len, &i, vb, &vo)) {
                snprintf(err, errcap, "expected a quoted string at offset %zu", i);
                return PW_EINVAL;
            }
            k++;
            skip_ws(s, len, &i);
            if (i < len && s[i] == ',') {
                i++;
                continue;
            }
            if (i < len && s[i] == '}') {
                i++;
                break;
            }
            snprintf(err, errcap, "expected , or } at offset %zu", i);
            return PW_EINVAL;
        }
    }
    skip_ws(s, len, &i);
    if (i != len) {
        snprintf(err, errcap, "unexpected character at offset %zu", i);
        return PW_EINVAL;
    }
    if (k == 0) {
        snprintf(err, errcap, "empty selector");
        return PW_EINVAL;
    }
    *n = k;
    return PW_OK;
}

int tsdb_key_parse(const char *key, size_t len, struct tsdb_label *out, size_t *n, char **lbuf)
{
    struct sel_item it[TSDB_MAX_LABELS];
    size_t k = 0;
    char err[8];
    char *vb = pw_xmalloc(len + 2 * TSDB_MAX_LABELS + 16);
    int rc = sel_lex(key, len, vb, it, &k, TSDB_MAX_LABELS, err, sizeof err);
    if (rc != PW_OK)
        goto out;
    for (size_t i = 0; i < k; i++) {
        if (it[i].op != TSDB_MATCH_EQ) {
            rc = PW_EINVAL;
            goto out;
        }
        out[i].name = it[i].name;
        out[i].value = it[i].value;
    }
    *n = k;
    *lbuf = vb;
    vb = NULL;
out:
    free(vb);
    return rc;
}

/* ---- regular expressions (see the top of the file) ---- */

#define RE_MATCH_LIMIT 100000
#define RE_DEPTH_LIMIT 1000
#define RE_HEAP_KIB 1024
#define RE_NEST_LIMIT 64

static pthread_once_t re_once = PTHREAD_ONCE_INIT;
static pcre2_compile_context *re_cctx;
static pcre2_match_context *re_mctx;
static pthread_key_t re_md_key;
/* set by a match that hit a limit on this thread; select_locked turns it into PW_ERANGE */
static __thread bool re_exhausted;

static void re_md_free(void *md)
{
    pcre2_match_data_free(md);
}

static void re_init(void)
{
    re_cctx = pcre2_compile_context_create(NULL);
    re_mctx = pcre2_match_context_create(NULL);
    if (!re_cctx || !re_mctx)
        abort(); /* out of memory at the first regex: as pw_xmalloc does */
    pcre2_set_parens_nest_limit(re_cctx, RE_NEST_LIMIT);
    pcre2_set_match_limit(re_mctx, RE_MATCH_LIMIT);
    pcre2_set_depth_limit(re_mctx, RE_DEPTH_LIMIT);
    pcre2_set_heap_limit(re_mctx, RE_HEAP_KIB);
    pthread_key_create(&re_md_key, re_md_free);
}

/* This thread's match data (one ovector pair: only whether it matched is asked). */
static pcre2_match_data *re_md(void)
{
    pcre2_match_data *md = pthread_getspecific(re_md_key);
    if (!md) {
        md = pcre2_match_data_create(1, NULL);
        if (!md)
            abort();
        pthread_setspecific(re_md_key, md);
    }
    return md;
}

/* Compiles pattern for a matcher: PW_OK and *out, or PW_EINVAL with a message. */
static int re_compile(const char *name, const char *pattern, pcre2_code **out, char *err,
                      size_t errcap)
{
    int ecode;
    PCRE2_SIZE eoff;
    pthread_once(&re_once, re_init);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, strlen(pattern),
                                   PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF |
                                       PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY |
                                       PCRE2_NEVER_BACKSLASH_C,
                                   &ecode, &eoff, re_cctx);
    if (!re) {
        char msg[128];
        pcre2_get_error_message(ecode, (PCRE2_UCHAR *)msg, sizeof msg);
        snprintf(err, errcap, "bad regex for label %s at offset %zu: %s", name, (size_t)eoff,
                 msg);
        return PW_EINVAL;
    }
    uint32_t backrefs = 0;
    pcre2_pattern_info(re, PCRE2_INFO_BACKREFMAX, &backrefs);
    if (backrefs) {
        pcre2_code_free(re);
        snprintf(err, errcap, "bad regex for label %s: backreferences are not supported (RE2 "
                              "syntax)", name);
        return PW_EINVAL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* best effort: the interpreter is bounded too */
    *out = re;
    return PW_OK;
}

static bool re_match(const pcre2_code *re, const char *v, size_t len)
{
    int r = pcre2_match(re, (PCRE2_SPTR)v, len, 0, 0, re_md(), re_mctx);
    if (r >= 0)
        return true;
    if (r != PCRE2_ERROR_NOMATCH)
        re_exhausted = true; /* a limit (or an internal error): the query fails */
    return false;
}

/* ---- selectors ---- */

void tsdb_selector_init(struct tsdb_selector *sel)
{
    memset(sel, 0, sizeof *sel);
}

void tsdb_selector_release(struct tsdb_selector *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; i < sel->n; i++) {
        free(sel->m[i].name);
        free(sel->m[i].value);
        pcre2_code_free(sel->m[i].re);
    }
    sel->n = 0;
}

int tsdb_selector_add(struct tsdb_selector *sel, enum tsdb_match_op op, const char *name,
                      const char *value, char *err, size_t errcap)
{
    if (sel->n >= TSDB_MAX_MATCHERS) {
        snprintf(err, errcap, "too many matchers (at most %d)", TSDB_MAX_MATCHERS);
        return PW_EFULL;
    }
    struct tsdb_matcher *m = &sel->m[sel->n];
    m->op = op;
    m->re = NULL;
    if (op == TSDB_MATCH_RE || op == TSDB_MATCH_NRE) {
        if (strlen(value) > TSDB_MAX_KEY) {
            snprintf(err, errcap, "regex for label %s too long", name);
            return PW_ETOOBIG;
        }
        pcre2_code *re;
        int rc = re_compile(name, value, &re, err, errcap);
        if (rc != PW_OK)
            return rc;
        m->re = re;
    }
    m->name = pw_xstrdup(name);
    m->value = pw_xstrdup(value);
    sel->n++;
    return PW_OK;
}

int tsdb_selector_parse(const char *s, size_t len, struct tsdb_selector *sel, char *err,
                        size_t errcap)
{
    struct sel_item it[TSDB_MAX_MATCHERS];
    size_t k = 0;
    int rc = PW_OK;
    tsdb_selector_init(sel);
    if (len > 65536) {
        snprintf(err, errcap, "selector longer than 65536 bytes");
        return PW_EINVAL;
    }
    len = strnlen(s, len);
    char *vb = pw_xmalloc(len + 2 * TSDB_MAX_MATCHERS + 16);
    rc = sel_lex(s, len, vb, it, &k, TSDB_MAX_MATCHERS, err, errcap);
    for (size_t i = 0; rc == PW_OK && i < k; i++) {
        rc = tsdb_selector_add(sel, it[i].op, it[i].name, it[i].value, err, errcap);
        if (rc == PW_EFULL || rc == PW_ETOOBIG)
            rc = PW_EINVAL;
    }
    free(vb);
    if (rc != PW_OK)
        tsdb_selector_release(sel);
    return rc;
}

static const char *series_value(const struct tsdb_series *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    return "";
}

static bool match_str(const struct tsdb_matcher *m, const char *v)
{
    switch (m->op) {
    case TSDB_MATCH_EQ: return strcmp(v, m->value) == 0;
    case TSDB_MATCH_NE: return strcmp(v, m->value) != 0;
    case TSDB_MATCH_RE: return re_match(m->re, v, strlen(v));
    case TSDB_MATCH_NRE: return !re_match(m->re, v, strlen(v));
    }
    return false;
}

/* PW_OK while the query may go on; PW_ETIMEDOUT past its deadline, PW_ECLOSED when cancelled,
 * PW_ERANGE when a regex hit its limits. */
static int budget_check(const struct tsdb_selector *sel)
{
    if (re_exhausted)
        return PW_ERANGE;
    const struct tsdb_budget *b = sel ? sel->budget : NULL;
    if (!b)
        return PW_OK;
    if (b->deadline_ns && pw_mono_ns() > b->deadline_ns)
        return PW_ETIMEDOUT;
    if (b->cancelled && b->cancelled(b->arg))
        return PW_ECLOSED;
    return PW_OK;
}

bool tsdb_matcher_match(const struct tsdb_matcher *m, const struct tsdb_series *s)
{
    return match_str(m, series_value(s, m->name));
}

/* ---- series table ---- */

struct tsdb_series *tsdb_series_get(struct tsdb *db, uint32_t id)
{
    uint32_t n = atomic_load_explicit(&db->nseries, memory_order_acquire);
    if (id >= n)
        return NULL;
    struct tsdb_series **page = db->pages[id >> TSDB_PAGE_BITS];
    return page ? page[id & (TSDB_PAGE - 1)] : NULL;
}

static struct tsdb_lname *lname_get(struct tsdb *db, const char *name, bool create)
{
    size_t nl = strlen(name);
    uint64_t h = tsdb_key_hash(name, nl);
    struct tsdb_lname *ln = tsdb_map_get(&db->names, name, nl, h);
    if (ln || !create)
        return ln;
    ln = pw_xcalloc(1, sizeof *ln);
    ln->name = pw_xstrdup(name);
    ln->nlen = nl;
    tsdb_map_put(&db->names, ln->name, nl, h, ln);
    if (db->nnames == db->capnames) {
        db->capnames = db->capnames ? db->capnames * 2 : 16;
        db->name_list = pw_xrealloc(db->name_list, db->capnames * sizeof *db->name_list);
    }
    db->name_list[db->nnames++] = ln;
    return ln;
}

static struct tsdb_lvalue *lvalue_get(struct tsdb_lname *ln, const char *v, bool create)
{
    size_t vl = strlen(v);
    uint64_t h = tsdb_key_hash(v, vl);
    struct tsdb_lvalue *lv = tsdb_map_get(&ln->vals, v, vl, h);
    if (lv || !create)
        return lv;
    lv = pw_xcalloc(1, sizeof *lv);
    lv->value = pw_xstrdup(v);
    lv->vlen = vl;
    tsdb_map_put(&ln->vals, lv->value, vl, h, lv);
    if (ln->nvals == ln->capvals) {
        ln->capvals = ln->capvals ? ln->capvals * 2 : 8;
        ln->list = pw_xrealloc(ln->list, ln->capvals * sizeof *ln->list);
    }
    ln->list[ln->nvals++] = lv;
    return lv;
}

static void postings_add(struct tsdb_lvalue *lv, uint32_t id)
{
    if (lv->n == lv->cap) {
        lv->cap = lv->cap ? lv->cap * 2 : 4;
        lv->ids = pw_xrealloc(lv->ids, lv->cap * sizeof *lv->ids);
    }
    uint32_t i = lv->n;
    while (i > 0 && lv->ids[i - 1] > id) { /* ids almost always arrive ascending */
        lv->ids[i] = lv->ids[i - 1];
        i--;
    }
    lv->ids[i] = id;
    lv->n++;
}

int tsdb_series_create(struct tsdb *db, const char *key, size_t keylen, uint32_t id,
                       struct tsdb_series **out)
{
    int rc = PW_OK;
    char *lbuf = NULL;
    struct tsdb_series *s = NULL;
    uint32_t n = atomic_load_explicit(&db->nseries, memory_order_relaxed);
    if (id == UINT32_MAX)
        id = n;
    if (id >= db->opt.max_series)
        return PW_EFULL;
    if (tsdb_series_get(db, id))
        return PW_ECORRUPT; /* the id is taken by another key */
    s = pw_xcalloc(1, sizeof *s);
    rc = tsdb_key_parse(key, keylen, s->labels, &s->nlabels, &lbuf);
    if (rc != PW_OK)
        goto out;
    pthread_mutex_init(&s->mu, NULL);
    s->id = id;
    s->key = pw_xstrndup(key, keylen);
    s->keylen = (uint32_t)keylen;
    s->lbuf = lbuf;
    lbuf = NULL;
    s->max_ts = TSDB_NO_TS;
    s->last.ts = TSDB_NO_TS;

    uint32_t pg = id >> TSDB_PAGE_BITS;
    if (!db->pages[pg])
        db->pages[pg] = pw_xcalloc(TSDB_PAGE, sizeof(struct tsdb_series *));
    pthread_rwlock_wrlock(&db->index_lock);
    for (size_t i = 0; i < s->nlabels; i++)
        postings_add(lvalue_get(lname_get(db, s->labels[i].name, true), s->labels[i].value, true),
                     id);
    db->pages[pg][id & (TSDB_PAGE - 1)] = s;
    if (id >= n)
        atomic_store_explicit(&db->nseries, id + 1, memory_order_release);
    /* under the write lock: tsdb_series_lookup_many() reads the map from other threads */
    tsdb_map_put(&db->bykey, s->key, keylen, tsdb_key_hash(s->key, keylen), s);
    pthread_rwlock_unlock(&db->index_lock);
    db->live_series++;
    *out = s;
    s = NULL;
out:
    free(lbuf);
    free(s);
    return rc;
}

void tsdb_index_release(struct tsdb *db)
{
    for (size_t i = 0; i < db->nnames; i++) {
        struct tsdb_lname *ln = db->name_list[i];
        for (size_t j = 0; j < ln->nvals; j++) {
            free(ln->list[j]->value);
            free(ln->list[j]->ids);
            free(ln->list[j]);
        }
        free(ln->list);
        tsdb_map_release(&ln->vals);
        free(ln->name);
        free(ln);
    }
    free(db->name_list);
    tsdb_map_release(&db->names);
    db->name_list = NULL;
    db->nnames = db->capnames = 0;
}

/* ---- queries on the index ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Candidate ids for one positive matcher (EQ non-empty or RE not matching ""); malloc'ed.
 * Returns PW_OK or the budget's verdict (*ids is still set). */
static int candidates(struct tsdb *db, const struct tsdb_selector *sel,
                      const struct tsdb_matcher *m, uint32_t **ids, size_t *n)
{
    struct tsdb_lname *ln = lname_get(db, m->name, false);
    *ids = NULL;
    *n = 0;
    if (!ln)
        return PW_OK;
    if (m->op == TSDB_MATCH_EQ) {
        struct tsdb_lvalue *lv = lvalue_get(ln, m->value, false);
        if (lv && lv->n) {
            *ids = pw_xmalloc(lv->n * sizeof **ids);
            memcpy(*ids, lv->ids, lv->n * sizeof **ids);
            *n = lv->n;
        }
        return PW_OK;
    }
    size_t cap = 0, k = 0;
    uint32_t *v = NULL;
    bool sorted = true;
    int rc = PW_OK;
    for (size_t i = 0; i < ln->nvals; i++) {
        struct tsdb_lvalue *lv = ln->list[i];
        if (i % TSDB_POLL_EVERY == TSDB_POLL_EVERY - 1 && (rc = budget_check(sel)) != PW_OK)
            break;
        if (!lv->n || !re_match(m->re, lv->value, lv->vlen))
            continue;
        if (k + lv->n > cap) {
            cap = (k + lv->n) * 2;
            v = pw_xrealloc(v, cap * sizeof *v);
        }
        if (k && v[k - 1] > lv->ids[0])
            sorted = false;
        memcpy(v + k, lv->ids, lv->n * sizeof *v);
        k += lv->n;
    }
    if (!sorted && k)
        qsort(v, k, sizeof *v, cmp_u32);
    *ids = v;
    *n = k;
    return rc != PW_OK ? rc : budget_check(sel);
}

static int select_locked(struct tsdb *db, const struct tsdb_selector *sel, size_t limit,
                         uint32_t **refs, size_t *nout)
{
    const struct tsdb_matcher *best = NULL;
    size_t best_n = SIZE_MAX;
    re_exhausted = false;
    *refs = NULL;
    *nout = 0;
    for (size_t i = 0; i < sel->n; i++) {
        const struct tsdb_matcher *m = &sel->m[i];
        if (match_str(m, ""))
            continue;
        size_t est = SIZE_MAX - 1;
        if (m->op == TSDB_MATCH_EQ) {
            struct tsdb_lname *ln = lname_get(db, m->name, false);
            struct tsdb_lvalue *lv = ln ? lvalue_get(ln, m->value, false) : NULL;
            est = lv ? lv->n : 0;
        } else if (m->op != TSDB_MATCH_RE) {
            continue; /* x!="" or x!~"...": no postings to start from */
        }
        if (est < best_n) {
            best = m;
            best_n = est;
        }
    }
    uint32_t *ids = NULL;
    size_t n = 0;
    int rc = PW_OK;
    if (best) {
        rc = candidates(db, sel, best, &ids, &n);
        if (rc != PW_OK) {
            free(ids);
            return rc;
        }
    } else {
        /* only "x!=\"\""-style positive matchers: scan every series */
        bool any = false;
        for (size_t i = 0; i < sel->n; i++)
            any |= !match_str(&sel->m[i], "");
        if (!any)
            return PW_EINVAL;
        uint32_t ns = atomic_load_explicit(&db->nseries, memory_order_acquire);
        ids = pw_xmalloc((ns ? ns : 1) * sizeof *ids);
        for (uint32_t i = 0; i < ns; i++)
            ids[n++] = i;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % TSDB_POLL_EVERY == TSDB_POLL_EVERY - 1 && (rc = budget_check(sel)) != PW_OK)
            break;
        struct tsdb_series *s = tsdb_series_get(db, ids[i]);
        if (!s)
            continue;
        bool ok = true;
        for (size_t j = 0; ok && j < sel->n; j++)
            ok = tsdb_matcher_match(&sel->m[j], s);
        if (!ok)
            continue;
        if (limit && k == limit) {
            rc = PW_ETOOBIG;
            break;
        }
        ids[k++] = ids[i];
    }
    if (rc == PW_OK || rc == PW_ETOOBIG) {
        int brc = budget_check(sel);
        if (brc != PW_OK)
            rc = brc;
    }
    if (rc != PW_OK && rc != PW_ETOOBIG) {
        free(ids);
        return rc;
    }
    *refs = ids;
    *nout = k;
    return rc;
}

int tsdb_select(struct tsdb *db, const struct tsdb_selector *sel, size_t limit, uint32_t **refs,
                size_t *n)
{
    if (!sel || sel->n == 0)
        return PW_EINVAL;
    pthread_rwlock_rdlock(&db->index_lock);
    uint32_t *ids = NULL;
    size_t k = 0;
    int rc = select_locked(db, sel, limit, &ids, &k);
    pthread_rwlock_unlock(&db->index_lock);
    if (rc != PW_OK && rc != PW_ETOOBIG) {
        free(ids);
        return rc;
    }
    *refs = ids;
    *n = k;
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strs_push(char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = pw_xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = pw_xstrdup(s);
}

static void strs_sort_uniq(char **v, size_t *n)
{
    if (*n == 0)
        return;
    qsort(v, *n, sizeof *v, cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < *n; i++) {
        if (strcmp(v[i], v[k - 1]) == 0)
            free(v[i]);
        else
            v[k++] = v[i];
    }
    *n = k;
}

void tsdb_strings_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* name == NULL: label names; else values of label `name`. */
static int label_query(struct tsdb *db, const char *name, const struct tsdb_selector *sel,
                       char ***out, size_t *nout)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc = PW_OK;
    pthread_rwlock_rdlock(&db->index_lock);
    if (!sel || sel->n == 0) {
        if (!name) {
            for (size_t i = 0; i < db->nnames; i++)
                if (db->name_list[i]->nvals)
                    strs_push(&v, &n, &cap, db->name_list[i]->name);
        } else {
            struct tsdb_lname *ln = lname_get(db, name, false);
            for (size_t i = 0; ln && i < ln->nvals; i++)
                if (ln->list[i]->n)
                    strs_push(&v, &n, &cap, ln->list[i]->value);
        }
    } else {
        uint32_t *ids = NULL;
        size_t k = 0;
        rc = select_locked(db, sel, 0, &ids, &k);
        for (size_t i = 0; rc == PW_OK && i < k; i++) {
            struct tsdb_series *s = tsdb_series_get(db, ids[i]);
            for (size_t j = 0; s && j < s->nlabels; j++) {
                if (!name)
                    strs_push(&v, &n, &cap, s->labels[j].name);
                else if (strcmp(s->labels[j].name, name) == 0)
                    strs_push(&v, &n, &cap, s->labels[j].value);
            }
        }
        free(ids);
    }
    pthread_rwlock_unlock(&db->index_lock);
    if (rc != PW_OK) {
        tsdb_strings_free(v, n);
        return rc;
    }
    strs_sort_uniq(v, &n);
    *out = v;
    *nout = n;
    return PW_OK;
}

int tsdb_label_names(struct tsdb *db, const struct tsdb_selector *sel, char ***out, size_t *n)
{
    return label_query(db, NULL, sel, out, n);
}

int tsdb_label_values(struct tsdb *db, const char *name, const struct tsdb_selector *sel,
                      char ***out, size_t *n)
{
    if (!name)
        return PW_EINVAL;
    return label_query(db, name, sel, out, n);
}

size_t tsdb_series_labels(struct tsdb *db, uint32_t ref, struct tsdb_label *out, size_t cap)
{
    struct tsdb_series *s = tsdb_series_get(db, ref);
    if (!s)
        return 0;
    for (size_t i = 0; i < s->nlabels && i < cap; i++)
        out[i] = s->labels[i];
    return s->nlabels;
}

const char *tsdb_series_key(struct tsdb *db, uint32_t ref)
{
    struct tsdb_series *s = tsdb_series_get(db, ref);
    return s ? s->key : NULL;
}

int tsdb_series_json(struct tsdb *db, uint32_t ref, struct pw_buf *out)
{
    struct tsdb_series *s = tsdb_series_get(db, ref);
    int rc = PW_OK;
    if (!s)
        return PW_ENOTFOUND;
    rc = pw_buf_putc(out, '{');
    for (size_t i = 0; rc == PW_OK && i < s->nlabels; i++) {
        if (i)
            rc = pw_buf_putc(out, ',');
        if (rc == PW_OK)
            rc = pw_buf_json_str(out, s->labels[i].name);
        if (rc == PW_OK)
            rc = pw_buf_putc(out, ':');
        if (rc == PW_OK)
            rc = pw_buf_json_str(out, s->labels[i].value);
    }
    if (rc == PW_OK)
        rc = pw_buf_putc(out, '}');
    return rc;
}
