/* jt808.h — JT/T 808 (2013 and 2019 editions) codec: framing, headers, message bodies,
 * subpackage reassembly and encoders. Pure: no I/O, no globals, no logging; nothing here
 * allocates per frame (only the reassembler owns memory, see below).
 *
 * Frame on the wire (reference/jt808.md):
 *
 *     0x7E | header | body | checksum | 0x7E
 *
 *   - Between the flags, 0x7E travels as 0x7D 0x02 and 0x7D as 0x7D 0x01 (the checksum too).
 *   - checksum = XOR of every unescaped byte of header and body.
 *   - Header (big-endian):
 *         2013: id WORD | props WORD |              phone BCD[6]  | serial WORD [| sub]
 *         2019: id WORD | props WORD | version BYTE | phone BCD[10] | serial WORD [| sub]
 *         sub (only when props bit 13 is set): total packets WORD | packet index WORD (from 1)
 *     props: bits 0-9 body length, bits 10-12 encryption, bit 13 subpackage, bit 14 version flag.
 *     Header size: 12 (2013) / 17 (2019), + 4 when subpackaged.
 *
 * Tolerated quirks (each one is tested):
 *   - bit 14 set but the 2019 layout does not add up to the frame length while the 2013 layout
 *     does: the frame is decoded as 2013 (header.edition says which layout was used).
 *   - a checksum byte of 0x7D sent unescaped just before the closing flag.
 *   - a 0x7D followed by anything but 0x01/0x02 (terminals that never escape 0x7D, e.g. a
 *     Traccar test frame with vendor items "0A 7D A0 03"): taken literally; the checksum and the
 *     body length must still agree (header.quirks has JT808_QUIRK_BARE_ESCAPE).
 *   - phone nibbles above 9 (terminals that put a hex id in the phone field, as Traccar
 *     accepts): decoded as lower-case hex digits (JT808_QUIRK_HEX_PHONE).
 *   - the body length in props disagreeing with the frame is NOT tolerated (PW_EPROTO).
 *
 * Typical listener use, per connection (buffer `in`, `n` bytes received so far):
 *
 *     size_t k;
 *     for (;;) {
 *         enum jt808_scan st = jt808_scan(in, n, &k);
 *         if (st == JT808_SCAN_NEED_MORE) break;            // keep the bytes, read more
 *         if (st == JT808_SCAN_FRAME) {
 *             struct jt808_frame f;
 *             if (jt808_frame_decode(in, k, &f) == PW_OK) ... // f.h, f.body, f.body_len
 *         }
 *         consume(k);                                       // FRAME and SKIP both drop k bytes
 *     }
 *
 * Strings: registration and authentication strings are kept as the raw bytes sent (GBK for
 * plates). jt808_gbk_to_utf8() / jt808_utf8_to_gbk() convert with glibc iconv(3), opening and
 * closing a private conversion descriptor on every call (no state survives the call). */
#ifndef PW_PROTO_JT808_H
#define PW_PROTO_JT808_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- sizes ---- */
#define JT808_FLAG 0x7E
#define JT808_ESC 0x7D
#define JT808_MAX_BODY 1023      /* props bits 0-9 */
#define JT808_HDR_2013 12
#define JT808_HDR_2019 17
#define JT808_HDR_SUB 4          /* total + index, when subpackaged */
/* unescaped header + body + checksum, at most */
#define JT808_MAX_RAW (JT808_HDR_2019 + JT808_HDR_SUB + JT808_MAX_BODY + 1)
/* escaped frame with both flags, at most: the scanner rejects anything longer */
#define JT808_MAX_FRAME (2 * JT808_MAX_RAW + 2)
#define JT808_PHONE_MAX 20       /* digits in a 2019 header; 12 in 2013 */

