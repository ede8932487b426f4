/* Memory of idle JT/T 808 terminals. Starts `parkwatch serve` (build/parkwatch, or argv[1], or
 * $PARKWATCH_BIN) on loopback with a fresh data directory and jt808.max_connections=20000, opens
 * BENCH_CONNS (10,000) TCP connections to its JT/T 808 port, sends one heartbeat on each (so the
 * daemon holds per-connection and per-terminal state, as for a real terminal), waits for every
 * answer, lets the connections idle and reads the daemon's resident set from /proc. Prints:
 *
 *   jt808_idle_10k_rss_bytes   <n> bytes   daemon RSS with the connections open
 *   jt808_idle_conn_bytes      <n> bytes   (RSS with - RSS before) / connections
 *
 * Loopback only; bounded to 60 s (a step that takes longer fails the bench). Raises its own and
 * the daemon's open-file limit to the hard limit; needs a hard limit above the connection
 * count. */
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

#define DEADLINE_S 60

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

static int connect_to(int port, bool block)
{
    int s = socket(AF_INET, SOCK_STREAM | (block ? 0 : SOCK_NONBLOCK), 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(s);
        return -1;
    }
    return s;
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

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : getenv("PARKWATCH_BIN");
    if (!bin)
        bin = "build/parkwatch";
    long conns = 10000;
    const char *env = getenv("BENCH_CONNS");
    if (env) {
        char *end;
        conns = strtol(env, &end, 10);
        if (*end || conns < 1 || conns > 100000)
            fail("BENCH_CONNS: expected 1..100000");
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)conns + 100)
        fail("open-file hard limit too low for the connection count");
    signal(SIGPIPE, SIG_IGN);

    snprintf(data_dir, sizeof data_dir, "/tmp/pw-bench-jt808-XXXXXX");
    if (!mkdtemp(data_dir))
        fail("mkdtemp");
    int jport = free_port(), hport = free_port();
    char a_http[64], a_jt[64], a_max[64];
    snprintf(a_http, sizeof a_http, "http.listen=127.0.0.1:%d", hport);
    snprintf(a_jt, sizeof a_jt, "jt808.listen=127.0.0.1:%d", jport);
    snprintf(a_max, sizeof a_max, "jt808.max_connections=%ld", conns + 1000);
    daemon_pid = fork();
    if (daemon_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        setenv("PARKWATCH_ADMIN_PASSWORD", "bench-password-1", 1);
        execl(bin, bin, "serve", "--data", data_dir, "--set", a_http, "--set", a_jt, "--set",
              a_max, "--set", "hj212.listen=", "--set", "mqtt.broker=", "--set",
              "log.level=error", "--set", "storage.fsync=off", (char *)NULL);
        _exit(127);
    }
    double t0 = now_s();
    int probe = -1;
    while ((probe = connect_to(jport, true)) < 0) {
        if (now_s() - t0 > 10)
            fail("daemon did not start");
        usleep(20000);
    }
    close(probe);
    usleep(300000);
    long before = rss_bytes(daemon_pid);

    int ep = epoll_create1(0);
    int *fds = calloc((size_t)conns, sizeof *fds);
    bool *answered = calloc((size_t)conns, sizeof *answered);
    long pending = 0, done = 0;
    /* connect in waves so the listen backlog is not overrun */
    for (long i = 0; i < conns; i++) {
        fds[i] = connect_to(jport, true);
        if (fds[i] < 0)
            fail("connect failed");
        uint8_t f[40];
        size_t n = heartbeat((unsigned)i, f);
        if (write(fds[i], f, n) != (ssize_t)n)
            fail("write failed");
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
        pending++;
        if (now_s() - t0 > DEADLINE_S)
            fail("connecting took too long");
    }
    /* every terminal gets its answer (0x8001 result 1: not authenticated) */
    struct epoll_event evs[256];
    while (done < pending) {
        if (now_s() - t0 > DEADLINE_S)
            fail("answers took too long");
        int n = epoll_wait(ep, evs, 256, 1000);
        for (int k = 0; k < n; k++) {
            long i = (long)evs[k].data.u64;
            uint8_t buf[256];
            ssize_t r = read(fds[i], buf, sizeof buf);
            if (r > 0 && !answered[i]) {
                answered[i] = true;
                done++;
            } else if (r == 0) {
                fail("the daemon closed a connection");
            }
        }
    }
    usleep(1000000); /* idle: buffers released, allocator settled */
    long with = rss_bytes(daemon_pid);
    if (before < 0 || with < 0)
        fail("cannot read the daemon's RSS");
    printf("jt808_idle_10k_rss_bytes %ld bytes\n", with);
    printf("jt808_idle_conn_bytes %ld bytes\n", (with - before) / conns);
    fflush(stdout);
    for (long i = 0; i < conns; i++)
        close(fds[i]);
    free(fds);
    free(answered);
    close(ep);
    cleanup();
    return 0;
}
