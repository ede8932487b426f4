/* metrics.c — a fixed registry of counters, gauges and histograms. Registration takes a mutex
 * (rare); increments and observations are atomic operations on the returned pointer (hot). */
#include "base/metrics.h"

#include "base/err.h"
#include "base/mem.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_METRICS 4096

enum metric_kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

/* Buckets are stored non-cumulative (an observation touches one bucket); reads add them up.
 * counts[n] is the +Inf bucket. The sum is a double kept as its bit pattern in a uint64_t so
 * that it can be updated with compare-and-swap. */
struct pw_histogram {
    size_t n;         /* finite bounds */
    double *bounds;   /* [n], strictly increasing */
    uint64_t *counts; /* [n + 1], accessed only through __atomic builtins */
    uint64_t sum_bits;
};

struct metric {
    char *name, *labels, *help;
    enum metric_kind kind;
    struct pw_counter c;     /* counters and gauges */
    struct pw_histogram *h;  /* histograms */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *metrics[MAX_METRICS];
static size_t n_metrics;
static time_t start_time;

static void fatal(const char *msg, const char *name)
{
    fprintf(stderr, "level=fatal mod=metrics metric=%s msg=\"%s\"\n", name, msg);
    abort();
}

/* Returns the registry entry for (name, labels), creating it with kind on first use; the caller
 * fills a new histogram entry's h under reg_lock (*created says it is new). */
static struct metric *lookup(const char *name, const char *labels, const char *help,
                             enum metric_kind kind, int *created)
{
    struct metric *m = NULL;
    *created = 0;
    if (!start_time)
        start_time = time(NULL);
    for (size_t i = 0; i < n_metrics; i++) {
        if (strcmp(metrics[i]->name, name) == 0 && strcmp(metrics[i]->labels, labels) == 0) {
            m = metrics[i];
            if ((m->kind == KIND_HISTOGRAM) != (kind == KIND_HISTOGRAM))
                fatal("registered both as a histogram and as a counter or gauge", name);
            return m;
        }
    }
    if (n_metrics == MAX_METRICS)
        fatal("too many metrics", name);
    m = pw_xcalloc(1, sizeof *m);
    m->name = pw_xstrdup(name);
    m->labels = pw_xstrdup(labels);
    m->help = pw_xstrdup(help ? help : "");
    m->kind = kind;
    metrics[n_metrics++] = m;
    *created = 1;
    return m;
}

static struct pw_counter *get(const char *name, const char *labels, const char *help,
                              enum metric_kind kind)
{
    int created;
    pthread_mutex_lock(&reg_lock);
    struct pw_counter *c = &lookup(name, labels, help, kind, &created)->c;
    pthread_mutex_unlock(&reg_lock);
    return c;
}

struct pw_counter *pw_counter_get(const char *name, const char *labels, const char *help)
{
    return get(name, labels ? labels : "", help, KIND_COUNTER);
}

struct pw_counter *pw_gauge_get(const char *name, const char *labels, const char *help)
{
    return get(name, labels ? labels : "", help, KIND_GAUGE);
}

struct pw_histogram *pw_histogram_get(const char *name, const char *labels, const char *help,
                                      const double *bounds, size_t nbounds)
{
    if (nbounds > 0 && isinf(bounds[nbounds - 1]) && bounds[nbounds - 1] > 0)
        nbounds--; /* the +Inf bucket is implicit */
    if (nbounds > PW_HISTOGRAM_BOUNDS_MAX)
        fatal("too many histogram bounds", name);
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            fatal("histogram bounds must be finite and strictly increasing", name);
    int created;
    pthread_mutex_lock(&reg_lock);
    struct metric *m = lookup(name, labels ? labels : "", help, KIND_HISTOGRAM, &created);
    if (created) {
        struct pw_histogram *h = pw_xcalloc(1, sizeof *h);
        h->n = nbounds;
        h->bounds = pw_xmalloc((nbounds ? nbounds : 1) * sizeof *h->bounds);
        if (nbounds)
            memcpy(h->bounds, bounds, nbounds * sizeof *h->bounds);
        h->counts = pw_xcalloc(nbounds + 1, sizeof *h->counts);
        double zero = 0;
        memcpy(&h->sum_bits, &zero, sizeof zero);
        m->h = h;
    }
    struct pw_histogram *h = m->h;
    pthread_mutex_unlock(&reg_lock);
    return h;
}

void pw_histogram_observe(struct pw_histogram *h, double v)
{
    if (isnan(v))
        return;
    /* first bound >= v: binary search over [lo, hi) */
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->bounds[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    __atomic_fetch_add(&h->counts[lo], 1, __ATOMIC_RELAXED);
    uint64_t old = __atomic_load_n(&h->sum_bits, __ATOMIC_RELAXED), new;
    do {
        double sum;
        memcpy(&sum, &old, sizeof sum);
        sum += v;
        memcpy(&new, &sum, sizeof new);
    } while (!__atomic_compare_exchange_n(&h->sum_bits, &old, new, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
}

size_t pw_histogram_read(const struct pw_histogram *h, double *le, uint64_t *counts, size_t max,
                         double *sum)
{
    uint64_t acc = 0;
    for (size_t i = 0; i <= h->n && i < max; i++) {
        acc += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
        counts[i] = acc;
        if (le)
            le[i] = i < h->n ? h->bounds[i] : INFINITY;
    }
    if (sum) {
        uint64_t bits = __atomic_load_n(&h->sum_bits, __ATOMIC_RELAXED);
        memcpy(sum, &bits, sizeof *sum);
    }
    return h->n + 1;
}

uint64_t pw_counter_sum(const char *name)
{
    uint64_t s = 0;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < n_metrics; i++)
        if (metrics[i]->kind != KIND_HISTOGRAM && strcmp(metrics[i]->name, name) == 0)
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

/* The shortest decimal that reads back as v (as Prometheus' clients print floats); "+Inf",
 * "-Inf", "NaN" as the exposition format spells them. */
static void fmt_float(char *dst, size_t n, double v)
{
    if (isnan(v) || isinf(v)) {
        snprintf(dst, n, "%s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) { /* integral: "10", not "1e+01" */
        snprintf(dst, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(dst, n, "%.*g", prec, v);
        if (strtod(dst, NULL) == v)
            return;
    }
}

static void render_histogram(struct pw_buf *out, const struct metric *m)
{
    size_t nb = m->h->n + 1;
    double le[PW_HISTOGRAM_BOUNDS_MAX + 1], sum;
    uint64_t counts[PW_HISTOGRAM_BOUNDS_MAX + 1];
    pw_histogram_read(m->h, le, counts, nb, &sum);
    const char *sep = *m->labels ? "," : "";
    char num[64];
    for (size_t i = 0; i < nb; i++) {
        fmt_float(num, sizeof num, le[i]);
        pw_buf_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", m->name, m->labels, sep, num,
                      (unsigned long long)counts[i]);
    }
    fmt_float(num, sizeof num, sum);
    if (*m->labels) {
        pw_buf_printf(out, "%s_sum{%s} %s\n", m->name, m->labels, num);
        pw_buf_printf(out, "%s_count{%s} %llu\n", m->name, m->labels,
                      (unsigned long long)counts[nb - 1]);
    } else {
        pw_buf_printf(out, "%s_sum %s\n", m->name, num);
        pw_buf_printf(out, "%s_count %llu\n", m->name, (unsigned long long)counts[nb - 1]);
    }
}

static const char *kind_name(enum metric_kind k)
{
    return k == KIND_HISTOGRAM ? "histogram" : k == KIND_GAUGE ? "gauge" : "counter";
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
                          kind_name(m->kind));
            last = m->name;
        }
        if (m->kind == KIND_HISTOGRAM)
            render_histogram(out, m);
        else if (*m->labels)
            pw_buf_printf(out, "%s{%s} %llu\n", m->name, m->labels,
                          (unsigned long long)pw_counter_value(&m->c));
        else
            pw_buf_printf(out, "%s %llu\n", m->name, (unsigned long long)pw_counter_value(&m->c));
    }
    free(sorted);
    process_figures(out);
    return PW_OK;
}
