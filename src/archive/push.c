/* push.c — the log side of c2sp.org/tlog-witness: every new checkpoint goes to each configured
 * witness (POST <url>/add-checkpoint) from a thread of its own; a verified cosignature is added
 * to the served checkpoint. A 409 tells the size the witness holds: the request is made again
 * at once with the consistency proof from that size. Failures are logged and retried every
 * few seconds; nothing here holds up ingest.
 *
 * Threads: the pusher thread only reads the archive (archive_latest_signed, proofs from the
 * tiles) and adds cosignatures under the archive's lock. */
#include "archive/archive.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WITNESSES 8
#define MAX_RESPONSE (64 * 1024)
#define RETRY_MS 5000

struct target {
    char url[512];
    struct archive_key key; /* the witness's cosignature key */
    uint64_t old;           /* the size we believe the witness holds */
    uint64_t done_size;     /* the size it cosigned last */
    char done_text[ARCHIVE_MAX_NOTE];
    size_t done_len;
    int64_t next_try_ms;
};

struct archive_pusher {
    struct archive *a;
    struct target t[MAX_WITNESSES];
    size_t n;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
};

static struct pw_counter *m_cosigs, *m_push_errors;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct pw_buf *b = arg;
    return pw_buf_append(b, p, size * n) == PW_OK ? size * n : 0;
}

/* POSTs body to url; *status and resp (bounded). PW_OK or PW_EIO. */
static int post(const char *url, const char *body, size_t len, long *status, struct pw_buf *resp)
{
    CURL *c = curl_easy_init();
    if (!c)
        return PW_ENOMEM;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? PW_OK : PW_EIO;
}

/* One attempt (and the retry a 409 asks for) of pushing note (size) to t. */
static void push_one(struct archive_pusher *p, struct target *t, const char *note, size_t len,
                     uint64_t size)
{
    const char *sep = strstr(note, "\n\n");
    size_t tl = sep ? (size_t)(sep - note) + 1 : 0;
    if (!tl)
        return;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct pw_buf body, resp;
        pw_buf_init(&body, 0);
        pw_buf_init(&resp, MAX_RESPONSE);
        uint64_t old = t->old <= size ? t->old : 0;
        pw_buf_printf(&body, "old %" PRIu64 "\n", old);
        int rc = PW_OK;
        if (old > 0 && old < size) {
            uint8_t proof[ARCHIVE_MAX_PROOF][ARCHIVE_HASH];
            size_t n = 0;
            rc = archive_prove_consistency(p->a, old, size, proof, &n);
            for (size_t i = 0; rc == PW_OK && i < n; i++) {
                char b64[64];
                sodium_bin2base64(b64, sizeof b64, proof[i], ARCHIVE_HASH,
                                  sodium_base64_VARIANT_ORIGINAL);
                pw_buf_printf(&body, "%s\n", b64);
            }
        }
        pw_buf_putc(&body, '\n');
        pw_buf_append(&body, note, len);
        char url[600];
        snprintf(url, sizeof url, "%s/add-checkpoint", t->url);
        long status = 0;
        if (rc == PW_OK)
            rc = post(url, body.data, body.len, &status, &resp);
        bool again = false;
        if (rc != PW_OK) {
            pw_counter_add(m_push_errors, 1);
            PW_LOG_WARN("archive", "witness unreachable", "url=%s err=%s", url, pw_errname(rc));
        } else if (status == 200) {
            /* verify before serving: our text, with the witness's cosignature line appended */
            struct pw_buf chk;
            pw_buf_init(&chk, 0);
            pw_buf_append(&chk, note, tl);
            pw_buf_putc(&chk, '\n');
            pw_buf_append(&chk, resp.data, resp.len);
            uint64_t when = 0;
            if (archive_cosign_verify(t->key.name, t->key.pk, chk.data, chk.len, &when) == PW_OK) {
                /* keep only the witness's own line */
                const char *line = resp.data;
                archive_add_cosignature(p->a, note, tl, line, resp.len);
                pw_counter_add(m_cosigs, 1);
                t->old = size;
                t->done_size = size;
                if (tl < sizeof t->done_text) {
                    memcpy(t->done_text, note, tl);
                    t->done_len = tl;
                }
            } else {
                pw_counter_add(m_push_errors, 1);
                PW_LOG_WARN("archive", "witness answered without a valid cosignature", "url=%s",
                            url);
            }
            pw_buf_release(&chk);
        } else if (status == 409) {
            uint64_t held = 0;
            const char *q = resp.data ? resp.data : "";
            char *end;
            errno = 0;
            unsigned long long v = strtoull(q, &end, 10);
            if (!errno && end != q && (*end == '\n' || *end == '\0'))
                held = v;
            if (held != t->old && held <= size && attempt == 0) {
                t->old = held;
                again = true;
            } else {
                pw_counter_add(m_push_errors, 1);
                PW_LOG_ERROR("archive", "witness holds a checkpoint this log cannot prove",
                             "url=%s witness_size=%" PRIu64 " size=%" PRIu64, url, held, size);
            }
        } else {
            pw_counter_add(m_push_errors, 1);
            PW_LOG_WARN("archive", "witness refused the checkpoint",
                        "url=%s status=%ld body=\"%.100s\"", url, status,
                        resp.data ? resp.data : "");
        }
        pw_buf_release(&body);
        pw_buf_release(&resp);
        if (!again)
            break;
    }
}

