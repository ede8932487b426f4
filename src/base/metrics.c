/* metrics.c — a fixed registry of counters and gauges. Registration takes a mutex (rare);
 * increments are atomic adds on the returned pointer (hot). */
#include "base/metrics.h"

#include "base/err.h"
#include "base/mem.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_METRICS 4096

struct metric {
    char *name, *labels, *help;
    int gauge;
    struct pw_counter c;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *metrics[MAX_METRICS];
static size_t n_metrics;
static time_t start_time;

static struct pw_counter *get(const char *name, const char *labels, const char *help, int gauge)
{
    struct pw_counter *c = NULL;
    pthread_mutex_lock(&reg_lock);
    if (!start_time)
        start_time = time(NULL);
    for (size_t i = 0; i < n_metrics; i++) {
        if (strcmp(metrics[i]->name, name) == 0 && strcmp(metrics[i]->labels, labels) == 0) {
            c = &metrics[i]->c;
            goto out;
        }
    }
    if (n_metrics == MAX_METRICS) {
        fprintf(stderr, "level=fatal mod=metrics msg=\"too many metrics\"\n");
        abort();
    }
    struct metric *m = pw_xcalloc(1, sizeof *m);
    m->name = pw_xstrdup(name);
    m->labels = pw_xstrdup(labels ? labels : "");
    m->help = pw_xstrdup(help ? help : "");
    m->gauge = gauge;
    metrics[n_metrics++] = m;
    c = &m->c;
out:
    pthread_mutex_unlock(&reg_lock);
    return c;
}

struct pw_counter *pw_counter_get(const char *name, const char *labels, const char *help)
{
    return get(name, labels ? labels : "", help, 0);
}

struct pw_counter *pw_gauge_get(const char *name, const char *labels, const char *help)
{
    return get(name, labels ? labels : "", help, 1);
}

uint64_t pw_counter_sum(const char *name)
{
    uint64_t s = 0;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < n_metrics; i++)
        if (strcmp(metrics[i]->name, name) == 0)
            s += pw_counter_value(&metrics[i]->c);
    pthread_mutex_unlock(&reg_lock);
    return s;
}

static int cmp_metric(const void *a, const void *b)
{
    const struct metric *x = *(struct metric *const *)a, *y = *(struct metric *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->labels, y->labels);
}

static void process_figures(struct pw_buf *out)
{
    long rss_pages = 0, page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        long size;
        if (fscanf(f, "%ld %ld", &size, &rss_pages) != 2)
            rss_pages = 0;
        fclose(f);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        while (readdir(d))
            fds++;
        closedir(d);
        fds -= 3; /* ".", ".." and the DIR's own fd */
    }
    pw_buf_printf(out,
                  "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                  "# TYPE process_resident_memory_bytes gauge\n"
                  "process_resident_memory_bytes %ld\n"
                  "# HELP process_cpu_seconds_total User and system CPU time spent in seconds.\n"
                  "# TYPE process_cpu_seconds_total counter\n"
                  "process_cpu_seconds_total %.3f\n"
                  "# HELP process_open_fds Number of open file descriptors.\n"
                  "# TYPE process_open_fds gauge\n"
                  "process_open_fds %d\n"
                  "# HELP process_start_time_seconds Start time of the process since the epoch.\n"
                  "# TYPE process_start_time_seconds gauge\n"
                  "process_start_time_seconds %lld\n",
                  rss_pages * page, cpu, fds, (long long)start_time);
}

int pw_metrics_render(struct pw_buf *out)
{
    struct metric **sorted;
    size_t n;
    pthread_mutex_lock(&reg_lock);
    if (!start_time)
        start_time = time(NULL);
    n = n_metrics;
    sorted = pw_xmalloc((n ? n : 1) * sizeof *sorted);
    memcpy(sorted, metrics, n * sizeof *sorted);
    pthread_mutex_unlock(&reg_lock);
    qsort(sorted, n, sizeof *sorted, cmp_metric);
    const char *last = "";
    for (size_t i = 0; i < n; i++) {
        struct metric *m = sorted[i];
        if (strcmp(m->name, last) != 0) {
            pw_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                          m->gauge ? "gauge" : "counter");
            last = m->name;
        }
        if (*m->labels)
            pw_buf_printf(out, "%s{%s} %llu\n", m->name, m->labels,
                          (unsigned long long)pw_counter_value(&m->c));
        else
            pw_buf_printf(out, "%s %llu\n", m->name, (unsigned long long)pw_counter_value(&m->c));
    }
    free(sorted);
    process_figures(out);
    return PW_OK;
}
