/* promrw.h — Prometheus remote-write 1.0 request decoder (the body of `POST /api/v1/write`,
 * after snappy decompression).
 *
 * Pure codec, hand-written for the three messages it needs (prompb/remote.proto, types.proto):
 *
 *     WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
 *     TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
 *                    repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
 *     Label        { string name = 1; string value = 2; }
 *     Sample       { double value = 1; int64 timestamp = 2; }   // timestamp in ms
 *
 * Every other field (metadata, exemplars, histograms, unknown numbers) is skipped by its wire
 * type, as protobuf requires. Zero-copy and allocation-free: label strings point into the
 * buffer; each TimeSeries is read twice (labels, then samples), so fields may come in any order.
 * Bounds: the buffer length; at most PROMRW_MAX_LABELS labels per series (more is an error);
 * varints at most 10 bytes; lengths checked against what is left before anything is read.
 * Reentrant. */
#ifndef PW_PROTO_PROMRW_H
#define PW_PROTO_PROMRW_H

#include <stddef.h>
#include <stdint.h>

#define PROMRW_MAX_LABELS 64

struct promrw_str {
    const char *p;
    size_t len;
};

struct promrw_label {
    struct promrw_str name, value;
};

/* One series with its samples, valid during the callback only. */
struct promrw_series {
    const struct promrw_label *labels; /* in message order */
    size_t n_labels;
    size_t index;                      /* 0-based position in the request */
    /* samples are read by promrw_next_sample */
    const uint8_t *p, *end;            /* internal */
};

/* Fills *ts (ms) and *value with the next sample of s: 1, 0 at the end, or PW_EPROTO. */
int promrw_next_sample(struct promrw_series *s, int64_t *ts, double *value);

/* Called per series, in order. Return 0 to go on; anything else stops the decode and is
 * returned. */
typedef int (*promrw_series_fn)(void *ctx, struct promrw_series *s);

/* Decodes buf[0..len). Returns PW_OK, PW_EPROTO (malformed; err says what and at which byte
 * offset; series before it were delivered) or fn's first non-zero value. */
int promrw_decode(const void *buf, size_t len, promrw_series_fn fn, void *ctx, char *err,
                  size_t errcap);

#endif
