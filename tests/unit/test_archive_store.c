/* Unit tests for the archive's durable log: append/write/sync/sign and reopen, tiles and proofs
 * served from disk against the pure functions, the crash rules (a torn tail is cut, a SIGKILL at
 * a random moment loses nothing acknowledged), and tampering (a data flag flipped in a stored
 * frame, entries removed, a hash tile changed, a checkpoint's signature) found at open and by
 * archive_verify_dir, which names the damaged entry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "archive/archive.h"

#include "base/err.h"
#include "base/log.h"
#include "base/fsutil.h"
#include "base/timeutil.h"

#include "tsdb_testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

struct fx {
    char root[64], dir[128], key[128];
};

static void fx_init(struct fx *f)
{
    tu_tmpdir(f->root, sizeof f->root, "archive");
    snprintf(f->dir, sizeof f->dir, "%s/data/archive", f->root);
    snprintf(f->key, sizeof f->key, "%s/archive.key", f->root);
}

static struct archive *open_at(struct fx *f, int expect)
{
    struct archive_opts o;
    archive_opts_init(&o);
    o.dir = f->dir;
    o.key_file = f->key;
    o.origin = "archive.parkwatch.test";
    o.checkpoint_interval_ms = 0;
    struct archive *a = NULL;
    char err[256] = "";
    int rc = archive_open(&o, &a, err, sizeof err);
    if (rc != expect)
        print_message("archive_open: %s\n", err);
    assert_int_equal(rc, expect);
    return a;
}

static int frame_of(int i, char *out, size_t cap)
{
    return snprintf(out, cap,
                    "##0101QN=20240101000000000;ST=22;CN=2011;PW=123456;MN=M%05d;"
                    "Flag=5;CP=&&DataTime=20240101000000;w01018-Rtd=12.5,"
                    "w01018-Flag=N&&1C80\r\n",
                    i);
}

static void append_frames(struct archive *a, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char frame[256];
        uint8_t leaf[512];
        int fl = frame_of(i, frame, sizeof frame);
        size_t ll = archive_leaf_encode(leaf, sizeof leaf, ARCHIVE_KIND_HJ212_RX, 1700000000000 + i,
                                        "192.0.2.7:40000", frame, (size_t)fl);
        assert_true(ll > 0);
        assert_int_equal(archive_append(a, leaf, ll), i);
    }
}

static void commit(struct archive *a)
{
    assert_int_equal(archive_write(a), PW_OK);
    struct archive_sync_ticket t;
    if (archive_sync_prepare(a, &t)) {
        assert_int_equal(archive_sync_perform(&t), PW_OK);
        assert_int_equal(archive_sync_finish(a, &t), PW_OK);
    }
    assert_int_equal(archive_durable(a), archive_written(a));
}

static void parse_latest(struct archive *a, struct archive_checkpoint *cp, struct pw_buf *note)
{
    struct archive_key k;
    char vkey[300], err[128];
    archive_vkey(a, vkey, sizeof vkey);
    assert_int_equal(archive_vkey_parse(vkey, &k, err, sizeof err), PW_OK);
    pw_buf_reset(note);
    assert_int_equal(archive_latest_checkpoint(a, note), PW_OK);
    size_t tl = 0;
    assert_int_equal(archive_note_verify(&k, note->data, note->len, &tl), PW_OK);
    assert_int_equal(archive_checkpoint_parse(note->data, tl, cp, err, sizeof err), PW_OK);
    assert_string_equal(cp->origin, "archive.parkwatch.test");
}

static bool is_m350(const uint8_t *leaf, size_t len, void *arg)
{
    (void)arg;
    return memmem(leaf, len, "MN=M00350;", 10) != NULL;
}

static void test_append_reopen_tiles_proofs(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    pw_log_set_sink(quiet, NULL);
    struct archive *a = open_at(&f, PW_OK);
    struct stat st;
    assert_int_equal(stat(f.key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the first start signs the empty tree: SHA-256("") */
    struct archive_checkpoint cp0;
    struct pw_buf n0;
    pw_buf_init(&n0, 0);
    parse_latest(a, &cp0, &n0);
    assert_int_equal(cp0.size, 0);
    uint8_t empty[32];
    archive_empty_root(empty);
    assert_memory_equal(cp0.root, empty, 32);
    pw_buf_release(&n0);
    append_frames(a, 0, 700);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), false), PW_OK);
    struct archive_checkpoint cp;
    struct pw_buf note, t;
    pw_buf_init(&note, 0);
    pw_buf_init(&t, 0);
    parse_latest(a, &cp, &note);
    assert_int_equal(cp.size, 700);

    /* the root from a fresh frontier over the same leaves */
    struct archive_frontier fr;
    archive_frontier_init(&fr);
    uint8_t(*lh)[32] = malloc(700 * 32);
    for (int i = 0; i < 700; i++) {
        struct pw_buf e;
        pw_buf_init(&e, 0);
        assert_int_equal(archive_entry_read(a, (uint64_t)i, &e), PW_OK);
        struct archive_leaf l;
        assert_int_equal(archive_leaf_decode((const uint8_t *)e.data, e.len, &l), PW_OK);
        char frame[256];
        int fl = frame_of(i, frame, sizeof frame);
        assert_int_equal(l.len, (size_t)fl);
        assert_memory_equal(l.bytes, frame, (size_t)fl);
        archive_leaf_hash(e.data, e.len, lh[i]);
        archive_frontier_push(&fr, lh[i], NULL, NULL);
        pw_buf_release(&e);
    }
    uint8_t root[32];
    archive_frontier_root(&fr, root);
    assert_memory_equal(root, cp.root, 32);

    /* tiles: 0/000, 0/001, 0/002.p/188, 1/000.p/2, entries likewise */
    assert_int_equal(archive_tile_read(a, 0, 1, 256, &t), PW_OK);
    assert_int_equal(t.len, 8192);
    assert_memory_equal(t.data, lh[256], 8192);
    pw_buf_reset(&t);
    assert_int_equal(archive_tile_read(a, 0, 2, 188, &t), PW_OK);
    assert_memory_equal(t.data, lh[512], 188 * 32);
    pw_buf_reset(&t);
    assert_int_equal(archive_tile_read(a, 0, 2, 189, &t), PW_ENOTFOUND);
    assert_int_equal(archive_tile_read(a, 0, 3, 1, &t), PW_ENOTFOUND);
    assert_int_equal(archive_tile_read(a, 1, 0, 2, &t), PW_OK);
    assert_int_equal(t.len, 64);
    pw_buf_reset(&t);
    assert_int_equal(archive_tile_read(a, -1, 2, 188, &t), PW_OK);
    /* the bundle: 188 entries of uint16 length + bytes */
    size_t p = 0;
    for (int i = 512; i < 700; i++) {
        size_t el = (size_t)(uint8_t)t.data[p] << 8 | (uint8_t)t.data[p + 1];
        uint8_t h[32];
        archive_leaf_hash(t.data + p + 2, el, h);
        assert_memory_equal(h, lh[i], 32);
        p += 2 + el;
    }
    assert_int_equal(p, t.len);

    /* archive_find: binary search on receive time, then the predicate */
    uint64_t found = 0;
    assert_int_equal(archive_find(a, 1700000000000 + 300, 1000, is_m350, NULL, &found), PW_OK);
    assert_int_equal(found, 350);
    assert_int_equal(archive_find(a, 1700000000000 + 351, 1000, is_m350, NULL, &found),
                     PW_ENOTFOUND);
    assert_int_equal(archive_find(a, 0, 100, is_m350, NULL, &found), PW_ENOTFOUND); /* bound */
    assert_int_equal(archive_find(a, 0, 1000, is_m350, NULL, &found), PW_OK);

    /* proofs from the stored tiles verify against the signed root */
    for (uint64_t i = 0; i < 700; i += 37) {
        uint8_t proof[ARCHIVE_MAX_PROOF][32];
        size_t n;
        assert_int_equal(archive_prove(a, i, 700, proof, &n), PW_OK);
        assert_int_equal(
            archive_inclusion_verify(i, 700, lh[i], (const uint8_t(*)[32])proof, n, cp.root),
            PW_OK);
    }
    archive_close(a);

    /* reopen: same tree, more leaves, a consistent next checkpoint */
    a = open_at(&f, PW_OK);
    assert_true(archive_integrity_ok(a));
    struct archive_checkpoint cp2;
    parse_latest(a, &cp2, &note);
    assert_int_equal(cp2.size, 700);
    assert_memory_equal(cp2.root, cp.root, 32);
    append_frames(a, 700, 300);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    parse_latest(a, &cp2, &note);
    assert_int_equal(cp2.size, 1000);
    uint8_t proof[ARCHIVE_MAX_PROOF][32];
    size_t n;
    assert_int_equal(archive_prove_consistency(a, 700, 1000, proof, &n), PW_OK);
    assert_int_equal(
        archive_consistency_verify(700, 1000, cp.root, cp2.root, (const uint8_t(*)[32])proof, n),
        PW_OK);
    archive_close(a);

    struct pw_buf rep;
    pw_buf_init(&rep, 0);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_OK);
    assert_non_null(strstr(rep.data, "ok: every tile"));
    /* export */
    char out[200], path[300];
    snprintf(out, sizeof out, "%s/export", f.root);
    pw_buf_reset(&rep);
    assert_int_equal(archive_export_dir(f.dir, NULL, out, &rep), PW_OK);
    static const char *const files[] = {"checkpoint",     "vkey",
                                        "tile/0/000",     "tile/0/003.p/232",
                                        "tile/1/000.p/3", "tile/entries/003.p/232",
                                        "checkpoints"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        assert_int_equal(stat(path, &st), 0);
    }
    snprintf(path, sizeof path, "%s/tile/0/000", out);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 8192);
    /* every distinct checkpoint (0, 700, 1000; the re-sign at open is left out), verifiable */
    char *cps = NULL;
    size_t cl = 0;
    snprintf(path, sizeof path, "%s/checkpoints", out);
    assert_int_equal(pw_file_read(path, 1 << 20, &cps, &cl), PW_OK);
    int notes = 0;
    for (const char *q = cps; (q = strstr(q, "archive.parkwatch.test\n")); q++)
        notes++; /* the origin line; signature lines have a space after the name */
    assert_int_equal(notes, 3);
    assert_non_null(strstr(cps, "archive.parkwatch.test\n700\n"));
    free(cps);

    snprintf(path, sizeof path, "%s/tile/0/003.p/232", out);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 232 * 32);
    free(lh);
    pw_buf_release(&rep);
    pw_buf_release(&note);
    pw_buf_release(&t);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(f.root);
}

