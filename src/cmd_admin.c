/* cmd_admin.c — the offline commands: import, export, config, user, token. They open meta.db
 * directly (SQLite allows it while the daemon runs; WAL mode keeps readers and the one writer
 * apart). */
#include "cli.h"

#include "base/buf.h"
#include "base/dirlock.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "base/timeutil.h"
#include "archive/archive.h"
#include "http/http.h"
#include "model/model.h"
#include "tsdb/tsdb.h"

#include <cjson/cJSON.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IMPORT_MAX_BYTES (256u << 20)

/* The setpoint changes of an import: spooled durably inside its transaction, before COMMIT; a
 * leaf that cannot be written rolls the import back. */
struct sp_hook {
    struct cli *c;
    const char *before;
    int rc;
};

static int spool_setpoints(const char *detail, void *arg)
{
    struct sp_hook *e = arg;
    return cli_archive_action(e->c, "setpoint.change", detail, NULL, 0);
}

static int setpoints_before_commit(struct model *m, void *arg)
{
    struct sp_hook *e = arg;
    e->rc = http_setpoints_changes_locked(m, e->before, spool_setpoints, e);
    return e->rc;
}

/* An operator action on a user or token: {"name":...,<more>} archived; false when it cannot be
 * (printed; nothing may change). */
static bool archive_account(struct cli *c, const char *action, const char *name, const char *more)
{
    struct pw_buf d;
    pw_buf_init(&d, 0);
    pw_buf_puts(&d, "{\"name\":");
    pw_buf_json_str(&d, name);
    if (more)
        pw_buf_puts(&d, more);
    pw_buf_putc(&d, '}');
    int rc = cli_archive_action(c, action, d.data, NULL, 0);
    pw_buf_release(&d);
    return rc == PW_OK;
}

int cmd_import(struct cli *c)
{
    char err[2048] = "";
    int status = 1, rc;
    const char *csv = cli_take_opt(c, "--csv");
    bool replace = cli_take_flag(c, "--replace");
    if (c->argc != 1) {
        fprintf(stderr, "usage: parkwatch import [--data DIR] [--replace] FILE.json\n"
                        "       parkwatch import [--data DIR] --csv devices|points|departments|gathering_places "
                        "FILE.csv\n");
        return 2;
    }
    enum model_csv_kind csv_kind = MODEL_CSV_DEVICES;
    if (csv && model_csv_kind_parse(csv, &csv_kind) != PW_OK) {
        fprintf(stderr, "parkwatch import: --csv expects devices, points, departments or gathering_places, got '%s'\n",
                csv);
        return 2;
    }
    struct model *m = cli_open_model(c);
    if (!m)
        return 1;
    /* an operator action: archived (with the file) before it takes effect */
    char *data = NULL, *sp_before = NULL, detail[600];
    size_t len = 0;
    const char *base = strrchr(c->argv[0], '/');
    base = base ? base + 1 : c->argv[0];
    rc = pw_file_read(c->argv[0], IMPORT_MAX_BYTES, &data, &len);
    if (rc != PW_OK) {
        fprintf(stderr, "import: %s: %s\n", c->argv[0], pw_strerror(rc));
        goto out;
    }
    struct pw_buf fn;
    pw_buf_init(&fn, 0);
    pw_buf_json_str(&fn, base);
    snprintf(detail, sizeof detail, "{\"format\":\"%s%s\",\"replace\":%s,\"file\":%.500s}",
             csv ? "csv-" : "json", csv ? csv : "", replace ? "true" : "false", fn.data);
    pw_buf_release(&fn);
    if (c->cfg.archive_enabled)
        sp_before = http_setpoints_snapshot(m);
    if (cli_archive_action(c, "model.import", detail, data, len) != PW_OK) {
        rc = PW_EIO;
        goto out;
    }
    struct sp_hook e = {c, sp_before, PW_OK};
    struct model_import_hook hook = {setpoints_before_commit, &e};
    const struct model_import_hook *hk = c->cfg.archive_enabled ? &hook : NULL;
    if (csv)
        rc = model_import_csv_hooked(m, csv_kind, data, len, base, hk, err, sizeof err);
    else
        rc = model_import_file_hooked(m, c->argv[0], replace ? MODEL_IMPORT_REPLACE : 0, hk, err,
                                      sizeof err);
    if (rc != PW_OK && e.rc != PW_OK) {
        fprintf(stderr,
                "import: the setpoint changes could not be archived (%s); nothing changed\n",
                pw_strerror(e.rc));
        goto out;
    }
    if (rc != PW_OK) {
        fprintf(stderr, "import: %s\n", err[0] ? err : pw_strerror(rc));
        goto out;
    }
    fprintf(stderr, "import: %s loaded into %s/meta.db\n", c->argv[0], c->data_dir);
    status = 0;
out:
    free(data);
    cJSON_free(sp_before);
    model_close(m);
    return status;
}