/* ---- message ids ---- */
enum {
    JT808_MSG_TERM_REPLY = 0x0001,
    JT808_MSG_HEARTBEAT = 0x0002,
    JT808_MSG_DEREGISTER = 0x0003,
    JT808_MSG_TIME_QUERY = 0x0004,
    JT808_MSG_REGISTER = 0x0100,
    JT808_MSG_AUTH = 0x0102,
    JT808_MSG_LOCATION = 0x0200,
    JT808_MSG_LOCATION_REPLY = 0x0201,
    JT808_MSG_BATCH = 0x0704,
    JT808_MSG_PLAT_REPLY = 0x8001,
    JT808_MSG_TIME_REPLY = 0x8004,
    JT808_MSG_REGISTER_REPLY = 0x8100,
    JT808_MSG_LOCATION_QUERY = 0x8201,
};

/* header.edition: the layout the header was decoded with (or is to be encoded with) */
enum jt808_edition {
    JT808_2013 = 0, /* also 2011 */
    JT808_2019 = 1,
};

/* body properties */
#define JT808_PROP_LEN_MASK 0x03FFu
#define JT808_PROP_ENC_MASK 0x1C00u
#define JT808_PROP_ENC_RSA 0x0400u
#define JT808_PROP_SUB 0x2000u
#define JT808_PROP_VERSION 0x4000u

/* general reply results (0x0001 and 0x8001) */
enum {
    JT808_RES_OK = 0,
    JT808_RES_FAIL = 1,
    JT808_RES_BAD_MSG = 2,
    JT808_RES_UNSUPPORTED = 3,
    JT808_RES_ALARM_CONFIRMED = 4, /* 0x8001 only */
};
/* registration reply results (0x8100) */
enum {
    JT808_REG_OK = 0,
    JT808_REG_VEHICLE_REGISTERED = 1,
    JT808_REG_VEHICLE_UNKNOWN = 2,
    JT808_REG_TERMINAL_REGISTERED = 3,
    JT808_REG_TERMINAL_UNKNOWN = 4,
};

/* ---- 0x0200 alarm flag bits (DWORD at offset 0). JT808_ALARM_* are 2013 names; JT808_ALARM19_*
 * name the bits whose meaning changed in 2019 (same bit positions). ---- */
#define JT808_ALARM_EMERGENCY (1u << 0)
#define JT808_ALARM_OVERSPEED (1u << 1)
#define JT808_ALARM_FATIGUE (1u << 2)
#define JT808_ALARM_DANGER_WARNING (1u << 3)
#define JT808_ALARM_GNSS_FAULT (1u << 4)
#define JT808_ALARM_GNSS_ANTENNA_OPEN (1u << 5)
#define JT808_ALARM_GNSS_ANTENNA_SHORT (1u << 6)
#define JT808_ALARM_POWER_LOW (1u << 7)
#define JT808_ALARM_POWER_OFF (1u << 8)
#define JT808_ALARM_LCD_FAULT (1u << 9)
#define JT808_ALARM_TTS_FAULT (1u << 10)
#define JT808_ALARM_CAMERA_FAULT (1u << 11)
#define JT808_ALARM_IC_CARD_FAULT (1u << 12)
#define JT808_ALARM_OVERSPEED_PRE (1u << 13)
#define JT808_ALARM_FATIGUE_PRE (1u << 14)
#define JT808_ALARM_RESERVED_15 (1u << 15) /* 2013: reserved */
#define JT808_ALARM_RESERVED_16 (1u << 16)
#define JT808_ALARM_RESERVED_17 (1u << 17)
#define JT808_ALARM_DRIVE_OVERTIME (1u << 18) /* accumulated driving overtime today */
#define JT808_ALARM_PARKING_OVERTIME (1u << 19)
#define JT808_ALARM_AREA (1u << 20)           /* in/out area */
#define JT808_ALARM_ROUTE (1u << 21)          /* in/out route */
#define JT808_ALARM_SEGMENT_TIME (1u << 22)   /* road segment driving time too short/long */
#define JT808_ALARM_ROUTE_DEVIATION (1u << 23)
#define JT808_ALARM_VSS_FAULT (1u << 24)
#define JT808_ALARM_FUEL_ABNORMAL (1u << 25)
#define JT808_ALARM_STOLEN (1u << 26)
#define JT808_ALARM_ILLEGAL_IGNITION (1u << 27)
#define JT808_ALARM_ILLEGAL_DISPLACEMENT (1u << 28)
#define JT808_ALARM_COLLISION (1u << 29)
#define JT808_ALARM_ROLLOVER (1u << 30)
#define JT808_ALARM_ILLEGAL_DOOR_OPEN (1u << 31)
/* 2019 meanings */
#define JT808_ALARM19_DANGEROUS_DRIVING (1u << 3)
#define JT808_ALARM19_ILLEGAL_DRIVING (1u << 15)
#define JT808_ALARM19_TYRE_PRESSURE (1u << 16)
#define JT808_ALARM19_RIGHT_TURN_BLIND_SPOT (1u << 17)
#define JT808_ALARM19_COLLISION_ROLLOVER (1u << 29)
#define JT808_ALARM19_RESERVED_30 (1u << 30)
#define JT808_ALARM19_RESERVED_31 (1u << 31)

