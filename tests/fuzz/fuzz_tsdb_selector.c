/* libFuzzer target for the selector and matcher parser and the bounded regex engine
 * (src/tsdb/index.c): tsdb_selector_parse on arbitrary bytes; when it parses, every matcher is
 * evaluated against a few label sets through a small in-memory engine, and the canonical key of
 * the input taken as a label set must parse back to the same labels. Regexes must compile and
 * match within their limits: a slow unit (libFuzzer's -timeout) or a huge allocation (-rss_limit)
 * is a finding, like any crash or sanitizer report. */
#include "base/err.h"
#include "tsdb/tsdb.h"
#include "tsdb/tsdb_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tsdb *db;

static void setup(void)
{
    char dir[] = "/tmp/fuzz-selector-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    struct tsdb_options o;
    tsdb_options_init(&o);
    o.fsync = TSDB_FSYNC_OFF;
    if (tsdb_open(dir, &o, &db) != PW_OK)
        abort();
    static const struct tsdb_label sets[][3] = {
        {{"__name__", "hj212_rtd"}, {"mn", "A1"}, {"code", "a21026"}},
        {{"__name__", "cpu-load_value"}, {"host.name", "h\"1"}, {"区域", "东区"}},
        {{"__name__", "m"}, {"v", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"}, {"e", "line\nbreak"}},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        uint32_t ref;
        if (tsdb_series_ref(db, sets[i], 3, &ref) != PW_OK)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!db)
        setup();
    struct tsdb_selector sel;
    char err[256];
    if (tsdb_selector_parse((const char *)data, size, &sel, err, sizeof err) == PW_OK) {
        if (sel.n == 0 || sel.n > TSDB_MAX_MATCHERS)
            abort();
        uint32_t *refs = NULL;
        size_t n = 0;
        int rc = tsdb_select(db, &sel, 0, &refs, &n);
        if (rc != PW_OK && rc != PW_EINVAL && rc != PW_ERANGE)
            abort();
        if (rc == PW_OK && n > 3)
            abort();
        free(refs);
        char **v = NULL;
        size_t nv = 0;
        if (tsdb_label_names(db, &sel, &v, &nv) == PW_OK)
            tsdb_strings_free(v, nv);
        /* an all-EQ selector is a label set: if it can be a series, its key reads back as it */
        bool eq = true;
        struct tsdb_label l[TSDB_MAX_MATCHERS];
        for (size_t i = 0; i < sel.n; i++) {
            eq &= sel.m[i].op == TSDB_MATCH_EQ;
            l[i].name = sel.m[i].name;
            l[i].value = sel.m[i].value;
        }
        /* (no series is created: the engine would grow with every input) */
        char key[TSDB_MAX_KEY + 1], key2[TSDB_MAX_KEY + 1];
        size_t klen, k2len, nb = 0;
        struct tsdb_label back[TSDB_MAX_LABELS];
        char *lbuf = NULL;
        if (eq && tsdb_key_build(l, sel.n, key, sizeof key, &klen) == PW_OK) {
            if (tsdb_key_parse(key, klen, back, &nb, &lbuf) != PW_OK)
                abort(); /* a key we write must read back */
            if (tsdb_key_build(back, nb, key2, sizeof key2, &k2len) != PW_OK || k2len != klen ||
                memcmp(key, key2, klen) != 0)
                abort(); /* ... as the same series */
            free(lbuf);
        }
        tsdb_selector_release(&sel);
    } else if (strlen(err) == 0) {
        abort(); /* every refusal says why */
    }
    return 0;
}
