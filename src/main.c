/* main.c — parkwatch's command-line dispatch.
 *
 *   parkwatch serve|import|export|config|user|token|version|help [--data DIR] [--config FILE]
 *             [--set section.key=value ...] ...
 *
 * Common options are taken out of argv here (configuration applied and validated: an unknown key
 * or an out-of-range value stops the command with a message naming it); what is left goes to the
 * command. */
#include "cli.h"

#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "parkwatch " PARKWATCH_VERSION " — real-time supervision for chemical industrial parks\n"
    "\n"
    "usage: parkwatch COMMAND [--data DIR] [--config FILE] [--set section.key=value ...]\n"
    "\n"
    "commands:\n"
    "  serve                         run the platform (HTTP, HJ 212, JT/T 808, MQTT, Modbus)\n"
    "  serve --role province         the province node: every park's data from NATS JetStream\n"
    "  import FILE.json [--replace]  load a park model (one transaction; errors name the JSON path)\n"
    "  import --csv devices|points FILE.csv\n"
    "                                load a device or point ledger (台账)\n"
    "  export [-o FILE]              write the park model as JSON\n"
    "  config --defaults             print a complete commented configuration file\n"
    "  config --markdown             print the configuration reference as Markdown\n"
    "  config --check                validate --config/--set and print the effective configuration\n"
    "  user add NAME --role ROLE [--enterprise ID] [--display NAME]\n"
    "                                add a user; the password is read from PARKWATCH_PASSWORD or stdin\n"
    "  user passwd NAME | user del NAME | user list\n"
    "  token create --name NAME --role ROLE [--enterprise ID] [--ttl 30d]\n"
    "                                create an API token (printed once)\n"
    "  token list | token revoke NAME\n"
    "  fsck [DIR]                    check a data directory's time-series store offline\n"
    "  terminal reset PHONE --reason TEXT\n"
    "                                let a registered JT/T 808 terminal register once more\n"
    "  terminal resets PHONE         the record of a terminal's resets (JSON)\n"
    "  sim --park FILE [--scenario FILE] [--speed X] [--duration D] ...\n"
    "                                play the park's devices against a daemon (docs/simulator.md)\n"
    "  uplink setup --role park|hub ...\n"
    "                                write the nats-server configuration of a park leaf or the\n"
    "                                province hub (docs/province.md)\n"
    "  version                       print the version\n"
    "  help                          this text\n"
    "\n"
    "roles: admin, supervisor (whole park), enterprise (one enterprise), viewer (read-only)\n"
    "data directory: --data DIR (default ./data) holds meta.db and the time-series store\n"
    "documentation: docs/ (configuration.md, api.md, operations.md, park-model.md, protocols/)\n";

const char *cli_take_opt(struct cli *c, const char *name)
{
    for (int i = 0; i < c->argc; i++) {
        if (strcmp(c->argv[i], name) == 0 && i + 1 < c->argc) {
            const char *v = c->argv[i + 1];
            memmove(&c->argv[i], &c->argv[i + 2], (size_t)(c->argc - i - 2) * sizeof(char *));
            c->argc -= 2;
            return v;
        }
    }
    return NULL;
}

bool cli_take_flag(struct cli *c, const char *name)
{
    for (int i = 0; i < c->argc; i++) {
        if (strcmp(c->argv[i], name) == 0) {
            memmove(&c->argv[i], &c->argv[i + 1], (size_t)(c->argc - i - 1) * sizeof(char *));
            c->argc--;
            return true;
        }
    }
    return false;
}

struct model *cli_open_model(struct cli *c)
{
    char path[4096];
    struct model *m = NULL;
    int rc = pw_mkdir_p(c->data_dir);
    if (rc != PW_OK) {
        fprintf(stderr, "parkwatch: cannot create data directory %s: %s\n", c->data_dir,
                pw_strerror(rc));
        return NULL;
    }
    snprintf(path, sizeof path, "%s/meta.db", c->data_dir);
    rc = model_open(path, &m);
    if (rc != PW_OK) {
        fprintf(stderr, "parkwatch: cannot open %s: %s\n", path, pw_strerror(rc));
        return NULL;
    }
    return m;
}

/* Takes --data, --config and every --set out of argv and builds the configuration. */
static int parse_common(struct cli *c)
{
    char err[512];
    const char *v;
    pw_config_init(&c->cfg);
    c->data_dir = "data";
    if ((v = cli_take_opt(c, "--data")))
        c->data_dir = v;
    if ((v = cli_take_opt(c, "--config")))
        c->config_file = v;
    if (c->config_file && pw_config_load_file(&c->cfg, c->config_file, err, sizeof err) != PW_OK) {
        fprintf(stderr, "parkwatch: configuration refused: %s\n", err);
        return 2;
    }
    while ((v = cli_take_opt(c, "--set"))) {
        if (pw_config_set_arg(&c->cfg, v, err, sizeof err) != PW_OK) {
            fprintf(stderr, "parkwatch: configuration refused: %s\n", err);
            return 2;
        }
    }
    for (int i = 0; i < c->argc; i++) {
        if (strcmp(c->argv[i], "--set") == 0 || strcmp(c->argv[i], "--data") == 0 ||
            strcmp(c->argv[i], "--config") == 0) {
            fprintf(stderr, "parkwatch: %s needs a value\n", c->argv[i]);
            return 2;
        }
    }
    int lvl = pw_log_level_parse(c->cfg.log_level);
    if (lvl >= 0)
        pw_log_level = lvl;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(struct cli *c);
    } cmds[] = {
        {"serve", cmd_serve}, {"import", cmd_import}, {"export", cmd_export},
        {"config", cmd_config}, {"user", cmd_user},   {"token", cmd_token},
        {"fsck", cmd_fsck},     {"sim", cmd_sim},
        {"terminal", cmd_terminal}, {"uplink", cmd_uplink},
    };
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("parkwatch %s\n", PARKWATCH_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0)
            continue;
        struct cli c = {0};
        c.argc = argc - 2;
        c.argv = argv + 2;
        int rc = parse_common(&c);
        if (rc == 0)
            rc = cmds[i].fn(&c);
        pw_config_release(&c.cfg);
        return rc;
    }
    fprintf(stderr, "parkwatch: unknown command '%s' (try: parkwatch help)\n", argv[1]);
    return 2;
}