static void flip_in_file(const char *path, const char *from, const char *to, int nth)
{
    char *data = NULL;
    size_t len = 0;
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    len = (size_t)ftell(fp);
    data = malloc(len);
    fseek(fp, 0, SEEK_SET);
    assert_int_equal(fread(data, 1, len, fp), len);
    size_t fl = strlen(from);
    int seen = 0;
    for (size_t i = 0; i + fl <= len; i++)
        if (memcmp(data + i, from, fl) == 0 && seen++ == nth) {
            fseek(fp, (long)i, SEEK_SET);
            fwrite(to, 1, strlen(to), fp);
            break;
        }
    assert_true(seen > nth);
    fclose(fp);
    free(data);
}

static void test_tamper_detected(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    pw_log_set_sink(quiet, NULL);
    struct archive *a = open_at(&f, PW_OK);
    append_frames(a, 0, 600);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    archive_close(a);
    char entries[200], hashes[200];
    snprintf(entries, sizeof entries, "%s/entries", f.dir);
    snprintf(hashes, sizeof hashes, "%s/hashes.0", f.dir);

    /* the data flag of entry 300 flipped N -> D */
    flip_in_file(entries, "w01018-Flag=N", "w01018-Flag=D", 300);
    struct pw_buf rep;
    pw_buf_init(&rep, 0);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "damaged: entry 300 "));
    /* the daemon opens it, counts the integrity error and refuses to sign */
    a = open_at(&f, PW_OK);
    assert_false(archive_integrity_ok(a));
    append_frames(a, 600, 10);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_ECONFLICT);
    archive_close(a);
    /* the daemon kept the evidence: the stored hash still names the entry */
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "damaged: entry 300 "));
    pw_buf_release(&rep);
    tu_rmrf(f.root);

    /* entries cut below the signed size */
    fx_init(&f);
    a = open_at(&f, PW_OK);
    append_frames(a, 0, 50);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    archive_close(a);
    snprintf(entries, sizeof entries, "%s/entries", f.dir);
    struct stat st;
    assert_int_equal(stat(entries, &st), 0);
    assert_int_equal(truncate(entries, st.st_size / 2), 0);
    a = open_at(&f, PW_OK);
    assert_false(archive_integrity_ok(a));
    archive_close(a);
    tu_rmrf(f.root);

    /* a wrong verifier key; a changed hash tile is repaired by the daemon but reported */
    fx_init(&f);
    a = open_at(&f, PW_OK);
    append_frames(a, 0, 300);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    archive_close(a);
    pw_buf_init(&rep, 0);
    struct archive_key other;
    uint8_t seed[32] = {42};
    char vk[300];
    archive_key_from_seed(&other, "archive.parkwatch.test", seed);
    archive_vkey_format(&other, vk, sizeof vk);
    assert_int_equal(archive_verify_dir(f.dir, vk, NULL, 0, &rep), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "not signed by this log's key"));
    snprintf(hashes, sizeof hashes, "%s/hashes.0", f.dir);
    int fd = open(hashes, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "XXXX", 4, 32 * 257), 4);
    close(fd);
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "entry 257"));
    a = open_at(&f, PW_OK); /* rewrites the tile from the entries */
    assert_true(archive_integrity_ok(a));
    archive_close(a);
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_OK);

    /* a log rewritten and re-signed with the same key: a checkpoint held from before shows it */
    struct pw_buf held;
    pw_buf_init(&held, 0);
    a = open_at(&f, PW_OK);
    assert_int_equal(archive_latest_checkpoint(a, &held), PW_OK);
    archive_close(a);
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, held.data, held.len, &rep), PW_OK);
    tu_rmrf(f.dir);
    a = open_at(&f, PW_OK);
    for (int i = 0; i < 400; i++) { /* other frames, a longer log */
        char leaf[64];
        int n = snprintf(leaf, sizeof leaf, "rewritten %d", i);
        assert_int_equal(archive_append(a, leaf, (size_t)n), i);
    }
    commit(a);
    archive_close(a);
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_OK); /* self-consistent */
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, held.data, held.len, &rep), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "the log was rewritten"));
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, "junk\n", 5, &rep), PW_EINVAL);
    pw_buf_release(&held);
    pw_buf_release(&rep);

    /* a key file others can read is refused */
    chmod(f.key, 0644);
    struct archive_opts o;
    archive_opts_init(&o);
    o.dir = f.dir;
    o.key_file = f.key;
    o.origin = "archive.parkwatch.test";
    char err[256];
    assert_int_equal(archive_open(&o, &a, err, sizeof err), PW_ECONFIG);
    assert_non_null(strstr(err, "chmod 600"));
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(f.root);
}

