/* hj212.h — the HJ 212 codec (HJ/T 212-2005, HJ 212-2017, HJ 212-2025): pure, no I/O, no
 * globals, no logging, no allocation. Thread-safe: every call works only on what it is given.
 *
 * Frame (all editions; docs/protocols/hj212.md):
 *
 *     "##" LLLL <data segment> CCCC "\r\n"
 *
 *   LLLL  4 decimal digits: the data segment's length in bytes (0..9999; more than the 1024 of
 *         the 2017 text is accepted because real devices send it).
 *   CCCC  4 hex digits (either case), high byte first: hj212_crc16() of the data segment only.
 *   data  "KEY=value;" fields in any order (QN ST CN PW MN Flag PNUM PNO), then "CP=&&...&&",
 *         which must end the segment. CP holds ';'-separated groups of ','-separated
 *         "key=value" fields; a key "<code>-<suffix>" is an item, any other key a parameter.
 *
 * How the listener uses it, per connection (a buffer of at most HJ212_MAX_FRAME bytes is enough):
 *
 *     for (;;) {
 *         size_t n; enum hj212_err why;
 *         enum hj212_scan_kind k = hj212_scan(buf, len, &n, &why);
 *         if (k == HJ212_SCAN_NEED) break;                       // read more
 *         if (k == HJ212_SCAN_FRAME) {
 *             struct hj212_error e;
 *             if (hj212_decode(buf, n, &opts, msg, &e) == HJ212_OK) ... else log e.msg
 *         } else ... log/count `why`, n garbage bytes
 *         consume n bytes
 *     }
 *
 * Sizes: struct hj212_msg is about 24 KiB (fixed arrays, no pointers to the input): keep one per
 * connection or per thread, not on a small stack. */
#ifndef PW_PROTO_HJ212_H
#define PW_PROTO_HJ212_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits ---- */

#define HJ212_MAX_DATA 9999     /* largest data segment LLLL can express */
#define HJ212_FRAME_OVERHEAD 12 /* "##" + LLLL + CCCC + "\r\n" */
#define HJ212_MAX_FRAME (HJ212_MAX_DATA + HJ212_FRAME_OVERHEAD) /* 10011 bytes */
#define HJ212_STD_MAX_DATA 1024 /* the 2017 text's limit; default split size for uploads */
#define HJ212_MAX_ITEMS 256     /* items ("code-suffix=value") per frame */
#define HJ212_MAX_PARAMS 32     /* CP parameters without '-' (DataTime, RtdInterval, ...) */
#define HJ212_MAX_CODE 32       /* bytes of a factor code */
#define HJ212_MAX_MN 64         /* bytes of MN */
#define HJ212_MAX_QN 32         /* bytes of QN */
#define HJ212_MAX_PW 32         /* bytes of PW */

/* ---- errors ---- */

/* Decode errors. HJ212_OK is 0, errors are positive. Values are never renumbered (they are
 * counted in /metrics by hj212_errname()). */
enum hj212_err {
    HJ212_OK = 0,
    HJ212_E_FRAME = 1,     /* no leading "##" or no trailing CRLF */
    HJ212_E_LENGTH = 2,    /* LLLL not 4 digits, or not the data segment's length */
    HJ212_E_CRC = 3,       /* CCCC not hex, or not the CRC of the data segment */
    HJ212_E_SYNTAX = 4,    /* data segment not "KEY=value;...CP=&&...&&", bad CP structure */
    HJ212_E_FIELD = 5,     /* a field is missing, duplicated or has an invalid value */
    HJ212_E_TOOBIG = 6,    /* more than HJ212_MAX_FRAME bytes, items or parameters */
    HJ212_E_TRUNCATED = 7, /* the frame stops before its declared end */
    HJ212_E_GARBAGE = 8,   /* (scanner only) bytes that do not start a frame */
};

/* Where and why a decode failed. `msg` is a complete sentence for a log line, e.g.
 * "crc mismatch: frame says 1C81, computed 1C80"; `field` names the field concerned ("CRC",
 * "LLLL", "MN", "a21026-Rtd") or is ""; `pos` is the byte offset in the frame. */