/* ---- 0x0200 status flag bits (DWORD at offset 4) ---- */
#define JT808_STATUS_ACC (1u << 0)
#define JT808_STATUS_POSITIONED (1u << 1)
#define JT808_STATUS_SOUTH (1u << 2)
#define JT808_STATUS_WEST (1u << 3)
#define JT808_STATUS_OUT_OF_SERVICE (1u << 4)
#define JT808_STATUS_COORD_ENCRYPTED (1u << 5)
#define JT808_STATUS19_FORWARD_COLLISION (1u << 6) /* 2019 */
#define JT808_STATUS19_LANE_DEPARTURE (1u << 7)    /* 2019 */
#define JT808_STATUS_LOAD_MASK (3u << 8)           /* see JT808_LOAD_* */
#define JT808_STATUS_LOAD_SHIFT 8
#define JT808_STATUS_OIL_CUT (1u << 10)
#define JT808_STATUS_CIRCUIT_CUT (1u << 11)
#define JT808_STATUS_DOORS_LOCKED (1u << 12)
#define JT808_STATUS_DOOR1_OPEN (1u << 13) /* front door */
#define JT808_STATUS_DOOR2_OPEN (1u << 14) /* middle door */
#define JT808_STATUS_DOOR3_OPEN (1u << 15) /* back door */
#define JT808_STATUS_DOOR4_OPEN (1u << 16) /* driver's door */
#define JT808_STATUS_DOOR5_OPEN (1u << 17) /* custom */
#define JT808_STATUS_GPS (1u << 18)
#define JT808_STATUS_BEIDOU (1u << 19)
#define JT808_STATUS_GLONASS (1u << 20)
#define JT808_STATUS_GALILEO (1u << 21)
#define JT808_STATUS19_MOVING (1u << 22) /* 2019: 1 moving, 0 stopped */
enum { JT808_LOAD_EMPTY = 0, JT808_LOAD_HALF = 1, JT808_LOAD_RESERVED = 2, JT808_LOAD_FULL = 3 };

/* ---- additional items of 0x0200 (id BYTE, length BYTE, value) ---- */
enum {
    JT808_ITEM_MILEAGE = 0x01,     /* DWORD, 1/10 km */
    JT808_ITEM_FUEL = 0x02,        /* WORD, 1/10 L */
    JT808_ITEM_TACHO_SPEED = 0x03, /* WORD, 1/10 km/h */
    JT808_ITEM_EXT_SIGNALS = 0x25, /* DWORD */
    JT808_ITEM_IO = 0x2A,          /* WORD */
    JT808_ITEM_ANALOG = 0x2B,      /* DWORD: bits 0-15 AD0, 16-31 AD1 */
    JT808_ITEM_SIGNAL = 0x30,      /* BYTE, wireless signal strength */
    JT808_ITEM_SATELLITES = 0x31,  /* BYTE, GNSS satellites in view */
};
/* jt808_location.present: which decoded items were found (and, for the encoder, which to write) */
#define JT808_HAS_MILEAGE (1u << 0)
#define JT808_HAS_FUEL (1u << 1)
#define JT808_HAS_TACHO_SPEED (1u << 2)
#define JT808_HAS_EXT_SIGNALS (1u << 3)
#define JT808_HAS_IO (1u << 4)
#define JT808_HAS_ANALOG (1u << 5)
#define JT808_HAS_SIGNAL (1u << 6)
#define JT808_HAS_SATELLITES (1u << 7)

