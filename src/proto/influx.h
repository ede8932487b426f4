/* influx.h — InfluxDB line protocol parser (the body of `POST /write`).
 *
 * Pure codec: bytes in, samples out through a callback; no I/O, no globals, no locale. One call
 * parses a whole body. Each line is validated completely before any of its samples is delivered,
 * so a line is either stored whole or rejected whole; a rejected line is reported with its
 * 1-based line number and parsing continues on the next line.
 *
 *     measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * Samples are named exactly as VictoriaMetrics names them (docs/protocols/influx.md has the rules,
 * their source in VictoriaMetrics, and every place where this parser deliberately differs):
 * `<measurement>_<field>{tags..., db="<db>"}`, value as a double, timestamp in ms.
 *
 * Memory: strings handed to the callback point into the body where no unescaping was needed and
 * into a per-call scratch area otherwise; they are valid only during the callback. Typical bodies
 * (lines up to ~2 KiB, up to 32 tags and 64 fields) are parsed without any heap allocation;
 * bigger lines grow the scratch area once per call, bounded by the limits in influx_opts.
 * Reentrant: no shared state, so calls may run on several threads at once. */
#ifndef PW_PROTO_INFLUX_H
#define PW_PROTO_INFLUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define INFLUX_DEFAULT_MAX_LINE (64 * 1024) /* bytes per line, excluding the '\n' */
#define INFLUX_DEFAULT_MAX_TAGS 256         /* tags written on one line */
#define INFLUX_DEFAULT_MAX_FIELDS 1024      /* fields written on one line */
#define INFLUX_ERR_MSG 128                  /* size of influx_error.msg, NUL included */

/* Timestamp unit of the body (`precision` query argument). AUTO is what VictoriaMetrics does when
 * no precision is given: it guesses the unit from the magnitude (see docs). */
enum influx_precision {
    INFLUX_PREC_AUTO = 0,
    INFLUX_PREC_NS,
    INFLUX_PREC_US,
    INFLUX_PREC_MS,
    INFLUX_PREC_S,
    INFLUX_PREC_M,
    INFLUX_PREC_H,
};

/* What to do with string field values (`f="text"`). */
enum influx_strings {
    INFLUX_STRINGS_SKIP = 0, /* no sample (counted in influx_result.strings_skipped) */
    INFLUX_STRINGS_VM,       /* as VictoriaMetrics: the text as a number if it is one, else 0 */
};

struct influx_opts {
    enum influx_precision precision;
    int64_t now_ms; /* timestamp for lines without one (and for timestamp 0) */
    const char *db; /* value of the `db` query argument; NULL or "" = none */
    size_t db_len;
    const char *sep; /* measurement/field separator; NULL = "_" */
    size_t sep_len;
    bool skip_single_field; /* -influxSkipSingleField: `m f=1` is named `m`, not `m_f` */
    bool skip_measurement;  /* -influxSkipMeasurement: named `<field>` only */
    enum influx_strings strings;
    size_t max_line_len; /* 0 = INFLUX_DEFAULT_MAX_LINE; longer lines are errors */
    size_t max_tags;     /* 0 = INFLUX_DEFAULT_MAX_TAGS */
    size_t max_fields;   /* 0 = INFLUX_DEFAULT_MAX_FIELDS */
};

/* A byte string, not NUL-terminated. */
struct influx_str {
    const char *p;
    size_t len;
};

struct influx_label {
    struct influx_str name;
    struct influx_str value;
};

/* One sample, as handed to the callback. name and labels are valid only during the call.
 *
 * series and field are RAW: the bytes exactly as written in the body (escapes included, nothing
 * dropped or reordered), pointing into the body itself, so they stay valid as long as the body.
 * series is the line's `measurement[,tag=value...]` up to its first unescaped space; field is the
 * field key up to its unescaped '='. All samples of one line share the same series pointer. With
 * the same options, name and labels are a function of (series, field) alone, except that
 * skip_single_field also looks at the number of fields in the line: a caller may cache what it
 * derives from the name and labels under the raw bytes (POST /write does). */
