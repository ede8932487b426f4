/* tiles.c — c2sp.org/tlog-tiles paths and widths, and the leaf header.
 *
 * Hash tile at level L, index N: the hashes of the 256 complete subtrees of 256^L leaves each
 * with indices 256N .. 256N+255 (8,192 bytes); the rightmost tile of a level may be partial,
 * ".p/<W>" holding its first W (1..255) hashes, and a partial tile is never hashed upward. Entry
 * bundle N: entries 256N .. 256N+255, each a big-endian uint16 length then the bytes. N is
 * written in 3-digit groups, each but the last prefixed with "x": 1234067 -> x001/x234/067.
 *
 * Leaf (the bytes hashed into the tree; docs/archive.md):
 *   offset 0   1 byte   version = 1
 *          1   1 byte   kind (enum archive_kind)
 *          2   8 bytes  receive (or send) time, unix milliseconds, big-endian signed
 *         10   1 byte   S = source length (0..64)
 *         11   S bytes  source: the peer address, or the user, that the bytes came from/went to
 *       11+S   ...      the exact bytes */
#include "archive/archive.h"

#include "base/err.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

_Static_assert(ARCHIVE_TILE_WIDTH == 1 << ARCHIVE_TILE_HEIGHT, "tile width is 2^height");
_Static_assert(ARCHIVE_LEAF_HEADER == 11, "leaf header layout");

size_t archive_tile_path(int level, uint64_t n, unsigned w, char *out, size_t cap)
{
    char groups[48]; /* at most 7 groups for 64 bits: 6 x "x123/" + "123" */
    size_t gl = 0;
    /* groups from the least significant */
    char tmp[8][8];
    int ng = 0;
    uint64_t v = n;
    do {
        snprintf(tmp[ng], sizeof tmp[ng], "%03u", (unsigned)(v % 1000));
        ng++;
        v /= 1000;
    } while (v > 0);
    for (int i = ng - 1; i >= 0; i--) {
        int k = snprintf(groups + gl, sizeof groups - gl, i > 0 ? "x%s/" : "%s", tmp[i]);
        gl += (size_t)k;
    }
    if (w == 0 || w > ARCHIVE_TILE_WIDTH)
        return 0;
    int len;
    char lv[16];
    if (level < 0)
        snprintf(lv, sizeof lv, "entries");
    else
        snprintf(lv, sizeof lv, "%d", level);
    if (w == ARCHIVE_TILE_WIDTH)
        len = snprintf(out, cap, "tile/%s/%s", lv, groups);
    else
        len = snprintf(out, cap, "tile/%s/%s.p/%u", lv, groups, w);
    if (len < 0 || (size_t)len >= cap)
        return 0;
    return (size_t)len;
}

/* Parses 1..3 decimal digits at p (exactly 3 when exact3). */
static bool digits(const char **p, bool exact3, unsigned *out)
{
    unsigned v = 0;
    int k = 0;
    while (k < 3 && **p >= '0' && **p <= '9') {
        v = v * 10 + (unsigned)(**p - '0');
        (*p)++;
        k++;
    }
    if (k == 0 || (exact3 && k != 3))
        return false;
    *out = v;
    return true;
}

int archive_tile_parse(const char *path, int *level, uint64_t *n, unsigned *w)
{
    const char *p = path;
    int lv;
    if (strncmp(p, "entries/", 8) == 0) {
        lv = -1;
        p += 8;
    } else {
        unsigned l;
        if (!digits(&p, false, &l) || *p != '/' || l > 63 || (l > 9 && path[0] == '0') ||
            (p - path > 1 && path[0] == '0'))
            return PW_EINVAL;
        lv = (int)l;
        p++;
    }
    uint64_t v = 0;
    int groups = 0;
    for (;;) {
        unsigned g;
        bool x = *p == 'x';
        if (x)
            p++;
        if (!digits(&p, true, &g))
            return PW_EINVAL;
        if (groups == 0 && x && g == 0)
            return PW_EINVAL; /* x000/... is not canonical */
        if (v > (UINT64_MAX - g) / 1000)
            return PW_EINVAL;
        v = v * 1000 + g;
        groups++;
        if (x) {
            if (*p != '/')
                return PW_EINVAL;
            p++;
            continue;
        }
        break;
    }
    unsigned width = ARCHIVE_TILE_WIDTH;
    if (*p == '.') {
        if (strncmp(p, ".p/", 3) != 0)
            return PW_EINVAL;
        p += 3;
        const char *ws = p;
        unsigned wv = 0;
        while (*p >= '0' && *p <= '9' && p - ws < 4)
            wv = wv * 10 + (unsigned)(*p++ - '0');
        if (p == ws || (ws[0] == '0') || wv == 0 || wv >= ARCHIVE_TILE_WIDTH)
            return PW_EINVAL;
        width = wv;
    }
    if (*p != '\0')
        return PW_EINVAL;
    *level = lv;
    *n = v;
    *w = width;
    return PW_OK;
}

