/* libFuzzer target for the InfluxDB line protocol parser. The first byte picks options (precision,
 * string mode, naming switches, small limits so the bounds are reached); the rest is the body.
 * Invariants checked on every sample: a non-empty name, non-empty label names and values, a finite
 * value, a line number within the body; the series key helper is run on each sample. The raw series
 * and field parts lie within the body and, unless skip_single_field is set, determine the series
 * (POST /write caches series under them): the line `<series> <field>=1` alone names the same
 * series. */
#include "base/buf.h"
#include "base/err.h"
#include "proto/influx.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fctx {
    size_t max_line;
    size_t n;
    struct pw_buf key;
    const char *body;
    size_t len;
    const struct influx_opts *o;
    struct pw_buf mini, mini_key; /* the re-parse of `<series> <field>=1` */
    size_t mini_n;
};

static int on_mini(void *ctx, const struct influx_sample *s)
{
    struct fctx *f = ctx;
    pw_buf_reset(&f->mini_key);
    if (influx_series_key(&f->mini_key, s->name, s->labels, s->n_labels) != PW_OK)
        abort();
    f->mini_n++;
    return 0;
}

static int on_sample(void *ctx, const struct influx_sample *s)
{
    struct fctx *f = ctx;
    if (s->name.len == 0 || !isfinite(s->value) || s->line == 0 || s->line > f->max_line)
        abort();
    for (size_t i = 0; i < s->n_labels; i++)
        if (s->labels[i].name.len == 0 || s->labels[i].value.len == 0)
            abort();
    pw_buf_reset(&f->key);
    if (influx_series_key(&f->key, s->name, s->labels, s->n_labels) != PW_OK)
        abort();
    if (s->series.p < f->body || s->series.p + s->series.len > f->body + f->len ||
        s->field.p < f->body || s->field.p + s->field.len > f->body + f->len || s->field.len == 0)
        abort();
    if (!f->o->skip_single_field) {
        struct influx_result res;
        pw_buf_reset(&f->mini);
        pw_buf_append(&f->mini, s->series.p, s->series.len);
        pw_buf_putc(&f->mini, ' ');
        pw_buf_append(&f->mini, s->field.p, s->field.len);
        pw_buf_append(&f->mini, "=1", 2);
        f->mini_n = 0;
        if (influx_parse(f->mini.data, f->mini.len, f->o, on_mini, f, NULL, 0, &res) != PW_OK ||
            f->mini_n != 1 || f->mini_key.len != f->key.len ||
            memcmp(f->mini_key.data, f->key.data, f->key.len) != 0)
            abort();
    }
    f->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    struct influx_opts o;
    influx_opts_init(&o, 1700000000123LL);
    o.precision = (enum influx_precision)(sel % 7);
    o.strings = (sel & 0x08) ? INFLUX_STRINGS_VM : INFLUX_STRINGS_SKIP;
    o.skip_single_field = sel & 0x10;
    o.skip_measurement = sel & 0x20;
    if (sel & 0x40) {
        o.db = "db0";
        o.db_len = 3;
        o.sep = "::";
        o.sep_len = 2;
    }
    if (sel & 0x80) {
        o.max_line_len = 200;
        o.max_tags = 3;
        o.max_fields = 4;
    }

    struct fctx f = {.max_line = 1, .body = body, .len = len, .o = &o};
    for (size_t i = 0; i < len; i++)
        f.max_line += body[i] == '\n';
    pw_buf_init(&f.key, 0);
    pw_buf_init(&f.mini, 0);
    pw_buf_init(&f.mini_key, 0);
    struct influx_error errs[4];
    struct influx_result res;
    int rc = influx_parse(body, len, &o, on_sample, &f, errs, 4, &res);
    if (rc != PW_OK && rc != PW_EINVAL)
        abort();
    if ((rc == PW_EINVAL) != (res.bad_lines > 0) || res.samples != f.n || res.n_errors > 4 ||
        res.bad_lines > res.lines || res.lines > f.max_line)
        abort();
    for (size_t i = 0; i < res.n_errors; i++)
        if (errs[i].line == 0 || errs[i].line > f.max_line ||
            !memchr(errs[i].msg, 0, INFLUX_ERR_MSG) || (i && errs[i].line <= errs[i - 1].line))
            abort();
    pw_buf_release(&f.key);
    pw_buf_release(&f.mini);
    pw_buf_release(&f.mini_key);
    return 0;
}