static void copy_file(const char *from, const char *to)
{
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(pw_file_read(from, 4096, &data, &len), PW_OK);
    assert_int_equal(pw_file_replace(to, data, len), PW_OK);
    free(data);
}

/* A start re-hashes only what follows the prefix an earlier start or clean shutdown verified
 * (plus spot checks); a changed entry after that prefix is still an integrity error at start,
 * one inside it is found by archive_verify_dir; a state file that does not authenticate, or one
 * written under other keys, is not believed. */
static void test_verified_prefix(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    pw_log_set_sink(quiet, NULL);
    const int N = 20000; /* 79 bundles: more than are spot-checked */
    struct archive *a = open_at(&f, PW_OK);
    assert_int_equal(archive_open_verified_prefix(a), 0);
    append_frames(a, 0, N);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    archive_close(a);

    a = open_at(&f, PW_OK);
    assert_true(archive_integrity_ok(a));
    assert_int_equal(archive_open_verified_prefix(a), N);
    assert_true(archive_open_rehashed(a) <= 64 * 256); /* the spot checks, not all N */
    assert_int_equal(archive_written(a), N);
    /* the tree goes on from the prefix exactly as from a full scan */
    append_frames(a, N, 500);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    uint8_t proof[ARCHIVE_MAX_PROOF][ARCHIVE_HASH];
    size_t np = 0;
    assert_int_equal(archive_prove(a, 100, N + 500, proof, &np), PW_OK);
    /* as if the process were killed now: the state this start wrote stays the latest */
    char vpath[200], saved[200], entries[200];
    snprintf(vpath, sizeof vpath, "%s/verified", f.dir);
    snprintf(saved, sizeof saved, "%s/verified.saved", f.root);
    snprintf(entries, sizeof entries, "%s/entries", f.dir);
    copy_file(vpath, saved);
    archive_close(a);
    struct pw_buf rep;
    pw_buf_init(&rep, 0);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_OK);
    copy_file(saved, vpath);

    /* a changed entry after the verified prefix: found at start, named */
    flip_in_file(entries, "w01018-Flag=N", "w01018-Flag=D", N + 200);
    a = open_at(&f, PW_OK);
    assert_false(archive_integrity_ok(a));
    assert_non_null(strstr(archive_problem(a), "entry 20200 "));
    assert_true(archive_open_rehashed(a) >= 500);
    archive_close(a);
    flip_in_file(entries, "w01018-Flag=D", "w01018-Flag=N", 0); /* put it back */
    a = open_at(&f, PW_OK);
    assert_true(archive_integrity_ok(a));
    archive_close(a);

    /* a changed entry inside the prefix: archive verify re-hashes everything and names it */
    flip_in_file(entries, "w01018-Flag=N", "w01018-Flag=D", 1000);
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "damaged: entry 1000 "));
    flip_in_file(entries, "w01018-Flag=D", "w01018-Flag=N", 0);
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_OK);

    /* an edited state is not believed: everything is read again */
    char *st = NULL;
    size_t sl = 0;
    assert_int_equal(pw_file_read(vpath, 4096, &st, &sl), PW_OK);
    char *sz = strstr(st, "size ");
    assert_non_null(sz);
    sz[5] = sz[5] == '1' ? '2' : '1';
    assert_int_equal(pw_file_replace(vpath, st, sl), PW_OK);
    free(st);
    a = open_at(&f, PW_OK);
    assert_true(archive_integrity_ok(a));
    assert_int_equal(archive_open_verified_prefix(a), 0);
    assert_int_equal(archive_open_rehashed(a), N + 500);
    archive_close(a);
    /* a damaged hash tile of the prefix: the state is dropped and the tiles rebuilt */
    char h1[200];
    snprintf(h1, sizeof h1, "%s/hashes.1", f.dir);
    int fd = open(h1, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
    close(fd);
    a = open_at(&f, PW_OK);
    assert_true(archive_integrity_ok(a));
    assert_int_equal(archive_open_verified_prefix(a), 0);
    archive_close(a);
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_OK);
    /* checkpoints removed (the file cut to its first record): the state says how many there were */
    char cps[200];
    snprintf(cps, sizeof cps, "%s/checkpoints", f.dir);
    uint8_t h4[4];
    fd = open(cps, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, h4, 4, 0), 4);
    close(fd);
    assert_int_equal(truncate(cps, 4 + ((off_t)h4[0] << 24 | h4[1] << 16 | h4[2] << 8 | h4[3])), 0);
    a = open_at(&f, PW_OK);
    assert_false(archive_integrity_ok(a));
    assert_non_null(strstr(archive_problem(a), "checkpoints were removed"));
    archive_close(a);
    pw_buf_release(&rep);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(f.root);
}

