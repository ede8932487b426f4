/* note.c — c2sp.org/signed-note (Ed25519), tlog-checkpoint, tlog-cosignature v1, tlog-proof.
 *
 * Signed note: the text (UTF-8, ends in "\n", no empty line inside), one empty line, then
 * signature lines "— <name> <base64(key ID[4] ‖ signature)>\n" (U+2014 EM DASH = E2 80 94, a
 * space, the key name, a space, standard padded base64). The signed bytes are the text including
 * its final "\n". Ed25519 key ID = first 4 bytes (big-endian) of
 * SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key); the verifier key string is
 * "<name>+<8 hex key ID>+base64(0x01 ‖ public key)". Plain Ed25519 (crypto_sign_detached), never
 * the prehashed Ed25519ph of crypto_sign_*_create.
 *
 * Checkpoint text: "<origin>\n<size decimal>\n<base64 root>\n" (then optional extension lines;
 * parkwatch writes none, and no timestamp).
 *
 * Cosignature v1 (type 0x04): key ID from SHA-256(name ‖ 0x0A ‖ 0x04 ‖ pk); signed message
 * "cosignature/v1\ntime <unix seconds>\n" ‖ checkpoint text; the line's payload is
 * key ID(4) ‖ time (uint64 big-endian) ‖ signature(64).
 *
 * Receipt (c2sp.org/tlog-proof@v1): "c2sp.org/tlog-proof@v1\n", optional "extra <b64>\n",
 * "index <n>\n", one base64 hash per line, an empty line, then the signed checkpoint verbatim. */
#include "archive/archive.h"

#include "base/err.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EM_DASH "\xE2\x80\x94"
#define B64 sodium_base64_VARIANT_ORIGINAL

static void seterr(char *err, size_t cap, const char *msg)
{
    if (err && cap)
        snprintf(err, cap, "%s", msg);
}

bool archive_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > ARCHIVE_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7F || c == '+')
            return false;
    }
    return true;
}

static uint32_t key_id(const char *name, uint8_t type, const uint8_t pk[32])
{
    crypto_hash_sha256_state st;
    uint8_t h[32];
    uint8_t sep[2] = {'\n', type};
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)name, strlen(name));
    crypto_hash_sha256_update(&st, sep, 2);
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

uint32_t archive_cosign_key_id(const char *name, const uint8_t pk[32])
{
    return key_id(name, 0x04, pk);
}

int archive_key_from_seed(struct archive_key *k, const char *name, const uint8_t seed[32])
{
    if (!archive_name_valid(name))
        return PW_EINVAL;
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
    k->has_sk = true;
    k->id = key_id(name, 0x01, k->pk);
    return PW_OK;
}

void archive_vkey_format(const struct archive_key *k, char *out, size_t cap)
{
    uint8_t raw[33];
    char b64[64];
    raw[0] = 0x01;
    memcpy(raw + 1, k->pk, 32);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, B64);
    snprintf(out, cap, "%s+%08" PRIx32 "+%s", k->name, k->id, b64);
}

