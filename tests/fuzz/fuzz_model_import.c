/* libFuzzer target for the park model import with gathering places and departments (JSON with
 * --replace, and the CSV ledgers), into one meta.db in a scratch directory. The first byte picks
 * the format; the rest is the input. Invariants: a refusal says why; after an accepted import the
 * gathering-place and department CSV exports import back unchanged (formula cells neutralised and
 * restored, quoting, numbers). */
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "model/model.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct model *m;
static char dir[] = "/tmp/pw_fuzz_model_XXXXXX";

static void cleanup(void)
{
    static const char *const files[] = {"meta.db", "meta.db-wal", "meta.db-shm", "meta.db-journal"};
    char p[96];
    model_close(m);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

static struct model *model_once(void)
{
    if (m)
        return m;
    char db[64];
    if (!mkdtemp(dir))
        abort();
    atexit(cleanup);
    snprintf(db, sizeof db, "%s/meta.db", dir);
    pw_log_set_sink(quiet, NULL);
    if (model_open(db, &m) != PW_OK)
        abort();
    return m;
}

/* export, import the export, export again: the same text */
static void round_trip(enum model_csv_kind kind)
{
    struct pw_buf a, b;
    char err[512];
    pw_buf_init(&a, 0);
    pw_buf_init(&b, 0);
    int rc = kind == MODEL_CSV_GATHERING_PLACES ? model_export_gathering_places_csv(m, &a)
                                                : model_export_departments_csv(m, &a);
    if (rc != PW_OK)
        abort();
    if (model_import_csv(m, kind, a.data, a.len, "export.csv", err, sizeof err) != PW_OK)
        abort();
    rc = kind == MODEL_CSV_GATHERING_PLACES ? model_export_gathering_places_csv(m, &b)
                                            : model_export_departments_csv(m, &b);
    if (rc != PW_OK || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    pw_buf_release(&a);
    pw_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 32768)
        return 0;
    struct model *mm = model_once();
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char err[512] = "";
    int rc;
    switch (data[0] % 3) {
    case 0: rc = model_import_json(mm, text, len, MODEL_IMPORT_REPLACE, err, sizeof err); break;
    case 1:
        rc = model_import_csv(mm, MODEL_CSV_GATHERING_PLACES, text, len, "g.csv", err, sizeof err);
        break;
    default:
        rc = model_import_csv(mm, MODEL_CSV_DEPARTMENTS, text, len, "d.csv", err, sizeof err);
        break;
    }
    if (rc != PW_OK) {
        if (!err[0])
            abort();
        return 0;
    }
    round_trip(MODEL_CSV_GATHERING_PLACES);
    round_trip(MODEL_CSV_DEPARTMENTS);
    return 0;
}