/* Pruning: bundles below the index refused, the tree and its tiles unchanged, opens (full and
 * from a verified prefix) read from the pruned index on, verify checks what is left and wants the
 * operator's record, the export leaves the pruned bundles out and says so. */
static void test_prune(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    pw_log_set_sink(quiet, NULL);
    struct archive *a = open_at(&f, PW_OK);
    append_frames(a, 0, 1000);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    struct pw_buf before, rep, e;
    pw_buf_init(&before, 0);
    pw_buf_init(&rep, 0);
    pw_buf_init(&e, 0);
    assert_int_equal(archive_latest_checkpoint(a, &before), PW_OK);
    uint64_t freed = 0;
    char err[256];
    assert_int_equal(archive_prune(a, 300, &freed, err, sizeof err), PW_EINVAL);  /* not x256 */
    assert_int_equal(archive_prune(a, 1024, &freed, err, sizeof err), PW_EINVAL); /* >= size */
    /* the operator's record first (what http's archive.prune writes), then the prune */
    static const char rec[] = "{\"action\":\"archive.prune\",\"user\":\"admin\",\"role\":"
                              "\"admin\",\"peer\":\"\",\"detail\":{\"below\":512,"
                              "\"last_received_ms\":1}}";
    uint8_t leaf[512];
    size_t ll = archive_leaf_encode(leaf, sizeof leaf, ARCHIVE_KIND_OPERATOR, pw_now_ms(), "admin",
                                    rec, sizeof rec - 1);
    assert_int_equal(archive_append(a, leaf, ll), 1000);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    assert_int_equal(archive_prune(a, 512, &freed, err, sizeof err), PW_OK);
    assert_int_equal(archive_pruned(a), 512);
    assert_int_equal(archive_entry_read(a, 511, &e), PW_ENOTFOUND);
    assert_int_equal(archive_tile_read(a, -1, 1, 256, &e), PW_ENOTFOUND);
    assert_int_equal(archive_entry_read(a, 512, &e), PW_OK);
    uint8_t proof[ARCHIVE_MAX_PROOF][ARCHIVE_HASH];
    size_t np = 0;
    assert_int_equal(archive_prove(a, 5, 1001, proof, &np), PW_OK); /* hashes stay */
    archive_close(a);
    /* from the verified prefix, and with a full scan */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            char vp[200];
            snprintf(vp, sizeof vp, "%s/verified", f.dir);
            unlink(vp);
        }
        a = open_at(&f, PW_OK);
        assert_true(archive_integrity_ok(a));
        assert_int_equal(archive_written(a), 1001 + 10 * pass);
        assert_int_equal(archive_pruned(a), 512);
        append_frames(a, 1001 + 10 * pass, 10);
        commit(a);
        assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
        archive_close(a);
    }
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, before.data, before.len, &rep), PW_OK);
    assert_non_null(strstr(rep.data, "pruned below 512"));
    /* a changed entry after the pruned index is still found */
    char entries[200];
    snprintf(entries, sizeof entries, "%s/entries", f.dir);
    flip_in_file(entries, "MN=M00600;", "MN=M00666;", 0);
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "damaged: entry 600 "));
    flip_in_file(entries, "MN=M00666;", "MN=M00600;", 0);
    /* the export leaves the pruned bundles out and says where the entries begin */
    char out[200], path[300];
    snprintf(out, sizeof out, "%s/export", f.root);
    pw_buf_reset(&rep);
    assert_int_equal(archive_export_dir(f.dir, NULL, out, &rep), PW_OK);
    struct stat st;
    snprintf(path, sizeof path, "%s/tile/entries/001", out);
    assert_int_not_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/tile/entries/002", out);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/tile/0/001", out);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/pruned", out);
    assert_int_equal(stat(path, &st), 0);
    /* a pruned file nobody recorded (entries removed, the file written by hand): verify says so */
    char pr[200];
    snprintf(pr, sizeof pr, "%s/pruned", f.dir);
    assert_int_equal(pw_file_replace(pr, "below 768\n", 10), PW_OK);
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "no archive.prune record"));
    pw_buf_release(&before);
    pw_buf_release(&rep);
    pw_buf_release(&e);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(f.root);
}