int cmd_export(struct cli *c)
{
    const char *outpath = cli_take_opt(c, "-o");
    struct pw_buf b;
    int status = 1;
    if (c->argc != 0) {
        fprintf(stderr, "usage: parkwatch export [--data DIR] [-o FILE]\n");
        return 2;
    }
    struct model *m = cli_open_model_existing(c);
    if (!m)
        return 1;
    pw_buf_init(&b, 0);
    int rc = model_export_json(m, &b);
    if (rc != PW_OK) {
        fprintf(stderr, "export: %s\n", pw_strerror(rc));
        goto out;
    }
    if (outpath) {
        rc = pw_file_replace(outpath, b.data, b.len);
        if (rc != PW_OK) {
            fprintf(stderr, "export: %s: %s\n", outpath, pw_strerror(rc));
            goto out;
        }
    } else if (fwrite(b.data, 1, b.len, stdout) != b.len) {
        goto out;
    }
    status = 0;
out:
    pw_buf_release(&b);
    model_close(m);
    return status;
}

int cmd_config(struct cli *c)
{
    if (cli_take_flag(c, "--defaults")) {
        pw_config_write_ini(stdout, NULL);
        return 0;
    }
    if (cli_take_flag(c, "--markdown")) {
        pw_config_write_markdown(stdout);
        return 0;
    }
    if (cli_take_flag(c, "--check")) {
        pw_config_write_ini(stdout, &c->cfg);
        return 0;
    }
    fprintf(stderr, "usage: parkwatch config --defaults | --markdown | --check [--config FILE] "
                    "[--set k=v ...]\n");
    return 2;
}

