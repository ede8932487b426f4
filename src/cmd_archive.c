/* cmd_archive.c — `parkwatch archive verify|export|vkey`, and the archive's options for serve.
 *
 *   parkwatch archive verify [--data DIR] [--vkey VKEY] [--from CHECKPOINT]
 *       recomputes every hash tile and the root from the stored entries offline, checks every
 *       signed checkpoint (signature, root, consistency with the next); exit 1 naming the first
 *       damaged entry or tile.
 *   parkwatch archive export [--data DIR] --out DIR [--vkey VKEY]
 *       writes a 备案包 (tlog-tiles layout: checkpoint, tile/..., checkpoints, vkey).
 *   parkwatch archive vkey
 *       prints the verifier key of the signing key (archive.key_file). */
#include "cli.h"

#include "archive/archive.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/timeutil.h"

#include <limits.h>
#include <pwd.h>
#include <unistd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: parkwatch archive verify [--data DIR] [--vkey VKEY] [--from CHECKPOINT]\n"
    "       parkwatch archive export [--data DIR] --out DIR [--vkey VKEY]\n"
    "       parkwatch archive vkey [--data DIR] [--witness]\n"
    "\n"
    "  verify   recompute every tile and the root from <data>/archive's entries and check every\n"
    "           signed checkpoint and its consistency with the next; exit 1 naming the first\n"
    "           damaged entry or tile\n"
    "  export   write a filing package (备案包): checkpoint, tile/<L>/<N>, tile/entries/<N>,\n"
    "           checkpoints, vkey — verifiable without parkwatch (docs/archive.md)\n"
    "  vkey     print the verifier key (name+id+key) of archive.key_file; with --witness the\n"
    "           cosignature key this parkwatch witnesses other logs with\n"
    "\n"
    "  --vkey VKEY   check against this verifier key (the one you hold; after a key rotation\n"
    "                'NEW,OLD'); default: the key file's and archive.previous_vkeys, else the\n"
    "                copy stored in <data>/archive/vkey\n"
    "  --from FILE   a signed checkpoint you hold: the stored log must contain it as a prefix\n";

void cli_archive_paths(struct cli *c, char *dir, size_t dcap, char *key, size_t kcap, char *origin,
                       size_t ocap)
{
    snprintf(dir, dcap, "%s/archive", c->data_dir);
    snprintf(origin, ocap, "archive.parkwatch.%s", c->cfg.archive_park_id);
    if (c->cfg.archive_key_file[0]) {
        snprintf(key, kcap, "%s", c->cfg.archive_key_file);
        return;
    }
    char real[PATH_MAX];
    const char *base = realpath(c->data_dir, real) ? real : c->data_dir;
    size_t bl = strlen(base);
    while (bl > 1 && base[bl - 1] == '/')
        bl--;
    snprintf(key, kcap, "%.*s-archive.key", (int)bl, base);
}

int cli_archive_witness_key(struct cli *c, struct archive_key *wk, char *err, size_t errcap)
{
    char dir[4096], key[4096], origin[256], name[256];
    uint8_t seed[32];
    cli_archive_paths(c, dir, sizeof dir, key, sizeof key, origin, sizeof origin);
    int rc = archive_key_load(key, false, seed, err, errcap);
    if (rc != PW_OK)
        return rc;
    snprintf(name, sizeof name, "witness.parkwatch.%s", c->cfg.archive_park_id);
    if (!archive_name_valid(name)) {
        snprintf(err, errcap, "witness name '%s' is not a valid key name", name);
        sodium_memzero(seed, sizeof seed);
        return PW_ECONFIG;
    }
    archive_witness_key_from_seed(wk, name, seed);
    sodium_memzero(seed, sizeof seed);
    return PW_OK;
}

int cli_archive_action(struct cli *c, const char *action, const char *detail_json, const void *body,
                       size_t body_len)
{
    if (!c->cfg.archive_enabled)
        return PW_OK;
    char dir[4096], key[4096], origin[256], err[256] = "", user[80];
    cli_archive_paths(c, dir, sizeof dir, key, sizeof key, origin, sizeof origin);
    const struct passwd *pw = getpwuid(getuid());
    const char *login = pw && pw->pw_name ? pw->pw_name : getenv("USER");
    if (login && *login)
        snprintf(user, sizeof user, "cli:%.60s", login);
    else
        snprintf(user, sizeof user, "cli:uid %u", (unsigned)getuid());
    struct pw_buf j;
    pw_buf_init(&j, 0);
    pw_buf_puts(&j, "{\"action\":");
    pw_buf_json_str(&j, action);
    pw_buf_puts(&j, ",\"user\":");
    pw_buf_json_str(&j, user);
    pw_buf_puts(&j, ",\"role\":\"cli\",\"peer\":\"\"");
    if (detail_json) {
        pw_buf_puts(&j, ",\"detail\":");
        pw_buf_puts(&j, detail_json);
    }
    if (body) {
        uint8_t h[32];
        char hex[65];
        crypto_hash_sha256(h, body, body_len);
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        pw_buf_printf(&j, ",\"bytes\":%zu,\"sha256\":\"%s\"", body_len, hex);
    }
    pw_buf_puts(&j, "}");
    if (body &&
        ARCHIVE_LEAF_HEADER + ARCHIVE_MAX_SOURCE + j.len + 1 + body_len <= ARCHIVE_MAX_ENTRY) {
        pw_buf_putc(&j, '\n');
        pw_buf_append(&j, body, body_len);
    }
    int rc = archive_spool_add(dir, ARCHIVE_KIND_OPERATOR, pw_now_ms(), user, j.data, j.len, err,
                               sizeof err);
    pw_buf_release(&j);
    if (rc != PW_OK)
        fprintf(stderr, "parkwatch: the archive cannot record %s (%s); nothing changed\n", action,
                err[0] ? err : pw_strerror(rc));
    return rc;
}

