/* jt808_body.c — JT/T 808 message bodies: decoders for 0x0001/0x8001, 0x0100, 0x0102, 0x0200,
 * 0x0201, 0x0704 (iterator), 0x8100, and the terminal-side body encoders.
 *
 * 0x0200 body: 28-byte basic block (alarm DWORD, status DWORD, lat DWORD, lon DWORD, altitude
 * WORD, speed WORD, heading WORD, time BCD[6]), then additional items (id BYTE, length BYTE,
 * value[length]) until the end of the body. */
#include "proto/jt808.h"

#include "base/err.h"
#include "proto/jt808_int.h"

#include <math.h>
#include <string.h>

int jt808_decode_reply(const uint8_t *b, size_t n, struct jt808_reply *out)
{
    if (n < 5)
        return PW_EPROTO;
    out->reply_serial = jt808_rd16(b);
    out->reply_id = jt808_rd16(b + 2);
    out->result = b[4];
    return PW_OK;
}

int jt808_decode_register_reply(const uint8_t *b, size_t n, struct jt808_register_reply *out)
{
    if (n < 3)
        return PW_EPROTO;
    out->reply_serial = jt808_rd16(b);
    out->result = b[2];
    out->auth = b + 3;
    out->auth_len = out->result == JT808_REG_OK ? n - 3 : 0;
    return PW_OK;
}

/* length of a fixed field without trailing NULs and spaces */
static uint8_t trimmed(const uint8_t *p, size_t n)
{
    while (n > 0 && (p[n - 1] == 0 || p[n - 1] == ' '))
        n--;
    return (uint8_t)n;
}

int jt808_decode_register(const uint8_t *b, size_t n, int edition, struct jt808_register *out)
{
    size_t maker, model, tid;
    if (edition == JT808_2019) {
        maker = 11, model = 30, tid = 30;
    } else {
        maker = 5, model = 20, tid = 7;
        if (n < 4 + maker + model + tid + 1)
            model = 8; /* 2011 layout */
    }
    size_t fixed = 4 + maker + model + tid + 1;
    if (n < fixed)
        return PW_EPROTO;
    size_t plate = n - fixed;
    while (plate > 0 && b[fixed + plate - 1] == 0)
        plate--;
    bool cut = false;
    if (plate > JT808_STR_MAX) {
        /* an overlong plate/VIN costs its tail, not the registration: cut at the last GBK
         * (GB18030) character boundary within the bound */
        const uint8_t *q = b + fixed;
        size_t i = 0;
        for (;;) {
            size_t w = q[i] < 0x81 ? 1 : (i + 1 < plate && q[i + 1] >= 0x30 && q[i + 1] <= 0x39)
                                               ? 4
                                               : 2;
            if (i + w > JT808_STR_MAX)
                break;
            i += w;
        }
        plate = i;
        cut = true;
    }
    memset(out, 0, sizeof *out);
    out->plate_truncated = cut;
    out->province = jt808_rd16(b);
    out->city = jt808_rd16(b + 2);
    const uint8_t *p = b + 4;
    memcpy(out->maker, p, maker);
    out->maker_len = trimmed(p, maker);
    p += maker;
    memcpy(out->model, p, model);
    out->model_len = trimmed(p, model);
    p += model;
    memcpy(out->terminal_id, p, tid);
    out->terminal_id_len = trimmed(p, tid);
    p += tid;
    out->plate_color = *p++;
    memcpy(out->plate, p, plate);
    out->plate_len = (uint8_t)plate;
    return PW_OK;
}

int jt808_decode_auth(const uint8_t *b, size_t n, int edition, struct jt808_auth *out)
{
    if (edition == JT808_2019 && n >= 1 && (size_t)b[0] + 1 + 15 + 20 == n) {
        size_t l = b[0];
        memset(out, 0, sizeof *out);
        memcpy(out->code, b + 1, l);
        out->code_len = (uint8_t)l;
        while (out->code_len > 0 && out->code[out->code_len - 1] == 0)
            out->code_len--;
        out->has_ext = true;
        memcpy(out->imei, b + 1 + l, 15);
        memcpy(out->sw_version, b + 1 + l + 15, 20);
        return PW_OK;
    }
    size_t l = n;
    while (l > 0 && b[l - 1] == 0)
        l--;
    if (l > JT808_AUTH_MAX)
        return PW_ETOOBIG;
    memset(out, 0, sizeof *out);
    if (l)
        memcpy(out->code, b, l);
    out->code_len = (uint8_t)l;
    return PW_OK;
}

