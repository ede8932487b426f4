/* cli.h — shared by the command-line tool's files (main.c, cmd_*.c). */
#ifndef PW_CLI_H
#define PW_CLI_H

#include "base/config.h"

#include <stdbool.h>

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
int cmd_sim(struct cli *c);
int cmd_terminal(struct cli *c);

/* Work orders (cmd_workorders.c): <data>/workorders.db, the evidence directory, the engine
 * (escalation timer, orders from alarms). NULL after logging the reason. */
struct workorders;
struct model;
struct alarm_store;
struct wo_store;
struct workorders *workorders_open(struct cli *c, struct model *m, struct alarm_store *alarms);
struct wo_store *workorders_store(struct workorders *w);
void workorders_close(struct workorders *w);

/* Alarming (cmd_alarming.c): alarm store, rule set, webhooks. NULL after logging the reason. */
struct alarming;
struct model;
struct tsdb;
struct vehicle_alarm;
struct alarming *alarming_open(struct cli *c, struct model *m, struct tsdb *db);
void alarming_close(struct alarming *a);
struct alarm_store *alarming_store(struct alarming *a);
struct rules *alarming_rules(struct alarming *a);
struct rules_db *alarming_rules_db(struct alarming *a);
/* ingest_deps.on_vehicle_alarm; arg is the struct pipeline. */
void alarming_on_vehicle_alarm(const struct vehicle_alarm *a, void *arg);
/* devevents listener: fire panel events become fire/fault/supervisory alarms; arg = pipeline. */
struct device_event;
void alarming_on_device_event(const struct device_event *e, void *arg);

/* Opens <data>/meta.db (creating the directory). Returns NULL after printing the reason. */
struct model *cli_open_model(struct cli *c);

/* Finds "--name VALUE" in c->argv (removing both); returns VALUE or NULL. */
const char *cli_take_opt(struct cli *c, const char *name);
/* Finds a flag "--name" (removing it); returns whether it was present. */
bool cli_take_flag(struct cli *c, const char *name);

#endif