struct hj212_error {
    enum hj212_err code;
    uint32_t pos;
    char field[40];
    char msg[160];
};

/* "frame", "length", "crc", "syntax", "field", "toobig", "truncated", "garbage"; "ok" for 0;
 * "unknown" otherwise. Stable: use as a metrics label. */
const char *hj212_errname(enum hj212_err e);

/* ---- CRC ---- */

/* The standard's CRC of n bytes (NOT CRC-16/MODBUS): hj212_crc16("123456789", 9) == 0x2F80,
 * hj212_crc16("", 0) == 0xFFFF. Printed "%04X". */
uint16_t hj212_crc16(const void *p, size_t n);
/* CRC-16/MODBUS (init FFFF, reflected poly A001): ("123456789") == 0x4B37. Some loggers print it
 * low byte first ("374B") in the CCCC field; see hj212_decode_opts.accept_modbus_crc. */
uint16_t hj212_crc16_modbus(const void *p, size_t n);

/* ---- the stream scanner ---- */

enum hj212_scan_kind {
    HJ212_SCAN_NEED = 0,  /* no decision possible yet: keep the bytes, read more (*n = 0) */
    HJ212_SCAN_FRAME = 1, /* buf[0, *n) is a candidate frame: "##", LLLL, ..., "\r\n" */
    HJ212_SCAN_SKIP = 2,  /* buf[0, *n) (n >= 1) is not a frame: drop it and scan again */
};

/* Finds the next frame at the start of buf[0, len). Never reads outside buf.
 *
 * FRAME: buf starts with "##" and 4 digits, and *n is where the frame ends: normally exactly
 *   12 + LLLL bytes ending in CRLF; when the declared end is not a CRLF but a CRLF comes first
 *   (a wrong LLLL), *n ends at that CRLF so hj212_decode() can report the mismatch. The frame
 *   still has to be decoded (CRC etc.).
 * SKIP: *n bytes to drop, up to the next "##" (resynchronisation); *why says why:
 *   HJ212_E_GARBAGE (bytes before "##"), HJ212_E_LENGTH ("##" not followed by 4 digits),
 *   HJ212_E_TRUNCATED (another "##" starts before this frame's CRLF),
 *   HJ212_E_TOOBIG (no CRLF within HJ212_MAX_FRAME bytes).
 * NEED: only when len < HJ212_MAX_FRAME, so a per-connection buffer of HJ212_MAX_FRAME bytes
 *   never fills up without a decision.
 * why may be NULL; it is HJ212_OK for NEED and FRAME. Cost is linear in the bytes examined
 * (at most min(len, HJ212_MAX_FRAME) plus the garbage skipped). */
enum hj212_scan_kind hj212_scan(const char *buf, size_t len, size_t *n, enum hj212_err *why);

/* ---- decoded structures ---- */

enum hj212_edition { /* Flag bits 2-7; other values (3..63) are kept as numbers */
                     HJ212_ED_2005 = 0,
                     HJ212_ED_2017 = 1,
                     HJ212_ED_2025 = 2,
};

#define HJ212_FLAG_A 0x01 /* reply required */
#define HJ212_FLAG_D 0x02 /* split packet: PNUM/PNO present */

enum hj212_qn_kind {
    HJ212_QN_NONE = 0,  /* no QN field */
    HJ212_QN_LOCAL = 1, /* 17 digits YYYYMMDDhhmmsszzz, a valid date in the device's local time */
    HJ212_QN_UNIX = 2,  /* 13 digits: Unix milliseconds, UTC */
    HJ212_QN_OTHER = 3, /* anything else: kept as text, echoed in replies */
};

enum hj212_crc_kind {
    HJ212_CRC_STD = 0,    /* the standard's CRC */
    HJ212_CRC_MODBUS = 1, /* CRC-16/MODBUS low byte first, accepted by accept_modbus_crc */
};