/* Reads a password from PARKWATCH_PASSWORD or one line of stdin. */
static int read_password(char *buf, size_t cap)
{
    const char *env = getenv("PARKWATCH_PASSWORD");
    if (env && *env) {
        snprintf(buf, cap, "%s", env);
        return 0;
    }
    fprintf(stderr, "password: ");
    if (!fgets(buf, (int)cap, stdin))
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

int cmd_user(struct cli *c)
{
    char pass[1024], err[512] = "";
    int status = 1, rc;
    if (c->argc < 1) {
        fprintf(stderr, "usage: parkwatch user add|passwd|del|list ...\n");
        return 2;
    }
    const char *sub = c->argv[0];
    const char *role_s = cli_take_opt(c, "--role"), *ent = cli_take_opt(c, "--enterprise");
    const char *disp = cli_take_opt(c, "--display"), *dept = cli_take_opt(c, "--department");
    if (dept)
        ent = dept; /* role department: the unit is the department */
    struct model *m = strcmp(sub, "add") == 0 ? cli_open_model(c) : cli_open_model_existing(c);
    if (!m)
        return 1;
    if (strcmp(sub, "list") == 0) {
        struct pw_buf b;
        pw_buf_init(&b, 0);
        rc = model_user_list_json(m, &b);
        if (rc == PW_OK) {
            fwrite(b.data, 1, b.len, stdout);
            putchar('\n');
            status = 0;
        }
        pw_buf_release(&b);
        goto out;
    }
    if (c->argc != 2) {
        fprintf(stderr, "parkwatch user %s: expects a user name\n", sub);
        status = 2;
        goto out;
    }
    const char *name = c->argv[1];
    if (strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0) {
        enum model_role role = MODEL_ROLE_VIEWER;
        if (strcmp(sub, "add") == 0 && (!role_s || model_role_parse(role_s, &role) != PW_OK)) {
            fprintf(stderr, "parkwatch user add: --role admin|supervisor|enterprise|viewer|"
                            "department\n");
            status = 2;
            goto out;
        }
        if (read_password(pass, sizeof pass) != 0 || strlen(pass) < 8) {
            fprintf(stderr, "parkwatch user: the password needs at least 8 characters\n");
            goto out;
        }
        /* archived first, never the password */
        struct pw_buf more;
        pw_buf_init(&more, 0);
        if (strcmp(sub, "add") == 0) {
            pw_buf_puts(&more, ",\"role\":");
            pw_buf_json_str(&more, model_role_name(role));
            pw_buf_puts(&more, ",\"unit\":");
            pw_buf_json_str(&more, ent ? ent : "");
            pw_buf_puts(&more, ",\"display_name\":");
            pw_buf_json_str(&more, disp ? disp : "");
        }
        bool archived = archive_account(c, strcmp(sub, "add") == 0 ? "user.add" : "user.passwd",
                                        name, more.len ? more.data : NULL);
        pw_buf_release(&more);
        if (!archived) {
            sodium_memzero(pass, sizeof pass);
            goto out;
        }
        if (strcmp(sub, "add") == 0)
            rc = model_user_add(m, name, pass, role, ent, disp ? disp : "", err, sizeof err);
        else
            rc = model_user_set_password(m, name, pass, err, sizeof err);
        sodium_memzero(pass, sizeof pass);
    } else if (strcmp(sub, "del") == 0) {
        if (!archive_account(c, "user.delete", name, NULL))
            goto out;
        rc = model_user_delete(m, name);
    } else {
        fprintf(stderr, "parkwatch user: unknown subcommand '%s'\n", sub);
        status = 2;
        goto out;
    }
    if (rc != PW_OK) {
        fprintf(stderr, "parkwatch user %s %s: %s\n", sub, name, err[0] ? err : pw_strerror(rc));
        goto out;
    }
    status = 0;
out:
    model_close(m);
    return status;
}

int cmd_token(struct cli *c)
{
    char secret[128], err[512] = "";
    int status = 1, rc;
    if (c->argc < 1) {
        fprintf(stderr, "usage: parkwatch token create|list|revoke ...\n");
        return 2;
    }
    const char *sub = c->argv[0];
    const char *name = cli_take_opt(c, "--name"), *role_s = cli_take_opt(c, "--role");
    const char *ent = cli_take_opt(c, "--enterprise"), *ttl_s = cli_take_opt(c, "--ttl");
    const char *dept = cli_take_opt(c, "--department");
    bool no_archive_writes = cli_take_flag(c, "--no-archive-writes");
    if (dept)
        ent = dept; /* role department: the unit is the department */
    struct model *m = strcmp(sub, "create") == 0 ? cli_open_model(c) : cli_open_model_existing(c);
    if (!m)
        return 1;
    if (strcmp(sub, "create") == 0) {
        enum model_role role;
        int64_t ttl = 0;
        if (!name || !role_s || model_role_parse(role_s, &role) != PW_OK) {
            fprintf(stderr, "usage: parkwatch token create --name NAME --role ROLE "
                            "[--enterprise ID] [--ttl 30d] [--no-archive-writes]\n");
            status = 2;
            goto out;
        }
        if (ttl_s && pw_duration_parse(ttl_s, &ttl) != PW_OK) {
            fprintf(stderr, "parkwatch token create: --ttl '%s' is not a duration\n", ttl_s);
            status = 2;
            goto out;
        }
        char more[256];
        struct pw_buf u;
        pw_buf_init(&u, 0);
        pw_buf_json_str(&u, ent ? ent : "");
        snprintf(more, sizeof more,
                 ",\"role\":\"%s\",\"unit\":%.150s,\"ttl_ms\":%lld,"
                 "\"archive_writes\":%s",
                 model_role_name(role), u.data, (long long)ttl,
                 no_archive_writes ? "false" : "true");
        pw_buf_release(&u);
        if (!archive_account(c, "token.create", name, more))
            goto out;
        rc = model_token_create(m, name, role, ent, ttl, secret, sizeof secret, err, sizeof err);
        if (rc != PW_OK) {
            fprintf(stderr, "parkwatch token create: %s\n", err[0] ? err : pw_strerror(rc));
            goto out;
        }
        if (no_archive_writes && c->cfg.archive_enabled) {
            char adir[4096], akey[4096], aorigin[256];
            cli_archive_paths(c, adir, sizeof adir, akey, sizeof akey, aorigin, sizeof aorigin);
            if ((rc = archive_exempt_add(adir, name)) != PW_OK) {
                fprintf(stderr,
                        "parkwatch token create: token created, but --no-archive-writes could "
                        "not be stored (%s): its /write bodies are archived\n",
                        pw_strerror(rc));
                goto out;
            }
        }
        printf("%s\n", secret);
        sodium_memzero(secret, sizeof secret);
    } else if (strcmp(sub, "list") == 0) {
        struct pw_buf b;
        pw_buf_init(&b, 0);
        rc = model_token_list_json(m, &b);
        if (rc == PW_OK) {
            fwrite(b.data, 1, b.len, stdout);
            putchar('\n');
        }
        pw_buf_release(&b);
        if (rc != PW_OK)
            goto out;
    } else if (strcmp(sub, "revoke") == 0 && c->argc == 2) {
        if (!archive_account(c, "token.revoke", c->argv[1], NULL))
            goto out;
        rc = model_token_revoke(m, c->argv[1]);
        if (rc != PW_OK) {
            fprintf(stderr, "parkwatch token revoke %s: %s\n", c->argv[1], pw_strerror(rc));
            goto out;
        }
    } else {
        fprintf(stderr, "usage: parkwatch token create|list|revoke NAME\n");
        status = 2;
        goto out;
    }
    status = 0;
out:
    model_close(m);
    return status;
}

/* The data directory a fsck argument names: DIR itself when DIR/tsdb exists (the tsdb
 * directory is then DIR/tsdb), its parent when DIR is a tsdb directory, else "" (no lock). */
static void fsck_dirs(const char *d, char *tsdb_dir, size_t tcap, char *data_dir, size_t dcap)
{
    struct stat st;
    snprintf(tsdb_dir, tcap, "%s/tsdb", d);
    if (stat(tsdb_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(data_dir, dcap, "%s", d);
        return;
    }
    snprintf(tsdb_dir, tcap, "%s", d);
    snprintf(data_dir, dcap, "%s", d);
    char *slash = strrchr(data_dir, '/');
    if (slash && strcmp(slash + 1, "tsdb") == 0)
        *slash = '\0';
    else if (strcmp(data_dir, "tsdb") == 0)
        snprintf(data_dir, dcap, ".");
    else
        data_dir[0] = '\0';
}

/* parkwatch fsck [DIR]: DIR is a data directory (its tsdb/ is checked) or a tsdb directory;
 * default the --data directory. With the data directory's lock free, fsck holds it while it
 * checks (no daemon starts meanwhile); held by a daemon, the check runs live. Exit 0 clean, 1
 * corruption found or unreadable. */
int cmd_fsck(struct cli *c)
{
    char dir[4096], data[4096];
    struct pw_buf report;
    struct tsdb_fsck_result res = {0};
    struct pw_dirlock lock = {-1};
    struct pw_dirlock_holder h;
    unsigned flags = 0;
    const char *d = c->argc > 0 ? c->argv[0] : c->data_dir;
    if (c->argc > 1) {
        fprintf(stderr, "usage: parkwatch fsck [DIR]\n");
        return 2;
    }
    fsck_dirs(d, dir, sizeof dir, data, sizeof data);
    struct stat st;
    if (data[0] && stat(dir, &st) == 0) {
        int lrc = pw_dirlock_take(data, "fsck", &lock, &h);
        if (lrc == PW_ECONFLICT) {
            flags |= TSDB_FSCK_LIVE;
            printf("fsck %s: pid %ld (parkwatch %s since %s) is writing this directory; checking "
                   "it live\n",
                   dir, (long)h.pid, h.command[0] ? h.command : "?", h.since[0] ? h.since : "?");
        }
        /* other failures (a read-only mount) leave nobody to race with: check without it */
    }
    pw_buf_init(&report, 0);
    int rc = tsdb_fsck_ex(dir, flags, &report, &res);
    pw_dirlock_release(&lock);
    if (report.len)
        fwrite(report.data, 1, report.len, stdout);
    printf("fsck %s: %llu files, %llu WAL records, %llu chunks, %llu samples; %llu errors, "
           "%llu warnings\n",
           dir, (unsigned long long)res.files, (unsigned long long)res.wal_records,
           (unsigned long long)res.chunks, (unsigned long long)res.samples,
           (unsigned long long)res.errors, (unsigned long long)res.warnings);
    pw_buf_release(&report);
    if (rc != PW_OK && rc != PW_ECORRUPT)
        fprintf(stderr, "fsck: %s: %s\n", dir, pw_strerror(rc));
    return rc == PW_OK ? 0 : 1;
}
