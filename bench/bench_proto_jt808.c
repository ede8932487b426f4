/* Benchmarks for the JT/T 808 codec. Prints `name value unit` lines:
 *   jt808_decode_0200     frames/s  scan + unescape + checksum + header + 0x0200 body with the
 *                                   usual additional items (2019 header), one core
 *   jt808_decode_0200_2013 frames/s the same with a 2013 header
 *   jt808_encode_8001     frames/s  platform general reply
 *   jt808_stream_0200     MB/s      scanner + decoder over a buffer of back-to-back frames */
#include "base/err.h"
#include "base/timeutil.h"
#include "proto/jt808.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile double sink;

static size_t make_0200(int edition, uint16_t serial, uint8_t *out, size_t cap)
{
    struct jt808_addr a = {.edition = (uint8_t)edition, .proto_version = 1};
    snprintf(a.phone, sizeof a.phone, "13912345678");
    struct jt808_location loc = {
        .status = JT808_STATUS_ACC | JT808_STATUS_POSITIONED | JT808_STATUS_BEIDOU,
        .lat = 36.181234 + serial * 1e-6, .lon = 118.171234, .altitude_m = 70,
        .speed_kmh = 42.5, .heading = 90,
        .present = JT808_HAS_MILEAGE | JT808_HAS_FUEL | JT808_HAS_SIGNAL | JT808_HAS_SATELLITES |
                   JT808_HAS_IO | JT808_HAS_EXT_SIGNALS,
        .mileage_km = 12345.6, .fuel_l = 80.5, .signal = 25, .satellites = 12,
    };
    jt808_time_from_utc_ms(1772692259000LL + serial * 1000LL, &loc.time);
    size_t k = 0;
    if (jt808_encode_0200(&a, serial, &loc, out, cap, &k) != PW_OK)
        abort();
    return k;
}

static double bench_decode(int edition)
{
    enum { N = 64 };
    static uint8_t frames[N][256];
    size_t lens[N];
    for (int i = 0; i < N; i++)
        lens[i] = make_0200(edition, (uint16_t)(i * 1031), frames[i], sizeof frames[i]);
    static struct jt808_frame f;
    struct jt808_location l;
    long iters = 0;
    double acc = 0;
    int64_t t0 = pw_mono_ns(), t;
    do {
        for (int r = 0; r < 10000; r++) {
            const uint8_t *p = frames[r % N];
            size_t n;
            if (jt808_scan(p, lens[r % N], &n) != JT808_SCAN_FRAME ||
                jt808_frame_decode(p, n, &f) != PW_OK ||
                jt808_decode_location(f.body, f.body_len, &l) != PW_OK)
                abort();
            acc += l.lat;
        }
        iters += 10000;
        t = pw_mono_ns();
    } while (t - t0 < 1000000000LL);
    sink = acc;
    return iters / ((t - t0) / 1e9);
}

static double bench_encode(void)
{
    struct jt808_addr a = {.edition = JT808_2019, .proto_version = 1};
    snprintf(a.phone, sizeof a.phone, "13912345678");
    uint8_t out[64];
    size_t k, total = 0;
    long iters = 0;
    int64_t t0 = pw_mono_ns(), t;
    do {
        for (int r = 0; r < 10000; r++) {
            if (jt808_encode_8001(&a, (uint16_t)r, (uint16_t)(r * 7), 0x0200, 0, out, sizeof out,
                                  &k) != PW_OK)
                abort();
            total += k;
        }
        iters += 10000;
        t = pw_mono_ns();
    } while (t - t0 < 1000000000LL);
    sink = (double)total;
    return iters / ((t - t0) / 1e9);
}

static double bench_stream(void)
{
    enum { N = 4096 };
    uint8_t *buf = malloc(N * 256);
    size_t len = 0;
    for (int i = 0; i < N; i++)
        len += make_0200(i & 1, (uint16_t)i, buf + len, 256);
    static struct jt808_frame f;
    struct jt808_location l;
    size_t bytes = 0;
    int64_t t0 = pw_mono_ns(), t;
    do {
        size_t off = 0, n;
        while (off < len) {
            if (jt808_scan(buf + off, len - off, &n) == JT808_SCAN_FRAME &&
                jt808_frame_decode(buf + off, n, &f) == PW_OK &&
                jt808_decode_location(f.body, f.body_len, &l) == PW_OK)
                sink = l.lon;
            off += n;
        }
        bytes += len;
        t = pw_mono_ns();
    } while (t - t0 < 1000000000LL);
    free(buf);
    return bytes / ((t - t0) / 1e9) / 1e6;
}

int main(void)
{
    printf("jt808_decode_0200 %.3g frames/s\n", bench_decode(JT808_2019));
    printf("jt808_decode_0200_2013 %.3g frames/s\n", bench_decode(JT808_2013));
    printf("jt808_encode_8001 %.3g frames/s\n", bench_encode());
    printf("jt808_stream_0200 %.0f MB/s\n", bench_stream());
    return 0;
}
