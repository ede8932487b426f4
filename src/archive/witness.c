/* witness.c — parkwatch as a c2sp.org/tlog-witness for other logs (another park's parkwatch).
 *
 * A witness holds, per log it knows (by origin and verifier key), the latest checkpoint it
 * cosigned, and cosigns a new one only when it is consistent with that: a log rewritten and
 * re-signed by whoever holds its key is then caught, because the witness's copy is outside the
 * log operator's control.
 *
 * Request (POST <prefix>/add-checkpoint):
 *     old <size the log believes the witness holds>\n
 *     <consistency proof from old to the checkpoint's size, one base64 hash per line>
 *     \n
 *     <the signed checkpoint>
 * Answers: 200 with the cosignature line(s); 409 with "<size>\n" (text/x.tlog.size) when old is
 * not what the witness holds, or when sizes agree but roots differ; 403 when the log's signature
 * does not verify; 404 for an unknown origin; 422 when the proof does not verify; 400 when the
 * request is malformed or the checkpoint smaller than old.
 *
 * State: <dir>/<hex SHA-256 of the origin>, the checkpoint text last cosigned, replaced durably
 * before answering 200. Cosignatures (c2sp.org/tlog-cosignature v1, Ed25519 type 0x04) are made
 * with the witness key; serialised by a mutex. */
#include "archive/archive.h"

#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/mem.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LOGS 16
#define MAX_REQUEST (64 * 1024)

struct archive_witness {
    char dir[4096];
    struct archive_key key; /* the witness key (cosignatures) */
    struct archive_key logs[MAX_LOGS];
    size_t n_logs;
    pthread_mutex_t lock;
};

void archive_witness_key_from_seed(struct archive_key *k, const char *name, const uint8_t seed[32])
{
    /* a key of its own, derived from the archive seed: a cosignature is never made with the
     * key that signs the park's own log */
    uint8_t ws[32];
    crypto_hash_sha256_state st;
    static const char label[] = "parkwatch witness key v1";
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)label, sizeof label - 1);
    crypto_hash_sha256_update(&st, seed, 32);
    crypto_hash_sha256_final(&st, ws);
    archive_key_from_seed(k, name, ws);
    k->id = archive_cosign_key_id(name, k->pk);
    sodium_memzero(ws, sizeof ws);
}

void archive_witness_vkey_format(const struct archive_key *k, char *out, size_t cap)
{
    uint8_t raw[33];
    char b64[64];
    raw[0] = 0x04;
    memcpy(raw + 1, k->pk, 32);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, cap, "%s+%08" PRIx32 "+%s", k->name, archive_cosign_key_id(k->name, k->pk), b64);
}

