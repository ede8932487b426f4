/* side.c — what the archive keeps beside the log (docs/archive.md, "Storage"):
 *
 *   spool/         leaves of operator actions taken by the command line (`parkwatch import`,
 *                  `user`, `token`) while the daemon is the log's only writer: each a file
 *                  <ms>-<pid>-<n>.leaf holding one encoded leaf, written durably before the action
 *                  takes effect; the daemon appends them (at open, then every 10 s on the
 *                  pipeline's writer thread), makes them durable and only then removes them.
 *   write_exempt   the API tokens whose `/write` bodies are not archived (token attribute
 *                  archive_writes=false, set when the token is created), one name per line. Kept
 *                  here rather than in meta.db: the flag is the archive's business and meta.db's
 *                  migrations belong to others.
 *   settings       the last recorded value of each setting whose change is an operator action
 *                  (storage.retention ...), "key value" lines; a start that finds another value
 *                  appends a leaf with the old and the new one before the setting takes effect.
 */
#include "archive/archive.h"

#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_MAX 4096 /* files taken per drain */

/* ---- spool ---- */

int archive_spool_add(const char *dir, enum archive_kind kind, int64_t time_ms, const char *source,
                      const void *bytes, size_t len, char *err, size_t errcap)
{
    uint8_t *leaf = pw_xmalloc(ARCHIVE_MAX_ENTRY);
    size_t ll = archive_leaf_encode(leaf, ARCHIVE_MAX_ENTRY, kind, time_ms, source, bytes, len);
    int rc = PW_OK;
    char sp[4200], path[4300];
    if (ll == 0) {
        snprintf(err, errcap, "the action record (%zu bytes) does not fit in one archive leaf",
                 len);
        rc = PW_ETOOBIG;
        goto out;
    }
    snprintf(sp, sizeof sp, "%s/spool", dir);
    if ((rc = pw_mkdir_p(sp)) != PW_OK) {
        snprintf(err, errcap, "cannot create %s: %s", sp, pw_strerror(rc));
        goto out;
    }
    static int counter;
    snprintf(path, sizeof path, "%s/%013lld-%d-%d.leaf", sp, (long long)time_ms, (int)getpid(),
             __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    if ((rc = pw_file_replace(path, leaf, ll)) != PW_OK)
        snprintf(err, errcap, "cannot write %s: %s", path, pw_strerror(rc));
out:
    free(leaf);
    return rc;
}

static int name_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int archive_spool_drain(struct archive *a, size_t *taken)
{
    char sp[4200];
    *taken = 0;
    if (archive_appended(a) != archive_written(a))
        return PW_OK; /* a batch's leaves are on their way: next time */
    snprintf(sp, sizeof sp, "%s/spool", archive_dir(a));
    DIR *d = opendir(sp);
    if (!d)
        return errno == ENOENT ? PW_OK : pw_err_from_errno(errno);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < SPOOL_MAX) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".leaf") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = pw_xrealloc(names, cap * sizeof *names);
        }
        names[n++] = pw_xstrdup(e->d_name);
    }
    closedir(d);
    int rc = PW_OK;
    if (n == 0)
        goto out;
    qsort(names, n, sizeof *names, name_cmp); /* in the order they were made */
    for (size_t i = 0; i < n; i++) {
        char path[4500], *data = NULL;
        size_t len = 0;
        struct archive_leaf l;
        snprintf(path, sizeof path, "%s/%s", sp, names[i]);
        if (pw_file_read(path, ARCHIVE_MAX_ENTRY, &data, &len) != PW_OK ||
            archive_leaf_decode((const uint8_t *)data, len, &l) != PW_OK) {
            PW_LOG_WARN("archive", "spooled leaf unreadable; left in place", "path=%s", path);
            free(data);
            free(names[i]);
            names[i] = NULL;
            continue;
        }
        if (archive_append(a, data, len) < 0) {
            free(data);
            rc = PW_ETOOBIG;
            break;
        }
        free(data);
        (*taken)++;
    }
    if (rc == PW_OK && *taken)
        rc = archive_write(a);
    struct archive_sync_ticket t;
    if (rc == PW_OK && *taken && archive_sync_prepare(a, &t)) {
        archive_sync_perform(&t);
        rc = archive_sync_finish(a, &t);
    }
    /* durable in the log: the spool files may go */
    for (size_t i = 0; rc == PW_OK && i < n; i++) {
        if (!names[i])
            continue;
        char path[4500];
        snprintf(path, sizeof path, "%s/%s", sp, names[i]);
        unlink(path);
    }
    if (rc == PW_OK && *taken) {
        pw_fsync_dir(sp);
        PW_LOG_INFO("archive", "command-line actions archived", "leaves=%zu", *taken);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* ---- tokens whose /write bodies are not archived ---- */

static int exempt_path(const char *dir, char *out, size_t cap)
{
    return snprintf(out, cap, "%s/write_exempt", dir);
}

int archive_exempt_add(const char *dir, const char *token)
{
    char path[4200], *old = NULL;
    size_t ol = 0;
    exempt_path(dir, path, sizeof path);
    int rc = pw_mkdir_p(dir);
    if (rc != PW_OK)
        return rc;
    rc = pw_file_read(path, 1 << 20, &old, &ol);
    if (rc != PW_OK && rc != PW_ENOTFOUND)
        return rc;
    struct pw_buf b;
    pw_buf_init(&b, 0);
    if (old)
        pw_buf_append(&b, old, ol);
    pw_buf_puts(&b, token);
    pw_buf_putc(&b, '\n');
    rc = pw_file_replace(path, b.data, b.len);
    pw_buf_release(&b);
    free(old);
    return rc;
}

struct archive_exempt {
    pthread_mutex_t lock;
    char path[4200];
    struct timespec mtime;
    off_t size;
    char *names; /* "\nname1\nname2\n" */
};

struct archive_exempt *archive_exempt_open(const char *dir)
{
    struct archive_exempt *x = pw_xcalloc(1, sizeof *x);
    pthread_mutex_init(&x->lock, NULL);
    exempt_path(dir, x->path, sizeof x->path);
    x->size = -1;
    return x;
}

void archive_exempt_close(struct archive_exempt *x)
{
    if (!x)
        return;
    pthread_mutex_destroy(&x->lock);
    free(x->names);
    free(x);
}

bool archive_exempt_has(struct archive_exempt *x, const char *token)
{
    struct stat st;
    bool found = false;
    pthread_mutex_lock(&x->lock);
    bool have = stat(x->path, &st) == 0;
    if (!have) {
        free(x->names);
        x->names = NULL;
        x->size = -1;
    } else if (st.st_size != x->size || st.st_mtim.tv_sec != x->mtime.tv_sec ||
               st.st_mtim.tv_nsec != x->mtime.tv_nsec) {
        /* written by this process or by `parkwatch token create` */
        char *data = NULL;
        size_t len = 0;
        if (pw_file_read(x->path, 1 << 20, &data, &len) == PW_OK) {
            free(x->names);
            x->names = pw_xmalloc(len + 2);
            x->names[0] = '\n';
            memcpy(x->names + 1, data, len);
            x->names[len + 1] = '\0';
            x->size = st.st_size;
            x->mtime = st.st_mtim;
        }
        free(data);
    }
    if (x->names) {
        size_t tl = strlen(token);
        for (const char *p = x->names; (p = strstr(p, token)); p++)
            if (p > x->names && p[-1] == '\n' && p[tl] == '\n') {
                found = true;
                break;
            }
    }
    pthread_mutex_unlock(&x->lock);
    return found;
}

/* ---- settings ---- */

int archive_setting(struct archive *a, const char *key, const char *value, const char *source,
                    bool *changed)
{
    char path[4200], *data = NULL, old[256] = "";
    size_t len = 0;
    bool had = false;
    *changed = false;
    snprintf(path, sizeof path, "%s/settings", archive_dir(a));
    int rc = pw_file_read(path, 1 << 20, &data, &len);
    if (rc != PW_OK && rc != PW_ENOTFOUND)
        return rc;
    size_t kl = strlen(key);
    struct pw_buf rest;
    pw_buf_init(&rest, 0);
    for (char *p = data; p && *p;) {
        char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        if (ll > kl && strncmp(p, key, kl) == 0 && p[kl] == ' ') {
            snprintf(old, sizeof old, "%.*s", (int)(ll - kl - 1), p + kl + 1);
            had = true;
        } else if (ll) {
            pw_buf_append(&rest, p, ll);
            pw_buf_putc(&rest, '\n');
        }
        p = nl ? nl + 1 : p + ll;
    }
    free(data);
    if (had && strcmp(old, value) == 0) {
        pw_buf_release(&rest);
        return PW_OK;
    }
    struct pw_buf j;
    pw_buf_init(&j, 0);
    pw_buf_puts(&j, "{\"action\":\"setting.change\",\"user\":");
    pw_buf_json_str(&j, source);
    pw_buf_puts(&j, ",\"role\":\"config\",\"peer\":\"\",\"detail\":{\"key\":");
    pw_buf_json_str(&j, key);
    pw_buf_puts(&j, ",\"old\":");
    if (had)
        pw_buf_json_str(&j, old);
    else
        pw_buf_puts(&j, "null");
    pw_buf_puts(&j, ",\"new\":");
    pw_buf_json_str(&j, value);
    pw_buf_puts(&j, "}}");
    uint8_t *leaf = pw_xmalloc(ARCHIVE_MAX_ENTRY);
    size_t ll = archive_leaf_encode(leaf, ARCHIVE_MAX_ENTRY, ARCHIVE_KIND_OPERATOR, pw_now_ms(),
                                    source, j.data, j.len);
    rc = ll && archive_append(a, leaf, ll) >= 0 ? archive_write(a) : PW_ETOOBIG;
    free(leaf);
    pw_buf_release(&j);
    struct archive_sync_ticket t;
    if (rc == PW_OK && archive_sync_prepare(a, &t)) {
        archive_sync_perform(&t);
        rc = archive_sync_finish(a, &t);
    }
    if (rc == PW_OK) {
        pw_buf_puts(&rest, key);
        pw_buf_putc(&rest, ' ');
        pw_buf_puts(&rest, value);
        pw_buf_putc(&rest, '\n');
        rc = pw_file_replace(path, rest.data, rest.len);
        *changed = true;
    }
    pw_buf_release(&rest);
    return rc;
}

/* ---- the daily record (written by store.c) ---- */

static bool is_day(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    return true;
}

int archive_daily_list(const char *dir, struct pw_buf *out)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/daily", dir);
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? PW_OK : pw_err_from_errno(errno);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_day(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = pw_xrealloc(names, cap * sizeof *names);
        }
        names[n++] = pw_xstrdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        pw_buf_puts(out, names[i]);
        pw_buf_putc(out, '\n');
        free(names[i]);
    }
    free(names);
    return PW_OK;
}

int archive_daily_read(const char *dir, const char *day, struct pw_buf *out)
{
    if (!is_day(day))
        return PW_EINVAL;
    char path[4200], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/daily/%s", dir, day);
    int rc = pw_file_read(path, ARCHIVE_MAX_NOTE, &data, &len);
    if (rc == PW_OK)
        rc = pw_buf_append(out, data, len);
    free(data);
    return rc;
}