/* Decodes one additional item into loc. Returns 0 when decoded, 1 for an id not decoded here,
 * 2 for a known id with an unexpected length (both skipped by their length). */
static int decode_item(struct jt808_location *loc, uint8_t id, const uint8_t *v, uint8_t len)
{
    switch (id) {
    case JT808_ITEM_MILEAGE:
        if (len != 4)
            return 2;
        loc->mileage_km = jt808_rd32(v) / 10.0;
        loc->present |= JT808_HAS_MILEAGE;
        return 0;
    case JT808_ITEM_FUEL:
        if (len != 2)
            return 2;
        loc->fuel_l = jt808_rd16(v) / 10.0;
        loc->present |= JT808_HAS_FUEL;
        return 0;
    case JT808_ITEM_TACHO_SPEED:
        if (len != 2)
            return 2;
        loc->tacho_speed_kmh = jt808_rd16(v) / 10.0;
        loc->present |= JT808_HAS_TACHO_SPEED;
        return 0;
    case JT808_ITEM_EXT_SIGNALS:
        if (len != 4)
            return 2;
        loc->ext_signals = jt808_rd32(v);
        loc->present |= JT808_HAS_EXT_SIGNALS;
        return 0;
    case JT808_ITEM_IO:
        if (len != 2)
            return 2;
        loc->io = jt808_rd16(v);
        loc->present |= JT808_HAS_IO;
        return 0;
    case JT808_ITEM_ANALOG:
        if (len != 4)
            return 2;
        loc->analog = jt808_rd32(v);
        loc->present |= JT808_HAS_ANALOG;
        return 0;
    case JT808_ITEM_SIGNAL:
        if (len != 1)
            return 2;
        loc->signal = v[0];
        loc->present |= JT808_HAS_SIGNAL;
        return 0;
    case JT808_ITEM_SATELLITES:
        if (len != 1)
            return 2;
        loc->satellites = v[0];
        loc->present |= JT808_HAS_SATELLITES;
        return 0;
    default: /* unknown or not decoded: skipped by length */
        return 1;
    }
}

int jt808_decode_location(const uint8_t *b, size_t n, struct jt808_location *out)
{
    if (n < JT808_LOCATION_MIN)
        return PW_EPROTO;
    struct jt808_location *l = out;
    memset(l, 0, sizeof *l);
    l->alarm = jt808_rd32(b);
    l->status = jt808_rd32(b + 4);
    l->lat = jt808_rd32(b + 8) / 1e6;
    l->lon = jt808_rd32(b + 12) / 1e6;
    if (l->status & JT808_STATUS_SOUTH)
        l->lat = -l->lat;
    if (l->status & JT808_STATUS_WEST)
        l->lon = -l->lon;
    l->altitude_m = jt808_rd16(b + 16);
    l->speed_kmh = jt808_rd16(b + 18) / 10.0;
    l->heading = jt808_rd16(b + 20);
    uint8_t yy = jt808_bcd(b[22]);
    l->time.year = yy == 0xFF ? 0xFFFF : (uint16_t)(2000 + yy);
    l->time.mon = jt808_bcd(b[23]);
    l->time.day = jt808_bcd(b[24]);
    l->time.hour = jt808_bcd(b[25]);
    l->time.min = jt808_bcd(b[26]);
    l->time.sec = jt808_bcd(b[27]);
    size_t i = JT808_LOCATION_MIN;
    while (i < n) {
        if (n - i < 2 || n - i - 2 < b[i + 1]) {
            l->truncated = true;
            break;
        }
        uint8_t id = b[i], len = b[i + 1];
        int r = decode_item(l, id, b + i + 2, len);
        l->n_unknown += r == 1;
        l->n_bad_length += r == 2;
        l->n_items++;
        i += 2 + (size_t)len;
    }
    return PW_OK;
}

uint8_t jt808_location_quality(const struct jt808_location *loc)
{
    if (!(loc->status & JT808_STATUS_POSITIONED) || (loc->status & JT808_STATUS_COORD_ENCRYPTED))
        return JT808_Q_NOT_POSITIONED;
    return JT808_Q_OK;
}

int jt808_decode_location_reply(const uint8_t *b, size_t n, uint16_t *reply_serial,
                                struct jt808_location *out)
{
    if (n < 2 + JT808_LOCATION_MIN)
        return PW_EPROTO;
    int rc = jt808_decode_location(b + 2, n - 2, out);
    if (rc == PW_OK)
        *reply_serial = jt808_rd16(b);
    return rc;
}