/* ---- stream scanning ---- */

enum jt808_scan {
    JT808_SCAN_NEED_MORE = 0, /* no complete frame yet: keep all bytes, read more (*n = 0) */
    JT808_SCAN_FRAME = 1,     /* buf[0 .. *n) is one 0x7E ... 0x7E frame */
    JT808_SCAN_SKIP = 2,      /* drop the first *n bytes (garbage, or no closing flag within
                                 JT808_MAX_FRAME bytes) and scan again */
};

/* Finds the next frame at the start of buf[0 .. len). Never reads past buf + len. Bytes before
 * the first 0x7E are garbage (SKIP). Two consecutive flags mean a closing flag followed by an
 * opening one, so the first is skipped. A frame has at most JT808_MAX_FRAME bytes; an opening
 * flag with no closing flag within that bound gives SKIP of the whole bound. The caller always
 * drops *n bytes after FRAME or SKIP. */
enum jt808_scan jt808_scan(const uint8_t *buf, size_t len, size_t *n);

/* ---- header and frame ---- */

struct jt808_header {
    uint16_t msg_id;
    uint16_t props;         /* as sent */
    uint16_t body_len;      /* props bits 0-9 */
    uint8_t encryption;     /* props bits 10-12 (0 = none, 1 = RSA) */
    bool subpackage;        /* props bit 13 */
    bool version_flag;      /* props bit 14 as sent */
    uint8_t edition;        /* enum jt808_edition: the layout used */
    uint8_t proto_version;  /* 2019 version byte; 0 for 2013 */
    /* phone: every nibble as sent, 12 (2013) or 20 (2019), NUL-terminated; nibbles above 9 as
     * 'a'-'f' */
    char phone[JT808_PHONE_MAX + 1];
    /* phone_norm: phone without leading zeros ("0" if all zeros), lower case
     * (jt808_phone_normalise). The same terminal gives the same phone_norm in both editions: this
     * is the platform's identity for a terminal. */
    char phone_norm[JT808_PHONE_MAX + 1];
    uint16_t serial;
    uint16_t pkt_total; /* 0 unless subpackaged */
    uint16_t pkt_index; /* 1-based; 0 unless subpackaged */
    uint8_t quirks;     /* JT808_QUIRK_*: tolerated deviations seen in this frame */
};
#define JT808_QUIRK_BARE_ESCAPE 0x01 /* a 0x7D not followed by 0x01/0x02, taken literally */
#define JT808_QUIRK_HEX_PHONE 0x02   /* phone nibbles above 9 */

struct jt808_frame {
    struct jt808_header h;
    const uint8_t *body; /* points into raw[] (so the frame must not be copied while in use) */
    size_t body_len;
    uint8_t raw[JT808_MAX_RAW]; /* unescaped header + body + checksum */
};

/* A terminal phone as the platform names it: 1-20 hex digits (decimal in every standard frame;
 * 'a'-'f'/'A'-'F' from terminals with hex ids). */
bool jt808_phone_valid(const char *s);
/* The normalised form of phone `in` (jt808_phone_valid): leading zeros removed ("0" if all
 * zeros), 'A'-'F' lowered. Writes out[0 .. cap) NUL-terminated; in and out may be the same.
 * Returns PW_OK or PW_EINVAL (not a valid phone, or cap too small); out untouched on error. */
int jt808_phone_normalise(const char *in, char *out, size_t cap);

/* Decodes one frame buf[0 .. len) that starts and ends with 0x7E (as jt808_scan returns it):
 * unescapes into f->raw, checks the checksum, parses the header and locates the body.
 * Returns PW_OK; PW_EPROTO for bad framing, checksum or a length that matches neither header
 * layout; PW_ETOOBIG for a frame longer than JT808_MAX_FRAME or one
 * that unescapes to more than JT808_MAX_RAW bytes. On error
 * *f holds unspecified partial content. Encrypted bodies are returned as sent. */