/* A local date and time "YYYYMMDDhhmmss" (optionally with "zzz" milliseconds). No time zone:
 * see hj212_datetime_to_ms(). */
struct hj212_datetime {
    int16_t year; /* 1..9999 */
    uint8_t mon;  /* 1..12 */
    uint8_t day;  /* 1..days in that month */
    uint8_t hour; /* 0..23 */
    uint8_t min;  /* 0..59 */
    uint8_t sec;  /* 0..59 */
    uint16_t ms;  /* 0..999 (0 when the text has 14 digits) */
    char raw[18]; /* the digits as sent (14 or 17) and a NUL; "" when built by the caller */
};

/* Item suffixes ("a21026-Rtd"). Matching is case-insensitive; the text as sent is kept. */
enum hj212_suffix {
    HJ212_SFX_OTHER = 0, /* not in this list: see suffix_raw */
    HJ212_SFX_RTD,
    HJ212_SFX_MIN,
    HJ212_SFX_AVG,
    HJ212_SFX_MAX,
    HJ212_SFX_COU,
    HJ212_SFX_ZSRTD,
    HJ212_SFX_ZSMIN,
    HJ212_SFX_ZSAVG,
    HJ212_SFX_ZSMAX,
    HJ212_SFX_ZSCOU,
    HJ212_SFX_RS,         /* equipment run state SBxxx-RS: 0 off, 1 run, 2 calibrating,
                           * 3 maintenance, 4 alarm, 5 blow-back */
    HJ212_SFX_RT,         /* equipment run time per day, hours */
    HJ212_SFX_DATA,       /* noise */
    HJ212_SFX_DAYDATA,    /* noise, day */
    HJ212_SFX_NIGHTDATA,  /* noise, night */
    HJ212_SFX_FLAG,       /* data flag (text) */
    HJ212_SFX_EFLAG,      /* device extended flag (text) */
    HJ212_SFX_SAMPLETIME, /* sampling time (text, YYYYMMDDhhmmss) */
    HJ212_SFX_SN,         /* device serial (text) */
    HJ212_SFX_INFO,       /* information (text; has_value too when it is a number) */
    HJ212_SFX_COUNT_
};

/* The canonical spelling ("Rtd", "ZsAvg", "NightData"); "" for HJ212_SFX_OTHER. */
const char *hj212_suffix_name(enum hj212_suffix s);
/* The series name for a numeric suffix ("hj212_rtd", "hj212_zsavg", "hj212_rs"), or NULL for
 * text suffixes (Flag EFlag SampleTime SN Info) and HJ212_SFX_OTHER. */
const char *hj212_suffix_metric(enum hj212_suffix s);
/* Parses a suffix (case-insensitive, n bytes); HJ212_SFX_OTHER when unknown. */
enum hj212_suffix hj212_suffix_parse(const char *s, size_t n);

/* Data flag -> the 8-bit quality code stored with each sample. 0 is good. */
enum hj212_quality {
    HJ212_Q_N = 0,      /* N normal (also: the frame gives no flag for the factor) */
    HJ212_Q_F = 1,      /* F instrument stopped */
    HJ212_Q_M = 2,      /* M maintenance */
    HJ212_Q_S = 3,      /* S manually set value */
    HJ212_Q_D = 4,      /* D instrument fault */
    HJ212_Q_C = 5,      /* C calibration */
    HJ212_Q_T = 6,      /* T above the measurement upper limit */
    HJ212_Q_B = 7,      /* B communication abnormal */
    HJ212_Q_OTHER = 15, /* a flag not in this table (the letter is kept in the item) */
};
/* The quality for a flag letter (either case); 0 (no flag) gives HJ212_Q_N. */
uint8_t hj212_flag_quality(char flag);

