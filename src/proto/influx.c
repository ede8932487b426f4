/* influx.c — InfluxDB line protocol parser; see influx.h for the contract and
 * docs/protocols/influx.md for the grammar and the VictoriaMetrics naming rules.
 *
 * How a line is cut (the same cuts VictoriaMetrics makes, lib/protoparser/influx/parser.go):
 *
 *   - A backslash takes the byte after it out of the syntax, whatever that byte is (so "\\," is
 *     an escaped backslash followed by a real comma). When a name is unescaped, "\ " "\," "\=" and
 *     "\\" become the second byte and any other "\x" stays two bytes; a lone trailing backslash
 *     stays. This applies to the measurement, tag keys, tag values and field keys alike.
 *   - The measurement runs to the first unescaped ',' or ' '; tags run to the first unescaped
 *     ' '; each tag is split at its first unescaped '=' (a tag value may contain '='). A tag with
 *     an empty key or value is dropped (VictoriaMetrics does the same).
 *   - One or more spaces, then fields separated by unescaped ','. A field key runs to the first
 *     unescaped '='. A value starting with '"' is a string up to the next '"' not preceded by a
 *     backslash; anything else runs to the next ',' or ' '.
 *   - One or more spaces, then an optional signed 64-bit timestamp, then optional spaces.
 *
 * The whole line is checked before its samples are emitted, so a line is all or nothing. */
#include "proto/influx.h"

#include "base/err.h"
#include "base/mem.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Byte classes for scanning; a token stops at the first byte whose class is in its mask. */
enum { C_SP = 1, C_COMMA = 2, C_EQ = 4, C_BSL = 8 };
enum {
    M_MEAS = C_SP | C_COMMA | C_BSL,
    M_KEY = C_SP | C_COMMA | C_EQ | C_BSL, /* tag keys and field keys */
    M_TAGV = C_SP | C_COMMA | C_BSL,
    M_FVAL = C_SP | C_COMMA,
};
static const unsigned char k_cls[256] = {
    [' '] = C_SP,
    [','] = C_COMMA,
    ['='] = C_EQ,
    ['\\'] = C_BSL,
};

/* Arrays that live in struct parser until a line needs more (then on the heap, once per call). */
#define STACK_LABELS 33 /* 32 tags + db */
#define STACK_FIELDS 64
#define STACK_SCRATCH 4096
#define MAX_LINE_CAP ((size_t)1 << 30) /* max_line_len is clamped to this */

struct field {
    struct influx_str key;
    struct influx_str raw; /* the key as written */
    double value;
    bool skip; /* a string value under INFLUX_STRINGS_SKIP */
};

struct parser {
    /* resolved options */
    const struct influx_opts *o;
    struct influx_str sep, db;
    size_t max_line, max_tags, max_fields;
    int64_t now_ms; /* now, as used for a missing timestamp in this precision */
    /* per-line results */
    struct influx_label *labels;
    size_t labels_cap;
    struct field *fields;
    size_t fields_cap;
    size_t n_labels, n_fields;
    struct influx_str meas;
    struct influx_str series; /* raw measurement and tags */
    int64_t ts_ms;
    char *scratch;
    size_t scratch_cap, scratch_used;
    /* the error of the current line */
    bool want_msg;
    int err;
    char msg[INFLUX_ERR_MSG];
    /* initial storage */
    struct influx_label labels0[STACK_LABELS];
    struct field fields0[STACK_FIELDS];
    char scratch0[STACK_SCRATCH];
};

enum line_rc { LINE_OK, LINE_BAD, LINE_GROW_LABELS, LINE_GROW_FIELDS };

/* Records the current line's error; the message is formatted only when it will be kept. */
__attribute__((format(printf, 3, 4))) static enum line_rc bad(struct parser *ps, int err,
                                                              const char *fmt, ...)
{
    ps->err = err;
    if (ps->want_msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->msg, sizeof ps->msg, fmt, ap);
        va_end(ap);
    }
    return LINE_BAD;
}

/* Copies up to 32 bytes of s into out (size >= 36) for quoting in a message; non-printable bytes
 * become '?', a longer s ends in "...". Returns out. */