int archive_witness_vkey_parse(const char *vkey, struct archive_key *k, char *err, size_t errcap)
{
    const char *p1 = strchr(vkey, '+');
    const char *p2 = p1 ? strchr(p1 + 1, '+') : NULL;
    struct archive_key t;
    memset(&t, 0, sizeof t);
    if (!p1 || !p2 || p2 - p1 != 9 || (size_t)(p1 - vkey) > ARCHIVE_MAX_NAME) {
        snprintf(err, errcap, "witness key: expected name+<8 hex>+<base64 key>");
        return PW_EINVAL;
    }
    memcpy(t.name, vkey, (size_t)(p1 - vkey));
    uint8_t raw[40];
    size_t rl = 0;
    char hex[9];
    memcpy(hex, p1 + 1, 8);
    hex[8] = '\0';
    char *end;
    unsigned long id = strtoul(hex, &end, 16);
    if (!archive_name_valid(t.name) || *end ||
        sodium_base642bin(raw, sizeof raw, p2 + 1, strlen(p2 + 1), NULL, &rl, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        rl != 33 || raw[0] != 0x04) {
        snprintf(err, errcap, "witness key: not name+id+base64(0x04 || Ed25519 key)");
        return PW_EINVAL;
    }
    memcpy(t.pk, raw + 1, 32);
    t.id = archive_cosign_key_id(t.name, t.pk);
    if (t.id != (uint32_t)id) {
        snprintf(err, errcap, "witness key: key ID does not match name and key");
        return PW_EINVAL;
    }
    *k = t;
    return PW_OK;
}

int archive_witness_open(const char *dir, const struct archive_key *key, const char *logs_csv,
                         struct archive_witness **out, char *err, size_t errcap)
{
    struct archive_witness *w = pw_xcalloc(1, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    w->key = *key;
    pthread_mutex_init(&w->lock, NULL);
    const char *p = logs_csv;
    int rc = PW_OK;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && (*p == ' ')) {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        if (n) {
            char vk[512];
            if (n >= sizeof vk || w->n_logs == MAX_LOGS) {
                snprintf(err, errcap, "archive.witness_for: at most %d verifier keys", MAX_LOGS);
                rc = PW_ECONFIG;
                goto out;
            }
            memcpy(vk, p, n);
            vk[n] = '\0';
            char e2[128];
            if (archive_vkey_parse(vk, &w->logs[w->n_logs], e2, sizeof e2) != PW_OK) {
                snprintf(err, errcap, "archive.witness_for: '%.64s': %s", vk, e2);
                rc = PW_ECONFIG;
                goto out;
            }
            w->n_logs++;
        }
        p = e ? e + 1 : NULL;
    }
    if ((rc = pw_mkdir_p(w->dir)) != PW_OK)
        snprintf(err, errcap, "witness state: cannot create %s", w->dir);
out:
    if (rc != PW_OK) {
        archive_witness_close(w);
        return rc;
    }
    *out = w;
    return PW_OK;
}

void archive_witness_close(struct archive_witness *w)
{
    if (!w)
        return;
    pthread_mutex_destroy(&w->lock);
    sodium_memzero(&w->key, sizeof w->key);
    free(w);
}

static void state_path(const struct archive_witness *w, const char *origin, char *out, size_t cap)
{
    uint8_t h[32];
    char hex[65];
    crypto_hash_sha256(h, (const unsigned char *)origin, strlen(origin));
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(out, cap, "%s/%s", w->dir, hex);
}

/* The checkpoint last cosigned for origin; *have false when none. */
static int load_state(const struct archive_witness *w, const char *origin,
                      struct archive_checkpoint *held, bool *have)
{
    char path[4200], *data = NULL, err[128];
    size_t len = 0;
    state_path(w, origin, path, sizeof path);
    int rc = pw_file_read(path, ARCHIVE_MAX_NOTE, &data, &len);
    *have = false;
    if (rc == PW_ENOTFOUND)
        return PW_OK;
    if (rc != PW_OK)
        return rc;
    rc = archive_checkpoint_parse(data, len, held, err, sizeof err);
    free(data);
    if (rc != PW_OK) {
        PW_LOG_ERROR("witness", "state file does not parse", "path=%s err=\"%s\"", path, err);
        return PW_ECORRUPT;
    }
    *have = true;
    return PW_OK;
}

static int answer(struct pw_buf *out, int status, const char *msg)
{
    pw_buf_reset(out);
    pw_buf_puts(out, msg);
    pw_buf_putc(out, '\n');
    return status;
}

int archive_witness_add(struct archive_witness *w, const char *body, size_t len, uint64_t now_s,
                        struct pw_buf *out, const char **content_type)
{
    *content_type = "text/plain; charset=utf-8";
    if (len > MAX_REQUEST)
        return answer(out, 400, "request too large");
    /* "old N" line */
    const char *end = body + len, *p = body;
    const char *nl = memchr(p, '\n', len);
    if (!nl || nl - p < 5 || memcmp(p, "old ", 4) != 0)
        return answer(out, 400, "line 1: expected \"old <size>\"");
    uint64_t old = 0;
    for (const char *q = p + 4; q < nl; q++) {
        if (*q < '0' || *q > '9' || old > UINT64_MAX / 10 ||
            (q == p + 4 && *q == '0' && q + 1 < nl))
            return answer(out, 400, "line 1: old is not a decimal number");
        old = old * 10 + (uint64_t)(*q - '0');
    }
    p = nl + 1;
    uint8_t proof[ARCHIVE_MAX_PROOF][ARCHIVE_HASH];
    size_t n = 0;
    for (;;) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return answer(out, 400, "no empty line before the checkpoint");
        if (nl == p) {
            p++;
            break;
        }
        size_t bl = 0;
        if (n == ARCHIVE_MAX_PROOF || nl - p != 44 ||
            sodium_base642bin(proof[n], ARCHIVE_HASH, p, 44, NULL, &bl, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bl != ARCHIVE_HASH)
            return answer(out, 400, "bad consistency proof line");
        n++;
        p = nl + 1;
    }
    const char *note = p;
    size_t note_len = (size_t)(end - p);
    /* which log? the origin is the note's first line */
    const char *o_end = memchr(note, '\n', note_len);
    if (!o_end || o_end == note || o_end - note > ARCHIVE_MAX_NAME)
        return answer(out, 400, "checkpoint: no origin line");
    char origin[ARCHIVE_MAX_NAME + 1];
    memcpy(origin, note, (size_t)(o_end - note));
    origin[o_end - note] = '\0';
    const struct archive_key *log = NULL;
    for (size_t i = 0; i < w->n_logs; i++)
        if (strcmp(w->logs[i].name, origin) == 0)
            log = &w->logs[i];
    if (!log)
        return answer(out, 404, "unknown log origin");
    size_t tl = 0;
    if (archive_note_verify(log, note, note_len, &tl) != PW_OK)
        return answer(out, 403, "the checkpoint is not signed by the log's key");
    struct archive_checkpoint cp;
    char err[128];
    if (archive_checkpoint_parse(note, tl, &cp, err, sizeof err) != PW_OK)
        return answer(out, 400, err);
    if (cp.size < old)
        return answer(out, 400, "the checkpoint is smaller than old");

    pthread_mutex_lock(&w->lock);
    struct archive_checkpoint held = {.size = 0};
    bool have = false;
    int status = 200;
    if (load_state(w, origin, &held, &have) != PW_OK) {
        status = answer(out, 500, "witness state unreadable");
        goto out;
    }
    uint64_t held_size = have ? held.size : 0;
    if (old != held_size) {
        *content_type = "text/x.tlog.size";
        pw_buf_reset(out);
        pw_buf_printf(out, "%" PRIu64 "\n", held_size);
        status = 409;
        goto out;
    }
    if (have && cp.size == held.size) {
        if (sodium_memcmp(cp.root, held.root, ARCHIVE_HASH) != 0 || n != 0) {
            *content_type = "text/x.tlog.size";
            pw_buf_reset(out);
            pw_buf_printf(out, "%" PRIu64 "\n", held_size);
            PW_LOG_ERROR("witness", "a log signed two roots for one size",
                         "origin=%s size=%" PRIu64, origin, cp.size);
            status = 409;
            goto out;
        }
    } else if (old == 0) {
        if (n != 0) {
            status = answer(out, 422, "a proof from size 0 must be empty");
            goto out;
        }
    } else if (archive_consistency_verify(old, cp.size, held.root, cp.root,
                                          (const uint8_t(*)[ARCHIVE_HASH])proof, n) != PW_OK) {
        PW_LOG_WARN("witness", "consistency proof rejected",
                    "origin=%s old=%" PRIu64 " size=%" PRIu64, origin, old, cp.size);
        status = answer(out, 422, "the consistency proof does not verify");
        goto out;
    }
    /* hold the new checkpoint durably, then cosign it */
    char path[4200];
    state_path(w, origin, path, sizeof path);
    if (pw_file_replace(path, note, tl) != PW_OK) {
        status = answer(out, 500, "witness state not stored");
        goto out;
    }
    pw_buf_reset(out);
    archive_cosign(&w->key, note, tl, now_s, out);
out:
    pthread_mutex_unlock(&w->lock);
    return status;
}