int archive_vkey_parse(const char *vkey, struct archive_key *k, char *err, size_t errcap)
{
    const char *p1 = strchr(vkey, '+');
    const char *p2 = p1 ? strchr(p1 + 1, '+') : NULL;
    if (!p1 || !p2 || p2 - p1 != 9 || (size_t)(p1 - vkey) > ARCHIVE_MAX_NAME) {
        seterr(err, errcap, "verifier key: expected name+<8 hex>+<base64 key>");
        return PW_EINVAL;
    }
    struct archive_key t;
    memset(&t, 0, sizeof t);
    memcpy(t.name, vkey, (size_t)(p1 - vkey));
    t.name[p1 - vkey] = '\0';
    if (!archive_name_valid(t.name)) {
        seterr(err, errcap, "verifier key: invalid key name");
        return PW_EINVAL;
    }
    char hex[9];
    memcpy(hex, p1 + 1, 8);
    hex[8] = '\0';
    char *end;
    errno = 0;
    unsigned long id = strtoul(hex, &end, 16);
    if (*end || errno || hex[0] == '-' || hex[0] == '+') {
        seterr(err, errcap, "verifier key: key ID is not 8 hex digits");
        return PW_EINVAL;
    }
    uint8_t raw[40];
    size_t rl = 0;
    if (sodium_base642bin(raw, sizeof raw, p2 + 1, strlen(p2 + 1), NULL, &rl, NULL, B64) != 0 ||
        rl != 33 || raw[0] != 0x01) {
        seterr(err, errcap, "verifier key: not base64 of an Ed25519 (type 0x01) key");
        return PW_EINVAL;
    }
    memcpy(t.pk, raw + 1, 32);
    t.id = key_id(t.name, 0x01, t.pk);
    if (t.id != (uint32_t)id) {
        seterr(err, errcap, "verifier key: key ID does not match name and key");
        return PW_EINVAL;
    }
    *k = t;
    return PW_OK;
}

/* The note text must end in "\n" and hold no empty line. */
static bool text_ok(const char *text, size_t len)
{
    if (len == 0 || text[len - 1] != '\n')
        return false;
    if (text[0] == '\n')
        return false;
    for (size_t i = 1; i < len; i++)
        if (text[i] == '\n' && text[i - 1] == '\n')
            return false;
    return memchr(text, '\0', len) == NULL;
}

static void sig_line(struct pw_buf *out, const char *name, const uint8_t *payload, size_t plen)
{
    char b64[256];
    sodium_bin2base64(b64, sizeof b64, payload, plen, B64);
    pw_buf_puts(out, EM_DASH " ");
    pw_buf_puts(out, name);
    pw_buf_putc(out, ' ');
    pw_buf_puts(out, b64);
    pw_buf_putc(out, '\n');
}

int archive_note_sign(const struct archive_key *k, const char *text, size_t len, struct pw_buf *out)
{
    if (!k->has_sk || !text_ok(text, len))
        return PW_EINVAL;
    pw_buf_append(out, text, len);
    pw_buf_putc(out, '\n');
    return archive_note_sign_line(k, text, len, out);
}

int archive_note_sign_line(const struct archive_key *k, const char *text, size_t len,
                           struct pw_buf *out)
{
    if (!k->has_sk || !text_ok(text, len))
        return PW_EINVAL;
    uint8_t payload[4 + 64];
    payload[0] = (uint8_t)(k->id >> 24);
    payload[1] = (uint8_t)(k->id >> 16);
    payload[2] = (uint8_t)(k->id >> 8);
    payload[3] = (uint8_t)k->id;
    crypto_sign_detached(payload + 4, NULL, (const unsigned char *)text, len, k->sk);
    sig_line(out, k->name, payload, sizeof payload);
    return PW_OK;
}

/* Splits a note into text [0, *text_len) and signature lines [*sig_off, len). */
static int note_split(const char *note, size_t len, size_t *text_len, size_t *sig_off)
{
    if (len < 2 || note[len - 1] != '\n')
        return PW_EPROTO;
    /* the last "\n\n" separates text from signatures */
    size_t split = 0;
    bool found = false;
    for (size_t i = len - 1; i > 0; i--)
        if (note[i] == '\n' && note[i - 1] == '\n') {
            split = i - 1;
            found = true;
            break;
        }
    if (!found || !text_ok(note, split + 1))
        return PW_EPROTO;
    *text_len = split + 1;
    *sig_off = split + 2;
    return *sig_off < len ? PW_OK : PW_EPROTO;
}

/* Calls fn for each signature line "— name b64" with the decoded payload. Stops at the first
 * fn result that is not PW_ENOTFOUND. */
