/* setup.c — stream definitions (created by parkwatch itself at start through js_AddStream /
 * js_UpdateStream) and the nats-server configuration files of a park leaf and a province hub
 * (`parkwatch uplink setup`). docs/province.md explains each setting. */
#include "uplink/uplink.h"
#include "uplink/uplink_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUP_WINDOW_NS (10LL * 60 * 1000000000) /* Duplicates: 10 min */

void uplink_stream_name(char *out, size_t cap, const char *prefix, const char *id)
{
    size_t n = (size_t)snprintf(out, cap, "%s%s", prefix, id);
    for (size_t i = strlen(prefix); i < n && i < cap; i++)
        out[i] = (char)toupper((unsigned char)out[i]);
}

static int add_or_update(jsCtx *js, jsStreamConfig *sc)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_AddStream(&si, js, sc, NULL, &jerr);
    if (s != NATS_OK && jerr == JSStreamNameExistErr)
        s = js_UpdateStream(&si, js, sc, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
        PW_LOG_WARN("uplink", "cannot create or update the stream", "stream=%s err=\"%s\" code=%d",
                    sc->Name, natsStatus_GetText(s), (int)jerr);
        return PW_EIO;
    }
    PW_LOG_INFO("uplink", "stream ready", "stream=%s sources=%d", sc->Name, sc->SourcesLen);
    return PW_OK;
}

int uplink_ensure_park_stream(jsCtx *js, const struct pw_config *c, const char *park)
{
    char name[64], subj[64];
    uplink_stream_name(name, sizeof name, "PW_", park);
    snprintf(subj, sizeof subj, "pw.%s.>", park);
    const char *subjects[1] = {subj};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = js_LimitsPolicy;
    sc.MaxAge = c->uplink_stream_max_age * 1000000LL;
    sc.MaxBytes = c->uplink_stream_max_bytes;
    sc.Discard = js_DiscardOld;
    sc.Storage = js_FileStorage;
    sc.Duplicates = DUP_WINDOW_NS;
    sc.MaxMsgSize = UPLINK_MSG_MAX + 1024;
    return add_or_update(js, &sc);
}

int uplink_ensure_aggregate(jsCtx *js, const char *prov, char *const *parks, size_t n)
{
    char name[64];
    uplink_stream_name(name, sizeof name, "PW_PROV_", prov);
    jsStreamSource *src = pw_xcalloc(n ? n : 1, sizeof *src);
    jsStreamSource **srcp = pw_xcalloc(n ? n : 1, sizeof *srcp);
    jsExternalStream *ext = pw_xcalloc(n ? n : 1, sizeof *ext);
    char (*names)[64] = pw_xcalloc(n ? n : 1, sizeof *names);
    char (*prefix)[80] = pw_xcalloc(n ? n : 1, sizeof *prefix);
    char (*deliver)[80] = pw_xcalloc(n ? n : 1, sizeof *deliver);
    for (size_t i = 0; i < n; i++) {
        uplink_stream_name(names[i], sizeof names[i], "PW_", parks[i]);
        snprintf(prefix[i], sizeof prefix[i], "$JS.park-%s.API", parks[i]);
        jsStreamSource_Init(&src[i]);
        src[i].Name = names[i];
        ext[i].APIPrefix = prefix[i];
        /* the hub's park account exports this subject to PROVINCE (NULL would crash
         * js_AddStream in nats.c 3.4.1) */
        snprintf(deliver[i], sizeof deliver[i], UPLINK_DELIVER_PREFIX ".%s", parks[i]);
        ext[i].DeliverPrefix = deliver[i];
        src[i].External = &ext[i];
        srcp[i] = &src[i];
    }
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Retention = js_LimitsPolicy;
    sc.Storage = js_FileStorage;
    sc.Discard = js_DiscardOld;
    sc.Duplicates = DUP_WINDOW_NS;
    sc.Sources = srcp;
    sc.SourcesLen = (int)n;
    int rc = add_or_update(js, &sc);
    free(src);
    free(srcp);
    free(ext);
    free(names);
    free(prefix);
    free(deliver);
    return rc;
}

int uplink_split_ids(const char *list, char ***out, size_t *n, char *err, size_t errcap)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    const char *p = list ? list : "";
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ')) {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        char id[UPLINK_PARK_MAX + 2];
        if (len == 0 || len > UPLINK_PARK_MAX) {
            snprintf(err, errcap, "park id %zu of \"%s\" is empty or longer than %d", *n + 1,
                     list, UPLINK_PARK_MAX);
            goto bad;
        }
        memcpy(id, p, len);
        id[len] = '\0';
        if (uplink_id_valid(id) != PW_OK) {
            snprintf(err, errcap, "park id \"%s\" must be of [a-z0-9-]", id);
            goto bad;
        }
        if (*n >= UPLINK_PARKS_MAX) {
            snprintf(err, errcap, "more than %d parks", UPLINK_PARKS_MAX);
            goto bad;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = pw_xrealloc(*out, cap * sizeof **out);
        }
        (*out)[(*n)++] = pw_xstrdup(id);
        p = e ? e + 1 : p + len;
    }
    return PW_OK;
