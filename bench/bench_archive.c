/* bench_archive.c — archive figures, printed as `name value unit` lines.
 *
 *   archive_append             leaves/s appended and written (HJ 212 frames of ~190 bytes with
 *                              their leaf header; archive_write every 256 leaves, no fsync)
 *   archive_open_verified_prefix  ms to open 1 M leaves after a clean shutdown (only what follows
 *                              the verified prefix is re-hashed, plus spot checks)
 *   archive_open_scan          leaves/s re-read and re-hashed at open without a verified prefix
 *                              (what `parkwatch archive verify` does to every entry)
 *   archive_inclusion_proof    proofs/s built from the stored hash tiles (random leaves)
 *   archive_checkpoint_sign    checkpoints/s signed (Ed25519) and stored, fsync off
 *   archive_sha256_{node,leaf}_{libcrypto,libsodium}
 *                              SHA-256 of a tree node (65 bytes) and of a 200-byte leaf with
 *                              OpenSSL's libcrypto (SHA-NI where the CPU has it; what the archive
 *                              uses) and libsodium's portable code; median of 5 runs
 * Data goes to $TMPDIR (or /tmp). */
#include "archive/archive.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"

#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEAVES 1000000

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void die(const char *what, int rc, const char *err)
{
    fprintf(stderr, "bench_archive: %s: %s %s\n", what, pw_strerror(rc), err ? err : "");
    exit(1);
}

static void quiet(const char *line, size_t len, void *arg)
{
}

static struct archive *open_at(const char *dir, const char *key)
{
    struct archive_opts o;
    archive_opts_init(&o);
    o.dir = dir;
    o.key_file = key;
    o.origin = "archive.parkwatch.bench";
    o.fsync = false;
    o.checkpoint_interval_ms = 0;
    struct archive *a = NULL;
    char err[256] = "";
    int rc = archive_open(&o, &a, err, sizeof err);
    if (rc != PW_OK)
        die("open", rc, err);
    return a;
}

typedef void (*sha_fn)(const void *, size_t, const void *, size_t, uint8_t *);

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* hashes/s of fn over len-byte inputs, the median of 5 runs of 0.2 s */
static double sha_rate(sha_fn fn, size_t len)
{
    uint8_t buf[256], out[ARCHIVE_HASH];
    memset(buf, 0x5a, sizeof buf);
    double r[5];
    for (int k = 0; k < 5; k++) {
        int64_t t0 = pw_mono_ns();
        long n = 0;
        while (pw_mono_ns() - t0 < 200000000LL) {
            for (int i = 0; i < 1000; i++) {
                buf[0] = (uint8_t)i;
                fn(buf, len, NULL, 0, out);
                buf[1] ^= out[0];
            }
            n += 1000;
        }
        r[k] = n / ((double)(pw_mono_ns() - t0) / 1e9);
    }
    qsort(r, 5, sizeof r[0], cmp_d);
    return r[2];
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    pw_log_set_sink(quiet, NULL);
    const char *t = getenv("TMPDIR");
    char root[256], dir[300], key[300];
    snprintf(root, sizeof root, "%s/pwbench-archive-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(root))
        return 1;
    snprintf(dir, sizeof dir, "%s/archive", root);
    snprintf(key, sizeof key, "%s/key", root);

    static const struct {
        const char *name;
        sha_fn fn;
        size_t len;
    } shas[] = {{"archive_sha256_node_libcrypto", archive_sha256_2, 65},
                {"archive_sha256_node_libsodium", archive_sha256_sodium, 65},
                {"archive_sha256_leaf_libcrypto", archive_sha256_2, 200},
                {"archive_sha256_leaf_libsodium", archive_sha256_sodium, 200}};
    for (size_t i = 0; i < sizeof shas / sizeof shas[0]; i++)
        printf("%s %.0f hashes/s\n", shas[i].name, sha_rate(shas[i].fn, shas[i].len));

    struct archive *a = open_at(dir, key);
    uint8_t leaf[512];
    int64_t t0 = pw_mono_ns();
    for (int i = 0; i < LEAVES; i++) {
        char frame[256];
        int fl = snprintf(frame, sizeof frame,
                          "##0163QN=20261124080000%03d;ST=22;CN=2011;PW=123456;MN=BENCH%04d;"
                          "Flag=5;CP=&&DataTime=20261124080000;a21026-Rtd=%d.5,a21026-Flag=N;"
                          "a34004-Rtd=35,a34004-Flag=N&&1C80\r\n",
                          i % 1000, i % 5000, i % 97);
        size_t ll = archive_leaf_encode(leaf, sizeof leaf, ARCHIVE_KIND_HJ212_RX, 1764000000000 + i,
                                        "192.0.2.7:40211", frame, (size_t)fl);
        if (archive_append(a, leaf, ll) < 0)
            die("append", PW_ETOOBIG, NULL);
        if ((i & 255) == 255 && archive_write(a) != PW_OK)
            die("write", PW_EIO, NULL);
    }
    if (archive_write(a) != PW_OK)
        die("write", PW_EIO, NULL);
    double s = (double)(pw_mono_ns() - t0) / 1e9;
    printf("archive_append %.0f leaves/s\n", LEAVES / s);
    t0 = pw_mono_ns();
    int signs = 0;
    while (pw_mono_ns() - t0 < 500000000LL) {
        if (archive_checkpoint_maybe(a, pw_now_ms() + signs, true) != PW_OK)
            die("sign", PW_EIO, NULL);
        signs++;
    }
    printf("archive_checkpoint_sign %.0f checkpoints/s\n",
           signs / ((double)(pw_mono_ns() - t0) / 1e9));
    archive_close(a);

    /* a start after a clean shutdown: the verified prefix, spot checks */
    t0 = pw_mono_ns();
    a = open_at(dir, key);
    s = (double)(pw_mono_ns() - t0) / 1e9;
    if (!archive_integrity_ok(a) || archive_written(a) != LEAVES ||
        archive_open_verified_prefix(a) != LEAVES)
        die("reopen", PW_ECORRUPT, NULL);
    printf("archive_open_verified_prefix %.1f ms (%d leaves, %llu re-hashed in spot checks)\n",
           s * 1e3, LEAVES, (unsigned long long)archive_open_rehashed(a));
    archive_close(a);
    /* without the state (a first start after an upgrade, or a state that does not authenticate):
     * every entry */
    char vpath[400];
    snprintf(vpath, sizeof vpath, "%s/verified", dir);
    unlink(vpath);
    t0 = pw_mono_ns();
    a = open_at(dir, key);
    s = (double)(pw_mono_ns() - t0) / 1e9;
    if (!archive_integrity_ok(a) || archive_open_rehashed(a) != LEAVES)
        die("reopen", PW_ECORRUPT, NULL);
    printf("archive_open_scan %.0f leaves/s\n", LEAVES / s);

    uint8_t proof[ARCHIVE_MAX_PROOF][ARCHIVE_HASH];
    size_t n;
    int proofs = 0;
    t0 = pw_mono_ns();
    while (pw_mono_ns() - t0 < 500000000LL) {
        if (archive_prove(a, randombytes_uniform(LEAVES), LEAVES, proof, &n) != PW_OK)
            die("prove", PW_EIO, NULL);
        proofs++;
    }
    printf("archive_inclusion_proof %.0f proofs/s\n", proofs / ((double)(pw_mono_ns() - t0) / 1e9));
    archive_close(a);
    nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
