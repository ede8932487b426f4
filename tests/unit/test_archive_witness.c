/* Unit tests for the witness (c2sp.org/tlog-witness): a first checkpoint is cosigned, a later one
 * only with a consistency proof from the size the witness holds (409 tells it), a bad proof is
 * 422, an unknown origin 404, another key 403, and a second root signed for a size the witness
 * holds (a rewritten log) is refused; the cosignatures verify with the witness's key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "archive/archive.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"

#include "tsdb_testutil.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

static void quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

static int request(struct archive_witness *w, uint64_t old, const uint8_t (*proof)[32], size_t n,
                   const struct pw_buf *note, struct pw_buf *out)
{
    struct pw_buf body;
    pw_buf_init(&body, 0);
    pw_buf_printf(&body, "old %llu\n", (unsigned long long)old);
    for (size_t i = 0; i < n; i++) {
        char b64[64];
        sodium_bin2base64(b64, sizeof b64, proof[i], 32, sodium_base64_VARIANT_ORIGINAL);
        pw_buf_printf(&body, "%s\n", b64);
    }
    pw_buf_putc(&body, '\n');
    pw_buf_append(&body, note->data, note->len);
    const char *ct = NULL;
    pw_buf_reset(out);
    int status = archive_witness_add(w, body.data, body.len, 1700000000, out, &ct);
    pw_buf_release(&body);
    return status;
}

static void grow_and_sign(struct archive *a, int n, struct pw_buf *note)
{
    for (int i = 0; i < n; i++) {
        char leaf[32];
        int l = snprintf(leaf, sizeof leaf, "leaf %d", i);
        assert_true(archive_append(a, leaf, (size_t)l) >= 0);
    }
    assert_int_equal(archive_write(a), PW_OK);
    struct archive_sync_ticket t;
    if (archive_sync_prepare(a, &t)) {
        archive_sync_perform(&t);
        archive_sync_finish(a, &t);
    }
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    pw_buf_reset(note);
    assert_int_equal(archive_latest_checkpoint(a, note), PW_OK);
}

static void test_witness(void **state)
{
    (void)state;
    pw_log_set_sink(quiet, NULL);
    char root[64], dir[128], key[128], wdir[128];
    tu_tmpdir(root, sizeof root, "witness");
    snprintf(dir, sizeof dir, "%s/log", root);
    snprintf(key, sizeof key, "%s/log.key", root);
    snprintf(wdir, sizeof wdir, "%s/witness", root);
    uint8_t seed[32];
    memset(seed, 3, sizeof seed);
    int fd = open(key, O_WRONLY | O_CREAT, 0600);
    assert_int_equal(write(fd, seed, 32), 32);
    close(fd);
    struct archive_opts o;
    archive_opts_init(&o);
    o.dir = dir;
    o.key_file = key;
    o.origin = "archive.parkwatch.A";
    o.fsync = false;
    struct archive *a = NULL;
    char err[256];
    assert_int_equal(archive_open(&o, &a, err, sizeof err), PW_OK);
    char vkey[300];
    archive_vkey(a, vkey, sizeof vkey);

    struct archive_key wk;
    uint8_t wseed[32];
    memset(wseed, 5, sizeof wseed);
    archive_witness_key_from_seed(&wk, "witness.parkwatch.B", wseed);
    char wvk[300];
    archive_witness_vkey_format(&wk, wvk, sizeof wvk);
    struct archive_key parsed;
    assert_int_equal(archive_witness_vkey_parse(wvk, &parsed, err, sizeof err), PW_OK);
    assert_memory_equal(parsed.pk, wk.pk, 32);
    assert_int_equal(archive_vkey_parse(wvk, &parsed, err, sizeof err), PW_EINVAL); /* type 4 */
    struct archive_witness *w = NULL;
    assert_int_equal(archive_witness_open(wdir, &wk, "nonsense", &w, err, sizeof err), PW_ECONFIG);
    assert_int_equal(archive_witness_open(wdir, &wk, vkey, &w, err, sizeof err), PW_OK);

    struct pw_buf n1, n2, out, chk;
    pw_buf_init(&n1, 0);
    pw_buf_init(&n2, 0);
    pw_buf_init(&out, 0);
    pw_buf_init(&chk, 0);
    grow_and_sign(a, 10, &n1);
    assert_int_equal(request(w, 0, NULL, 0, &n1, &out), 200);
    /* the cosignature verifies over the checkpoint text */
    size_t tl = strstr(n1.data, "\n\n") - n1.data + 1;
    pw_buf_append(&chk, n1.data, tl);
    pw_buf_putc(&chk, '\n');
    pw_buf_append(&chk, out.data, out.len);
    uint64_t t = 0;
    assert_int_equal(archive_cosign_verify(wk.name, wk.pk, chk.data, chk.len, &t), PW_OK);
    assert_int_equal(t, 1700000000);
    /* the log serves it once added */
    assert_true(archive_add_cosignature(a, n1.data, tl, out.data, out.len));

    grow_and_sign(a, 20, &n2);
    assert_int_equal(request(w, 0, NULL, 0, &n2, &out), 409);
    assert_string_equal(out.data, "10\n");
    uint8_t proof[ARCHIVE_MAX_PROOF][32];
    size_t np = 0;
    assert_int_equal(archive_prove_consistency(a, 10, 30, proof, &np), PW_OK);
    proof[0][0] ^= 1;
    assert_int_equal(request(w, 10, (const uint8_t(*)[32])proof, np, &n2, &out), 422);
    proof[0][0] ^= 1;
    assert_int_equal(request(w, 10, (const uint8_t(*)[32])proof, np - 1, &n2, &out), 422);
    assert_int_equal(request(w, 10, (const uint8_t(*)[32])proof, np, &n2, &out), 200);
    assert_int_equal(request(w, 10, (const uint8_t(*)[32])proof, np, &n2, &out), 409);
    assert_string_equal(out.data, "30\n");
    assert_int_equal(request(w, 30, NULL, 0, &n2, &out), 200); /* the same again */
    assert_int_equal(request(w, 40, NULL, 0, &n2, &out), 400); /* smaller than old */

    /* a second root for size 30 signed with the log's key: the witness refuses it */
    struct archive_key lk;
    archive_key_from_seed(&lk, "archive.parkwatch.A", seed);
    struct archive_checkpoint fork = {.size = 30};
    snprintf(fork.origin, sizeof fork.origin, "archive.parkwatch.A");
    memset(fork.root, 0xAB, 32);
    struct pw_buf text, forged;
    pw_buf_init(&text, 0);
    pw_buf_init(&forged, 0);
    archive_checkpoint_text(&fork, &text);
    archive_note_sign(&lk, text.data, text.len, &forged);
    assert_int_equal(request(w, 30, NULL, 0, &forged, &out), 409);
    /* another key with the same name: 403; an unknown origin: 404 */
    uint8_t other[32] = {9};
    struct archive_key ok2;
    archive_key_from_seed(&ok2, "archive.parkwatch.A", other);
    pw_buf_reset(&forged);
    archive_note_sign(&ok2, text.data, text.len, &forged);
    assert_int_equal(request(w, 30, NULL, 0, &forged, &out), 403);
    archive_key_from_seed(&ok2, "archive.parkwatch.C", other);
    fork.origin[18] = 'C';
    pw_buf_reset(&text);
    archive_checkpoint_text(&fork, &text);
    pw_buf_reset(&forged);
    archive_note_sign(&ok2, text.data, text.len, &forged);
    assert_int_equal(request(w, 0, NULL, 0, &forged, &out), 404);
    const char *ct;
    assert_int_equal(archive_witness_add(w, "garbage", 7, 1, &out, &ct), 400);

    /* the witness's state survives a restart */
    archive_witness_close(w);
    assert_int_equal(archive_witness_open(wdir, &wk, vkey, &w, err, sizeof err), PW_OK);
    assert_int_equal(request(w, 0, NULL, 0, &n2, &out), 409);
    assert_string_equal(out.data, "30\n");
    archive_witness_close(w);

    pw_buf_release(&text);
    pw_buf_release(&forged);
    pw_buf_release(&n1);
    pw_buf_release(&n2);
    pw_buf_release(&out);
    pw_buf_release(&chk);
    archive_close(a);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(root);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_witness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