int jt808_frame_decode(const uint8_t *buf, size_t len, struct jt808_frame *f);

/* ---- bodies (decoders take the body bytes and write *out only on PW_OK unless stated) ---- */

struct jt808_reply { /* 0x0001 and 0x8001 */
    uint16_t reply_serial;
    uint16_t reply_id;
    uint8_t result;
};
int jt808_decode_reply(const uint8_t *b, size_t n, struct jt808_reply *out);

#define JT808_STR_MAX 32 /* plate/VIN bytes kept */
struct jt808_register { /* 0x0100 */
    uint16_t province;
    uint16_t city;
    uint8_t maker[11];        /* BYTE[5] (2013) / BYTE[11] (2019), raw */
    uint8_t maker_len;        /* without trailing NULs/spaces */
    uint8_t model[30];        /* BYTE[20] (2013; BYTE[8] in 2011) / BYTE[30] (2019) */
    uint8_t model_len;
    uint8_t terminal_id[30];  /* BYTE[7] (2013) / BYTE[30] (2019) */
    uint8_t terminal_id_len;
    uint8_t plate_color;      /* 0 = no plate: plate[] holds the VIN */
    uint8_t plate[JT808_STR_MAX]; /* GBK bytes, trailing NULs stripped, not NUL-terminated */
    uint8_t plate_len;
    bool plate_truncated;     /* the plate was longer than JT808_STR_MAX: cut at a character */
};
/* edition selects the layout (use the header's). A 2013 body too short for BYTE[20] model but
 * long enough for the 2011 layout (model BYTE[8]) is decoded as 2011. A plate longer than
 * JT808_STR_MAX is cut at the last GBK character boundary within it (plate_truncated). Returns
 * PW_OK or PW_EPROTO (too short). */
int jt808_decode_register(const uint8_t *b, size_t n, int edition, struct jt808_register *out);

#define JT808_AUTH_MAX 255
struct jt808_auth { /* 0x0102 */
    uint8_t code[JT808_AUTH_MAX]; /* raw bytes, not NUL-terminated */
    uint8_t code_len;
    bool has_ext;                 /* 2019 layout: imei and sw_version valid */
    uint8_t imei[15];
    uint8_t sw_version[20];
};
/* 2019: length BYTE, code, IMEI[15], version[20]; when those lengths do not add up to n the
 * whole body is taken as the code, as in 2013. Trailing NULs of the code are stripped.
 * Returns PW_OK or PW_ETOOBIG (code longer than JT808_AUTH_MAX). */
int jt808_decode_auth(const uint8_t *b, size_t n, int edition, struct jt808_auth *out);

/* device time, as carried in 0x0200 (BCD YYMMDDhhmmss, UTC+8); year is 2000 + YY. A field
 * whose BCD was not decimal is 0xFF (year 0xFFFF). */
struct jt808_time {
    uint16_t year;
    uint8_t mon, day, hour, min, sec;
};

#define JT808_LOCATION_MIN 28
struct jt808_location { /* 0x0200 body */
    uint32_t alarm;       /* JT808_ALARM_* */
    uint32_t status;      /* JT808_STATUS_* */
    double lat;           /* degrees, negative south (status bit 2 applied); not range-checked */
    double lon;           /* degrees, negative west (status bit 3 applied); not range-checked */
    uint16_t altitude_m;
    double speed_kmh;
    uint16_t heading;     /* 0-359, north 0, clockwise (not range-checked) */
    struct jt808_time time;
    /* additional items */
    uint32_t present;     /* JT808_HAS_* */
    double mileage_km;
    double fuel_l;
    double tacho_speed_kmh;
    uint32_t ext_signals;
    uint16_t io;
    uint32_t analog;
    uint8_t signal;
    uint8_t satellites;
    uint16_t n_items;     /* additional items walked, known or not */
    uint16_t n_unknown;   /* of which ids not decoded here (vendor items ...), skipped */
    uint16_t n_bad_length; /* of which known ids with an unexpected length, skipped */
    bool truncated;       /* an item ran past the body end; items before it are kept */
};
/* Decodes a 0x0200 body (also the location part of 0x0201 and each 0x0704 item). Known items
 * with an unexpected length are skipped like unknown ones. Returns PW_OK (even when additional
 * items are truncated: see out->truncated) or PW_EPROTO when the 28-byte basic block is short;
 * *out is untouched on error. */
