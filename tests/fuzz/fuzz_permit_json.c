/* libFuzzer target for the permit JSON parsers behind POST /api/v1/permits (one permit or an
 * array) and /analyses: permit_from_json and permit_analysis_from_json on whatever cJSON makes of
 * the input. Invariants: a refusal names where ("$…: …"); an accepted permit is within its bounds
 * (vertices, workers, analyses, times in order, every text without control characters) and prints
 * as JSON that parses back to the same permit; an accepted analysis has a finite value >= 0. */
#include "base/buf.h"
#include "base/err.h"
#include "permit/permit.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool clean(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static void one(const cJSON *e, const char *path)
{
    char err[256] = "";
    struct permit *p = malloc(sizeof *p);
    if (permit_from_json(e, path, p, err, sizeof err) != PW_OK) {
        if (err[0] != '$' || !strstr(err, ": "))
            abort();
        free(p);
        return;
    }
    if (p->nloc < 1 || p->nloc > PERMIT_POLY_MAX || (p->nloc > 1 && p->nloc < 3) ||
        p->nworkers > PERMIT_WORKERS_MAX || p->nanalyses > PERMIT_ANALYSES_MAX ||
        p->planned_end <= p->planned_start || p->planned_start <= 0)
        abort();
    for (int i = 0; i < p->nloc; i++)
        if (!isfinite(p->lon[i]) || !isfinite(p->lat[i]) || fabs(p->lon[i]) > 180 ||
            fabs(p->lat[i]) > 90)
            abort();
    if (!clean(p->enterprise, sizeof p->enterprise) || !clean(p->leader, sizeof p->leader) ||
        !clean(p->guardian, sizeof p->guardian) || !clean(p->video, sizeof p->video))
        abort();
    for (int i = 0; i < p->nworkers; i++)
        if (!clean(p->workers[i], sizeof p->workers[i]))
            abort();
    for (int i = 0; i < p->nanalyses; i++)
        if (!isfinite(p->analyses[i].value) || p->analyses[i].value < 0)
            abort();
    struct permit *back = malloc(sizeof *back);
    snprintf(p->id, sizeof p->id, "PT-000001");
    p->filed_at = 1;
    struct pw_buf b;
    pw_buf_init(&b, 0);
    permit_to_json(p, NULL, &b);
    if (permit_from_stored(b.data, b.len, back) != PW_OK || back->type != p->type ||
        back->grade != p->grade || back->nloc != p->nloc || back->nworkers != p->nworkers ||
        back->nanalyses != p->nanalyses || back->planned_start != p->planned_start ||
        back->planned_end != p->planned_end || strcmp(back->enterprise, p->enterprise) != 0 ||
        strcmp(back->leader, p->leader) != 0)
        abort();
    for (int i = 0; i < p->nworkers; i++)
        if (strcmp(back->workers[i], p->workers[i]) != 0)
            abort();
    pw_buf_release(&b);
    free(back);
    free(p);
    struct permit_analysis a;
    err[0] = '\0';
    if (permit_analysis_from_json(e, path, &a, err, sizeof err) == PW_OK) {
        if (!isfinite(a.value) || a.value < 0)
            abort();
    } else if (err[0] != '$') {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (!j)
        return 0;
    if (cJSON_IsArray(j)) {
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, j)
        {
            char path[32];
            snprintf(path, sizeof path, "$[%d]", i++);
            one(e, path);
            if (i > 64)
                break;
        }
    } else {
        one(j, "$");
    }
    cJSON_Delete(j);
    return 0;
}
