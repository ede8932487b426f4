/* libFuzzer target for the permit CSV import (permit_csv_parse) and the permit JSON parser it
 * feeds. Invariants: every data row is reported exactly once, as a permit or as a bad row with a
 * line inside the input; a parsed permit is within its bounds and prints as JSON that parses back
 * to the same permit (the stored form round-trips). */
#include "base/buf.h"
#include "base/err.h"
#include "permit/permit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    int lines, rows;
};

static void on_row(int line, const struct permit *p, void *arg)
{
    struct ctx *c = arg;
    c->rows++;
    if (line < 2 || line > c->lines || p->nloc < 1 || p->nloc > PERMIT_POLY_MAX ||
        p->nworkers > PERMIT_WORKERS_MAX || p->planned_end <= p->planned_start)
        abort();
    struct permit q = *p;
    snprintf(q.id, sizeof q.id, "PT-000001");
    q.filed_at = 1;
    struct pw_buf b;
    pw_buf_init(&b, 0);
    permit_to_json(&q, NULL, &b);
    struct permit back;
    if (permit_from_stored(b.data, b.len, &back) != PW_OK || back.type != q.type ||
        back.grade != q.grade || back.nloc != q.nloc || back.nworkers != q.nworkers ||
        back.planned_start != q.planned_start || strcmp(back.enterprise, q.enterprise) != 0)
        abort();
    pw_buf_release(&b);
}

static void on_bad(int line, const char *column, const char *why, void *arg)
{
    struct ctx *c = arg;
    c->rows++;
    if (line < 2 || line > c->lines || !why || !*why)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    struct ctx c = {1, 0};
    for (size_t i = 0; i < size; i++)
        c.lines += data[i] == '\n';
    char err[300];
    (void)permit_csv_parse((const char *)data, size, on_row, on_bad, &c, err, sizeof err);
    if (c.rows > PERMIT_BATCH_MAX + 1)
        abort();
    return 0;
}