static int64_t fake_days;
static int64_t fake_day_ms(int64_t now_ms)
{
    return now_ms + fake_days * 86400000LL;
}

/* The daily record: the last checkpoint of each (Beijing) day filed under that day, checked by
 * archive_verify_dir, in the export; a forged one is found. */
static void test_daily_record(void **state)
{
    (void)state;
    char day[11];
    archive_day_of(0, day);
    assert_string_equal(day, "1970-01-01");
    archive_day_of(1764864000000LL - 1, day); /* 2025-12-04T15:59:59.999Z = 23:59:59.999 CST */
    assert_string_equal(day, "2025-12-04");
    archive_day_of(1764864000000LL, day);
    assert_string_equal(day, "2025-12-05");
    archive_day_of(951782400000LL + 8 * 3600000LL, day); /* 2000-02-29T08:00Z */
    assert_string_equal(day, "2000-02-29");

    struct fx f;
    fx_init(&f);
    pw_log_set_sink(quiet, NULL);
    struct archive_opts o;
    archive_opts_init(&o);
    o.dir = f.dir;
    o.key_file = f.key;
    o.origin = "archive.parkwatch.test";
    o.checkpoint_interval_ms = 0;
    o.day_ms = fake_day_ms;
    fake_days = 0;
    struct archive *a = NULL;
    char err[256];
    assert_int_equal(archive_open(&o, &a, err, sizeof err), PW_OK);
    append_frames(a, 0, 10);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    struct pw_buf day0_note, list, rep;
    pw_buf_init(&day0_note, 0);
    pw_buf_init(&list, 0);
    pw_buf_init(&rep, 0);
    assert_int_equal(archive_latest_checkpoint(a, &day0_note), PW_OK);
    char d0[11], d1[11];
    archive_day_of(pw_now_ms(), d0);
    assert_int_equal(archive_daily_list(f.dir, &list), PW_OK);
    assert_int_equal(list.len, 0); /* nothing filed on the first day */
    fake_days = 1;
    archive_day_of(fake_day_ms(pw_now_ms()), d1);
    append_frames(a, 10, 5);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    archive_close(a);
    assert_int_equal(archive_daily_list(f.dir, &list), PW_OK);
    char want[16];
    snprintf(want, sizeof want, "%s\n", d0);
    assert_string_equal(list.data, want);
    struct pw_buf got;
    pw_buf_init(&got, 0);
    assert_int_equal(archive_daily_read(f.dir, d0, &got), PW_OK);
    assert_int_equal(got.len, day0_note.len);
    assert_memory_equal(got.data, day0_note.data, got.len); /* the day's last, as signed */
    assert_int_equal(archive_daily_read(f.dir, d1, &got), PW_ENOTFOUND);
    assert_int_equal(archive_daily_read(f.dir, "../vkey", &got), PW_EINVAL);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_OK);
    assert_non_null(strstr(rep.data, "daily checkpoints 1\n"));
    /* exported */
    char out[200], path[300], *data = NULL;
    size_t len = 0;
    snprintf(out, sizeof out, "%s/export", f.root);
    pw_buf_reset(&rep);
    assert_int_equal(archive_export_dir(f.dir, NULL, out, &rep), PW_OK);
    snprintf(path, sizeof path, "%s/daily/%s", out, d0);
    assert_int_equal(pw_file_read(path, 8192, &data, &len), PW_OK);
    assert_int_equal(len, day0_note.len);
    free(data);
    /* a forged daily checkpoint (another key) is found */
    struct archive_key other;
    uint8_t seed[32] = {9};
    archive_key_from_seed(&other, "archive.parkwatch.test", seed);
    struct archive_checkpoint cp = {.size = 10};
    snprintf(cp.origin, sizeof cp.origin, "archive.parkwatch.test");
    struct pw_buf text, forged;
    pw_buf_init(&text, 0);
    pw_buf_init(&forged, 0);
    archive_checkpoint_text(&cp, &text);
    assert_int_equal(archive_note_sign(&other, text.data, text.len, &forged), PW_OK);
    snprintf(path, sizeof path, "%s/daily/%s", f.dir, d0);
    assert_int_equal(pw_file_replace(path, forged.data, forged.len), PW_OK);
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "daily checkpoint"));
    pw_buf_release(&text);
    pw_buf_release(&forged);
    pw_buf_release(&got);
    pw_buf_release(&day0_note);
    pw_buf_release(&list);
    pw_buf_release(&rep);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(f.root);
}

