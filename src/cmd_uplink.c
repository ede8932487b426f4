/* cmd_uplink.c — `parkwatch uplink setup`: writes the nats-server configuration of a park leaf
 * or of the province hub (docs/province.md). The streams are not in it: parkwatch creates and
 * updates them itself at start (the park stream PW_<PARK> from `serve` with uplink.enabled, the
 * aggregate PW_PROV_<ID> from `serve --role province`), so their settings follow the
 * configuration. */
#include "cli.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "uplink/uplink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char setup_usage[] =
    "usage: parkwatch uplink setup --role park --id PARK --hub nats-leaf://HOST:PORT\n"
    "                              --password PASS [--port N] [--store DIR] [-o FILE]\n"
    "       parkwatch uplink setup --role hub --id PROVINCE --parks P1,P2,...\n"
    "                              --password PASS|P1=PASS1,P2=PASS2 [--port N] [--leaf-port N]\n"
    "                              [--province-password PASS] [--store DIR] [-o FILE]\n"
    "\n"
    "Writes the nats-server configuration (stdout, or FILE) of a park's leaf node (JetStream\n"
    "domain park-<id>, leafnode remote to the hub as user park-<id>, ping_interval 20s) or of\n"
    "the province hub (domain prov-<id>, leafnode listener, one account per park: a park's leaf\n"
    "user is bound to its own account, which exports only its JetStream API and the delivery\n"
    "of its stream to the PROVINCE account, where the aggregate stream lives).\n"
    "  --port N       client port of this nats-server (default 4222; loopback only)\n"
    "  --leaf-port N  hub: leafnode listener port (default 7422)\n"
    "  --store DIR    JetStream store_dir\n"
    "  --province-password PASS  hub: password of the user \"province\" (the province\n"
    "                 parkwatch's province.user/password); local clients without credentials\n"
    "                 are that user\n"
    "The streams (park PW_<PARK>, aggregate PW_PROV_<ID> sourcing $JS.park-<p>.API) are created\n"
    "by parkwatch itself at start from uplink.* / province.* (docs/province.md).\n";

static int port_opt(struct cli *c, const char *name, int *out)
{
    const char *v = cli_take_opt(c, name);
    *out = 0;
    if (!v)
        return 0;
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < 1 || x > 65535) {
        fprintf(stderr, "parkwatch uplink setup: %s must be a port 1..65535, not '%s'\n", name,
                v);
        return 2;
    }
    *out = (int)x;
    return 0;
}

static int setup(struct cli *c)
{
    if (cli_take_flag(c, "--help") || cli_take_flag(c, "-h")) {
        fputs(setup_usage, stdout);
        return 0;
    }
    struct uplink_setup s = {0};
    s.role = cli_take_opt(c, "--role");
    s.id = cli_take_opt(c, "--id");
    s.hub_url = cli_take_opt(c, "--hub");
    s.parks = cli_take_opt(c, "--parks");
    s.password = cli_take_opt(c, "--password");
    s.store_dir = cli_take_opt(c, "--store");
    s.province_password = cli_take_opt(c, "--province-password");
    const char *outfile = cli_take_opt(c, "-o");
    if (port_opt(c, "--port", &s.client_port) || port_opt(c, "--leaf-port", &s.leaf_port))
        return 2;
    if (c->argc > 0) {
        fprintf(stderr, "parkwatch uplink setup: unexpected argument '%s'\n%s", c->argv[0],
                setup_usage);
        return 2;
    }
    if (!s.role) {
        fprintf(stderr, "parkwatch uplink setup: --role park|hub is required\n%s", setup_usage);
        return 2;
    }
    char err[256] = "";
    struct pw_buf out;
    pw_buf_init(&out, 0);
    int rc = uplink_setup_conf(&s, &out, err, sizeof err);
    if (rc != PW_OK) {
        fprintf(stderr, "parkwatch uplink setup: %s\n", err);
        pw_buf_release(&out);
        return 2;
    }
    int status = 0;
    if (outfile) {
        rc = pw_file_replace(outfile, out.data, out.len);
        if (rc != PW_OK) {
            fprintf(stderr, "parkwatch uplink setup: cannot write %s: %s\n", outfile,
                    pw_errname(rc));
            status = 1;
        }
    } else {
        fwrite(out.data, 1, out.len, stdout);
    }
    pw_buf_release(&out);
    return status;
}

int cmd_uplink(struct cli *c)
{
    if (c->argc < 1 || strcmp(c->argv[0], "--help") == 0 || strcmp(c->argv[0], "-h") == 0) {
        fputs(setup_usage, c->argc < 1 ? stderr : stdout);
        return c->argc < 1 ? 2 : 0;
    }
    if (strcmp(c->argv[0], "setup") == 0) {
        c->argc--;
        c->argv++;
        return setup(c);
    }
    fprintf(stderr, "parkwatch uplink: unknown subcommand '%s'\n%s", c->argv[0], setup_usage);
    return 2;
}
