/* libFuzzer target for everything the archive parses from outside: tile paths, checkpoints,
 * signed notes, verifier keys, receipts, leaves and witness requests. Invariants: a parsed tile
 * path formats back to the same text; a parsed checkpoint formats back to its first three lines;
 * nothing from the fuzzer verifies as signed by a key the fuzzer does not hold; no request makes
 * the witness answer 200. */
#include "archive/archive.h"
#include "base/err.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct archive_key key;
static struct archive_witness *witness;

static void init(void)
{
    if (witness)
        return;
    if (sodium_init() < 0)
        abort();
    uint8_t seed[32];
    memset(seed, 6, sizeof seed); /* not the seeds' key (32 x 0x07): nothing may verify */
    archive_key_from_seed(&key, "parkwatch.example/archive", seed);
    char vk[300], dir[] = "/tmp/pwfuzz-witness-XXXXXX", err[256];
    archive_vkey_format(&key, vk, sizeof vk);
    if (!mkdtemp(dir))
        abort();
    struct archive_key wk;
    archive_witness_key_from_seed(&wk, "witness.example", seed);
    if (archive_witness_open(dir, &wk, vk, &witness, err, sizeof err) != PW_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    if (size > 16384)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';

    int level;
    uint64_t n;
    unsigned w;
    if (archive_tile_parse(s, &level, &n, &w) == PW_OK) {
        char p[64];
        if (archive_tile_path(level, n, w, p, sizeof p) == 0 || strcmp(p + 5, s) != 0)
            abort();
    }
    struct archive_checkpoint cp;
    char err[160];
    if (archive_checkpoint_parse(s, size, &cp, err, sizeof err) == PW_OK) {
        struct pw_buf t;
        pw_buf_init(&t, 0);
        archive_checkpoint_text(&cp, &t);
        if (t.len > size || memcmp(t.data, s, t.len) != 0)
            abort();
        pw_buf_release(&t);
    }
    size_t tl;
    if (archive_note_verify(&key, s, size, &tl) == PW_OK)
        abort(); /* a forgery */
    struct archive_key k;
    (void)archive_vkey_parse(s, &k, err, sizeof err);
    (void)archive_witness_vkey_parse(s, &k, err, sizeof err);
    if (archive_receipt_verify(&key, NULL, s, size, data, size / 2, err, sizeof err) == PW_OK)
        abort();
    struct archive_leaf l;
    if (archive_leaf_decode(data, size, &l) == PW_OK &&
        (l.source_len > ARCHIVE_MAX_SOURCE || l.bytes + l.len != data + size))
        abort();
    struct pw_buf out;
    pw_buf_init(&out, 0);
    const char *ct;
    if (archive_witness_add(witness, s, size, 1, &out, &ct) == 200)
        abort();
    pw_buf_release(&out);
    free(s);
    return 0;
}