static void test_torn_tail(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    pw_log_set_sink(quiet, NULL);
    struct archive *a = open_at(&f, PW_OK);
    append_frames(a, 0, 10);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    archive_close(a);
    char entries[200], cps[200];
    snprintf(entries, sizeof entries, "%s/entries", f.dir);
    snprintf(cps, sizeof cps, "%s/checkpoints", f.dir);
    int fd = open(entries, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "\x01\x00partial", 9), 9);
    close(fd);
    fd = open(cps, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "\x00\x00\x01\x00torn", 8), 8);
    close(fd);
    a = open_at(&f, PW_OK);
    assert_true(archive_integrity_ok(a));
    assert_int_equal(archive_written(a), 10);
    append_frames(a, 10, 5);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    archive_close(a);
    struct pw_buf rep;
    pw_buf_init(&rep, 0);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_OK);
    pw_buf_release(&rep);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(f.root);
}

static struct archive *open_keys(struct fx *f, const char *key, const char *next, const char *prev,
                                 int expect)
{
    struct archive_opts o;
    archive_opts_init(&o);
    o.dir = f->dir;
    o.key_file = key;
    o.next_key_file = next;
    o.previous_vkeys = prev;
    o.origin = "archive.parkwatch.test";
    o.checkpoint_interval_ms = 0;
    struct archive *a = NULL;
    char err[256] = "";
    int rc = archive_open(&o, &a, err, sizeof err);
    if (rc != expect)
        print_message("archive_open: %s\n", err);
    assert_int_equal(rc, expect);
    return a;
}