static const char *excerpt(char *out, const char *s, size_t n)
{
    size_t k = n > 32 ? 32 : n, i;
    for (i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    if (n > k) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* Returns the first byte in [p, end) whose class is in mask and that is not escaped, or end.
 * Sets *esc when a backslash was passed over. */
static inline const char *scan(const char *p, const char *end, unsigned mask, bool *esc)
{
    while (p < end) {
        unsigned c = k_cls[(unsigned char)*p];
        if (__builtin_expect(!(c & mask), 1)) {
            p++;
            continue;
        }
        if (c != C_BSL)
            return p;
        *esc = true;
        if (end - p < 2)
            return end;
        p += 2;
    }
    return end;
}

/* Returns [s, e) unescaped: in place when esc is false, else copied into the scratch area (which
 * is sized so that all tokens of a line fit). */
static struct influx_str unescape(struct parser *ps, const char *s, const char *e, bool esc)
{
    if (!esc)
        return (struct influx_str){s, (size_t)(e - s)};
    char *out = ps->scratch + ps->scratch_used, *o = out;
    while (s < e) {
        char c = *s++;
        if (c == '\\' && s < e && (*s == ' ' || *s == ',' || *s == '=' || *s == '\\'))
            c = *s++;
        *o++ = c;
    }
    ps->scratch_used += (size_t)(o - out);
    return (struct influx_str){out, (size_t)(o - out)};
}

static bool str_eq(struct influx_str a, const char *b, size_t n)
{
    return a.len == n && memcmp(a.p, b, n) == 0;
}

/* ---- numbers ---- */

/* Exact powers of ten: every one up to 1e22 is representable in a double. */
static const double k_pow10[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Parses a float in [s, e) with the grammar
 *     [+-]? ( digits [ '.' digits* ] | '.' digits ) ( [eE] [+-]? digits )?
 * and stores the correctly rounded double (bit-identical to strtod's) in *out. The common case
 * (at most 19 significant digits, |decimal exponent| <= 22, mantissa <= 2^53) is one exact IEEE
 * multiplication or division, correctly rounded by the hardware (Clinger's fast path); everything
 * else goes through strtod on a rewritten copy "[-]DIGITSeEXP" that has no decimal point, so the
 * locale cannot matter. tmp must have room for (e - s) + 24 bytes.
 * Returns PW_OK, PW_EINVAL (not a number: includes "nan", "inf", hex) or PW_ERANGE (overflows to
 * infinity). *out is left unmodified on error. */
static int parse_float(const char *s, const char *e, char *tmp, double *out)
{
    const char *p = s;
    bool neg = false;
    if (p < e && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    const char *ip = p;
    while (p < e && (unsigned)(*p - '0') < 10)
        p++;
    const char *ie = p, *fp = p, *fe = p;
    if (p < e && *p == '.') {
        fp = ++p;
        while (p < e && (unsigned)(*p - '0') < 10)
            p++;
        fe = p;
    }
    if (ie == ip && fe == fp)
        return PW_EINVAL; /* no digit at all (also catches ".", "", "-") */
    int64_t exp10 = 0;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < e && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        const char *ep = p;
        while (p < e && (unsigned)(*p - '0') < 10) {
            if (exp10 < 1000000000)
                exp10 = exp10 * 10 + (*p - '0');
            p++;
        }
        if (p == ep)
            return PW_EINVAL;
        if (eneg)
            exp10 = -exp10;
    }
    if (p != e)
        return PW_EINVAL;

    /* fast path */
    uint64_t m = 0;
    int nd = 0;
    int64_t dexp = exp10;
    bool slow = false;
    for (const char *q = ip; q < ie; q++) {
        if (m == 0 && *q == '0')
            continue;
        if (nd == 19) {
            slow = true;
            break;
        }
        m = m * 10 + (uint64_t)(*q - '0');
        nd++;
    }
    for (const char *q = fp; q < fe && !slow; q++) {
        if (m == 0 && *q == '0') {
            dexp--;
            continue;
        }
        if (nd == 19) {
            slow = true;
            break;
        }
        m = m * 10 + (uint64_t)(*q - '0');
        nd++;
        dexp--;
    }
#if FLT_EVAL_METHOD == 0
    if (!slow && m == 0) {
        *out = neg ? -0.0 : 0.0;
        return PW_OK;
    }
    if (!slow && m <= ((uint64_t)1 << 53) && dexp >= -22 && dexp <= 22) {
        double d = (double)m;
        d = dexp < 0 ? d / k_pow10[-dexp] : d * k_pow10[dexp];
        *out = neg ? -d : d;
        return PW_OK;
    }
#endif

    /* slow path: "[-]<all mantissa digits>e<exp10 - fraction digits>" */
    char *t = tmp;
    if (neg)
        *t++ = '-';
    memcpy(t, ip, (size_t)(ie - ip));
    t += ie - ip;
    memcpy(t, fp, (size_t)(fe - fp));
    t += fe - fp;
    int64_t x = exp10 - (fe - fp);
    char digits[24];
    int nx = 0;
    *t++ = 'e';
    if (x < 0) {
        *t++ = '-';
        x = -x;
    }
    do {
        digits[nx++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    while (nx)
        *t++ = digits[--nx];
    *t = '\0';
    double d = strtod(tmp, NULL);
    if (isinf(d))
        return PW_ERANGE;
    *out = d;
    return PW_OK;
}

/* Parses [-]digits into *out. Returns PW_OK, PW_EINVAL or PW_ERANGE; *out unmodified on error. */
static int parse_i64(const char *s, const char *e, int64_t *out)
{
    bool neg = false;
    if (s < e && *s == '-') {
        neg = true;
        s++;
    }
    if (s == e)
        return PW_EINVAL;
    uint64_t v = 0;
    const char *fast_end = e - s > 18 ? s + 18 : e; /* 18 digits cannot overflow */
    for (; s < fast_end; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > 9)
            return PW_EINVAL;
        v = v * 10 + d;
    }
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; s < e; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > 9)
            return PW_EINVAL;
        if (v > (lim - d) / 10)
            return PW_ERANGE;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return PW_OK;
}

/* Parses digits into *out. Returns PW_OK, PW_EINVAL or PW_ERANGE; *out unmodified on error. */
static int parse_u64(const char *s, const char *e, uint64_t *out)
{
    if (s == e)
        return PW_EINVAL;
    uint64_t v = 0;
    for (; s < e; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > 9)
            return PW_EINVAL;
        if (v > (UINT64_MAX - d) / 10)
            return PW_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return PW_OK;
}

/* An unquoted field value: float, 123i, 123u or a boolean. */
static int parse_value(const char *s, const char *e, char *tmp, double *out)
{
    size_t n = (size_t)(e - s);
    char last = e[-1];
    if (last >= '0' && last <= '9')
        return parse_float(s, e, tmp, out);
    if (last == 'i') {
        int64_t v;
        int rc = parse_i64(s, e - 1, &v);
        if (rc == PW_OK)
            *out = (double)v;
        return rc;
    }
    if (last == 'u') {
        uint64_t v;
        int rc = parse_u64(s, e - 1, &v);
        if (rc == PW_OK)
            *out = (double)v;
        return rc;
    }
    switch (n) {
    case 1:
        if (*s == 't' || *s == 'T')
            return *out = 1, PW_OK;
        if (*s == 'f' || *s == 'F')
            return *out = 0, PW_OK;
        break;
    case 4:
        if (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4))
            return *out = 1, PW_OK;
        break;
    case 5:
        if (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5))
            return *out = 0, PW_OK;
        break;
    }
    return parse_float(s, e, tmp, out); /* "1." and the errors */
}

/* ---- timestamps ---- */

/* Converts a timestamp written in the body to ms as VictoriaMetrics does
 * (lib/protoparser/influx/stream/streamparser.go): division truncates toward zero, 0 means now.
 * Returns PW_OK or PW_ERANGE (the ms value does not fit in int64). */
static int ts_to_ms(const struct parser *ps, int64_t ts, int64_t *out)
{
    int64_t mul = 1;
    if (ts == 0) {
        *out = ps->now_ms;
        return PW_OK;
    }
    switch (ps->o->precision) {
    case INFLUX_PREC_AUTO:
        if (ts >= 100000000000000000LL)
            return *out = ts / 1000000, PW_OK;
        if (ts >= 100000000000000LL)
            return *out = ts / 1000, PW_OK;
        if (ts >= 100000000000LL)
            return *out = ts, PW_OK;
        mul = 1000;
        break;
    case INFLUX_PREC_NS:
        return *out = ts / 1000000, PW_OK;
    case INFLUX_PREC_US:
        return *out = ts / 1000, PW_OK;
    case INFLUX_PREC_MS:
        return *out = ts, PW_OK;
    case INFLUX_PREC_S:
        mul = 1000;
        break;
    case INFLUX_PREC_M:
        mul = 60000;
        break;
    case INFLUX_PREC_H:
        mul = 3600000;
        break;
    }
    if (__builtin_mul_overflow(ts, mul, out))
        return PW_ERANGE;
    return PW_OK;
}

/* ---- one line ---- */

/* Parses the line [s, e) (no '\n', no trailing '\r', not blank, not a comment) into ps->meas,
 * ps->labels, ps->fields, ps->ts_ms. Returns LINE_OK, LINE_BAD (ps->err and ps->msg set) or
 * LINE_GROW_* when an array of ps is too small for this line (nothing else was changed). */
static enum line_rc parse_line(struct parser *ps, const char *s, const char *e)
{
    char x1[40];
    const char *p = s, *q;
    bool esc = false, has_db = false;
    size_t ntags = 0, nl = 0, nf = 0;

    ps->scratch_used = 0;
    q = scan(p, e, M_MEAS, &esc);
    ps->meas = unescape(ps, p, q, esc);

    while (q < e && *q == ',') {
        if (++ntags > ps->max_tags)
            return bad(ps, PW_ETOOBIG, "more than %zu tags", ps->max_tags);
        p = q + 1;
        esc = false;
        const char *ke = scan(p, e, M_KEY, &esc);
        if (ke == e || *ke != '=')
            return bad(ps, PW_EINVAL, "tag \"%s\" has no '='", excerpt(x1, p, (size_t)(ke - p)));
        struct influx_str key = unescape(ps, p, ke, esc);
        p = ke + 1;
        esc = false;
        q = scan(p, e, M_TAGV, &esc);
        struct influx_str val = unescape(ps, p, q, esc);
        if (key.len == 0 || val.len == 0)
            continue; /* VictoriaMetrics drops empty tags */
        if (str_eq(key, "__name__", 8))
            return bad(ps, PW_EINVAL, "tag key \"__name__\" is reserved");
        for (size_t i = 0; i < nl; i++)
            if (ps->labels[i].name.len == key.len &&
                memcmp(ps->labels[i].name.p, key.p, key.len) == 0)
                return bad(ps, PW_EINVAL, "duplicate tag \"%s\"", excerpt(x1, key.p, key.len));
        if (nl + 1 >= ps->labels_cap) /* keep one slot for db */
            return LINE_GROW_LABELS;
        if (str_eq(key, "db", 2))
            has_db = true;
        ps->labels[nl].name = key;
        ps->labels[nl].value = val;
        nl++;
    }
    if (q == e)
        return bad(ps, PW_EINVAL, "no fields (missing space after measurement and tags)");
    ps->series = (struct influx_str){s, (size_t)(q - s)};
    while (q < e && *q == ' ')
        q++;
    if (q == e)
        return bad(ps, PW_EINVAL, "no fields");

    for (;;) {
        p = q;
        esc = false;
        const char *ke = scan(p, e, M_KEY, &esc);
        if (ke == p)
            return bad(ps, PW_EINVAL, "empty field key");
        if (ke == e || *ke != '=')
            return bad(ps, PW_EINVAL, "field \"%s\" has no '='", excerpt(x1, p, (size_t)(ke - p)));
        if (nf == ps->max_fields)
            return bad(ps, PW_ETOOBIG, "more than %zu fields", ps->max_fields);
        if (nf == ps->fields_cap)
            return LINE_GROW_FIELDS;
        struct field *f = &ps->fields[nf];
        f->key = unescape(ps, p, ke, esc);
        f->raw = (struct influx_str){p, (size_t)(ke - p)};
        f->skip = false;
        p = ke + 1;
        char *tmp = ps->scratch + ps->scratch_used; /* float slow path; see parse_float */
        if (p < e && *p == '"') {
            const char *t = p + 1;
            while (t < e && *t != '"') {
                if (*t == '\\' && e - t >= 2)
                    t++;
                t++;
            }
            if (t >= e)
                return bad(ps, PW_EINVAL, "unterminated string in field \"%s\"",
                           excerpt(x1, f->key.p, f->key.len));
            q = t + 1;
            if (q < e && *q != ',' && *q != ' ')
                return bad(ps, PW_EINVAL, "unexpected '%c' after string of field \"%s\"",
                           (*q >= 0x20 && *q < 0x7f) ? *q : '?', excerpt(x1, f->key.p, f->key.len));
            if (ps->o->strings == INFLUX_STRINGS_VM) {
                if (parse_float(p + 1, t, tmp, &f->value) != PW_OK)
                    f->value = 0;
            } else {
                f->skip = true;
            }
        } else {
            q = scan(p, e, M_FVAL, &esc);
            if (q == p)
                return bad(ps, PW_EINVAL, "empty value of field \"%s\"",
                           excerpt(x1, f->key.p, f->key.len));
            int rc = parse_value(p, q, tmp, &f->value);
            if (rc != PW_OK) {
                char x2[40];
                return bad(ps, rc, "%s value \"%s\" of field \"%s\"",
                           rc == PW_ERANGE ? "out-of-range" : "bad",
                           excerpt(x2, p, (size_t)(q - p)), excerpt(x1, f->key.p, f->key.len));
            }
        }
        nf++;
        if (q < e && *q == ',') {
            q++;
            continue;
        }
        break;
    }

    while (q < e && *q == ' ')
        q++;
    int64_t ts = 0;
    if (q < e) {
        p = q;
        while (q < e && *q != ' ')
            q++;
        int rc = parse_i64(p, q, &ts);
        if (rc != PW_OK)
            return bad(ps, rc, "%s timestamp \"%s\"", rc == PW_ERANGE ? "out-of-range" : "bad",
                       excerpt(x1, p, (size_t)(q - p)));
        while (q < e && *q == ' ')
            q++;
        if (q < e)
            return bad(ps, PW_EINVAL, "unexpected \"%s\" after timestamp",
                       excerpt(x1, q, (size_t)(e - q)));
    }
    if (ts_to_ms(ps, ts, &ps->ts_ms) != PW_OK)
        return bad(ps, PW_ERANGE, "timestamp %lld out of range in this precision", (long long)ts);

    if (ps->db.len && !has_db) {
        ps->labels[nl].name = (struct influx_str){"db", 2};
        ps->labels[nl].value = ps->db;
        nl++;
    }
    ps->n_labels = nl;
    ps->n_fields = nf;
    return LINE_OK;
}

/* Names and emits the samples of a parsed line. Returns 0 or the callback's value. */
static int emit_line(struct parser *ps, size_t line, influx_sample_fn fn, void *ctx,
                     struct influx_result *res)
{
    const struct influx_opts *o = ps->o;
    /* every member is set here or per field below: no initializer, which would zero the whole
     * struct first (a `rep stos` per line, measurably slower) */
    struct influx_sample smp;
    smp.labels = ps->labels;
    smp.n_labels = ps->n_labels;
    smp.ts_ms = ps->ts_ms;
    smp.line = line;
    smp.series = ps->series;
    /* VictoriaMetrics, app/vminsert/influx/request_handler.go: name = measurement + sep + field;
     * the separator only after a non-empty measurement; skipSingleField names a one-field line
     * after its measurement alone. skip_measurement wins over skip_single_field here (VM would
     * produce an empty name). */
    struct influx_str pre = o->skip_measurement ? (struct influx_str){"", 0} : ps->meas;
    bool field_only = pre.len == 0;
    bool meas_only = !field_only && o->skip_single_field && ps->n_fields == 1;
    char *nb = ps->scratch + ps->scratch_used;
    size_t plen = 0;
    if (!field_only && !meas_only) {
        memcpy(nb, pre.p, pre.len);
        memcpy(nb + pre.len, ps->sep.p, ps->sep.len);
        plen = pre.len + ps->sep.len;
    }
    for (size_t i = 0; i < ps->n_fields; i++) {
        const struct field *f = &ps->fields[i];
        if (f->skip) {
            res->strings_skipped++;
            continue;
        }
        if (field_only) {
            smp.name = f->key;
        } else if (meas_only) {
            smp.name = pre;
        } else {
            memcpy(nb + plen, f->key.p, f->key.len);
            smp.name = (struct influx_str){nb, plen + f->key.len};
        }
        smp.value = f->value;
        smp.field = f->raw;
        int rc = fn(ctx, &smp);
        if (rc)
            return rc;
        res->samples++;
    }
    return 0;
}

/* Grows one of ps's arrays to at most limit entries. */
static void *grow(void *cur, void *initial, size_t *cap, size_t limit, size_t elem)
{
    size_t n = *cap * 2 < limit ? *cap * 2 : limit;
    void *p = pw_xmalloc(n * elem);
    memcpy(p, cur, *cap * elem);
    if (cur != initial)
        free(cur);
    *cap = n;
    return p;
}

void influx_opts_init(struct influx_opts *o, int64_t now_ms)
{
    memset(o, 0, sizeof *o);
    o->precision = INFLUX_PREC_AUTO;
    o->now_ms = now_ms;
    o->strings = INFLUX_STRINGS_SKIP;
    o->max_line_len = INFLUX_DEFAULT_MAX_LINE;
    o->max_tags = INFLUX_DEFAULT_MAX_TAGS;
    o->max_fields = INFLUX_DEFAULT_MAX_FIELDS;
}

int influx_precision_parse(const char *s, size_t len, enum influx_precision *out)
{
    static const struct {
        const char *s;
        enum influx_precision p;
    } k[] = {
        {"", INFLUX_PREC_AUTO}, {"ns", INFLUX_PREC_NS},       {"n", INFLUX_PREC_NS},
        {"u", INFLUX_PREC_US},
        {"us", INFLUX_PREC_US}, {"\xc2\xb5", INFLUX_PREC_US}, {"ms", INFLUX_PREC_MS},
        {"s", INFLUX_PREC_S},   {"m", INFLUX_PREC_M},         {"h", INFLUX_PREC_H},
    };
    for (size_t i = 0; i < PW_ARRAY_LEN(k); i++)
        if (strlen(k[i].s) == len && memcmp(k[i].s, s, len) == 0) {
            *out = k[i].p;
            return PW_OK;
        }
    return PW_EINVAL;
}

int influx_parse(const char *body, size_t len, const struct influx_opts *opts, influx_sample_fn fn,
                 void *ctx, struct influx_error *errs, size_t errs_cap, struct influx_result *res)
{
    struct parser *ps, ps_storage;
    int rc = PW_OK;
    const char *p = body, *end = body + len;
    size_t line = 0;

    memset(res, 0, sizeof *res);
    ps = &ps_storage;
    ps->o = opts;
    ps->sep =
        opts->sep ? (struct influx_str){opts->sep, opts->sep_len} : (struct influx_str){"_", 1};
    ps->db = (struct influx_str){opts->db ? opts->db : "", opts->db ? opts->db_len : 0};
    ps->max_line = opts->max_line_len ? opts->max_line_len : INFLUX_DEFAULT_MAX_LINE;
    if (ps->max_line > MAX_LINE_CAP)
        ps->max_line = MAX_LINE_CAP;
    ps->max_tags = opts->max_tags ? opts->max_tags : INFLUX_DEFAULT_MAX_TAGS;
    ps->max_fields = opts->max_fields ? opts->max_fields : INFLUX_DEFAULT_MAX_FIELDS;
    /* VictoriaMetrics rounds "now" down to the precision's unit when it is coarser than 1 ms. */
    int64_t unit = opts->precision == INFLUX_PREC_S   ? 1000
                   : opts->precision == INFLUX_PREC_M ? 60000
                   : opts->precision == INFLUX_PREC_H ? 3600000
                                                      : 1;
    ps->now_ms = opts->now_ms - opts->now_ms % unit;
    ps->labels = ps->labels0;
    ps->labels_cap = STACK_LABELS;
    ps->fields = ps->fields0;
    ps->fields_cap = STACK_FIELDS;
    ps->scratch = ps->scratch0;
    ps->scratch_cap = STACK_SCRATCH;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        size_t ll = (size_t)(le - p);
        enum line_rc lr;
        line++;
        ps->want_msg = res->n_errors < errs_cap;
        if (ll > ps->max_line) {
            res->lines++;
            lr = bad(ps, PW_ETOOBIG, "line longer than %zu bytes", ps->max_line);
            goto done;
        }
        if (ll && le[-1] == '\r')
            le--, ll--;
        if (ll == 0 || *p == '#')
            goto next_line;
        if (*p == ' ') {
            const char *t = p;
            while (t < le && *t == ' ')
                t++;
            if (t == le)
                goto next_line; /* only spaces: blank */
        }
        res->lines++;
        /* names: unescaped tokens (<= ll) + one metric name (<= ll + sep) + float temp (24) */
        size_t need = 2 * ll + ps->sep.len + 32;
        if (need > ps->scratch_cap) {
            if (ps->scratch != ps->scratch0)
                free(ps->scratch);
            size_t cap = ps->scratch_cap;
            while (cap < need)
                cap *= 2;
            ps->scratch = pw_xmalloc(cap);
            ps->scratch_cap = cap;
        }
        for (;;) {
            lr = parse_line(ps, p, le);
            if (lr == LINE_GROW_LABELS)
                ps->labels = grow(ps->labels, ps->labels0, &ps->labels_cap, ps->max_tags + 1,
                                  sizeof *ps->labels);
            else if (lr == LINE_GROW_FIELDS)
                ps->fields = grow(ps->fields, ps->fields0, &ps->fields_cap, ps->max_fields,
                                  sizeof *ps->fields);
            else
                break;
        }
    done:
        if (lr == LINE_OK) {
            int crc = emit_line(ps, line, fn, ctx, res);
            if (crc) {
                rc = crc;
                goto out;
            }
        } else {
            res->bad_lines++;
            if (ps->want_msg) {
                struct influx_error *er = &errs[res->n_errors++];
                er->line = line;
                er->err = ps->err;
                memcpy(er->msg, ps->msg, sizeof er->msg);
            }
        }
    next_line:
        p = next;
    }
    rc = res->bad_lines ? PW_EINVAL : PW_OK;
out:
    if (ps->labels != ps->labels0)
        free(ps->labels);
    if (ps->fields != ps->fields0)
        free(ps->fields);
    if (ps->scratch != ps->scratch0)
        free(ps->scratch);
    return rc;
}

/* ---- series key ---- */

static int label_cmp(const struct influx_label *a, const struct influx_label *b)
{
    size_t n = a->name.len < b->name.len ? a->name.len : b->name.len;
    int c = n ? memcmp(a->name.p, b->name.p, n) : 0;
    if (c)
        return c;
    return (a->name.len > b->name.len) - (a->name.len < b->name.len);
}

int influx_series_key(struct pw_buf *out, struct influx_str name, const struct influx_label *labels,
                      size_t n_labels)
{
    const struct influx_label *stack_idx[64], **idx = stack_idx;
    int rc = pw_buf_append(out, name.p, name.len);
    if (rc || n_labels == 0)
        return rc;
    if (n_labels > PW_ARRAY_LEN(stack_idx))
        idx = pw_xmalloc(n_labels * sizeof *idx);
    /* insertion sort: stable, and label sets are small */
    for (size_t i = 0; i < n_labels; i++) {
        size_t j = i;
        while (j > 0 && label_cmp(idx[j - 1], &labels[i]) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = &labels[i];
    }
    rc = pw_buf_putc(out, '{');
    for (size_t i = 0; i < n_labels && !rc; i++) {
        const struct influx_label *l = idx[i];
        if (i)
            rc = pw_buf_putc(out, ',');
        if (!rc)
            rc = pw_buf_append(out, l->name.p, l->name.len);
        if (!rc)
            rc = pw_buf_append(out, "=\"", 2);
        const char *v = l->value.p, *ve = v + l->value.len, *run = v;
        for (; v < ve && !rc; v++) {
            const char *rep = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
            if (!rep)
                continue;
            rc = pw_buf_append(out, run, (size_t)(v - run));
            if (!rc)
                rc = pw_buf_append(out, rep, 2);
            run = v + 1;
        }
        if (!rc)
            rc = pw_buf_append(out, run, (size_t)(ve - run));
        if (!rc)
            rc = pw_buf_putc(out, '"');
    }
    if (!rc)
        rc = pw_buf_putc(out, '}');
    if (idx != stack_idx)
        free(idx);
    return rc;
}