static void *run(void *arg)
{
    struct archive_pusher *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        pthread_mutex_unlock(&p->lock);
        struct pw_buf note;
        pw_buf_init(&note, 0);
        uint64_t size = 0;
        if (archive_latest_signed(p->a, &note, &size) == PW_OK) {
            const char *sep = strstr(note.data, "\n\n");
            size_t tl = sep ? (size_t)(sep - note.data) + 1 : 0;
            int64_t now = pw_now_ms();
            for (size_t i = 0; i < p->n; i++) {
                struct target *t = &p->t[i];
                bool same = t->done_len == tl && memcmp(t->done_text, note.data, tl) == 0;
                if (same || now < t->next_try_ms)
                    continue;
                push_one(p, t, note.data, note.len, size);
                if (!(t->done_len == tl && memcmp(t->done_text, note.data, tl) == 0))
                    t->next_try_ms = pw_now_ms() + RETRY_MS;
            }
        }
        pw_buf_release(&note);
        pthread_mutex_lock(&p->lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        if (!p->stop)
            pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int archive_pusher_start(struct archive *a, const char *csv, struct archive_pusher **out, char *err,
                         size_t errcap)
{
    *out = NULL;
    if (!csv || !*csv)
        return PW_OK;
    if (!m_cosigs) {
        m_cosigs = pw_counter_get("parkwatch_archive_cosignatures_total", "",
                                  "Witness cosignatures received and verified.");
        m_push_errors = pw_counter_get("parkwatch_archive_witness_errors_total", "",
                                       "Checkpoint pushes to witnesses that failed.");
    }
    struct archive_pusher *p = pw_xcalloc(1, sizeof *p);
    p->a = a;
    const char *s = csv;
    while (s && *s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char item[1024];
        if (n >= sizeof item || p->n == MAX_WITNESSES) {
            snprintf(err, errcap, "archive.witnesses: at most %d entries of 'URL VKEY'",
                     MAX_WITNESSES);
            goto fail;
        }
        memcpy(item, s, n);
        item[n] = '\0';
        char *u = item;
        while (*u == ' ')
            u++;
        char *sp = strchr(u, ' ');
        if (*u) {
            if (!sp || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)) {
                snprintf(err, errcap, "archive.witnesses: '%.64s' is not 'URL VKEY'", u);
                goto fail;
            }
            *sp = '\0';
            char *vk = sp + 1;
            while (*vk == ' ')
                vk++;
            char *ve = vk + strlen(vk);
            while (ve > vk && ve[-1] == ' ')
                *--ve = '\0';
            struct target *t = &p->t[p->n];
            size_t ul = strlen(u);
            while (ul && u[ul - 1] == '/')
                u[--ul] = '\0';
            if (ul >= sizeof t->url) {
                snprintf(err, errcap, "archive.witnesses: URL too long");
                goto fail;
            }
            memcpy(t->url, u, ul + 1);
            char e2[128];
            if (archive_witness_vkey_parse(vk, &t->key, e2, sizeof e2) != PW_OK) {
                snprintf(err, errcap, "archive.witnesses: %s", e2);
                goto fail;
            }
            p->n++;
        }
        s = e ? e + 1 : NULL;
    }
    if (p->n == 0) {
        free(p);
        return PW_OK;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (pthread_create(&p->thread, NULL, run, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
        snprintf(err, errcap, "archive: cannot start the witness pusher");
        free(p);
        return PW_EIO;
    }
    *out = p;
    return PW_OK;
fail:
    free(p);
    return PW_ECONFIG;
}

void archive_pusher_stop(struct archive_pusher *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}