bad:
    uplink_ids_free(*out, *n);
    *out = NULL;
    *n = 0;
    return PW_EINVAL;
}

void uplink_ids_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A password as a nats-server config string: printable ASCII without quotes or backslashes. */
static bool conf_safe(const char *s)
{
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e || *s == '"' || *s == '\\' || *s == '@' || *s == ':' ||
            *s == '/')
            return false;
    return true;
}

/* host:port of a URL: printable ASCII without quotes, backslash, '@' or '/'. */
static bool hostport_safe(const char *s)
{
    if (!*s || !strchr(s, ':'))
        return false;
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e || *s == '"' || *s == '\\' || *s == '@' || *s == '/')
            return false;
    return true;
}

/* The password of park p from "a=x,b=y" or one password for all. */
static bool park_password(const char *spec, const char *p, char *out, size_t cap)
{
    if (!strchr(spec, '=')) {
        snprintf(out, cap, "%s", spec);
        return true;
    }
    size_t pl = strlen(p);
    const char *q = spec;
    while (*q) {
        const char *e = strchr(q, ',');
        size_t len = e ? (size_t)(e - q) : strlen(q);
        if (len > pl && strncmp(q, p, pl) == 0 && q[pl] == '=') {
            snprintf(out, cap, "%.*s", (int)(len - pl - 1), q + pl + 1);
            return true;
        }
        q = e ? e + 1 : q + len;
    }
    return false;
}

/* The upper-case form of a park id (a static buffer: one call per expression). */
static const char *upper_tmp(const char *id)
{
    static char buf[UPLINK_PARK_MAX + 1];
    size_t i = 0;
    for (; id[i] && i < UPLINK_PARK_MAX; i++)
        buf[i] = (char)toupper((unsigned char)id[i]);
    buf[i] = '\0';
    return buf;
}