int jt808_decode_location(const uint8_t *b, size_t n, struct jt808_location *out);

/* Quality codes stored with JT/T 808 samples (the 8-bit code of design.md; 0 is good; HJ 212
 * uses 0-15, so these start at 16 to keep one project-wide meaning per value). */
enum jt808_quality {
    JT808_Q_OK = 0,
    JT808_Q_NOT_POSITIONED = 16, /* status bit 1 clear, or coordinates encrypted (bit 5) */
    JT808_Q_BAD_TIME = 17,       /* device time not a valid date: receive time used instead */
};
/* The quality of the position series (lat, lon, altitude, speed, heading) of loc:
 * JT808_Q_NOT_POSITIONED or JT808_Q_OK. */
uint8_t jt808_location_quality(const struct jt808_location *loc);

/* 0x0201: reply serial WORD + location. Returns as jt808_decode_location. */
int jt808_decode_location_reply(const uint8_t *b, size_t n, uint16_t *reply_serial,
                                struct jt808_location *out);

/* 0x0704 iterator:
 *
 *     struct jt808_batch it;  struct jt808_location loc;  int rc;
 *     if (jt808_batch_init(&it, body, len) == PW_OK)
 *         while ((rc = jt808_batch_next(&it, &loc)) != PW_ENOTFOUND)
 *             if (rc == PW_OK) ... it.type == JT808_BATCH_BLIND is back-fill
 *             else if (rc != PW_EPROTO || it.done) break;
 */
enum { JT808_BATCH_NORMAL = 0, JT808_BATCH_BLIND = 1 };
struct jt808_batch {
    uint16_t count;   /* as announced */
    uint8_t type;     /* JT808_BATCH_* */
    uint16_t index;   /* items returned so far */
    bool done;
    const uint8_t *p; /* internal cursor */
    size_t left;
};
/* Returns PW_OK or PW_EPROTO (body shorter than 3 bytes; *it then yields nothing). */
int jt808_batch_init(struct jt808_batch *it, const uint8_t *b, size_t n);
/* Returns PW_OK with *loc; PW_ENOTFOUND after the last item (count reached or body ended
 * exactly); PW_EPROTO for an item too short to be a location (the iterator moved past it and
 * may be called again) or an item length running past the body (it->done is set). */
int jt808_batch_next(struct jt808_batch *it, struct jt808_location *loc);

/* 0x8004: BCD[6] UTC time. Returns PW_OK with *utc_ms, or PW_EPROTO (short or not a date). */
int jt808_decode_time_reply(const uint8_t *b, size_t n, int64_t *utc_ms);

/* 0x8100. auth points into b (not NUL-terminated, auth_len 0 unless result is 0). */
struct jt808_register_reply {
    uint16_t reply_serial;
    uint8_t result;
    const uint8_t *auth;
    size_t auth_len;
};
int jt808_decode_register_reply(const uint8_t *b, size_t n, struct jt808_register_reply *out);

/* ---- time helpers ---- */

/* Device time (UTC+8) to ms since the epoch, UTC. Returns PW_OK, or PW_EINVAL when a field is
 * out of range (an all-zero time, sent by some terminals before a fix, is out of range);
 * *ms untouched on error. */
int jt808_time_to_utc_ms(const struct jt808_time *t, int64_t *ms);
/* The device time (UTC+8) for utc_ms; years outside 2000-2099 are clamped to that range's
 * representation modulo 100 (the protocol carries two digits). */
void jt808_time_from_utc_ms(int64_t utc_ms, struct jt808_time *t);

