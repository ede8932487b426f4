/* api_promrw.c — Prometheus remote write 1.0: `POST /api/v1/write`, a snappy-compressed
 * (block format) protobuf WriteRequest (src/proto/promrw.h), as Prometheus, vmagent, Grafana
 * Agent and the OpenTelemetry collector send it.
 *
 * Durability and status, by the remote-write spec's retry rules (senders retry 5xx and 429,
 * drop 4xx):
 *   204  every sample is durable (fsynced per storage.fsync)
 *   400  the body can never be accepted (not snappy, not a WriteRequest, a label with a NUL
 *        byte), or some samples were refused for good (series limit, invalid label set,
 *        timestamp out of range): the rest is durable, the message says what was refused
 *   413  larger than http.max_body once decompressed
 *   415  not Content-Encoding: snappy
 *   503  the ingest queue is full (Retry-After: 1): nothing was stored
 *   507  storage cannot write: nothing was acknowledged
 * Stale markers (Prometheus' special NaN for "this series ended") are not samples: skipped. */
#include "http/http_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "pipeline/pipeline.h"
#include "proto/promrw.h"
#include "tsdb/tsdb.h"

#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STALE_NAN_BITS 0x7ff0000000000002ULL

struct rw_ctx {
    struct pipeline_batch *b;
    size_t samples, stale, bad_series;
    size_t first_bad; /* index of the first series refused here */
    const char *why;
    char lbuf[TSDB_MAX_KEY * 2 + 2 * PROMRW_MAX_LABELS * 2];
    /* series index of each batch sample range: lmap[k] = (first batch index, series index) */
    size_t (*lmap)[2];
    size_t nlmap, caplmap;
};

static int on_series(void *arg, struct promrw_series *s)
{
    struct rw_ctx *x = arg;
    struct tsdb_label l[PROMRW_MAX_LABELS];
    size_t o = 0;
    const char *why = NULL;
    if (s->n_labels > TSDB_MAX_LABELS)
        why = "more than 32 labels";
    for (size_t i = 0; i < s->n_labels && !why; i++) {
        const struct promrw_label *pl = &s->labels[i];
        if (memchr(pl->name.p, '\0', pl->name.len) || memchr(pl->value.p, '\0', pl->value.len))
            why = "a label contains a NUL byte";
        else if (o + pl->name.len + pl->value.len + 2 > sizeof x->lbuf)
            why = "labels longer than 8 KiB";
        if (why)
            break;
        l[i].name = x->lbuf + o;
        memcpy(x->lbuf + o, pl->name.p, pl->name.len);
        o += pl->name.len;
        x->lbuf[o++] = '\0';
        l[i].value = x->lbuf + o;
        memcpy(x->lbuf + o, pl->value.p, pl->value.len);
        o += pl->value.len;
        x->lbuf[o++] = '\0';
    }
    if (why) {
        if (x->bad_series++ == 0) {
            x->first_bad = s->index;
            x->why = why;
        }
        return 0;
    }
    int64_t ts;
    double v;
    int rc;
    bool marked = false;
    while ((rc = promrw_next_sample(s, &ts, &v)) == 1) {
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        if (bits == STALE_NAN_BITS) {
            x->stale++;
            continue;
        }
        if (!marked) {
            if (x->nlmap == x->caplmap) {
                x->caplmap = x->caplmap ? x->caplmap * 2 : 256;
                x->lmap = pw_xrealloc(x->lmap, x->caplmap * sizeof *x->lmap);
            }
            x->lmap[x->nlmap][0] = x->b->n;
            x->lmap[x->nlmap][1] = s->index;
            x->nlmap++;
            marked = true;
        }
        if (pipeline_batch_add(x->b, l, s->n_labels, ts, v, 0) != PW_OK) {
            if (x->bad_series++ == 0) {
                x->first_bad = s->index;
                x->why = "labels too long";
            }
            return 0;
        }
        x->samples++;
    }
    return rc < 0 ? rc : 0;
}