int uplink_setup_conf(const struct uplink_setup *s, struct pw_buf *out, char *err, size_t errcap)
{
    if (uplink_id_valid(s->id) != PW_OK) {
        snprintf(err, errcap, "--id \"%s\" must be 1..%d of [a-z0-9-]", s->id ? s->id : "",
                 UPLINK_PARK_MAX);
        return PW_EINVAL;
    }
    if (!s->password || !*s->password || !conf_safe(s->password)) {
        snprintf(err, errcap, "--password is required: printable ASCII without spaces, quotes, "
                              "backslash, '@', ':' or '/'");
        return PW_EINVAL;
    }
    if (strcmp(s->role, "park") == 0) {
        if (!s->hub_url || strncmp(s->hub_url, "nats-leaf://", 12) != 0 ||
            !hostport_safe(s->hub_url + 12)) {
            snprintf(err, errcap, "--hub must be nats-leaf://HOST:PORT (the hub's leafnode "
                                  "listener, no credentials)");
            return PW_EINVAL;
        }
        pw_buf_printf(out,
                      "# nats-server configuration of park %s: a leaf of the province hub.\n"
                      "# Generated by `parkwatch uplink setup --role park` (docs/province.md).\n"
                      "server_name: \"park-%s\"\n"
                      "listen: \"127.0.0.1:%d\"\n"
                      "ping_interval: \"20s\"\n"
                      "ping_max: 3\n"
                      "jetstream {\n"
                      "  domain: \"park-%s\"\n"
                      "  store_dir: \"%s\"\n"
                      "}\n"
                      "leafnodes {\n"
                      "  remotes = [\n"
                      "    { url: \"nats-leaf://park-%s:%s@%s\" }\n"
                      "  ]\n"
                      "}\n",
                      s->id, s->id, s->client_port ? s->client_port : 4222, s->id,
                      s->store_dir ? s->store_dir : "/var/lib/nats/park", s->id, s->password,
                      s->hub_url + 12);
        return PW_OK;
    }
    if (strcmp(s->role, "hub") != 0) {
        snprintf(err, errcap, "--role must be park or hub, not \"%s\"", s->role);
        return PW_EINVAL;
    }
    char **parks = NULL;
    size_t n = 0;
    if (uplink_split_ids(s->parks, &parks, &n, err, errcap) != PW_OK)
        return PW_EINVAL;
    if (n == 0) {
        snprintf(err, errcap, "--parks is required for the hub (comma-separated park ids)");
        return PW_EINVAL;
    }
    const char *pp = s->province_password;
    if (pp && *pp && !conf_safe(pp)) {
        snprintf(err, errcap, "--province-password: printable ASCII without spaces, quotes, "
                              "backslash, '@', ':' or '/'");
        uplink_ids_free(parks, n);
        return PW_EINVAL;
    }
    /* One account per park: a park's leaf authenticates into its own account and can publish
     * and subscribe there only (nats-server 2.9 refuses `permissions` on leafnode users). The
     * account exports exactly what the province's sourcing needs from it — its domain's
     * JetStream API, the flow control of its stream's source consumer and the delivery
     * subject — and the PROVINCE account (JetStream, the aggregate stream, the province
     * parkwatch) imports them. Nothing of one park's account reaches another's. */
    pw_buf_printf(out,
                  "# nats-server configuration of the province hub %s.\n"
                  "# Generated by `parkwatch uplink setup --role hub` (docs/province.md).\n"
                  "server_name: \"prov-%s\"\n"
                  "listen: \"127.0.0.1:%d\"\n"
                  "ping_interval: \"20s\"\n"
                  "ping_max: 3\n"
                  "# local clients without credentials are the province parkwatch\n"
                  "no_auth_user: \"province\"\n"
                  "jetstream {\n"
                  "  domain: \"prov-%s\"\n"
                  "  store_dir: \"%s\"\n"
                  "}\n"
                  "accounts {\n"
                  "  PROVINCE: {\n"
                  "    jetstream: enabled\n",
                  s->id, s->id, s->client_port ? s->client_port : 4222, s->id,
                  s->store_dir ? s->store_dir : "/var/lib/nats/province");
    if (pp && *pp)
        pw_buf_printf(out, "    users: [ { user: \"province\", password: \"%s\" } ]\n", pp);
    else
        pw_buf_puts(out, "    users: [ { user: \"province\" } ]\n");
    pw_buf_puts(out, "    imports: [\n");
    for (size_t i = 0; i < n; i++) {
        char acc[64], stream[64];
        uplink_stream_name(acc, sizeof acc, "PARK_", parks[i]);
        uplink_stream_name(stream, sizeof stream, "PW_", parks[i]);
        pw_buf_printf(out,
                      "      { service: { account: \"%s\", subject: \"$JS.park-%s.API.>\" } }\n"
                      "      { service: { account: \"%s\", subject: \"$JS.FC.%s.>\" } }\n"
                      "      { stream: { account: \"%s\", subject: \"" UPLINK_DELIVER_PREFIX
                      ".%s.>\" } }\n",
                      acc, parks[i], acc, stream, acc, parks[i]);
    }
    pw_buf_puts(out, "    ]\n    exports: [\n");
    for (size_t i = 0; i < n; i++)
        pw_buf_printf(out,
                      "      { stream: \"" UPLINK_CTL_PREFIX ".%s.>\", accounts: [\"PARK_%s\"] }\n",
                      parks[i], upper_tmp(parks[i]));
    pw_buf_puts(out, "    ]\n  }\n");
    for (size_t i = 0; i < n; i++) {
        char acc[64], stream[64];
        uplink_stream_name(acc, sizeof acc, "PARK_", parks[i]);
        uplink_stream_name(stream, sizeof stream, "PW_", parks[i]);
        pw_buf_printf(out,
                      "  %s: {\n"
                      "    exports: [\n"
                      "      { service: \"$JS.park-%s.API.>\", accounts: [\"PROVINCE\"] }\n"
                      "      { service: \"$JS.FC.%s.>\", accounts: [\"PROVINCE\"] }\n"
                      "      { stream: \"" UPLINK_DELIVER_PREFIX
                      ".%s.>\", accounts: [\"PROVINCE\"] }\n"
                      "    ]\n"
                      "    imports: [\n"
                      "      { stream: { account: \"PROVINCE\", subject: \"" UPLINK_CTL_PREFIX
                      ".%s.>\" } }\n"
                      "    ]\n"
                      "  }\n",
                      acc, parks[i], stream, parks[i], parks[i]);
    }
    pw_buf_printf(out,
                  "}\n"
                  "leafnodes {\n"
                  "  listen: \"0.0.0.0:%d\"\n"
                  "  authorization {\n"
                  "    users = [\n",
                  s->leaf_port ? s->leaf_port : 7422);
    int rc = PW_OK;
    for (size_t i = 0; i < n; i++) {
        char pass[256], acc[64];
        if (!park_password(s->password, parks[i], pass, sizeof pass) || !*pass ||
            !conf_safe(pass)) {
            snprintf(err, errcap, "--password names no usable password for park %s", parks[i]);
            rc = PW_EINVAL;
            break;
        }
        uplink_stream_name(acc, sizeof acc, "PARK_", parks[i]);
        pw_buf_printf(out,
                      "      { user: \"park-%s\", password: \"%s\", account: \"%s\" }\n",
                      parks[i], pass, acc);
    }
    pw_buf_puts(out, "    ]\n  }\n}\n");
    uplink_ids_free(parks, n);
    return rc;
}