struct influx_sample {
    struct influx_str name;            /* metric name, e.g. "sensor_value" */
    const struct influx_label *labels; /* tags in line order (empty ones dropped), then `db` */
    size_t n_labels;
    int64_t ts_ms;
    double value;
    size_t line;              /* 1-based line number in the body */
    struct influx_str series; /* raw measurement and tags, e.g. "m,b=2,a=x\ y" */
    struct influx_str field;  /* raw field key, e.g. "temp\ C" */
};

/* Called once per sample, in body order. Return 0 to go on; any other value stops the parse and
 * is returned by influx_parse (the samples already delivered stay delivered). */
typedef int (*influx_sample_fn)(void *ctx, const struct influx_sample *s);

/* A rejected line. msg is a NUL-terminated English sentence without the line number, e.g.
 * `cannot parse value of field "temp": not a number`; input bytes quoted in it are truncated and
 * non-printable ones are shown as '?'. */
struct influx_error {
    size_t line; /* 1-based */
    int err;     /* PW_EINVAL (malformed), PW_ERANGE (number or timestamp out of range),
                    PW_ETOOBIG (line, tag or field count over its bound) */
    char msg[INFLUX_ERR_MSG];
};

struct influx_result {
    size_t lines;           /* lines that were neither blank nor comments */
    size_t bad_lines;       /* of those, the rejected ones (all of them, not only those in errs) */
    size_t samples;         /* samples passed to the callback */
    size_t strings_skipped; /* string field values not turned into samples */
    size_t n_errors;        /* entries written to errs (<= errs_cap), in line order */
};

/* Sets defaults: precision AUTO, now_ms as given, no db, separator "_", strings skipped, default
 * limits. */
void influx_opts_init(struct influx_opts *o, int64_t now_ms);

/* Maps a `precision` query argument to the enum, accepting what VictoriaMetrics accepts: "ns",
 * "u", "us", "µ", "ms", "s", "m", "h", and InfluxDB 1.x's "n" (nanoseconds: the 1.x clients send
 * it); an empty string gives AUTO. Returns PW_OK, or PW_EINVAL for
 * anything else (VictoriaMetrics silently treats unknown values as AUTO; we let the HTTP layer say
 * 400). *out is left unmodified on error. */
int influx_precision_parse(const char *s, size_t len, enum influx_precision *out);

/* Parses body[0..len) (need not be NUL-terminated) and calls fn for each sample of each good line.
 * Up to errs_cap rejected lines are described in errs (errs may be NULL when errs_cap is 0); res
 * (required) receives the counts.
 *
 * Returns PW_OK when every line was good, PW_EINVAL when at least one line was rejected (every good
 * line was still delivered), or the first non-zero value returned by fn (parsing stopped there).
 * Never fails otherwise: allocation failure aborts the process (pw_xmalloc). */
int influx_parse(const char *body, size_t len, const struct influx_opts *opts, influx_sample_fn fn,
                 void *ctx, struct influx_error *errs, size_t errs_cap, struct influx_result *res);

/* Appends the canonical Prometheus-style key of a series to out:
 *     name{k1="v1",k2="v2"}
 * labels sorted by name (bytewise, a prefix first; equal names keep their order), label values
 * escaped as the Prometheus text format does (\\ \" \n), names written as they are (a display
 * form for logs and tests: ambiguous for names with `{`, `,`, `=` or `"`; the storage's canonical
 * key quotes such names, see tsdb.h); just `name` when there are no labels. Returns PW_OK, or PW_ETOOBIG when out's bound is reached (out then
 * holds a truncated key; the caller resets it). */
int influx_series_key(struct pw_buf *out, struct influx_str name, const struct influx_label *labels,
                      size_t n_labels);

#endif