unsigned archive_tile_width(int level, uint64_t n, uint64_t size)
{
    int shift = level < 0 ? 0 : ARCHIVE_TILE_HEIGHT * level;
    if (shift >= 64)
        return 0;
    uint64_t count = size >> shift; /* complete subtrees (entries) at this level */
    if (n > count / ARCHIVE_TILE_WIDTH)
        return 0;
    if (n < count / ARCHIVE_TILE_WIDTH)
        return ARCHIVE_TILE_WIDTH;
    return (unsigned)(count % ARCHIVE_TILE_WIDTH);
}

/* ---- leaves ---- */

size_t archive_leaf_encode(uint8_t *out, size_t cap, enum archive_kind kind, int64_t time_ms,
                           const char *source, const void *bytes, size_t len)
{
    size_t sl = source ? strlen(source) : 0;
    if (sl > ARCHIVE_MAX_SOURCE)
        sl = ARCHIVE_MAX_SOURCE;
    size_t total = ARCHIVE_LEAF_HEADER + sl + len;
    if (total > ARCHIVE_MAX_ENTRY || total > cap)
        return 0;
    out[0] = ARCHIVE_LEAF_VERSION;
    out[1] = (uint8_t)kind;
    uint64_t t = (uint64_t)time_ms;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(t >> (56 - 8 * i));
    out[10] = (uint8_t)sl;
    if (sl)
        memcpy(out + ARCHIVE_LEAF_HEADER, source, sl);
    if (len)
        memcpy(out + ARCHIVE_LEAF_HEADER + sl, bytes, len);
    return total;
}

int archive_leaf_decode(const uint8_t *leaf, size_t len, struct archive_leaf *out)
{
    if (len < ARCHIVE_LEAF_HEADER || leaf[0] != ARCHIVE_LEAF_VERSION)
        return PW_EPROTO;
    size_t sl = leaf[10];
    if (sl > ARCHIVE_MAX_SOURCE || ARCHIVE_LEAF_HEADER + sl > len)
        return PW_EPROTO;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | leaf[2 + i];
    out->version = leaf[0];
    out->kind = leaf[1];
    out->time_ms = (int64_t)t;
    out->source = (const char *)leaf + ARCHIVE_LEAF_HEADER;
    out->source_len = sl;
    out->bytes = leaf + ARCHIVE_LEAF_HEADER + sl;
    out->len = len - ARCHIVE_LEAF_HEADER - sl;
    return PW_OK;
}

const char *archive_kind_name(int kind)
{
    switch (kind) {
    case ARCHIVE_KIND_HJ212_RX:
        return "hj212_rx";
    case ARCHIVE_KIND_HJ212_TX:
        return "hj212_tx";
    case ARCHIVE_KIND_JT808_RX:
        return "jt808_rx";
    case ARCHIVE_KIND_JT808_TX:
        return "jt808_tx";
    case ARCHIVE_KIND_MODBUS_RX:
        return "modbus_rx";
    case ARCHIVE_KIND_MQTT_RX:
        return "mqtt_rx";
    case ARCHIVE_KIND_DEVICE_EVENT:
        return "device_event";
    case ARCHIVE_KIND_LINE_PROTOCOL:
        return "line_protocol";
    case ARCHIVE_KIND_OPERATOR:
        return "operator";
    case ARCHIVE_KIND_ARCHIVE:
        return "archive";
    case ARCHIVE_KIND_MODBUS_TX:
        return "modbus_tx";
    default:
        return "unknown";
    }
}