struct hj212_item {
    const char *code;       /* factor code "a21026", "02", "B01", "SB1": 1..HJ212_MAX_CODE bytes
                             * of [A-Za-z0-9_.] */
    const char *suffix_raw; /* the suffix as sent ("Rtd"), non-empty */
    const char *text;       /* the value as sent (may be "") */
    double value;           /* the number, when has_value (always finite) */
    enum hj212_suffix suffix;
    uint16_t group;  /* index of the item's ';' group within CP */
    bool has_value;  /* numeric suffixes: text is a decimal number ("" leaves it false);
                      * Info/other suffixes: set when text happens to be a number;
                      * Flag EFlag SampleTime SN: never */
    bool bad_value;  /* numeric suffix whose text is not a number ("-", "NaN", "1.2.3"): kept
                      * without a value (has_value false) instead of failing the frame */
    char flag;       /* the data flag in force for this factor: the first character,
                      * upper-cased, of the "<code>-Flag" item of the same group (else
                      * of the frame); 0 when the frame has none */
    uint8_t quality; /* hj212_flag_quality(flag) */
};

struct hj212_kv {
    const char *key; /* NUL-terminated, non-empty */
    const char *val; /* NUL-terminated, may be "" */
};

/* One decoded frame. All strings are NUL-terminated and point into `text`, a private copy of the
 * data segment: the struct does not refer to the input buffer, but it must not be copied with
 * memcpy/assignment (the pointers would still refer to the original). */
struct hj212_msg {
    /* header fields */
    const char *qn; /* as sent, or NULL */
    enum hj212_qn_kind qn_kind;
    int64_t qn_ms;      /* QN_UNIX: Unix ms (UTC). QN_LOCAL: the local time read as if it were UTC
                         * (subtract the device's UTC offset). Otherwise 0. */
    const char *st_raw; /* system code as sent (1-4 digits) */
    int st;             /* its value: 22 air, 27 VOCs, 31 stack, 32 wastewater... */
    const char *cn_raw; /* command code as sent (1-6 digits) */
    int cn;             /* its value: 2011, 2051, ... */
    const char *pw;     /* access password, 0..HJ212_MAX_PW bytes, no control
                         * characters */
    const char *mn;     /* device id, 1..HJ212_MAX_MN printable ASCII, no '"' '\' */
    bool has_flag;      /* Flag present; else flag = 0 */
    uint8_t flag;       /* the Flag value */
    bool ack;           /* A bit: a reply is required */
    bool split;         /* D bit: pnum/pno are valid */
    uint8_t edition;    /* Flag bits 2-7: enum hj212_edition or another number */
    uint16_t pnum, pno; /* PNUM/PNO when present (1 <= pno <= pnum when split) */
    enum hj212_crc_kind crc_kind; /* which CRC matched */
    uint16_t crc;                 /* the CCCC field's value as written */
    uint16_t data_len;            /* LLLL */
    uint16_t n_unknown_keys;      /* header keys other than the above (ignored) */

    /* CP */
    bool has_data_time, has_begin_time, has_end_time;
    struct hj212_datetime data_time, begin_time, end_time; /* "DataTime" "BeginTime" "EndTime" */
    uint16_t n_params; /* CP keys without '-', in order (DataTime etc. included) */
    uint16_t n_items;
    uint16_t n_groups;
    uint16_t n_bad_values; /* items with bad_value */
    struct hj212_kv params[HJ212_MAX_PARAMS];
    struct hj212_item items[HJ212_MAX_ITEMS];

    char text[HJ212_MAX_DATA + 1]; /* private: the data segment, split in place */
};

struct hj212_decode_opts {
    /* Also accept a CCCC that is CRC-16/MODBUS printed low byte first; msg->crc_kind says which
     * matched so the caller can count it. Default false. */
    bool accept_modbus_crc;
};

/* Decodes exactly one frame buf[0, len) (as delimited by hj212_scan()). opts may be NULL
 * (defaults). err may be NULL.
 *
 * Returns HJ212_OK and fills *m; or an error, with *err filled (code, position, field, message)
 * and *m in an unspecified state. Checks, in order: size <= HJ212_MAX_FRAME, "##", LLLL digits,
 * CRLF, LLLL == data length, CRC, then the data segment: required ST CN PW MN and CP; QN and
 * Flag optional; unknown keys ignored; D bit => PNUM and PNO with 1 <= PNO <= PNUM; a numeric
 * item that is not a decimal number is kept without a value (bad_value, counted in
 * n_bad_values), the frame still decodes; DataTime/BeginTime/EndTime must be valid dates.
 * Unknown CN and ST values are not errors. Pure: no allocation, no global state. */
