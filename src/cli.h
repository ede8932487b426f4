/* cli.h — shared by the command-line tool's files (main.c, cmd_*.c). */
#ifndef PW_CLI_H
#define PW_CLI_H

#include "base/config.h"

#include <stdbool.h>
#include <stddef.h>

#define PARKWATCH_VERSION "0.1.0"

/* Options every command understands; the rest stays in argv for the command. */
struct cli {
    const char *data_dir;    /* --data DIR, default "data" */
    const char *config_file; /* --config FILE */
    struct pw_config cfg;    /* defaults + file + --set, validated */
    int argc;                /* remaining positional arguments and command options */
    char **argv;
};

/* Each command returns the process exit status: 0 ok, 1 failure, 2 usage error. */
int cmd_serve(struct cli *c);
int cmd_import(struct cli *c);
int cmd_export(struct cli *c);
int cmd_config(struct cli *c);
int cmd_user(struct cli *c);
int cmd_token(struct cli *c);
int cmd_fsck(struct cli *c);
int cmd_flush(struct cli *c);
int cmd_sim(struct cli *c);
int cmd_terminal(struct cli *c);
int cmd_archive(struct cli *c);

/* The archive's directory (<data>/archive), key file (archive.key_file, or
 * <data directory>-archive.key beside it) and origin (archive.parkwatch.<park_id>). */
void cli_archive_paths(struct cli *c, char *dir, size_t dcap, char *key, size_t kcap,
                       char *origin, size_t ocap);
/* The witness key (witness.parkwatch.<park_id>, derived from the archive seed). PW_OK, or an
 * error with err. */
struct archive_key;
int cli_archive_witness_key(struct cli *c, struct archive_key *wk, char *err, size_t errcap);
int cmd_uplink(struct cli *c);
/* Work orders (cmd_workorders.c): <data>/workorders.db, the evidence directory, the engine
 * (escalation timer, orders from alarms). NULL after logging the reason. */
struct workorders;
struct model;
struct alarm_store;
struct wo_store;
struct workorders *workorders_open(struct cli *c, struct model *m, struct alarm_store *alarms);
struct wo_store *workorders_store(struct workorders *w);
void workorders_close(struct workorders *w);
/* Permits (cmd_permits.c): <data>/permits.db and the writer-thread watch, whose hooks are added
 * to po (before pipeline_open); permits_start after the work orders (engine, tick on change);
 * permits_close after pipeline_close and before workorders_close. */
struct permits;
struct pipeline;
struct pipeline_opts;
struct permit_store;
struct permits *permits_open(struct cli *c, struct model *m, struct pipeline_opts *po);
int permits_start(struct permits *p, struct pipeline *pl, struct wo_store *wo);
struct permit_store *permits_store(struct permits *p);
void permits_close(struct permits *p);

/* Incidents (cmd_incidents.c): <data>/incidents.db and the incident engine (incidents.*), with
 * its webhook. NULL after logging on error. */
struct incidents;
struct inc_engine;
struct tsdb;
struct pipeline;
struct vehicles;
struct wo_store;
struct incidents *incidents_open(struct cli *c, struct model *m, struct tsdb *db,
                                 struct pipeline *pl, struct alarm_store *alarms,
                                 struct vehicles *vs, struct wo_store *wo);
struct inc_engine *incidents_engine(struct incidents *x);
void incidents_close(struct incidents *x);

/* Opens <data>/meta.db (creating the directory). Returns NULL after printing the reason. */
struct model *cli_open_model(struct cli *c);
/* Opens an existing <data>/meta.db only (for commands that only read): creates nothing, and
 * says so when there is none. */
struct model *cli_open_model_existing(struct cli *c);

/* Finds "--name VALUE" in c->argv (removing both); returns VALUE or NULL. */
const char *cli_take_opt(struct cli *c, const char *name);
/* Finds a flag "--name" (removing it); returns whether it was present. */
bool cli_take_flag(struct cli *c, const char *name);

#endif