static int each_sig(const char *note, size_t sig_off, size_t len,
                    int (*fn)(const char *name, size_t nlen, const uint8_t *payload, size_t plen,
                              void *arg),
                    void *arg)
{
    size_t p = sig_off;
    int result = PW_ENOTFOUND;
    while (p < len) {
        const char *line = note + p;
        const char *nl = memchr(line, '\n', len - p);
        if (!nl)
            return PW_EPROTO;
        size_t ll = (size_t)(nl - line);
        p += ll + 1;
        if (ll < 4 || memcmp(line, EM_DASH " ", 4) != 0)
            return PW_EPROTO;
        const char *name = line + 4;
        const char *sp = memchr(name, ' ', ll - 4);
        if (!sp || sp == name)
            return PW_EPROTO;
        size_t nlen = (size_t)(sp - name);
        const char *b = sp + 1;
        size_t blen = (size_t)(nl - b);
        uint8_t payload[256];
        size_t plen = 0;
        if (blen == 0 || blen > 340 ||
            sodium_base642bin(payload, sizeof payload, b, blen, NULL, &plen, NULL, B64) != 0 ||
            plen < 5)
            return PW_EPROTO;
        int rc = fn(name, nlen, payload, plen, arg);
        if (rc != PW_ENOTFOUND)
            return rc;
        (void)result;
    }
    return result;
}

struct verify_ctx {
    const struct archive_key *k;
    const char *text;
    size_t text_len;
};

static int verify_one(const char *name, size_t nlen, const uint8_t *payload, size_t plen, void *arg)
{
    struct verify_ctx *v = arg;
    if (nlen != strlen(v->k->name) || memcmp(name, v->k->name, nlen) != 0)
        return PW_ENOTFOUND;
    uint32_t id = (uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 |
                  (uint32_t)payload[2] << 8 | payload[3];
    if (id != v->k->id)
        return PW_ENOTFOUND;
    if (plen != 68)
        return PW_EAUTH;
    if (crypto_sign_verify_detached(payload + 4, (const unsigned char *)v->text, v->text_len,
                                    v->k->pk) != 0)
        return PW_EAUTH;
    return PW_OK;
}

int archive_note_verify(const struct archive_key *k, const char *note, size_t len, size_t *text_len)
{
    size_t tl, so;
    int rc = note_split(note, len, &tl, &so);
    if (rc != PW_OK)
        return rc;
    struct verify_ctx v = {k, note, tl};
    rc = each_sig(note, so, len, verify_one, &v);
    if (rc == PW_OK && text_len)
        *text_len = tl;
    return rc;
}

/* ---- checkpoints ---- */

void archive_checkpoint_text(const struct archive_checkpoint *c, struct pw_buf *out)
{
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, c->root, ARCHIVE_HASH, B64);
    pw_buf_printf(out, "%s\n%" PRIu64 "\n%s\n", c->origin, c->size, b64);
}

/* Next line of [*p, end) without its "\n"; false at the end or without a "\n". */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    if (*p >= end)
        return false;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (!nl)
        return false;
    *line = *p;
    *len = (size_t)(nl - *p);
    *p = nl + 1;
    return true;
}

static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Exactly the canonical base64 of 32 bytes (re-encoded and compared: no other spelling). */
static bool parse_hash(const char *s, size_t len, uint8_t out[ARCHIVE_HASH])
{
    size_t bl = 0;
    uint8_t tmp[48];
    char back[64];
    if (len != 44 || sodium_base642bin(tmp, sizeof tmp, s, len, NULL, &bl, NULL, B64) != 0 ||
        bl != ARCHIVE_HASH)
        return false;
    sodium_bin2base64(back, sizeof back, tmp, ARCHIVE_HASH, B64);
    if (memcmp(back, s, 44) != 0)
        return false;
    memcpy(out, tmp, ARCHIVE_HASH);
    return true;
}

