/* Benchmark of the HJ 212 codec, single-threaded. Prints `name value unit` lines:
 *   hj212_decode_2051      frames/s decoding a typical minute-data frame (stack CEMS, 8 factors
 *                          x Cou/Min/Avg/Max/Flag = 40 items, ~800 bytes), CRC check included
 *   hj212_scan_decode_2051 the same through hj212_scan() on a stream of such frames
 *   hj212_decode_2051_mb   the decode rate in MB/s of frame bytes
 *   hj212_encode_9014      reply frames/s
 *   hj212_encode_2051      upload frames/s (the simulator's path)
 *   hj212_crc16            MB/s
 * Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so the figures are per core even on
 * a busy machine. */
#include "base/err.h"
#include "proto/hj212.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct hj212_msg msg;
static volatile double sink;

static const char *const codes[] = {"a21026", "a21002", "a34013", "a19001",
                                    "a01012", "a01013", "a01014", "a00000"};

static size_t make_2051(char *out, size_t cap, struct hj212_value *v, size_t *nv)
{
    static const enum hj212_suffix sfx[] = {HJ212_SFX_COU, HJ212_SFX_MIN, HJ212_SFX_AVG,
                                            HJ212_SFX_MAX, HJ212_SFX_FLAG};
    size_t k = 0;
    for (size_t c = 0; c < 8; c++)
        for (size_t s = 0; s < 5; s++)
            v[k++] = (struct hj212_value){
                codes[c], sfx[s], NULL, 12.345 * (double)(c + 1) + s, 3, s == 4 ? "N" : NULL};
    *nv = k;
    struct hj212_datetime dt;
    hj212_datetime_parse("20260301101000", 14, &dt);
    struct hj212_upload u = {"20260301101100123",
                             31,
                             2051,
                             "123456",
                             "010000A8900016F000169DC0",
                             HJ212_ED_2017,
                             true,
                             false,
                             &dt,
                             v,
                             k,
                             2048};
    size_t n, np;
    if (hj212_encode_upload(out, cap, &n, &np, &u) != PW_OK || np != 1) {
        fprintf(stderr, "bench: encode failed\n");
        exit(1);
    }
    return n;
}

int main(void)
{
    static char frame[HJ212_MAX_FRAME + 1], out[HJ212_MAX_FRAME + 1];
    static struct hj212_value v[64];
    size_t nv, flen = make_2051(frame, sizeof frame, v, &nv);

    /* decode */
    size_t iters = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 1000; i++) {
            if (hj212_decode(frame, flen, NULL, &msg, NULL) != HJ212_OK)
                return 1;
            sink += msg.items[2].value;
        }
        iters += 1000;
        t = now_s() - t0;
    } while (t < 2.0);
    if (msg.n_items != 40)
        return 1;
    printf("hj212_decode_2051 %.3g frames/s\n", (double)iters / t);
    printf("hj212_decode_2051_mb %.0f MB/s\n", (double)iters * (double)flen / t / 1e6);
    printf("hj212_frame_2051_bytes %zu bytes\n", flen);

    /* scan + decode over a stream buffer */
    static char stream[64 * HJ212_MAX_FRAME];
    size_t per = sizeof stream / flen, slen = per * flen;
    for (size_t i = 0; i < per; i++)
        memcpy(stream + i * flen, frame, flen);
    iters = 0;
    t0 = now_s();
    do {
        size_t off = 0, n;
        while (hj212_scan(stream + off, slen - off, &n, NULL) == HJ212_SCAN_FRAME) {
            if (hj212_decode(stream + off, n, NULL, &msg, NULL) != HJ212_OK)
                return 1;
            sink += msg.items[0].value;
            off += n;
            iters++;
        }
        t = now_s() - t0;
    } while (t < 1.0);
    printf("hj212_scan_decode_2051 %.3g frames/s\n", (double)iters / t);

    /* replies */
    iters = 0;
    t0 = now_s();
    do {
        for (int i = 0; i < 1000; i++) {
            size_t n;
            if (hj212_encode_9014(out, sizeof out, &n, &msg) != PW_OK)
                return 1;
            sink += (double)n;
        }
        iters += 1000;
        t = now_s() - t0;
    } while (t < 1.0);
    printf("hj212_encode_9014 %.3g frames/s\n", (double)iters / t);

    /* uploads */
    iters = 0;
    t0 = now_s();
    do {
        for (int i = 0; i < 100; i++)
            sink += (double)make_2051(out, sizeof out, v, &nv);
        iters += 100;
        t = now_s() - t0;
    } while (t < 1.0);
    printf("hj212_encode_2051 %.3g frames/s\n", (double)iters / t);

    /* CRC */
    iters = 0;
    t0 = now_s();
    do {
        sink += hj212_crc16(stream, slen);
        iters++;
        t = now_s() - t0;
    } while (t < 0.5);
    printf("hj212_crc16 %.0f MB/s\n", (double)iters * (double)slen / t / 1e6);
    return 0;
}
