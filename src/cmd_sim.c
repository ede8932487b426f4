/* cmd_sim.c — `parkwatch sim`: the park simulator (src/sim/, docs/simulator.md).
 *
 *   parkwatch sim --park FILE [--scenario FILE] [--http H:P] [--hj212 H:P] [--jt808 H:P]
 *                 [--mqtt H:P] [--login USER:PASSWORD | --token T] [--seed N] [--speed X]
 *                 [--devices N] [--duration D] [--start TIME] [--report FILE] [--hold]
 *                 [--no-modbus]
 *   parkwatch sim --emit-park N [--park FILE]      the model scaled to N devices, on stdout */
#include "cli.h"

#include "base/err.h"
#include "base/timeutil.h"
#include "sim/sim.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_signal(int sig)
{
    (void)sig;
    sim_request_stop();
}

static int num(const char *opt, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "parkwatch sim: %s: expected a number in [%g, %g], got \"%s\"\n", opt, lo,
                hi, v);
        return 2;
    }
    *out = x;
    return 0;
}

int cmd_sim(struct cli *c)
{
    struct sim_opts o;
    sim_opts_init(&o);
    const char *v;
    double x;
    o.park_path = "demo/park.json";
    if ((v = cli_take_opt(c, "--park")))
        o.park_path = v;
    if ((v = cli_take_opt(c, "--emit-park"))) {
        if (num("--emit-park", v, 1, 200000, &x))
            return 2;
        return sim_emit_park(o.park_path, (int)x, stdout) == PW_OK ? 0 : 1;
    }
    o.scenario_path = cli_take_opt(c, "--scenario");
    o.http = cli_take_opt(c, "--http");
    o.hj212 = cli_take_opt(c, "--hj212");
    o.jt808 = cli_take_opt(c, "--jt808");
    o.mqtt = cli_take_opt(c, "--mqtt");
    o.login = cli_take_opt(c, "--login");
    o.token = cli_take_opt(c, "--token");
    o.report_path = cli_take_opt(c, "--report");
    if (cli_take_flag(c, "--hold"))
        o.hold = true;
    if (cli_take_flag(c, "--no-modbus"))
        o.modbus = false;
    if ((v = cli_take_opt(c, "--seed"))) {
        if (num("--seed", v, 0, 9007199254740992.0, &x))
            return 2;
        o.seed = (uint64_t)x;
    }
    if ((v = cli_take_opt(c, "--speed"))) {
        if (num("--speed", v, 0.001, 100000, &x))
            return 2;
        o.speed = x;
    }
    if ((v = cli_take_opt(c, "--devices"))) {
        if (num("--devices", v, 0, 200000, &x))
            return 2;
        o.devices = (int)x;
    }
    if ((v = cli_take_opt(c, "--duration")) && pw_duration_parse(v, &o.duration_ms) != PW_OK) {
        fprintf(stderr, "parkwatch sim: --duration: expected a duration (\"30m\"), got \"%s\"\n",
                v);
        return 2;
    }
    if ((v = cli_take_opt(c, "--start")) && pw_time_parse(v, &o.start_ms) != PW_OK) {
        fprintf(stderr, "parkwatch sim: --start: expected RFC 3339 or Unix seconds, got \"%s\"\n",
                v);
        return 2;
    }
    if (c->argc > 0) {
        fprintf(stderr, "parkwatch sim: unexpected argument \"%s\"\n", c->argv[0]);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return sim_run(&o) == PW_OK ? 0 : 1;
}
