/* Device connections at park scale: memory of idle JT/T 808 terminals. Starts `parkwatch serve`
 * (build/parkwatch, or argv[1], or $PARKWATCH_BIN) on loopback with a fresh data directory and
 * jt808.max_connections above the target, opens up to BENCH_CONNS (20,000) TCP connections to its
 * JT/T 808 port, sends one heartbeat on each (so the daemon holds per-connection and per-terminal
 * state, as for a real terminal), waits for every answer, lets the connections idle and reads
 * the daemon's resident set from /proc. Prints:
 *
 *   device_connections         <n> conns   connections open and answered at the measurement
 *   rss_per_connection_kb      <x> KiB     (RSS with - RSS before) / connections
 *   device_connections_rss_mb  <x> MiB     daemon RSS with the connections open
 *   rss_20000_connections_mb   <x> MiB     RSS before + 20,000 x the per-connection figure
 *                                           (target < 500; measured when n = 20,000)
 *
 * File descriptors: each process may hold at most the hard RLIMIT_NOFILE (20,000 here). The
 * client side is split over BENCH_CLIENTS (2) child processes, so no client process needs more
 * than half; the daemon raises its soft limit to the hard limit itself and needs a few dozen
 * descriptors of its own (listeners, epoll, store files), so n is the target or, when the hard
 * limit does not leave room for it, the hard limit minus the daemon's own descriptors minus a
 * margin of 16 — the figure says which. The connections come from 40 loopback addresses
 * (127.0.0.1 .. 127.0.0.40), 500 each at 20,000, within jt808.max_connections_per_address.
 *
 * Loopback only; bounded to 120 s (a step that takes longer fails the bench). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_S 120
#define SOURCES 40

static pid_t daemon_pid;
static char data_dir[64];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cleanup(void)
{
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGTERM);
        waitpid(daemon_pid, NULL, 0);
        daemon_pid = 0;
    }
    if (data_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: could not remove %s\n", data_dir);
    }
}

static void fail(const char *what)
{
    fprintf(stderr, "bench_ingest_jt808_conns: %s\n", what);
    cleanup();
    exit(1);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0)
        fail("no free port");
    close(s);
    return ntohs(a.sin_port);
}

static long rss_bytes(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            char *end;
            kb = strtol(line + 6, &end, 10);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static int connect_to(int port, bool block, long i)
{
    int s = socket(AF_INET, SOCK_STREAM | (block ? 0 : SOCK_NONBLOCK), 0);
    if (s < 0)
        return -1;
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(i % SOURCES))};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if ((i >= 0 && bind(s, (struct sockaddr *)&src, sizeof src) != 0) ||
        (connect(s, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)) {
        close(s);
        return -1;
    }
    return s;
}

static int count_fds(pid_t pid)
{
    char cmd[96], line[32];
    snprintf(cmd, sizeof cmd, "ls /proc/%d/fd 2>/dev/null | wc -l", (int)pid);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f && fgets(line, sizeof line, f))
        n = (int)strtol(line, NULL, 10);
    if (f)
        pclose(f);
    return n;
}

/* A 2013 heartbeat from phone 1390000000 + i (escaping never needed for these bytes except
 * when a byte is 0x7E/0x7D, handled). Returns the frame length. */
static size_t heartbeat(unsigned i, uint8_t *out)
{
    uint8_t raw[13];
    char phone[13];
    snprintf(phone, sizeof phone, "0139%08u", i);
    raw[0] = 0x00, raw[1] = 0x02, raw[2] = 0x00, raw[3] = 0x00;
    for (int k = 0; k < 6; k++)
        raw[4 + k] = (uint8_t)(((phone[2 * k] - '0') << 4) | (phone[2 * k + 1] - '0'));
    raw[10] = 0, raw[11] = 1;
    uint8_t x = 0;
    for (int k = 0; k < 12; k++)
        x ^= raw[k];
    raw[12] = x;
    size_t n = 0;
    out[n++] = 0x7E;
    for (int k = 0; k < 13; k++) {
        if (raw[k] == 0x7E || raw[k] == 0x7D) {
            out[n++] = 0x7D;
            out[n++] = raw[k] == 0x7E ? 0x02 : 0x01;
        } else {
            out[n++] = raw[k];
        }
    }
    out[n++] = 0x7E;
    return n;
}

/* A client process: opens n connections (terminals from..from+n-1), sends a heartbeat on each,
 * waits for every answer, writes "ok\n" to wfd, holds the connections until rfd closes. */