/* The verifier key of the key file into out; false when it cannot be read. */
static bool vkey_of_keyfile(struct cli *c, char *out, size_t cap, bool quiet)
{
    char dir[4096], key[4096], origin[256], err[512];
    uint8_t seed[32];
    struct archive_key k;
    cli_archive_paths(c, dir, sizeof dir, key, sizeof key, origin, sizeof origin);
    if (archive_key_load(key, false, seed, err, sizeof err) != PW_OK) {
        if (!quiet)
            fprintf(stderr, "parkwatch archive: %s\n", err);
        return false;
    }
    int rc = archive_key_from_seed(&k, origin, seed);
    sodium_memzero(seed, sizeof seed);
    if (rc != PW_OK) {
        fprintf(stderr, "parkwatch archive: origin '%s' is not a valid key name\n", origin);
        return false;
    }
    archive_vkey_format(&k, out, cap);
    sodium_memzero(&k, sizeof k);
    return true;
}

int cmd_archive(struct cli *c)
{
    bool help = cli_take_flag(c, "--help") || cli_take_flag(c, "-h");
    if (help || c->argc < 1) {
        fputs(usage, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "parkwatch: libsodium failed to initialise\n");
        return 1;
    }
    const char *sub = c->argv[0];
    c->argv++;
    c->argc--;
    const char *vkey = cli_take_opt(c, "--vkey");
    const char *out = strcmp(sub, "export") == 0 ? cli_take_opt(c, "--out") : NULL;
    const char *from = strcmp(sub, "verify") == 0 ? cli_take_opt(c, "--from") : NULL;
    bool witness = strcmp(sub, "vkey") == 0 && cli_take_flag(c, "--witness");
    if (c->argc > 0) {
        fprintf(stderr, "parkwatch archive %s: unexpected argument '%s'\n%s", sub, c->argv[0],
                usage);
        return 2;
    }
    char vk[4096], dir[4096], key[4096], origin[256];
    cli_archive_paths(c, dir, sizeof dir, key, sizeof key, origin, sizeof origin);
    if (strcmp(sub, "vkey") == 0) {
        if (witness) {
            struct archive_key wk;
            char err[512];
            if (cli_archive_witness_key(c, &wk, err, sizeof err) != PW_OK) {
                fprintf(stderr, "parkwatch archive: %s\n", err);
                return 1;
            }
            archive_witness_vkey_format(&wk, vk, sizeof vk);
            sodium_memzero(&wk, sizeof wk);
        } else if (!vkey_of_keyfile(c, vk, sizeof vk, false)) {
            return 1;
        }
        printf("%s\n", vk);
        return 0;
    }
    if (strcmp(sub, "verify") != 0 && strcmp(sub, "export") != 0) {
        fprintf(stderr, "parkwatch archive: unknown subcommand '%s'\n%s", sub, usage);
        return 2;
    }
    if (!vkey && vkey_of_keyfile(c, vk, sizeof vk, true)) {
        /* and the earlier keys of a rotation */
        if (c->cfg.archive_previous_vkeys[0]) {
            size_t l = strlen(vk);
            snprintf(vk + l, sizeof vk - l, ",%s", c->cfg.archive_previous_vkeys);
        }
        vkey = vk;
    }
    struct pw_buf rep;
    pw_buf_init(&rep, 0);
    int rc;
    if (strcmp(sub, "verify") == 0) {
        char *held = NULL;
        size_t held_len = 0;
        if (from && (rc = pw_file_read(from, ARCHIVE_MAX_NOTE, &held, &held_len)) != PW_OK) {
            fprintf(stderr, "parkwatch archive verify: cannot read --from %s: %s\n", from,
                    pw_strerror(rc));
            pw_buf_release(&rep);
            return 1;
        }
        rc = archive_verify_dir(dir, vkey, held, held_len, &rep);
        free(held);
    } else {
        if (!out) {
            fprintf(stderr, "parkwatch archive export: --out DIR is required\n%s", usage);
            pw_buf_release(&rep);
            return 2;
        }
        rc = archive_export_dir(dir, vkey, out, &rep);
    }
    fputs(rep.data ? rep.data : "", rc == PW_OK ? stdout : stderr);
    pw_buf_release(&rep);
    return rc == PW_OK ? 0 : 1;
}