static int signature_lines(const struct pw_buf *note)
{
    int n = 0;
    for (const char *q = note->data; (q = strstr(q, "\n\xE2\x80\x94 ")); q++)
        n++;
    return n;
}

static void test_key_rotation(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    pw_log_set_sink(quiet, NULL);
    char next[200];
    snprintf(next, sizeof next, "%s/next.key", f.root);
    struct archive *a = open_at(&f, PW_OK);
    char va[300], vb[300];
    archive_vkey(a, va, sizeof va);
    append_frames(a, 0, 10);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    archive_close(a);

    /* the overlap: a rotation leaf, checkpoints signed by both keys */
    a = open_keys(&f, f.key, next, NULL, PW_OK);
    assert_int_equal(archive_written(a), 11);
    struct pw_buf note, e;
    pw_buf_init(&note, 0);
    pw_buf_init(&e, 0);
    assert_int_equal(archive_latest_checkpoint(a, &note), PW_OK);
    assert_int_equal(signature_lines(&note), 2);
    assert_int_equal(archive_entry_read(a, 10, &e), PW_OK);
    struct archive_leaf l;
    assert_int_equal(archive_leaf_decode((const uint8_t *)e.data, e.len, &l), PW_OK);
    assert_int_equal(l.kind, ARCHIVE_KIND_ARCHIVE);
    char want[400];
    snprintf(want, sizeof want, "key-rotation v1\nold %s\nnew ", va);
    assert_memory_equal(l.bytes, want, strlen(want));
    archive_close(a);
    a = open_keys(&f, f.key, next, NULL, PW_OK); /* logged once */
    assert_int_equal(archive_written(a), 11);
    archive_close(a);

    /* rotation done: the new key signs alone, the old one's checkpoints stay valid */
    a = open_keys(&f, next, NULL, va, PW_OK);
    assert_true(archive_integrity_ok(a));
    archive_vkey(a, vb, sizeof vb);
    assert_string_not_equal(va, vb);
    append_frames(a, 11, 5);
    commit(a);
    assert_int_equal(archive_checkpoint_maybe(a, pw_now_ms(), true), PW_OK);
    pw_buf_reset(&note);
    assert_int_equal(archive_latest_checkpoint(a, &note), PW_OK);
    assert_int_equal(signature_lines(&note), 1);
    archive_close(a);
    struct pw_buf rep;
    pw_buf_init(&rep, 0);
    char both[700];
    snprintf(both, sizeof both, "%s,%s", vb, va);
    assert_int_equal(archive_verify_dir(f.dir, both, NULL, 0, &rep), PW_OK);
    pw_buf_reset(&rep);
    assert_int_equal(archive_verify_dir(f.dir, vb, NULL, 0, &rep), PW_ECORRUPT);
    /* without the old key accepted, the daemon reports the old checkpoints */
    a = open_keys(&f, next, NULL, NULL, PW_OK);
    assert_false(archive_integrity_ok(a));
    archive_close(a);
    pw_buf_release(&rep);
    pw_buf_release(&note);
    pw_buf_release(&e);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(f.root);
}

