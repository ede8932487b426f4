/* cmd_terminal.c — `parkwatch terminal`: JT/T 808 terminal registrations in meta.db.
 *
 *   parkwatch terminal reset PHONE --reason TEXT [--by NAME]   allow one more registration
 *   parkwatch terminal resets PHONE                             the reset record (JSON)
 *
 * Works on a running daemon's data directory too (SQLite; the listener reads the reset at the
 * terminal's next registration). The same action as POST /api/v1/jt808/terminals/{phone}/reset. */
#include "cli.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "proto/jt808.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: parkwatch terminal reset PHONE --reason TEXT [--by NAME] [--data DIR]\n"
    "       parkwatch terminal resets PHONE [--data DIR]\n"
    "\n"
    "A registered JT/T 808 terminal is never given its auth code again: a second registration\n"
    "for its phone is answered 0x8100 result 3 (terminal already registered). When a terminal\n"
    "lost its code or was replaced, `reset` lets it register once more (within\n"
    "jt808.reset_window, default 24h): that registration gets a fresh code and the old code\n"
    "stops working. Who (--by, default cli:<login name>) and why (--reason, required) are\n"
    "recorded; `resets` prints the record as JSON.\n";

int cmd_terminal(struct cli *c)
{
    if (cli_take_flag(c, "--help") || cli_take_flag(c, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    const char *reason = cli_take_opt(c, "--reason"), *by_opt = cli_take_opt(c, "--by");
    if (c->argc != 2 || (strcmp(c->argv[0], "reset") != 0 && strcmp(c->argv[0], "resets") != 0)) {
        fputs(usage, stderr);
        return 2;
    }
    const char *sub = c->argv[0], *arg = c->argv[1];
    char phone[JT808_PHONE_MAX + 1];
    if (jt808_phone_normalise(arg, phone, sizeof phone) != PW_OK) {
        fprintf(stderr,
                "parkwatch terminal %s: PHONE must be 1-20 digits (hex a-f allowed), "
                "got '%s'\n",
                sub, arg);
        return 2;
    }
    bool reset = strcmp(sub, "reset") == 0;
    if (reset && (!reason || !*reason)) {
        fprintf(stderr, "parkwatch terminal reset: --reason TEXT is required (it is recorded)\n");
        return 2;
    }
    char by[160];
    if (by_opt) {
        snprintf(by, sizeof by, "%s", by_opt);
    } else {
        const struct passwd *pw = getpwuid(getuid());
        const char *who = pw && pw->pw_name ? pw->pw_name : getenv("USER");
        snprintf(by, sizeof by, "cli:%s", who && *who ? who : "unknown");
    }
    struct model *m = cli_open_model(c);
    if (!m)
        return 1;
    int status = 1, rc;
    if (reset) {
        struct model_terminal_reset rs;
        rc = model_terminal_reset(m, phone, by, reason, &rs);
        if (rc == PW_OK) {
            char at[40], until[40];
            printf("terminal %s reset (record %lld, by %s at %s): it may register once more "
                   "until %s\n",
                   phone, (long long)rs.id, by, pw_time_format(rs.reset_ms, at, sizeof at),
                   pw_time_format(rs.reset_ms + c->cfg.jt808_reset_window, until, sizeof until));
            status = 0;
        } else if (rc == PW_ENOTFOUND) {
            fprintf(stderr,
                    "parkwatch terminal reset: %s is not registered (it may register "
                    "without a reset)\n",
                    phone);
        } else if (rc == PW_EINVAL) {
            fprintf(stderr, "parkwatch terminal reset: --reason must be 1-500 bytes of text and "
                            "--by 1-128 bytes\n");
            status = 2;
        } else {
            fprintf(stderr, "parkwatch terminal reset %s: %s\n", phone, pw_strerror(rc));
        }
    } else {
        struct pw_buf b;
        pw_buf_init(&b, 0);
        rc = model_terminal_resets_json(m, phone, c->cfg.jt808_reset_window, &b);
        if (rc == PW_OK) {
            fwrite(b.data, 1, b.len, stdout);
            status = 0;
        } else {
            fprintf(stderr, "parkwatch terminal resets %s: %s\n", phone, pw_strerror(rc));
        }
        pw_buf_release(&b);
    }
    model_close(m);
    return status;
}
