/* libFuzzer target for the Prometheus remote-write decoder (src/proto/promrw.c).
 *
 * Each input is a (decompressed) WriteRequest body. Decoding must never read outside the input
 * (ASan), every series it delivers must have labels inside the input, and reading its samples
 * must end (promrw_next_sample returns 0) without an error: the decoder validated them before
 * delivering the series. Any crash, sanitizer report or abort() is a finding. */
#include "base/err.h"
#include "proto/promrw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct span {
    const uint8_t *p;
    size_t n;
};

static void inside(const struct span *in, struct promrw_str s)
{
    if (s.len && ((const uint8_t *)s.p < in->p || (const uint8_t *)s.p + s.len > in->p + in->n))
        abort();
}

static int on_series(void *arg, struct promrw_series *s)
{
    const struct span *in = arg;
    if (s->n_labels > PROMRW_MAX_LABELS)
        abort();
    for (size_t i = 0; i < s->n_labels; i++) {
        inside(in, s->labels[i].name);
        inside(in, s->labels[i].value);
    }
    int64_t ts;
    double v;
    int rc;
    size_t n = 0;
    while ((rc = promrw_next_sample(s, &ts, &v)) == 1)
        if (++n > in->n)
            abort(); /* more samples than bytes: not progressing */
    if (rc != 0)
        abort(); /* samples were validated before the series was delivered */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so ASan catches any read past the end */
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    struct span in = {buf, size};
    char err[256];
    int rc = promrw_decode(buf, size, on_series, &in, err, sizeof err);
    if (rc != PW_OK && rc != PW_EPROTO)
        abort();
    if (rc == PW_EPROTO && strlen(err) == 0)
        abort(); /* every refusal says why */
    free(buf);
    return 0;
}