static void client(int jport, long from, long n, int wfd, int rfd)
{
    int ep = epoll_create1(0);
    int *fds = calloc((size_t)n, sizeof *fds);
    bool *answered = calloc((size_t)n, sizeof *answered);
    long done = 0;
    double t0 = now_s();
    if (ep < 0 || !fds || !answered)
        _exit(2);
    for (long k = 0; k < n; k++) {
        fds[k] = connect_to(jport, true, from + k);
        if (fds[k] < 0) {
            fprintf(stderr, "bench client: connect %ld failed: %s\n", from + k, strerror(errno));
            _exit(3);
        }
        uint8_t f[40];
        size_t len = heartbeat((unsigned)(from + k), f);
        if (write(fds[k], f, len) != (ssize_t)len)
            _exit(4);
        fcntl(fds[k], F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)k};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[k], &ev);
        if (now_s() - t0 > DEADLINE_S)
            _exit(5);
    }
    /* every terminal gets its answer (0x8001 result 1: not authenticated) */
    struct epoll_event evs[256];
    while (done < n) {
        if (now_s() - t0 > DEADLINE_S)
            _exit(6);
        int ne = epoll_wait(ep, evs, 256, 1000);
        for (int e = 0; e < ne; e++) {
            long k = (long)evs[e].data.u64;
            uint8_t buf[256];
            ssize_t r = read(fds[k], buf, sizeof buf);
            if (r > 0 && !answered[k]) {
                answered[k] = true;
                done++;
            } else if (r == 0) {
                fprintf(stderr, "bench client: the daemon closed connection %ld\n", from + k);
                _exit(7);
            }
        }
    }
    if (write(wfd, "ok\n", 3) != 3)
        _exit(8);
    char c;
    while (read(rfd, &c, 1) > 0) /* until the parent closes its end */
        ;
    _exit(0);
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : getenv("PARKWATCH_BIN");
    if (!bin)
        bin = "build/parkwatch";
    long target = 20000, nclients = 2;
    const char *env = getenv("BENCH_CONNS");
    if (env) {
        char *end;
        target = strtol(env, &end, 10);
        if (*end || target < 1 || target > 100000)
            fail("BENCH_CONNS: expected 1..100000");
    }
    env = getenv("BENCH_CLIENTS");
    if (env) {
        char *end;
        nclients = strtol(env, &end, 10);
        if (*end || nclients < 1 || nclients > 64)
            fail("BENCH_CLIENTS: expected 1..64");
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);

    snprintf(data_dir, sizeof data_dir, "/tmp/pw-bench-jt808-XXXXXX");
    if (!mkdtemp(data_dir))
        fail("mkdtemp");
    int jport = free_port(), hport = free_port();
    char a_http[64], a_jt[64], a_max[64], a_addr[80];
    snprintf(a_http, sizeof a_http, "http.listen=127.0.0.1:%d", hport);
    snprintf(a_jt, sizeof a_jt, "jt808.listen=127.0.0.1:%d", jport);
    snprintf(a_max, sizeof a_max, "jt808.max_connections=%ld", target + 1000);
    snprintf(a_addr, sizeof a_addr, "jt808.max_connections_per_address=%ld",
             target / SOURCES + 10);
    daemon_pid = fork();
    if (daemon_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        setenv("PARKWATCH_ADMIN_PASSWORD", "bench-password-1", 1);
        execl(bin, bin, "serve", "--data", data_dir, "--set", a_http, "--set", a_jt, "--set",
              a_max, "--set", a_addr, "--set", "hj212.listen=", "--set", "mqtt.broker=",
              "--set", "log.level=error", "--set", "storage.fsync=off", (char *)NULL);
        _exit(127);
    }
    double t0 = now_s();
    int probe = -1;
    while ((probe = connect_to(jport, true, -1)) < 0) {
        if (now_s() - t0 > 10)
            fail("daemon did not start");
        usleep(20000);
    }
    close(probe);
    usleep(300000);
    long before = rss_bytes(daemon_pid);
    int own = count_fds(daemon_pid);
    if (own < 0)
        fail("cannot count the daemon's descriptors");
    long room = (long)rl.rlim_max - own - 16;
    long conns = target < room ? target : room;
    if (conns < 1)
        fail("open-file hard limit too low");
    if (conns / nclients + 16 > (long)rl.rlim_max)
        fail("open-file hard limit too low for a client process (raise BENCH_CLIENTS)");

    int up[2], down[2];
    if (pipe(up) != 0 || pipe(down) != 0)
        fail("pipe");
    pid_t kids[64];
    for (long k = 0; k < nclients; k++) {
        long from = conns * k / nclients, to = conns * (k + 1) / nclients;
        kids[k] = fork();
        if (kids[k] == 0) {
            close(up[0]);
            close(down[1]);
            client(jport, from, to - from, up[1], down[0]);
        }
    }
    close(up[1]);
    close(down[0]);
    for (long k = 0; k < nclients; k++) {
        char ok[3];
        if (read(up[0], ok, 3) != 3) {
            close(down[1]);
            for (long j = 0; j < nclients; j++)
                waitpid(kids[j], NULL, 0);
            fail("a client process failed (see above)");
        }
    }
    usleep(1000000); /* idle: buffers released, allocator settled */
    long with = rss_bytes(daemon_pid);
    if (before < 0 || with < 0)
        fail("cannot read the daemon's RSS");
    double per = (double)(with - before) / (double)conns;
    if (conns < target)
        fprintf(stderr,
                "bench_ingest_jt808_conns: %ld of %ld connections: the most the hard open-file "
                "limit (%llu) leaves room for beside the daemon's own %d descriptors; the "
                "20,000 figure is projected from them\n",
                conns, target, (unsigned long long)rl.rlim_max, own);
    printf("device_connections %ld conns\n", conns);
    printf("rss_per_connection_kb %.2f KiB\n", per / 1024);
    printf("device_connections_rss_mb %.1f MiB\n", (double)with / 1048576);
    printf("rss_20000_connections_mb %.1f MiB\n", ((double)before + per * 20000) / 1048576);
    fflush(stdout);
    close(down[1]);
    for (long k = 0; k < nclients; k++)
        waitpid(kids[k], NULL, 0);
    close(up[0]);
    cleanup();
    return 0;
}