int archive_checkpoint_parse(const char *text, size_t len, struct archive_checkpoint *c, char *err,
                             size_t errcap)
{
    const char *p = text, *end = text + len, *line;
    size_t ll;
    struct archive_checkpoint t;
    memset(&t, 0, sizeof t);
    if (!next_line(&p, end, &line, &ll) || ll == 0 || ll > ARCHIVE_MAX_NAME) {
        seterr(err, errcap, "checkpoint line 1: missing or too long origin");
        return PW_EPROTO;
    }
    for (size_t i = 0; i < ll; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7F) {
            seterr(err, errcap, "checkpoint line 1: a control character in the origin");
            return PW_EPROTO;
        }
    memcpy(t.origin, line, ll);
    if (!next_line(&p, end, &line, &ll) || !parse_u64(line, ll, &t.size)) {
        seterr(err, errcap, "checkpoint line 2: tree size is not a decimal number");
        return PW_EPROTO;
    }
    if (!next_line(&p, end, &line, &ll) || !parse_hash(line, ll, t.root)) {
        seterr(err, errcap, "checkpoint line 3: root is not base64 of 32 bytes");
        return PW_EPROTO;
    }
    *c = t;
    return PW_OK;
}

/* ---- cosignatures ---- */

static size_t cosign_message(const char *cp_text, size_t len, uint64_t t, uint8_t **out)
{
    char head[64];
    int hl = snprintf(head, sizeof head, "cosignature/v1\ntime %" PRIu64 "\n", t);
    uint8_t *m = malloc((size_t)hl + len);
    if (!m)
        return 0;
    memcpy(m, head, (size_t)hl);
    memcpy(m + hl, cp_text, len);
    *out = m;
    return (size_t)hl + len;
}