int jt808_batch_init(struct jt808_batch *it, const uint8_t *b, size_t n)
{
    memset(it, 0, sizeof *it);
    if (n < 3) {
        it->done = true;
        return PW_EPROTO;
    }
    it->count = jt808_rd16(b);
    it->type = b[2];
    it->p = b + 3;
    it->left = n - 3;
    it->done = it->count == 0;
    return PW_OK;
}

int jt808_batch_next(struct jt808_batch *it, struct jt808_location *loc)
{
    if (it->done || it->index >= it->count || it->left == 0) {
        it->done = true;
        return PW_ENOTFOUND;
    }
    if (it->left < 2 || (size_t)jt808_rd16(it->p) > it->left - 2) {
        it->done = true;
        return PW_EPROTO;
    }
    size_t len = jt808_rd16(it->p);
    const uint8_t *body = it->p + 2;
    it->p += 2 + len;
    it->left -= 2 + len;
    it->index++;
    return jt808_decode_location(body, len, loc);
}

/* ---- terminal-side encoders ---- */

static uint16_t units(double v, double scale, uint32_t max, uint32_t *out32)
{
    double r = round(fabs(v) * scale);
    uint32_t u = r >= (double)max ? max : (uint32_t)r;
    if (out32)
        *out32 = u;
    return (uint16_t)u;
}

int jt808_location_encode(const struct jt808_location *loc, uint8_t *out, size_t cap, size_t *n)
{
    uint8_t b[JT808_LOCATION_MIN + 8 * 6];
    uint32_t status = loc->status & ~(JT808_STATUS_SOUTH | JT808_STATUS_WEST);
    if (loc->lat < 0)
        status |= JT808_STATUS_SOUTH;
    if (loc->lon < 0)
        status |= JT808_STATUS_WEST;
    uint32_t la, lo;
    units(loc->lat, 1e6, 90000000u, &la);
    units(loc->lon, 1e6, 180000000u, &lo);
    jt808_wr32(b, loc->alarm);
    jt808_wr32(b + 4, status);
    jt808_wr32(b + 8, la);
    jt808_wr32(b + 12, lo);
    jt808_wr16(b + 16, loc->altitude_m);
    jt808_wr16(b + 18, units(loc->speed_kmh, 10, 0xFFFF, NULL));
    jt808_wr16(b + 20, loc->heading);
    const struct jt808_time *t = &loc->time;
    b[22] = jt808_tobcd(t->year % 100);
    b[23] = jt808_tobcd(t->mon);
    b[24] = jt808_tobcd(t->day);
    b[25] = jt808_tobcd(t->hour);
    b[26] = jt808_tobcd(t->min);
    b[27] = jt808_tobcd(t->sec);
    size_t k = JT808_LOCATION_MIN;
    uint32_t u32;
    if (loc->present & JT808_HAS_MILEAGE) {
        units(loc->mileage_km, 10, 0xFFFFFFFFu, &u32);
        b[k] = JT808_ITEM_MILEAGE, b[k + 1] = 4, jt808_wr32(b + k + 2, u32), k += 6;
    }
    if (loc->present & JT808_HAS_FUEL) {
        b[k] = JT808_ITEM_FUEL, b[k + 1] = 2;
        jt808_wr16(b + k + 2, units(loc->fuel_l, 10, 0xFFFF, NULL));
        k += 4;
    }
    if (loc->present & JT808_HAS_TACHO_SPEED) {
        b[k] = JT808_ITEM_TACHO_SPEED, b[k + 1] = 2;
        jt808_wr16(b + k + 2, units(loc->tacho_speed_kmh, 10, 0xFFFF, NULL));
        k += 4;
    }
    if (loc->present & JT808_HAS_EXT_SIGNALS) {
        b[k] = JT808_ITEM_EXT_SIGNALS, b[k + 1] = 4;
        jt808_wr32(b + k + 2, loc->ext_signals);
        k += 6;
    }
    if (loc->present & JT808_HAS_IO)
        b[k] = JT808_ITEM_IO, b[k + 1] = 2, jt808_wr16(b + k + 2, loc->io), k += 4;
    if (loc->present & JT808_HAS_ANALOG)
        b[k] = JT808_ITEM_ANALOG, b[k + 1] = 4, jt808_wr32(b + k + 2, loc->analog), k += 6;
    if (loc->present & JT808_HAS_SIGNAL)
        b[k] = JT808_ITEM_SIGNAL, b[k + 1] = 1, b[k + 2] = loc->signal, k += 3;
    if (loc->present & JT808_HAS_SATELLITES)
        b[k] = JT808_ITEM_SATELLITES, b[k + 1] = 1, b[k + 2] = loc->satellites, k += 3;
    if (k > cap)
        return PW_ETOOBIG;
    memcpy(out, b, k);
    *n = k;
    return PW_OK;
}