/* ---- SIGKILL at random moments ---- */

static void child(struct fx *f, const char *acklog, unsigned seed)
{
    struct archive *a = open_at(f, PW_OK);
    if (!archive_integrity_ok(a))
        _exit(3);
    int ack = open(acklog, O_WRONLY | O_CREAT | O_APPEND, 0600);
    srand(seed);
    for (;;) {
        int from = (int)archive_written(a), n = 1 + rand() % 40;
        append_frames(a, from, n);
        commit(a); /* durable from here: "acknowledge" */
        char line[32];
        int l = snprintf(line, sizeof line, "%d\n", from + n - 1);
        if (write(ack, line, (size_t)l) != l)
            _exit(4);
        if (rand() % 4 == 0 && archive_checkpoint_maybe(a, pw_now_ms(), true) != PW_OK)
            _exit(5);
    }
}

static long last_acked(const char *path)
{
    FILE *fp = fopen(path, "r");
    long last = -1;
    char line[32];
    if (!fp)
        return -1;
    while (fgets(line, sizeof line, fp))
        if (strchr(line, '\n'))
            last = strtol(line, NULL, 10);
    fclose(fp);
    return last;
}

static void test_kill9(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f);
    char acklog[200];
    snprintf(acklog, sizeof acklog, "%s/acks", f.root);
    pw_log_set_sink(quiet, NULL);
    srand((unsigned)pw_mono_ns());
    for (int round = 0; round < 8; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            child(&f, acklog, (unsigned)rand());
            _exit(0);
        }
        usleep(30000 + (useconds_t)(rand() % 150000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        long acked = last_acked(acklog);
        struct archive *a = open_at(&f, PW_OK);
        assert_true(archive_integrity_ok(a));
        assert_true((long)archive_written(a) >= acked + 1);
        /* every acknowledged frame is there, byte for byte */
        for (long i = acked - 50 < 0 ? 0 : acked - 50; i <= acked; i++) {
            struct pw_buf e;
            pw_buf_init(&e, 0);
            assert_int_equal(archive_entry_read(a, (uint64_t)i, &e), PW_OK);
            struct archive_leaf l;
            assert_int_equal(archive_leaf_decode((const uint8_t *)e.data, e.len, &l), PW_OK);
            char frame[256];
            int fl = frame_of((int)i, frame, sizeof frame);
            assert_int_equal(l.len, (size_t)fl);
            assert_memory_equal(l.bytes, frame, (size_t)fl);
            pw_buf_release(&e);
        }
        print_message("round %d: acknowledged through %ld, stored %llu\n", round, acked,
                      (unsigned long long)archive_written(a));
        archive_close(a);
    }
    struct pw_buf rep;
    pw_buf_init(&rep, 0);
    assert_int_equal(archive_verify_dir(f.dir, NULL, NULL, 0, &rep), PW_OK);
    pw_buf_release(&rep);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(f.root);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_reopen_tiles_proofs),
        cmocka_unit_test(test_tamper_detected),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_verified_prefix),
        cmocka_unit_test(test_daily_record),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_kill9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