void archive_cosign(const struct archive_key *k, const char *cp_text, size_t len, uint64_t t,
                    struct pw_buf *out)
{
    uint8_t *msg = NULL;
    size_t ml = cosign_message(cp_text, len, t, &msg);
    if (!ml)
        return;
    uint32_t id = archive_cosign_key_id(k->name, k->pk);
    uint8_t payload[4 + 8 + 64];
    for (int i = 0; i < 4; i++)
        payload[i] = (uint8_t)(id >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        payload[4 + i] = (uint8_t)(t >> (56 - 8 * i));
    crypto_sign_detached(payload + 12, NULL, msg, ml, k->sk);
    free(msg);
    sig_line(out, k->name, payload, sizeof payload);
}

struct cosign_ctx {
    const char *name;
    const uint8_t *pk;
    uint32_t id;
    const char *text;
    size_t text_len;
    uint64_t t;
};

static int cosign_one(const char *name, size_t nlen, const uint8_t *payload, size_t plen, void *arg)
{
    struct cosign_ctx *v = arg;
    if (nlen != strlen(v->name) || memcmp(name, v->name, nlen) != 0)
        return PW_ENOTFOUND;
    uint32_t id = (uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 |
                  (uint32_t)payload[2] << 8 | payload[3];
    if (id != v->id)
        return PW_ENOTFOUND;
    if (plen != 76)
        return PW_EAUTH;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | payload[4 + i];
    uint8_t *msg = NULL;
    size_t ml = cosign_message(v->text, v->text_len, t, &msg);
    if (!ml)
        return PW_ENOMEM;
    int ok = crypto_sign_verify_detached(payload + 12, msg, ml, v->pk) == 0;
    free(msg);
    if (!ok)
        return PW_EAUTH;
    v->t = t;
    return PW_OK;
}

int archive_cosign_verify(const char *name, const uint8_t pk[32], const char *note, size_t len,
                          uint64_t *t)
{
    size_t tl, so;
    int rc = note_split(note, len, &tl, &so);
    if (rc != PW_OK)
        return rc;
    struct cosign_ctx v = {name, pk, archive_cosign_key_id(name, pk), note, tl, 0};
    rc = each_sig(note, so, len, cosign_one, &v);
    if (rc == PW_OK && t)
        *t = v.t;
    return rc;
}

/* ---- receipts ---- */

#define RECEIPT_MAGIC "c2sp.org/tlog-proof@v1"

void archive_receipt_format(uint64_t index, const uint8_t proof[][ARCHIVE_HASH], size_t n,
                            const char *signed_cp, size_t cp_len, const void *extra,
                            size_t extra_len, struct pw_buf *out)
{
    char b64[64];
    pw_buf_puts(out, RECEIPT_MAGIC "\n");
    if (extra) {
        size_t cap = sodium_base64_ENCODED_LEN(extra_len, sodium_base64_VARIANT_ORIGINAL);
        char *e = malloc(cap);
        if (e) {
            sodium_bin2base64(e, cap, extra, extra_len, B64);
            pw_buf_printf(out, "extra %s\n", e);
            free(e);
        }
    }
    pw_buf_printf(out, "index %" PRIu64 "\n", index);
    for (size_t i = 0; i < n; i++) {
        sodium_bin2base64(b64, sizeof b64, proof[i], ARCHIVE_HASH, B64);
        pw_buf_puts(out, b64);
        pw_buf_putc(out, '\n');
    }
    pw_buf_putc(out, '\n');
    pw_buf_append(out, signed_cp, cp_len);
}

int archive_receipt_verify(const struct archive_key *k, const char *origin, const char *receipt,
                           size_t len, const void *leaf, size_t leaf_len, char *err, size_t errcap)
{
    const char *p = receipt, *end = receipt + len, *line;
    size_t ll;
    uint64_t index;
    uint8_t proof[ARCHIVE_MAX_PROOF][ARCHIVE_HASH];
    size_t n = 0;
    if (!next_line(&p, end, &line, &ll) || ll != strlen(RECEIPT_MAGIC) ||
        memcmp(line, RECEIPT_MAGIC, ll) != 0) {
        seterr(err, errcap, "receipt line 1: not c2sp.org/tlog-proof@v1");
        return PW_EPROTO;
    }
    if (!next_line(&p, end, &line, &ll)) {
        seterr(err, errcap, "receipt line 2: missing");
        return PW_EPROTO;
    }
    if (ll > 6 && memcmp(line, "extra ", 6) == 0 && !next_line(&p, end, &line, &ll)) {
        seterr(err, errcap, "receipt: missing index line");
        return PW_EPROTO;
    }
    if (ll < 7 || memcmp(line, "index ", 6) != 0 || !parse_u64(line + 6, ll - 6, &index)) {
        seterr(err, errcap, "receipt: bad index line");
        return PW_EPROTO;
    }
    for (;;) {
        if (!next_line(&p, end, &line, &ll)) {
            seterr(err, errcap, "receipt: no empty line before the checkpoint");
            return PW_EPROTO;
        }
        if (ll == 0)
            break;
        if (n == ARCHIVE_MAX_PROOF || !parse_hash(line, ll, proof[n])) {
            seterr(err, errcap, "receipt: bad proof hash line");
            return PW_EPROTO;
        }
        n++;
    }
    size_t cp_len = (size_t)(end - p), tl;
    int rc = archive_note_verify(k, p, cp_len, &tl);
    if (rc != PW_OK) {
        seterr(err, errcap,
               rc == PW_EAUTH ? "receipt: checkpoint signature does not verify"
                              : "receipt: checkpoint not signed by this key");
        return rc == PW_ENOTFOUND ? PW_EAUTH : rc;
    }
    struct archive_checkpoint cp;
    if ((rc = archive_checkpoint_parse(p, tl, &cp, err, errcap)) != PW_OK)
        return rc;
    if (strcmp(cp.origin, origin ? origin : k->name) != 0) {
        seterr(err, errcap, "receipt: checkpoint origin is not the log's");
        return PW_EPROTO;
    }
    uint8_t lh[ARCHIVE_HASH];
    archive_leaf_hash(leaf, leaf_len, lh);
    rc = archive_inclusion_verify(index, cp.size, lh, (const uint8_t(*)[ARCHIVE_HASH])proof, n,
                                  cp.root);
    if (rc != PW_OK) {
        seterr(err, errcap, "receipt: the inclusion proof does not lead to the checkpoint root");
        return PW_EPROTO;
    }
    return PW_OK;
}