int jt808_encode_0200(const struct jt808_addr *a, uint16_t serial,
                      const struct jt808_location *loc, uint8_t *out, size_t cap,
                      size_t *out_len)
{
    uint8_t b[128];
    size_t n;
    int rc = jt808_location_encode(loc, b, sizeof b, &n);
    if (rc != PW_OK)
        return rc;
    return jt808_encode(a, JT808_MSG_LOCATION, serial, b, n, out, cap, out_len);
}

int jt808_encode_0201(const struct jt808_addr *a, uint16_t serial, uint16_t reply_serial,
                      const struct jt808_location *loc, uint8_t *out, size_t cap,
                      size_t *out_len)
{
    uint8_t b[130];
    size_t n;
    jt808_wr16(b, reply_serial);
    int rc = jt808_location_encode(loc, b + 2, sizeof b - 2, &n);
    if (rc != PW_OK)
        return rc;
    return jt808_encode(a, JT808_MSG_LOCATION_REPLY, serial, b, n + 2, out, cap, out_len);
}

int jt808_encode_0704(const struct jt808_addr *a, uint16_t serial, uint8_t type,
                      const struct jt808_location *locs, size_t count, uint8_t *out, size_t cap,
                      size_t *out_len)
{
    uint8_t b[JT808_MAX_BODY];
    size_t k = 3, n;
    if (count > 0xFFFF)
        return PW_ETOOBIG;
    jt808_wr16(b, (uint16_t)count);
    b[2] = type;
    for (size_t i = 0; i < count; i++) {
        if (k + 2 > sizeof b)
            return PW_ETOOBIG;
        int rc = jt808_location_encode(&locs[i], b + k + 2, sizeof b - k - 2, &n);
        if (rc != PW_OK)
            return rc;
        jt808_wr16(b + k, (uint16_t)n);
        k += 2 + n;
    }
    return jt808_encode(a, JT808_MSG_BATCH, serial, b, k, out, cap, out_len);
}

int jt808_encode_0100(const struct jt808_addr *a, uint16_t serial, const struct jt808_register *r,
                      uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t b[4 + 11 + 30 + 30 + 1 + JT808_STR_MAX];
    bool v19 = a->edition == JT808_2019;
    size_t fl[3] = {v19 ? 11u : 5u, v19 ? 30u : 20u, v19 ? 30u : 7u};
    const uint8_t *fv[3] = {r->maker, r->model, r->terminal_id};
    size_t have[3] = {r->maker_len, r->model_len, r->terminal_id_len};
    size_t fmax[3] = {sizeof r->maker, sizeof r->model, sizeof r->terminal_id};
    size_t k = 4;
    jt808_wr16(b, r->province);
    jt808_wr16(b + 2, r->city);
    for (int i = 0; i < 3; i++) {
        size_t l = have[i] < fl[i] ? have[i] : fl[i];
        if (l > fmax[i])
            l = fmax[i];
        memset(b + k, 0, fl[i]);
        memcpy(b + k, fv[i], l);
        k += fl[i];
    }
    b[k++] = r->plate_color;
    size_t pl = r->plate_len < JT808_STR_MAX ? r->plate_len : JT808_STR_MAX;
    memcpy(b + k, r->plate, pl);
    k += pl;
    return jt808_encode(a, JT808_MSG_REGISTER, serial, b, k, out, cap, out_len);
}

int jt808_encode_0102(const struct jt808_addr *a, uint16_t serial, const struct jt808_auth *au,
                      uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t b[1 + JT808_AUTH_MAX + 15 + 20];
    size_t k = 0;
    if (a->edition == JT808_2019)
        b[k++] = au->code_len;
    memcpy(b + k, au->code, au->code_len);
    k += au->code_len;
    if (a->edition == JT808_2019) {
        if (au->has_ext) {
            memcpy(b + k, au->imei, 15);
            memcpy(b + k + 15, au->sw_version, 20);
        } else {
            memset(b + k, 0, 35);
        }
        k += 35;
    }
    return jt808_encode(a, JT808_MSG_AUTH, serial, b, k, out, cap, out_len);
}