enum hj212_err hj212_decode(const char *buf, size_t len, const struct hj212_decode_opts *opts,
                            struct hj212_msg *m, struct hj212_error *err);

/* The value of CP parameter `key` (exact, case-sensitive), or NULL. */
const char *hj212_param(const struct hj212_msg *m, const char *key);

/* ---- time ---- */

/* Parses 14 digits YYYYMMDDhhmmss or 17 with milliseconds (n bytes, no terminator needed).
 * Returns HJ212_OK or HJ212_E_FIELD (bad length, non-digit, out-of-range field; *dt untouched). */
enum hj212_err hj212_datetime_parse(const char *s, size_t n, struct hj212_datetime *dt);
/* UTC milliseconds for a local time at utc_offset_minutes east of UTC (China: +480). */
int64_t hj212_datetime_to_ms(const struct hj212_datetime *dt, int utc_offset_minutes);
/* The local time at utc_offset_minutes for UTC ms (raw is filled with 14 digits). */
void hj212_datetime_from_ms(int64_t ms, int utc_offset_minutes, struct hj212_datetime *dt);
/* Writes the 14 digits and a NUL into buf (15 bytes); returns buf. */
char *hj212_datetime_format(const struct hj212_datetime *dt, char buf[15]);
/* Writes a 17-digit QN (local time with ms) and a NUL into buf (18 bytes); returns buf. */
char *hj212_format_qn(int64_t ms, int utc_offset_minutes, char buf[18]);

/* ---- encoders ----
 * Every encoder writes one complete frame "##LLLL<data>CCCC\r\n" (the upload encoder: one or
 * more frames back to back) followed by a NUL (not counted) into out[0, cap), sets *outlen to
 * the bytes written and returns PW_OK. On error *outlen is untouched and out's contents are
 * unspecified: PW_EFULL (cap too small; HJ212_MAX_FRAME + 1 always suffices for one frame),
 * PW_ETOOBIG (data segment over HJ212_MAX_DATA), PW_EINVAL (an empty or too long MN, QN or PW
 * with ';' or a control character, a CP value or item code/suffix/text with ';' '&' ',' '=' or a
 * control character, a bad CN), PW_ERANGE (a number out of its range). The replies accept every
 * message hj212_decode() returned. */

/* Any frame: header fields in the 2017 order, then "CP=&&" cp[0,cplen) "&&". cp is written as
 * given (the caller formats it). */
struct hj212_hdr {
    const char *qn;     /* NULL: no QN field */
    int st;             /* 0..9999, written with at least 2 digits */
    int cn;             /* 0..999999 */
    const char *pw;     /* NULL: no PW field */
    const char *mn;     /* required */
    int flag;           /* 0..255; < 0: no Flag field */
    unsigned pnum, pno; /* PNUM/PNO fields when pnum > 0 */
};
int hj212_encode_frame(char *out, size_t cap, size_t *outlen, const struct hj212_hdr *h,
                       const char *cp, size_t cplen);

/* Platform replies to a decoded frame `req`: QN echoed (omitted when req had none), ST=91,
 * PW and MN echoed, Flag = req's edition bits with A and D clear (2005: 0, 2017: 4, 2025: 8;
 * omitted when req had no Flag), CP=&&&&.
 * 9014: data answer (uploads with A set; one per split packet). 9013: notification answer. */
int hj212_encode_9014(char *out, size_t cap, size_t *outlen, const struct hj212_msg *req);
int hj212_encode_9013(char *out, size_t cap, size_t *outlen, const struct hj212_msg *req);
/* Device answers to a platform request (the simulator): 9011 with QnRtn=qnrtn (1 ready, 2
 * rejected, 3 PW ... 100 unknown), 9012 with ExeRtn=exertn (1 ok ... 100 no data); same header
 * rules as 9014. */
