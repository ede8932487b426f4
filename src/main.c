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

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

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
    "  fsck [DIR]                    check a data directory's time-series store (live while served)\n"
    "  flush [--timeout 2m]          move the WAL's samples into compressed blocks now (through\n"
    "                                the running daemon, or offline when none runs)\n"
    "  terminal reset PHONE --reason TEXT\n"
    "                                let a registered JT/T 808 terminal register once more\n"
    "  terminal resets PHONE         the record of a terminal's resets (JSON)\n"
    "  sim --park FILE [--scenario FILE] [--speed X] [--duration D] ...\n"
    "                                play the park's devices against a daemon (docs/simulator.md)\n"
    "  archive verify|export|vkey    check the tamper-evident archive offline, write a filing\n"
    "                                package (备案包), print the verifier key (docs/archive.md)\n"
    "  uplink setup --role park|hub ...\n"
    "                                write the nats-server configuration of a park leaf or the\n"
    "                                province hub (docs/province.md)\n"
    "  version                       print the version\n"
    "  help                          this text\n"
    "\n"
    "roles: admin, supervisor (whole park), enterprise (one enterprise), viewer (read-only)\n"
    "data directory: --data DIR (default ./data) holds meta.db and the time-series store\n"
    "documentation: docs/ (configuration.md, api.md, operations.md, park-model.md, protocols/)\n"
    "every command answers --help\n";

/* `parkwatch COMMAND --help`: printed before anything else runs (no file is read or created). */
static const struct {
    const char *name, *text;
} helps[] = {
    {"serve", "usage: parkwatch serve [--data DIR] [--config FILE] [--set section.key=value ...]\n"
              "\n"
              "Runs the platform: HTTP API and web UI, HJ 212 and JT/T 808 listeners, the MQTT\n"
              "client and the Modbus poller, on the data directory (default ./data), which it\n"
              "locks: a second serve on the same directory exits naming the first. SIGTERM or\n"
              "SIGINT stops it cleanly (the WAL is checkpointed, storage.shutdown_checkpoint);\n"
              "SIGUSR1 flushes (see parkwatch flush). Keys: parkwatch config --defaults.\n"},
    {"import", "usage: parkwatch import [--data DIR] [--replace] FILE.json\n"
               "       parkwatch import [--data DIR] --csv devices|points FILE.csv\n"
               "\n"
               "Loads a park model (one transaction; errors name the JSON path) or a device or\n"
               "point ledger into DIR/meta.db (created when missing). Works while serve runs.\n"},
    {"export", "usage: parkwatch export [--data DIR] [-o FILE]\n"
               "\n"
               "Writes the park model of DIR/meta.db as JSON (to FILE or stdout).\n"},
    {"config", "usage: parkwatch config --defaults | --markdown | --check [--config FILE] "
               "[--set k=v ...]\n"
               "\n"
               "--defaults  a complete commented configuration file\n"
               "--markdown  the configuration reference as Markdown\n"
               "--check     validate --config/--set and print the effective configuration\n"},
    {"user", "usage: parkwatch user add NAME --role ROLE [--enterprise ID] [--display NAME]\n"
             "       parkwatch user passwd NAME | user del NAME | user list   [--data DIR]\n"
             "\n"
             "Roles: admin, supervisor, enterprise (with --enterprise), viewer. The password is\n"
             "read from PARKWATCH_PASSWORD or one line of stdin (at least 8 characters).\n"},
    {"token", "usage: parkwatch token create --name NAME --role ROLE [--enterprise ID] "
              "[--ttl 30d]\n"
              "       parkwatch token list | token revoke NAME   [--data DIR]\n"
              "\n"
              "An API token is printed once at creation; use it as Authorization: Bearer TOKEN.\n"},
    {"fsck", "usage: parkwatch fsck [--data DIR] [DIR]\n"
             "\n"
             "Checks the time-series store of a data directory (or of a tsdb directory): every\n"
             "WAL and series-log record, every block's header, footer, index and chunk. Lines:\n"
             "error|warning|info FILE offset=N problem, and what the next open recovers. While\n"
             "a daemon serves the directory the check runs live (records in flight are not\n"
             "errors). Exit 0 clean, 1 errors found.\n"},
    {"flush", "usage: parkwatch flush [--data DIR] [--timeout 2m]\n"
              "\n"
              "Checkpoints the time-series store now: the WAL's samples go into compressed\n"
              "blocks. With a daemon serving DIR (its pid is in DIR/lock) the daemon does it\n"
              "(SIGUSR1) and this waits for its answer; without one it is done offline.\n"},
    {"sim", "usage: parkwatch sim --park FILE [--scenario FILE] [--http H:P] [--hj212 H:P]\n"
            "                     [--jt808 H:P] [--mqtt H:P] [--login USER:PASSWORD | --token T]\n"
            "                     [--seed N] [--speed X] [--devices N] [--duration D]\n"
            "                     [--start TIME] [--report FILE] [--hold] [--no-modbus]\n"
            "       parkwatch sim --emit-park N [--park FILE]\n"
            "\n"
            "Plays the park's devices against a running daemon (docs/simulator.md).\n"},
};

static bool wants_help(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

static int print_help(const char *cmd)
{
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        if (strcmp(helps[i].name, cmd) == 0) {
            fputs(helps[i].text, stdout);
            return 0;
        }
    }
    printf("usage: parkwatch %s ... (see parkwatch help)\n", cmd);
    return 0;
}

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

/* Why a directory cannot be written, when it cannot: PW_EROFS, PW_ENOSPC, PW_EPERM, or PW_OK. */
static int dir_write_cause(const char *dir)
{
    struct statvfs v;
    if (statvfs(dir, &v) == 0) {
        if (v.f_flag & ST_RDONLY)
            return PW_EROFS;
        if (v.f_bavail == 0)
            return PW_ENOSPC;
    }
    return access(dir, W_OK) == 0 ? PW_OK : pw_err_from_errno(errno);
}

static struct model *open_model(struct cli *c, bool create)
{
    char path[4096];
    struct model *m = NULL;
    struct stat st;
    snprintf(path, sizeof path, "%s/meta.db", c->data_dir);
    if (!create && stat(path, &st) != 0) {
        fprintf(stderr,
                "parkwatch: no park data in %s (%s does not exist; parkwatch import or "
                "parkwatch serve creates it)\n",
                c->data_dir, path);
        return NULL;
    }
    int rc = pw_mkdir_p(c->data_dir);
    if (rc != PW_OK) {
        fprintf(stderr, "parkwatch: cannot create data directory %s: %s (%s)\n", c->data_dir,
                pw_strerror(rc), pw_errname(rc));
        return NULL;
    }
    rc = model_open(path, &m);
    if (rc != PW_OK) {
        int cause = dir_write_cause(c->data_dir);
        if (cause != PW_OK)
            fprintf(stderr, "parkwatch: cannot open %s: %s — the data directory %s: %s (%s)\n",
                    path, pw_strerror(rc), c->data_dir, pw_strerror(cause), pw_errname(cause));
        else
            fprintf(stderr, "parkwatch: cannot open %s: %s\n", path, pw_strerror(rc));
        return NULL;
    }
    return m;
}

struct model *cli_open_model(struct cli *c)
{
    return open_model(c, true);
}

struct model *cli_open_model_existing(struct cli *c)
{
    return open_model(c, false);
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
        {"terminal", cmd_terminal},
        {"flush", cmd_flush},
        {"archive", cmd_archive},
        {"uplink", cmd_uplink},
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
        if (wants_help(argc, argv))
            return print_help(argv[1]);
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
