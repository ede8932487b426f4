/* cmd_storage.c — `parkwatch flush`: checkpoint the time-series store now.
 *
 *   parkwatch flush [--data DIR] [--timeout 2m]
 *
 * With a daemon serving DIR (DIR/lock is held and names its pid) the daemon must do it — it is
 * the store's only writer: flush sends it SIGUSR1 with a random token (sigqueue) and waits for
 * DIR/flush.result to carry that token (resending every 10 s, in case a concurrent flush's
 * signal replaced ours). Without a daemon it takes the lock itself, opens the store, checkpoints
 * and closes it. Exit 0 when the checkpoint was made. */
#include "cli.h"

#include "base/dirlock.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "base/timeutil.h"
#include "tsdb/tsdb.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void print_result(const char *dir, const char *how, uint64_t samples, long long ms,
                         uint64_t wal_before, uint64_t wal_after, uint64_t blocks,
                         uint64_t block_bytes)
{
    printf("flush %s (%s): %" PRIu64 " samples moved from the WAL into blocks in %lld ms; WAL %"
           PRIu64 " -> %" PRIu64 " bytes; %" PRIu64 " blocks, %" PRIu64 " bytes\n",
           dir, how, samples, ms, wal_before, wal_after, blocks, block_bytes);
}

static int flush_offline(struct cli *c, const char *tsdb_dir)
{
    struct tsdb_options o;
    struct tsdb *db;
    struct tsdb_stats a, b;
    tsdb_options_init(&o);
    tsdb_fsync_parse(c->cfg.storage_fsync, &o.fsync);
    o.retention_ms = c->cfg.storage_retention;
    o.max_series = (uint32_t)c->cfg.storage_max_series;
    int rc = tsdb_open(tsdb_dir, &o, &db);
    if (rc != PW_OK) {
        fprintf(stderr, "parkwatch flush: cannot open %s: %s (%s)\n", tsdb_dir, pw_strerror(rc),
                pw_errname(rc));
        return 1;
    }
    tsdb_stats(db, &a);
    int64_t t0 = pw_mono_ns();
    rc = tsdb_checkpoint(db);
    long long ms = (long long)((pw_mono_ns() - t0) / 1000000);
    tsdb_stats(db, &b);
    int crc = tsdb_close(db);
    if (rc == PW_OK)
        rc = crc;
    if (rc != PW_OK) {
        fprintf(stderr, "parkwatch flush: checkpoint of %s failed: %s (%s)\n", tsdb_dir,
                pw_strerror(rc), pw_errname(rc));
        return 1;
    }
    print_result(tsdb_dir, "offline, no daemon", a.head_samples, ms, a.wal_bytes, b.wal_bytes,
                 b.blocks, b.block_bytes);
    return 0;
}

/* key=value lines of flush.result; NULL when absent. */
static const char *field(const char *text, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
            size_t n = strcspn(l + kl + 1, "\n");
            snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), l + kl + 1);
            return out;
        }
    }
    return NULL;
}

static uint64_t ufield(const char *text, const char *key)
{
    char v[32];
    return field(text, key, v, sizeof v) ? strtoull(v, NULL, 10) : 0;
}

static int flush_daemon(struct cli *c, const struct pw_dirlock_holder *h, int64_t timeout_ms)
{
    char path[4096], want[32], got[32], rcname[32];
    int token = (int)(randombytes_random() & 0x7fffffff);
    snprintf(path, sizeof path, "%s/flush.result", c->data_dir);
    snprintf(want, sizeof want, "%d", token);
    int64_t start = pw_mono_ns(), last_sent = 0;
    for (;;) {
        int64_t now = pw_mono_ns();
        if (last_sent == 0 || now - last_sent > 10000000000LL) {
            union sigval sv = {.sival_int = token};
            if (sigqueue(h->pid, SIGUSR1, sv) != 0) {
                fprintf(stderr, "parkwatch flush: cannot signal pid %ld serving %s: %s\n",
                        (long)h->pid, c->data_dir, strerror(errno));
                return 1;
            }
            last_sent = now;
        }
        char *text = NULL;
        size_t len;
        if (pw_file_read(path, 4096, &text, &len) == PW_OK) {
            if (field(text, "token", got, sizeof got) && strcmp(got, want) == 0) {
                int ok = field(text, "rc", rcname, sizeof rcname) && strcmp(rcname, "PW_OK") == 0;
                if (ok)
                    print_result(c->data_dir, "by the daemon", ufield(text, "samples"),
                                 (long long)ufield(text, "ms"), ufield(text, "wal_bytes_before"),
                                 ufield(text, "wal_bytes_after"), ufield(text, "blocks"),
                                 ufield(text, "block_bytes"));
                else
                    fprintf(stderr, "parkwatch flush: the daemon (pid %ld) could not: %s\n",
                            (long)h->pid, rcname);
                free(text);
                return ok ? 0 : 1;
            }
            free(text);
        }
        if (now - start > timeout_ms * 1000000) {
            fprintf(stderr, "parkwatch flush: no answer from pid %ld within %lld s\n",
                    (long)h->pid, (long long)(timeout_ms / 1000));
            return 1;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int cmd_flush(struct cli *c)
{
    char tsdb_dir[4096];
    struct stat st;
    struct pw_dirlock lock = {-1};
    struct pw_dirlock_holder h;
    int64_t timeout_ms = 120000;
    const char *v = cli_take_opt(c, "--timeout");
    if (v && (pw_duration_parse(v, &timeout_ms) != PW_OK || timeout_ms <= 0)) {
        fprintf(stderr, "parkwatch flush: --timeout: expected a duration (\"2m\"), got \"%s\"\n",
                v);
        return 2;
    }
    if (c->argc > 0) {
        fprintf(stderr, "usage: parkwatch flush [--data DIR] [--timeout 2m]\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    snprintf(tsdb_dir, sizeof tsdb_dir, "%s/tsdb", c->data_dir);
    if (stat(tsdb_dir, &st) != 0) {
        fprintf(stderr, "parkwatch flush: no time-series store in %s (%s does not exist)\n",
                c->data_dir, tsdb_dir);
        return 1;
    }
    int rc = pw_dirlock_take(c->data_dir, "flush", &lock, &h);
    if (rc == PW_ECONFLICT) {
        if (strcmp(h.command, "serve") != 0 || h.pid <= 0) {
            fprintf(stderr, "parkwatch flush: %s is in use by pid %ld (parkwatch %s); try again "
                            "when it is done\n",
                    c->data_dir, (long)h.pid, h.command[0] ? h.command : "?");
            return 1;
        }
        return flush_daemon(c, &h, timeout_ms);
    }
    if (rc != PW_OK) {
        fprintf(stderr, "parkwatch flush: cannot lock %s: %s (%s)\n", c->data_dir,
                pw_strerror(rc), pw_errname(rc));
        return 1;
    }
    int status = flush_offline(c, tsdb_dir);
    pw_dirlock_release(&lock);
    return status;
}