int hj212_encode_9011(char *out, size_t cap, size_t *outlen, const struct hj212_msg *req,
                      int qnrtn);
int hj212_encode_9012(char *out, size_t cap, size_t *outlen, const struct hj212_msg *req,
                      int exertn);

/* The device a platform request goes to. Flag = edition << 2 | A (requests expect 9011). */
struct hj212_target {
    const char *qn; /* required: make one with hj212_format_qn() */
    int st;         /* the device's system code (the worked example uses 32) */
    const char *pw;
    const char *mn;
    unsigned edition; /* msg->edition of the device's frames: HJ212_ED_2017 etc. (0..63) */
};
/* 1011 get device time; polid (e.g. "w01018") selects an analyser, NULL for the logger. */
int hj212_encode_get_time(char *out, size_t cap, size_t *outlen, const struct hj212_target *t,
                          const char *polid);
/* 1012 set device time: SystemTime=YYYYMMDDhhmmss, `now` in the device's local time. */
int hj212_encode_set_time(char *out, size_t cap, size_t *outlen, const struct hj212_target *t,
                          const char *polid, const struct hj212_datetime *now);
/* 1061 get / 1062 set RtdInterval (seconds, 30..3600). */
int hj212_encode_get_rtd_interval(char *out, size_t cap, size_t *outlen,
                                  const struct hj212_target *t);
int hj212_encode_set_rtd_interval(char *out, size_t cap, size_t *outlen,
                                  const struct hj212_target *t, int seconds);
/* 1063 get / 1064 set MinInterval (minutes, 1..1440). */
int hj212_encode_get_min_interval(char *out, size_t cap, size_t *outlen,
                                  const struct hj212_target *t);
int hj212_encode_set_min_interval(char *out, size_t cap, size_t *outlen,
                                  const struct hj212_target *t, int minutes);
/* History recall: cn 2051 (minute), 2061 (hour) or 2031 (day) data for [begin, end], both in
 * the device's local time: CP=&&BeginTime=...;EndTime=...&&. Other cn: PW_EINVAL. */
int hj212_encode_recall(char *out, size_t cap, size_t *outlen, const struct hj212_target *t, int cn,
                        const struct hj212_datetime *begin, const struct hj212_datetime *end);

/* Device uploads (the simulator): 2011, 2051, 2061, 2031, 2021, 2041... with items. */
struct hj212_value {
    const char *code;         /* factor code */
    enum hj212_suffix suffix; /* HJ212_SFX_OTHER: suffix_raw is used */
    const char *suffix_raw;
    double value;     /* written when text is NULL; must be finite */
    int decimals;     /* 0..9 digits after the point; < 0: shortest exact form */
    const char *text; /* non-NULL: written verbatim (Flag "N", SN, SampleTime...) */
};
struct hj212_upload {
    const char *qn; /* NULL: no QN (2005 style) */
    int st, cn;
    const char *pw, *mn;
    unsigned edition;                       /* Flag bits 2-7 */
    bool ack;                               /* set the A bit (the platform answers 9014) */
    bool no_flag;                           /* 2005 style: no Flag field (only when not split) */
    const struct hj212_datetime *data_time; /* NULL: no DataTime */
    const struct hj212_value *items;
    size_t n_items;
    size_t max_data; /* split when a data segment would exceed this; 0: 1024 */
};
/* Consecutive items with the same code share one ';' group (joined by ','). When the data
 * segment would exceed max_data (or there are more than HJ212_MAX_ITEMS items) the items are
 * split over several frames, each with DataTime, the same QN, the D bit and PNUM/PNO; groups are
 * kept whole when they fit. *npackets (may be NULL) gets the number of frames written. */
int hj212_encode_upload(char *out, size_t cap, size_t *outlen, size_t *npackets,
                        const struct hj212_upload *u);

#endif
