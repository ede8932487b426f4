/* Unit tests for the archive's pure parts: the RFC 6962 tree and proofs (against the RFC's
 * vectors and an independent naive implementation written here from the RFC's recursive
 * definitions), c2sp signed notes (the Go x/mod note example reproduced byte for byte),
 * checkpoints, cosignatures, receipts, tile paths, and the cross-implementation vector of
 * docs/archive.md (70,000 HJ 212 leaves, its roots, vkey and exact signature line). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "archive/archive.h"

#include "base/err.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex2bin(const char *hex, uint8_t *out, size_t n)
{
    size_t bl = 0;
    assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, &bl, NULL), 0);
    assert_int_equal(bl, n);
}

static void b64_of(const uint8_t *h, size_t n, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, h, n, sodium_base64_VARIANT_ORIGINAL);
}

/* ---- the naive reference: RFC 6962 §2.1 straight from the definitions ---- */

static uint64_t naive_k(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

static void naive_mth(uint8_t (*lh)[32], uint64_t lo, uint64_t hi, uint8_t out[32])
{
    if (hi - lo == 1) {
        memcpy(out, lh[lo], 32);
        return;
    }
    uint64_t k = naive_k(hi - lo);
    uint8_t l[32], r[32], buf[65];
    naive_mth(lh, lo, lo + k, l);
    naive_mth(lh, lo + k, hi, r);
    buf[0] = 1;
    memcpy(buf + 1, l, 32);
    memcpy(buf + 33, r, 32);
    crypto_hash_sha256(out, buf, 65);
}

/* PATH(m, D[lo:hi]) appended to out. */
static void naive_path(uint8_t (*lh)[32], uint64_t m, uint64_t lo, uint64_t hi, uint8_t (*out)[32],
                       size_t *n)
{
    if (hi - lo <= 1)
        return;
    uint64_t k = naive_k(hi - lo);
    if (m < k) {
        naive_path(lh, m, lo, lo + k, out, n);
        naive_mth(lh, lo + k, hi, out[(*n)++]);
    } else {
        naive_path(lh, m - k, lo + k, hi, out, n);
        naive_mth(lh, lo, lo + k, out[(*n)++]);
    }
}

/* SUBPROOF(m, D[lo:hi], b). */
static void naive_subproof(uint8_t (*lh)[32], uint64_t m, uint64_t lo, uint64_t hi, bool b,
                           uint8_t (*out)[32], size_t *n)
{
    if (m == hi - lo) {
        if (!b)
            naive_mth(lh, lo, hi, out[(*n)++]);
        return;
    }
    uint64_t k = naive_k(hi - lo);
    if (m <= k) {
        naive_subproof(lh, m, lo, lo + k, b, out, n);
        naive_mth(lh, lo + k, hi, out[(*n)++]);
    } else {
        naive_subproof(lh, m - k, lo + k, hi, false, out, n);
        naive_mth(lh, lo, lo + k, out[(*n)++]);
    }
}

/* subtree source for the module: complete subtrees from the leaf hashes */
static int naive_get(void *ctx, int level, uint64_t index, uint8_t out[32])
{
    uint8_t(*lh)[32] = ctx;
    uint64_t lo = index << level;
    naive_mth(lh, lo, lo + (1ull << level), out);
    return PW_OK;
}

/* ---- RFC 6962 vectors ---- */

static const char *const rfc_leaves[8] = {"",
                                          "00",
                                          "10",
                                          "2021",
                                          "3031",
                                          "40414243",
                                          "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f"};
static const char *const rfc_roots[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

static void test_rfc6962_roots(void **state)
{
    (void)state;
    struct archive_frontier f;
    archive_frontier_init(&f);
    uint8_t root[32], want[32], leaf[16];
    archive_frontier_root(&f, root);
    hex2bin("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, 32);
    assert_memory_equal(root, want, 32);
    for (int i = 0; i < 8; i++) {
        size_t n = strlen(rfc_leaves[i]) / 2;
        if (n)
            hex2bin(rfc_leaves[i], leaf, n);
        uint8_t lh[32];
        archive_leaf_hash(leaf, n, lh);
        archive_frontier_push(&f, lh, NULL, NULL);
        archive_frontier_root(&f, root);
        hex2bin(rfc_roots[i], want, 32);
        assert_memory_equal(root, want, 32);
    }
}

/* ---- proofs against the naive implementation ---- */

static void check_tree(uint8_t (*lh)[32], uint64_t size, uint64_t samples)
{
    uint8_t root[32], root2[32];
    naive_mth(lh, 0, size, root);
    assert_int_equal(archive_root_from(naive_get, lh, size, root2), PW_OK);
    assert_memory_equal(root, root2, 32);
    uint8_t want[ARCHIVE_MAX_PROOF][32], got[ARCHIVE_MAX_PROOF][32];
    for (uint64_t s = 0; s < samples; s++) {
        uint64_t idx = samples >= size ? s : randombytes_uniform((uint32_t)size);
        if (idx >= size)
            break;
        size_t nw = 0, ng = 0;
        naive_path(lh, idx, 0, size, want, &nw);
        assert_int_equal(archive_inclusion_proof(naive_get, lh, idx, size, got, &ng), PW_OK);
        assert_int_equal(ng, nw);
        assert_int_equal(archive_inclusion_len(idx, size), nw);
        if (nw)
            assert_memory_equal(got, want, nw * 32);
        const uint8_t(*pr)[32] = (const uint8_t(*)[32])got;
        assert_int_equal(archive_inclusion_verify(idx, size, lh[idx], pr, ng, root), PW_OK);
        /* wrong length, wrong leaf, flipped bit, wrong index */
        if (ng > 0) {
            assert_int_equal(archive_inclusion_verify(idx, size, lh[idx], pr, ng - 1, root),
                             PW_EPROTO);
            got[ng / 2][7] ^= 0x10;
            assert_int_equal(archive_inclusion_verify(idx, size, lh[idx], pr, ng, root), PW_EPROTO);
            got[ng / 2][7] ^= 0x10;
        }
        memcpy(got[ng], got[0], 32);
        assert_int_equal(archive_inclusion_verify(idx, size, lh[idx], pr, ng + 1, root), PW_EPROTO);
        assert_int_equal(archive_inclusion_verify(idx, size, lh[(idx + 1) % size], pr, ng, root),
                         size > 1 ? PW_EPROTO : PW_OK);
        if (size > 1)
            assert_int_not_equal(
                archive_inclusion_verify((idx + 1) % size, size, lh[idx], pr, ng, root), PW_OK);
        assert_int_equal(archive_inclusion_verify(size, size, lh[idx], pr, ng, root), PW_EINVAL);

        /* consistency from a random (or every) older size */
        uint64_t old = samples >= size ? s + 1 : 1 + randombytes_uniform((uint32_t)size);
        if (old > size)
            continue;
        uint8_t old_root[32];
        naive_mth(lh, 0, old, old_root);
        nw = 0;
        if (old < size)
            naive_subproof(lh, old, 0, size, true, want, &nw);
        assert_int_equal(archive_consistency_proof(naive_get, lh, old, size, got, &ng), PW_OK);
        assert_int_equal(ng, nw);
        assert_int_equal(archive_consistency_len(old, size), nw);
        if (nw)
            assert_memory_equal(got, want, nw * 32);
        assert_int_equal(archive_consistency_verify(old, size, old_root, root, pr, ng), PW_OK);
        if (ng > 0) {
            assert_int_equal(archive_consistency_verify(old, size, old_root, root, pr, ng - 1),
                             PW_EPROTO);
            got[ng - 1][0] ^= 1;
            assert_int_equal(archive_consistency_verify(old, size, old_root, root, pr, ng),
                             PW_EPROTO);
            got[ng - 1][0] ^= 1;
            assert_int_equal(archive_consistency_verify(old, size, root, root, pr, ng),
                             old == size ? PW_OK : PW_EPROTO);
        }
        memcpy(got[ng], root, 32);
        assert_int_equal(archive_consistency_verify(old, size, old_root, root, pr, ng + 1),
                         PW_EPROTO);
    }
    assert_int_equal(archive_consistency_verify(0, size, root, root, NULL, 0), PW_EINVAL);
}

static void test_proofs_random(void **state)
{
    (void)state;
    enum { MAX = 1100 };
    uint8_t(*lh)[32] = malloc(MAX * 32);
    for (int i = 0; i < MAX; i++) {
        char leaf[32];
        int n = snprintf(leaf, sizeof leaf, "leaf %d", i);
        archive_leaf_hash(leaf, (size_t)n, lh[i]);
    }
    /* every index and old size of every tree up to 40 leaves */
    for (uint64_t size = 1; size <= 40; size++)
        check_tree(lh, size, size);
    /* random sizes, random indices */
    for (int t = 0; t < 30; t++)
        check_tree(lh, 41 + randombytes_uniform(MAX - 41), 12);
    check_tree(lh, 1024, 20);
    check_tree(lh, 1025, 20);
    free(lh);
}

/* the frontier's completion callback reports exactly the complete subtrees */
struct completes {
    uint8_t (*lh)[32];
    int calls;
};

static void on_complete(int level, uint64_t index, const uint8_t h[32], void *arg)
{
    struct completes *c = arg;
    uint8_t want[32];
    naive_get(c->lh, level, index, want);
    assert_memory_equal(h, want, 32);
    c->calls++;
}

static void test_frontier_completions(void **state)
{
    (void)state;
    uint8_t(*lh)[32] = malloc(600 * 32);
    struct completes c = {lh, 0};
    struct archive_frontier f;
    archive_frontier_init(&f);
    for (int i = 0; i < 600; i++) {
        archive_leaf_hash(&i, sizeof i, lh[i]);
        archive_frontier_push(&f, lh[i], on_complete, &c);
        uint8_t r1[32], r2[32];
        archive_frontier_root(&f, r1);
        naive_mth(lh, 0, (uint64_t)i + 1, r2);
        assert_memory_equal(r1, r2, 32);
    }
    /* one completion per node of every complete subtree: sum over levels of floor(600/2^l) */
    int want = 0;
    for (int l = 0; l < 12; l++)
        want += 600 >> l;
    assert_int_equal(c.calls, want);
    free(lh);
}

/* ---- signed notes ---- */

static void test_note_go_example(void **state)
{
    (void)state;
    /* the Go x/mod sumdb/note example: PRIVATE+KEY+PeterNeumann+c74f20a3+<base64(0x01||seed)> */
    uint8_t raw[33];
    size_t rl = 0;
    const char *skey = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    assert_int_equal(sodium_base642bin(raw, sizeof raw, skey, strlen(skey), NULL, &rl, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(rl, 33);
    struct archive_key k;
    assert_int_equal(archive_key_from_seed(&k, "PeterNeumann", raw + 1), PW_OK);
    char vkey[256];
    archive_vkey_format(&k, vkey, sizeof vkey);
    assert_string_equal(vkey, "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    const char *text = "If you think cryptography is the answer to your problem,\n"
                       "then you don't know what your problem is.\n";
    const char *want = "If you think cryptography is the answer to your problem,\n"
                       "then you don't know what your problem is.\n"
                       "\n"
                       "\xE2\x80\x94 PeterNeumann "
                       "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKv"
                       "qfqdngotpRZb6KE6RyyBwJnAM=\n";
    struct pw_buf out;
    pw_buf_init(&out, 0);
    assert_int_equal(archive_note_sign(&k, text, strlen(text), &out), PW_OK);
    assert_string_equal(out.data, want);

    /* verify with the parsed verifier key */
    struct archive_key v;
    char err[128];
    assert_int_equal(archive_vkey_parse(vkey, &v, err, sizeof err), PW_OK);
    assert_false(v.has_sk);
    size_t tl = 0;
    assert_int_equal(archive_note_verify(&v, want, strlen(want), &tl), PW_OK);
    assert_int_equal(tl, strlen(text));
    /* a changed text, a changed signature, another key */
    char bad[512];
    snprintf(bad, sizeof bad, "%s", want);
    bad[3] = 'X';
    assert_int_equal(archive_note_verify(&v, bad, strlen(bad), NULL), PW_EAUTH);
    struct archive_key other;
    uint8_t seed[32] = {1};
    archive_key_from_seed(&other, "PeterNeumann", seed);
    assert_int_equal(archive_note_verify(&other, want, strlen(want), NULL), PW_ENOTFOUND);
    assert_int_equal(archive_note_verify(&v, text, strlen(text), NULL), PW_EPROTO);
    /* bad verifier keys */
    assert_int_equal(archive_vkey_parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
                                        "LDE4izWy10TW",
                                        &v, err, sizeof err),
                     PW_EINVAL);
    assert_int_equal(archive_vkey_parse("nope", &v, err, sizeof err), PW_EINVAL);
    /* texts that are not notes */
    assert_int_equal(archive_note_sign(&k, "a\n\nb\n", 5, &out), PW_EINVAL);
    assert_int_equal(archive_note_sign(&k, "no newline", 10, &out), PW_EINVAL);
    pw_buf_release(&out);
}

static void test_cosignature(void **state)
{
    (void)state;
    uint8_t seed[32];
    memset(seed, 9, sizeof seed);
    struct archive_key w;
    assert_int_equal(archive_key_from_seed(&w, "witness.example", seed), PW_OK);
    const char *cp = "log.example\n5\nXtrMUGRWp6I1D8Uv/FUzjTfvM3BgaR6r4uLbF/c+Udw=\n";
    struct pw_buf out;
    pw_buf_init(&out, 0);
    pw_buf_puts(&out, cp);
    pw_buf_putc(&out, '\n');
    archive_cosign(&w, cp, strlen(cp), 1700000000, &out);
    uint64_t t = 0;
    assert_int_equal(archive_cosign_verify(w.name, w.pk, out.data, out.len, &t), PW_OK);
    assert_int_equal(t, 1700000000);
    /* payload: key ID (type 0x04), time, signature: 76 bytes -> 104 base64 characters */
    const char *line = strstr(out.data, "\xE2\x80\x94 witness.example ");
    assert_non_null(line);
    assert_int_equal(strlen(line), 4 + 16 + 104 + 1);
    assert_int_not_equal(archive_cosign_key_id(w.name, w.pk), w.id);
    out.data[2] = 'X';
    assert_int_equal(archive_cosign_verify(w.name, w.pk, out.data, out.len, &t), PW_EAUTH);
    pw_buf_release(&out);
}

/* ---- tiles ---- */

static void test_tile_paths(void **state)
{
    (void)state;
    char p[64];
    assert_true(archive_tile_path(0, 1234067, 256, p, sizeof p) > 0);
    assert_string_equal(p, "tile/0/x001/x234/067");
    archive_tile_path(0, 273, 112, p, sizeof p);
    assert_string_equal(p, "tile/0/273.p/112");
    archive_tile_path(1, 1, 17, p, sizeof p);
    assert_string_equal(p, "tile/1/001.p/17");
    archive_tile_path(2, 0, 1, p, sizeof p);
    assert_string_equal(p, "tile/2/000.p/1");
    archive_tile_path(-1, 1000, 256, p, sizeof p);
    assert_string_equal(p, "tile/entries/x001/000");
    assert_int_equal(archive_tile_path(0, 1, 0, p, sizeof p), 0);

    int l;
    uint64_t n;
    unsigned w;
    assert_int_equal(archive_tile_parse("0/x001/x234/067", &l, &n, &w), PW_OK);
    assert_int_equal(l, 0);
    assert_int_equal(n, 1234067);
    assert_int_equal(w, 256);
    assert_int_equal(archive_tile_parse("entries/273.p/112", &l, &n, &w), PW_OK);
    assert_int_equal(l, -1);
    assert_int_equal(n, 273);
    assert_int_equal(w, 112);
    static const char *const bad[] = {
        "0/1",         "0/0001",   "0/x000/001", "0/273.p/0", "0/273.p/256",
        "0/273.p/012", "00/000",   "0/000/",     "x/000",     "0/x001",
        "64/000",      "0/273.p/", "entries/",   "0/-01",     ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(archive_tile_parse(bad[i], &l, &n, &w), PW_EINVAL);

    /* the largest indices need seven groups (found by fuzz_archive_parse) */
    char big[64];
    assert_true(archive_tile_path(0, UINT64_MAX, 256, big, sizeof big) > 0);
    assert_string_equal(big, "tile/0/x018/x446/x744/x073/x709/x551/615");
    assert_int_equal(archive_tile_parse(big + 5, &l, &n, &w), PW_OK);
    assert_true(n == UINT64_MAX);
    assert_int_equal(archive_tile_parse("0/x018/x446/x744/x073/x709/x551/616", &l, &n, &w),
                     PW_EINVAL);

    /* size 70,000: 273 full level-0 tiles, 0/273.p/112, 1/000, 1/001.p/17, 2/000.p/1 */
    assert_int_equal(archive_tile_width(0, 272, 70000), 256);
    assert_int_equal(archive_tile_width(0, 273, 70000), 112);
    assert_int_equal(archive_tile_width(0, 274, 70000), 0);
    assert_int_equal(archive_tile_width(1, 0, 70000), 256);
    assert_int_equal(archive_tile_width(1, 1, 70000), 17);
    assert_int_equal(archive_tile_width(2, 0, 70000), 1);
    assert_int_equal(archive_tile_width(3, 0, 70000), 0);
    assert_int_equal(archive_tile_width(-1, 273, 70000), 112);
}

/* ---- the cross-implementation vector ---- */

static void test_cross_vector(void **state)
{
    (void)state;
    enum { N = 70000 };
    uint8_t seed[32];
    memset(seed, 7, sizeof seed);
    struct archive_key k;
    assert_int_equal(archive_key_from_seed(&k, "parkwatch.example/archive", seed), PW_OK);
    char vkey[256];
    archive_vkey_format(&k, vkey, sizeof vkey);
    assert_string_equal(vkey, "parkwatch.example/archive+1fdbbc7e+"
                              "AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs");
    uint8_t(*lh)[32] = malloc((size_t)N * 32);
    struct archive_frontier f;
    archive_frontier_init(&f);
    char b64[64];
    uint8_t root[32];
    for (int i = 0; i < N; i++) {
        char leaf[64];
        int n = snprintf(leaf, sizeof leaf, "##ST=22;CN=2011;MN=TEST%04d;Flag=N;&&", i);
        archive_leaf_hash(leaf, (size_t)n, lh[i]);
        archive_frontier_push(&f, lh[i], NULL, NULL);
        if (i + 1 == 20852) {
            archive_frontier_root(&f, root);
            b64_of(root, 32, b64, sizeof b64);
            assert_string_equal(b64, "J3vpE67kM3dli9/1MCVwHLhvV/s01y4P64E6p9tp/fE=");
        }
    }
    archive_frontier_root(&f, root);
    b64_of(root, 32, b64, sizeof b64);
    assert_string_equal(b64, "+QS/Betuax6Nnx+qazsP0ImsqLj0ktHyE6BXLRS3y5A=");

    struct archive_checkpoint cp = {.size = N};
    snprintf(cp.origin, sizeof cp.origin, "parkwatch.example/archive");
    memcpy(cp.root, root, 32);
    struct pw_buf text, note;
    pw_buf_init(&text, 0);
    pw_buf_init(&note, 0);
    archive_checkpoint_text(&cp, &text);
    assert_string_equal(text.data, "parkwatch.example/archive\n70000\n"
                                   "+QS/Betuax6Nnx+qazsP0ImsqLj0ktHyE6BXLRS3y5A=\n");
    assert_int_equal(archive_note_sign(&k, text.data, text.len, &note), PW_OK);
    const char *sig = note.data + text.len + 1;
    assert_string_equal(sig, "\xE2\x80\x94 parkwatch.example/archive H9u8fkRU2k64AHXpXG61zj0ijarM5J"
                             "QaohqKcTEimti1/jyfMw7KjV5b4To0SXQBbhvetEytQQ7is7UFQrI2c0XsDQg=\n");
    struct archive_checkpoint back;
    char err[128];
    assert_int_equal(archive_checkpoint_parse(text.data, text.len, &back, err, sizeof err), PW_OK);
    /* found by fuzz_archive_parse: a control character in the origin, a root that is not the
     * canonical base64 of its bytes */
    static const char nul_origin[] =
        "park\x01watch\n1\n+QS/Betuax6Nnx+qazsP0ImsqLj0ktHyE6BXLRS3y5A=\n";
    assert_int_equal(
        archive_checkpoint_parse(nul_origin, sizeof nul_origin - 1, &back, err, sizeof err),
        PW_EPROTO);
    static const char loose[] = "park\n1\n+QS/Betuax6Nnx+qazsP0ImsqLj0ktHyE6BXLRS3y5B=\n";
    assert_int_equal(archive_checkpoint_parse(loose, sizeof loose - 1, &back, err, sizeof err),
                     PW_EPROTO);
    assert_int_equal(back.size, N);
    assert_memory_equal(back.root, root, 32);

    /* a receipt for entry 12,345 against this checkpoint */
    uint8_t proof[ARCHIVE_MAX_PROOF][32];
    size_t np = 0;
    assert_int_equal(archive_inclusion_proof(naive_get, lh, 12345, N, proof, &np), PW_OK);
    struct pw_buf rec;
    pw_buf_init(&rec, 0);
    archive_receipt_format(12345, (const uint8_t(*)[32])proof, np, note.data, note.len, NULL, 0,
                           &rec);
    assert_true(strncmp(rec.data, "c2sp.org/tlog-proof@v1\nindex 12345\n", 35) == 0);
    char leaf[64];
    int ll = snprintf(leaf, sizeof leaf, "##ST=22;CN=2011;MN=TEST%04d;Flag=N;&&", 12345);
    assert_int_equal(
        archive_receipt_verify(&k, NULL, rec.data, rec.len, leaf, (size_t)ll, err, sizeof err),
        PW_OK);
    /* with the leaf in the optional extra line */
    struct pw_buf rx;
    pw_buf_init(&rx, 0);
    archive_receipt_format(12345, (const uint8_t(*)[32])proof, np, note.data, note.len, leaf,
                           (size_t)ll, &rx);
    assert_true(strncmp(rx.data, "c2sp.org/tlog-proof@v1\nextra ", 29) == 0);
    assert_int_equal(
        archive_receipt_verify(&k, NULL, rx.data, rx.len, leaf, (size_t)ll, err, sizeof err),
        PW_OK);
    pw_buf_release(&rx);
    /* the data flag flipped N -> D: rejected */
    leaf[ll - 4] = 'D';
    assert_int_equal(
        archive_receipt_verify(&k, NULL, rec.data, rec.len, leaf, (size_t)ll, err, sizeof err),
        PW_EPROTO);
    leaf[ll - 4] = 'N';
    /* a truncated proof (one hash line less) */
    char *second = strchr(strchr(rec.data, '\n') + 1, '\n') + 1; /* first hash line */
    char *after = strchr(second, '\n') + 1;
    memmove(second, after, strlen(after) + 1);
    assert_int_equal(archive_receipt_verify(&k, NULL, rec.data, strlen(rec.data), leaf, (size_t)ll,
                                            err, sizeof err),
                     PW_EPROTO);
    /* a wrong key */
    uint8_t seed2[32];
    memset(seed2, 8, sizeof seed2);
    struct archive_key k2;
    archive_key_from_seed(&k2, "parkwatch.example/archive", seed2);
    pw_buf_reset(&rec);
    archive_receipt_format(12345, (const uint8_t(*)[32])proof, np, note.data, note.len, NULL, 0,
                           &rec);
    assert_int_equal(
        archive_receipt_verify(&k2, NULL, rec.data, rec.len, leaf, (size_t)ll, err, sizeof err),
        PW_EAUTH);
    pw_buf_release(&rec);
    pw_buf_release(&text);
    pw_buf_release(&note);
    free(lh);
}

/* libcrypto's SHA-256 (SHA-NI) and libsodium's give the same bytes for every length around the
 * block boundaries, split anywhere, on the main thread and on others (one EVP context each). */
static void *sha_thread(void *arg)
{
    uint8_t buf[300], x[ARCHIVE_HASH], y[ARCHIVE_HASH];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 31 + (uintptr_t)arg);
    for (size_t len = 0; len <= sizeof buf; len++)
        for (size_t cut = 0; cut <= len; cut += 1 + len / 7) {
            archive_sha256_2(buf, cut, cut < len ? buf + cut : NULL, len - cut, x);
            archive_sha256_sodium(buf, len, NULL, 0, y);
            if (memcmp(x, y, ARCHIVE_HASH) != 0)
                return (void *)1;
        }
    return NULL;
}

static void test_sha256_backends(void **state)
{
    (void)state;
    assert_null(sha_thread((void *)0));
    pthread_t t[3];
    for (uintptr_t i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sha_thread, (void *)(i + 1)), 0);
    for (int i = 0; i < 3; i++) {
        void *r = (void *)1;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    /* and the RFC leaf "" */
    uint8_t h[ARCHIVE_HASH];
    archive_leaf_hash("", 0, h);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    assert_string_equal(hex, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
}

static void test_leaf_header(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t n = archive_leaf_encode(buf, sizeof buf, ARCHIVE_KIND_HJ212_RX, 1700000000123,
                                   "10.0.0.5:4000", "##0001", 6);
    assert_int_equal(n, 11 + 13 + 6);
    static const uint8_t head[11] = {1, 1, 0, 0, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x7B, 13};
    assert_memory_equal(buf, head, 11);
    struct archive_leaf l;
    assert_int_equal(archive_leaf_decode(buf, n, &l), PW_OK);
    assert_int_equal(l.kind, ARCHIVE_KIND_HJ212_RX);
    assert_int_equal(l.time_ms, 1700000000123);
    assert_int_equal(l.len, 6);
    assert_memory_equal(l.bytes, "##0001", 6);
    assert_int_equal(archive_leaf_decode(buf, 5, &l), PW_EPROTO);
    static uint8_t big[70000];
    assert_int_equal(archive_leaf_encode(big, sizeof big, 1, 0, "", big, 65530), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6962_roots),        cmocka_unit_test(test_proofs_random),
        cmocka_unit_test(test_frontier_completions), cmocka_unit_test(test_note_go_example),
        cmocka_unit_test(test_cosignature),          cmocka_unit_test(test_tile_paths),
        cmocka_unit_test(test_cross_vector),         cmocka_unit_test(test_leaf_header),
        cmocka_unit_test(test_sha256_backends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