/* ---- encoders ----
 * Every encoder writes one complete escaped frame (flags, header, body, checksum) to
 * out[0 .. cap) and sets *out_len. Returns PW_OK, PW_ETOOBIG when the body exceeds 1023 bytes
 * or the frame does not fit cap (JT808_MAX_FRAME always fits), PW_EINVAL for a phone that is not
 * 1-12 (2013) / 1-20 (2019) hex digits (decimal for every standard terminal). out is unspecified
 * on error. */

struct jt808_addr {
    uint8_t edition;       /* enum jt808_edition: header layout to write */
    uint8_t proto_version; /* 2019 version byte (1 for JT/T 808-2019) */
    char phone[JT808_PHONE_MAX + 1]; /* hex digits; left-padded with zeros when written */
};
/* The address to answer the sender of h in its own edition and phone form. */
void jt808_addr_from_header(const struct jt808_header *h, struct jt808_addr *a);

/* Any message: body b[0 .. n). */
int jt808_encode(const struct jt808_addr *a, uint16_t msg_id, uint16_t serial, const uint8_t *b,
                 size_t n, uint8_t *out, size_t cap, size_t *out_len);
/* One packet (index 1..total) of a subpackaged message. */
int jt808_encode_part(const struct jt808_addr *a, uint16_t msg_id, uint16_t serial,
                      uint16_t total, uint16_t index, const uint8_t *b, size_t n, uint8_t *out,
                      size_t cap, size_t *out_len);

/* platform → terminal */
int jt808_encode_8001(const struct jt808_addr *a, uint16_t serial, uint16_t reply_serial,
                      uint16_t reply_id, uint8_t result, uint8_t *out, size_t cap,
                      size_t *out_len);
/* auth is written only when result is JT808_REG_OK (auth_len at most 255) */
int jt808_encode_8100(const struct jt808_addr *a, uint16_t serial, uint16_t reply_serial,
                      uint8_t result, const uint8_t *auth, size_t auth_len, uint8_t *out,
                      size_t cap, size_t *out_len);
int jt808_encode_8201(const struct jt808_addr *a, uint16_t serial, uint8_t *out, size_t cap,
                      size_t *out_len);
int jt808_encode_8004(const struct jt808_addr *a, uint16_t serial, int64_t utc_ms, uint8_t *out,
                      size_t cap, size_t *out_len);

/* terminal → platform (the simulator) */
int jt808_encode_0001(const struct jt808_addr *a, uint16_t serial, uint16_t reply_serial,
                      uint16_t reply_id, uint8_t result, uint8_t *out, size_t cap,
                      size_t *out_len);
/* 0x0002 heartbeat, 0x0003 deregistration, 0x0004 time query: empty bodies */
int jt808_encode_empty(const struct jt808_addr *a, uint16_t msg_id, uint16_t serial, uint8_t *out,
                       size_t cap, size_t *out_len);
/* fixed-length fields are zero-padded (and cut) to the edition's sizes */
int jt808_encode_0100(const struct jt808_addr *a, uint16_t serial, const struct jt808_register *r,
                      uint8_t *out, size_t cap, size_t *out_len);
/* 2019 layout when a->edition is 2019 (imei/sw_version zero-filled unless has_ext) */
int jt808_encode_0102(const struct jt808_addr *a, uint16_t serial, const struct jt808_auth *au,
                      uint8_t *out, size_t cap, size_t *out_len);
int jt808_encode_0200(const struct jt808_addr *a, uint16_t serial,
                      const struct jt808_location *loc, uint8_t *out, size_t cap,
                      size_t *out_len);
int jt808_encode_0201(const struct jt808_addr *a, uint16_t serial, uint16_t reply_serial,
                      const struct jt808_location *loc, uint8_t *out, size_t cap,
                      size_t *out_len);
int jt808_encode_0704(const struct jt808_addr *a, uint16_t serial, uint8_t type,
                      const struct jt808_location *locs, size_t count, uint8_t *out, size_t cap,
                      size_t *out_len);

/* A 0x0200 body: basic block, then the items flagged in loc->present in id order. lat/lon signs
 * set the south/west status bits (other status bits are written as given); lat/lon, speed,
 * mileage, fuel are rounded to the protocol's units. Returns PW_OK and *n, or PW_ETOOBIG
 * when cap is too small. */