static const char *refusal_text(int why)
{
    switch (why) {
    case PW_EFULL: return "series limit reached (storage.max_series): new series not created";
    case PW_ETOOBIG: return "more than 32 labels, or a series key longer than 4096 bytes";
    case PW_ERANGE: return "timestamp out of range";
    default: return "invalid label set (no metric name, an empty or duplicate label name)";
    }
}

static void h_remote_write(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t received_ns = pw_mono_ns();
    char err[256];
    char *plain = NULL;
    struct rw_ctx x = {0};
    struct pipeline_report rep = {0};
    const char *enc = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Encoding");
    if (!enc || strcasecmp(enc, "snappy") != 0) {
        http_json_error(w, 415, "Content-Encoding: remote write bodies are snappy-compressed");
        return;
    }
    size_t n = 0;
    if (snappy_uncompressed_length(r->body, r->body_len, &n) != SNAPPY_OK) {
        http_json_error(w, 400, "body: not a snappy block");
        return;
    }
    if (n > (size_t)s->deps.cfg->http_max_body) {
        http_json_error(w, 413, "body: %zu bytes decompressed, larger than http.max_body", n);
        return;
    }
    plain = pw_xmalloc(n ? n : 1);
    if (snappy_uncompress(r->body, r->body_len, plain, &n) != SNAPPY_OK) {
        http_json_error(w, 400, "body: corrupt snappy data");
        goto out;
    }
    x.b = pipeline_batch_new();
    x.b->origin_ns = received_ns;
    pipeline_batch_reserve(x.b, n / 16 + 16, n / 2);
    int rc = promrw_decode(plain, n, on_series, &x, err, sizeof err);
    if (rc != PW_OK) {
        pipeline_batch_free(x.b);
        http_json_error(w, 400, "body: not a remote-write WriteRequest: %s", err);
        goto out;
    }
    rc = PW_OK;
    if (x.b->n)
        rc = pipeline_write_report(s->deps.pipeline, x.b, &rep);
    else
        pipeline_batch_free(x.b);
    if (rc == PW_EFULL || rc == PW_ECLOSED) {
        http_json_error(w, 503, "ingest queue full; retry (nothing from this request was stored)");
        http_add_header(w, "Retry-After", "1");
    } else if (rc == PW_ENOSPC || rc == PW_EIO) {
        http_json_error(w, 507, "storage cannot write (%s); nothing from this request was "
                                "acknowledged", pw_strerror(rc));
    } else if (rc != PW_OK) {
        http_json_error(w, 500, "storing failed (%s); nothing was acknowledged", pw_strerror(rc));
    } else if (rep.refused || x.bad_series) {
        /* the first refused series: ours, or the pipeline's first refused sample's series */
        size_t series = x.first_bad;
        const char *why = x.why;
        if (rep.refused) {
            size_t k = 0, idx = rep.refusals[0].index;
            while (k + 1 < x.nlmap && x.lmap[k + 1][0] <= idx)
                k++;
            if (!x.bad_series || x.lmap[k][1] < series) {
                series = x.lmap[k][1];
                why = refusal_text(rep.refusals[0].why);
            }
        }
        PW_LOG_INFO("http", "remote write refused samples",
                    "peer=%s refused=%zu bad_series=%zu stored=%zu", r->peer, rep.refused,
                    x.bad_series, rep.stored);
        http_json_error(w, 400, "%zu samples stored; %zu refused and %zu series refused whole; "
                                "first: series %zu: %s", rep.stored, rep.refused, x.bad_series,
                        series, why);
    } else {
        w->status = 204;
    }
out:
    free(rep.refusals);
    free(x.lmap);
    free(plain);
}

const struct http_route http_routes_promrw[] = {
    {"POST", "/api/v1/write", ACCESS_INGEST, true, h_remote_write, HTTP_BODY_INGEST},
    {NULL, NULL, 0, false, NULL},
};
