/* cmd_permits.c — the daemon's special-operation permits: opens <data>/permits.db with the
 * permits.* thresholds, the writer-thread watch (supervise/permit_watch.h) whose hooks wrap the
 * supervision hooks, and, once the work-order store is open, the engine that stores findings
 * and opens work orders for red ones. */
#include "cli.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "permit/permit.h"
#include "pipeline/pipeline.h"
#include "supervise/permit_watch.h"

#include <stdio.h>
#include <stdlib.h>

struct permits {
    struct permit_store *store;
    struct permit_watch *watch;
};

struct permits *permits_open(struct cli *c, struct model *m, struct pipeline_opts *po)
{
    struct permit_rules r;
    char err[256], path[1024];
    if (permit_rules_from_config(&c->cfg, &r, err, sizeof err) != PW_OK) {
        PW_LOG_ERROR("serve", "bad permit configuration", "err=%s", err);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/permits.db", c->data_dir);
    struct permits *p = pw_xcalloc(1, sizeof *p);
    int rc = permit_store_open(path, m, &r, &p->store);
    if (rc != PW_OK) {
        PW_LOG_ERROR("serve", "cannot open the permit store", "err=%s", pw_errname(rc));
        free(p);
        return NULL;
    }
    permit_watch_open(m, p->store, &p->watch);
    permit_watch_hooks(p->watch, &po->supervisor);
    return p;
}

static void tick_now(void *arg)
{
    pipeline_tick_now(arg);
}

int permits_start(struct permits *p, struct pipeline *pl, struct wo_store *wo)
{
    permit_store_on_change(p->store, tick_now, pl);
    int rc = permit_store_start(p->store, wo);
    if (rc != PW_OK)
        PW_LOG_ERROR("serve", "cannot start the permit engine", "err=%s", pw_errname(rc));
    return rc;
}

struct permit_store *permits_store(struct permits *p)
{
    return p ? p->store : NULL;
}

void permits_close(struct permits *p)
{
    if (!p)
        return;
    permit_store_close(p->store);
    permit_watch_close(p->watch);
    free(p);
}