int jt808_location_encode(const struct jt808_location *loc, uint8_t *out, size_t cap, size_t *n);

/* ---- subpackage reassembly ----
 * One reassembler per connection, created when the first subpackaged frame arrives. Messages in
 * progress are keyed by (phone, msg id, first serial) where first serial = serial - (index - 1)
 * modulo 65536. Memory per message in progress is bounded by max_bytes; at most max_msgs are in
 * progress (the oldest is dropped to make room) and each has at most max_packets packets. The
 * caller owns the clock: every call takes now_ms, and messages older than timeout_ms are
 * dropped.
 *
 * Reassemblers may share a budget: every byte they hold for messages in progress (packet data,
 * the per-packet tables, the last completed body) is charged to it and released when the message
 * completes, expires, is dropped or the reassembler is freed. A message that would take the
 * budget over its cap is dropped (PW_EFULL). The budget is not locked: use it from one thread. */
struct jt808_reasm_budget {
    size_t cap;       /* bytes; 0 = nothing may be reassembled */
    size_t used;      /* bytes charged now */
    size_t peak;      /* highest `used` seen */
    uint64_t refused; /* messages dropped because the budget was exhausted */
};
struct jt808_reasm_limits {
    uint16_t max_msgs;    /* default 4 */
    uint16_t max_packets; /* default 256 */
    uint32_t max_bytes;   /* per message, default 256 KiB */
    int64_t timeout_ms;   /* default 60 s */
    struct jt808_reasm_budget *budget; /* NULL: none (each reassembler bounded on its own) */
};
struct jt808_reasm_stats {
    uint64_t completed, expired, evicted, too_big, bad, no_budget;
};
typedef struct jt808_reasm jt808_reasm;

/* lim may be NULL (defaults); zero fields take defaults. Never fails (allocation aborts). */
jt808_reasm *jt808_reasm_open(const struct jt808_reasm_limits *lim);
void jt808_reasm_free(jt808_reasm *r); /* accepts NULL */

/* Adds one subpackaged frame (f->h.subpackage must be set). Returns:
 *   PW_OK       message complete: *h is the first packet's header with subpackage cleared,
 *               pkt_total/pkt_index 0 and body_len the total (saturated at 0xFFFF); *body points
 *               to the reassembled body (owned by r, valid until the next call on r);
 *   PW_EAGAIN   stored (or a duplicate ignored), more packets needed;
 *   PW_EPROTO   index 0 or > total, total 0 or > max_packets, or total differs from the
 *               message in progress (which is dropped);
 *   PW_ETOOBIG  the message would exceed max_bytes (it is dropped);
 *   PW_EFULL    the shared budget cannot hold this packet (the message is dropped).
 * *h, *body, *body_len are written only on PW_OK. The body of the previous PW_OK is released at
 * the next call. */
int jt808_reasm_add(jt808_reasm *r, const struct jt808_frame *f, int64_t now_ms,
                    struct jt808_header *h, const uint8_t **body, size_t *body_len);
/* Drops messages older than timeout_ms (and the last completed body); returns how many messages
 * were dropped. */
int jt808_reasm_expire(jt808_reasm *r, int64_t now_ms);
/* messages in progress */
size_t jt808_reasm_pending(const jt808_reasm *r);
void jt808_reasm_get_stats(const jt808_reasm *r, struct jt808_reasm_stats *st);

/* ---- GBK ---- */

/* Converts GBK in[0 .. n) to UTF-8 in out[0 .. cap), NUL-terminated; *out_len (may be NULL)
 * excludes the NUL. Returns PW_OK, PW_EINVAL (not GBK; GB18030 is accepted) or PW_ETOOBIG
 * (cap too small). out is always NUL-terminated when cap > 0. */
int jt808_gbk_to_utf8(const uint8_t *in, size_t n, char *out, size_t cap, size_t *out_len);
/* Converts UTF-8 to GBK; same contract (no NUL is written; out may not be NUL-terminated). */
int jt808_utf8_to_gbk(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len);

#endif
