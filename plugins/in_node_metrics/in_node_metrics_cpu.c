/*
 * The cpu, cpufreq, stat, schedstat and softnet collectors: /proc/stat,
 * /proc/schedstat, /proc/net/softnet_stat and /sys/devices/system/cpu.
 * As node_exporter does, node_cpu_seconds_total is kept from going back:
 * a mode whose counter drops keeps its last value, and a CPU whose idle time
 * drops by 3 s or more (a hot-plugged CPU) starts over.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"
#include "util/mem.h"

/* The most CPUs a /proc/stat may name; a larger number is taken as a broken file. */
#define CPU_MAX 8192
/* /proc/stat counts in USER_HZ ticks, which Linux fixes at 100 for user space. */
#define USER_HZ 100.0

enum {
    C_USER,
    C_NICE,
    C_SYSTEM,
    C_IDLE,
    C_IOWAIT,
    C_IRQ,
    C_SOFTIRQ,
    C_STEAL,
    C_GUEST,
    C_GUEST_NICE
};

/* "cpuN" as N; false for "cpu" (the total) and anything else. */
static bool cpu_number(struct node_tok t, uint64_t *n)
{
    if (t.n <= 3 || memcmp(t.p, "cpu", 3) != 0) {
        return false;
    }
    return node_parse_u64((struct node_tok){t.p + 3, t.n - 3}, n);
}

/* Parses the per-CPU lines of /proc/stat into c->scratch (an array by CPU number). */
static int parse_cpu_times(struct node_ctx *c, const char *text, size_t len, size_t *count)
{
    const char *p = text, *end = text + len;
    struct node_tok line, f;
    gl_buf_reset(&c->scratch);
    *count = 0;
    while (node_next_line(&p, end, &line)) {
        uint64_t id;
        if (!node_next_field(&line, &f) || f.n < 3 || memcmp(f.p, "cpu", 3) != 0 ||
            node_tok_eq(f, "cpu")) {
            continue;
        }
        if (!cpu_number(f, &id) || id >= CPU_MAX) {
            return node_fail(c, GL_EPARSE, "/proc/stat: bad cpu line '%.*s'", (int)f.n, f.p);
        }
        while (*count <= id) {
            struct node_cpu_times zero = {{0}};
            gl_buf_append(&c->scratch, &zero, sizeof(zero));
            (*count)++;
        }
        struct node_cpu_times *t = (struct node_cpu_times *)c->scratch.data + id;
        for (int k = 0; k < 10 && node_next_field(&line, &f); k++) {
            uint64_t v;
            if (!node_parse_u64(f, &v)) {
                return node_fail(c, GL_EPARSE, "/proc/stat: bad value '%.*s' for cpu%llu", (int)f.n,
                                 f.p, (unsigned long long)id);
            }
            t->v[k] = (double)v / USER_HZ;
        }
    }
    return 0;
}

/* Keeps the counters from going back (see the top of the file). */
static void hold_monotonic(struct node *n, const struct node_cpu_times *now, size_t count)
{
    if (n->n_cpu_prev != count) {
        gl_free(n->cpu_prev);
        n->cpu_prev = gl_calloc(count ? count : 1, sizeof(*n->cpu_prev));
        n->n_cpu_prev = count;
    }
    for (size_t i = 0; i < count; i++) {
        struct node_cpu_times *prev = &n->cpu_prev[i];
        if (prev->v[C_IDLE] - now[i].v[C_IDLE] >= 3.0) {
            memset(prev, 0, sizeof(*prev));
        }
        for (int k = 0; k < 10; k++) {
            if (now[i].v[k] >= prev->v[k]) {
                prev->v[k] = now[i].v[k];
            }
        }
    }
}

static void emit_cpu_times(struct node_ctx *c, const struct node_cpu_times *t, size_t count)
{
    static const char *const modes[8] = {"user",   "nice", "system",  "idle",
                                         "iowait", "irq",  "softirq", "steal"};
    char cpu[24];
    node_family(c, "node_cpu_seconds_total", GL_METRIC_COUNTER,
                "Seconds the CPUs spent in each mode.");
    for (size_t i = 0; i < count; i++) {
        int cl = snprintf(cpu, sizeof(cpu), "%zu", i);
        for (int k = 0; k < 8; k++) {
            struct gl_label l[2] = {NODE_L("cpu", cpu, cl), NODE_LS("mode", modes[k])};
            node_sample(c, l, 2, t[i].v[k]);
        }
    }
    node_family(c, "node_cpu_guest_seconds_total", GL_METRIC_COUNTER,
                "Seconds the CPUs spent in guests (VMs) for each mode.");
    for (size_t i = 0; i < count; i++) {
        int cl = snprintf(cpu, sizeof(cpu), "%zu", i);
        struct gl_label u[2] = {NODE_L("cpu", cpu, cl), NODE_LS("mode", "user")};
        struct gl_label nc[2] = {NODE_L("cpu", cpu, cl), NODE_LS("mode", "nice")};
        node_sample(c, u, 2, t[i].v[C_GUEST]);
        node_sample(c, nc, 2, t[i].v[C_GUEST_NICE]);
    }
}

int node_parse_stat_cpu(struct node_ctx *c, const char *text, size_t len)
{
    size_t count;
    int rc = parse_cpu_times(c, text, len, &count);
    if (rc < 0) {
        return rc;
    }
    hold_monotonic(c->n, (const struct node_cpu_times *)c->scratch.data, count);
    emit_cpu_times(c, c->n->cpu_prev, count);
    return 0;
}

/* ---- isolated CPUs and thermal throttling -------------------------------- */

/* "0-3,8,10-11" into node_cpu_isolated series; false when it does not parse. */
static bool emit_isolated(struct node_ctx *c, const char *text, size_t len)
{
    struct node_tok list = node_trim((struct node_tok){text, len}), item;
    uint64_t lo[64], hi[64];
    size_t n = 0;
    while (list.n > 0 && node_next_split(&list, ',', &item)) {
        struct node_tok first;
        if (item.n == 0) {
            continue;
        }
        node_next_split(&item, '-', &first);
        if (n == 64 || !node_parse_u64(first, &lo[n])) {
            return false;
        }
        hi[n] = lo[n];
        if (item.p != NULL && !node_parse_u64(item, &hi[n])) {
            return false;
        }
        if (hi[n] < lo[n] || hi[n] >= CPU_MAX) {
            return false;
        }
        n++;
    }
    node_family(c, "node_cpu_isolated", GL_METRIC_GAUGE,
                "Whether each core is isolated, information from "
                "/sys/devices/system/cpu/isolated.");
    for (size_t i = 0; i < n; i++) {
        for (uint64_t cpu = lo[i]; cpu <= hi[i]; cpu++) {
            char s[24];
            int sl = snprintf(s, sizeof(s), "%llu", (unsigned long long)cpu);
            struct gl_label l = NODE_L("cpu", s, sl);
            node_sample(c, &l, 1, 1);
        }
    }
    return true;
}

/* A CPU's package, core and throttle counts; has_* say what its files gave. */
struct throttle {
    uint64_t package, core, core_count, package_count;
    bool has_core, has_package;
};

static bool read_u64_at(struct node_ctx *c, const char *dir, const char *name, uint64_t *v)
{
    char buf[64];
    size_t len;
    return node_read_at(c, dir, name, buf, sizeof(buf), &len) == 0 &&
           node_parse_u64((struct node_tok){buf, len}, v);
}

/* Reads one cpuN directory; false when it has no thermal_throttle counts. */
static bool read_throttle(struct node_ctx *c, const char *cpu, struct throttle *t)
{
    t->has_core = read_u64_at(c, cpu, "thermal_throttle/core_throttle_count", &t->core_count);
    t->has_package =
        read_u64_at(c, cpu, "thermal_throttle/package_throttle_count", &t->package_count);
    return (t->has_core || t->has_package) &&
           read_u64_at(c, cpu, "topology/physical_package_id", &t->package) &&
           read_u64_at(c, cpu, "topology/core_id", &t->core);
}

static int by_package_core(const void *a, const void *b)
{
    const struct throttle *x = a, *y = b;
    if (x->package != y->package) {
        return x->package < y->package ? -1 : 1;
    }
    return x->core < y->core ? -1 : x->core > y->core;
}

/* One series per package and per (package, core), from the first CPU that has it. */
static void emit_throttles(struct node_ctx *c, struct throttle *t, size_t n)
{
    char pk[24], co[24];
    qsort(t, n, sizeof(*t), by_package_core);
    for (int pass = 0; pass < 2; pass++) {
        node_family(
            c, pass == 0 ? "node_cpu_package_throttles_total" : "node_cpu_core_throttles_total",
            GL_METRIC_COUNTER,
            pass == 0 ? "Number of times this CPU package has been throttled."
                      : "Number of times this CPU core has been throttled.");
        for (size_t i = 0; i < n; i++) {
            bool first_pkg = i == 0 || t[i].package != t[i - 1].package;
            bool first_core = first_pkg || t[i].core != t[i - 1].core;
            bool has = pass == 0 ? t[i].has_package : t[i].has_core;
            if (!has || (pass == 0 ? !first_pkg : !first_core)) {
                continue;
            }
            int pl = snprintf(pk, sizeof(pk), "%llu", (unsigned long long)t[i].package);
            int cl = snprintf(co, sizeof(co), "%llu", (unsigned long long)t[i].core);
            struct gl_label l[2] = {NODE_L("package", pk, pl), NODE_L("core", co, cl)};
            node_sample(c, l, pass == 0 ? 1 : 2,
                        (double)(pass == 0 ? t[i].package_count : t[i].core_count));
        }
    }
}

static bool is_cpu_dir(const char *name)
{
    return strncmp(name, "cpu", 3) == 0 && name[3] >= '0' && name[3] <= '9';
}

/* base/name/sub (sub may be empty) into out; false when it does not fit. */
static bool join(char *out, size_t cap, const char *base, const char *name, const char *sub)
{
    int n = snprintf(out, cap, "%s/%s%s%s", base, name, sub[0] ? "/" : "", sub);
    return n > 0 && (size_t)n < cap;
}

static bool has_dir(struct node_ctx *c, const char *path)
{
    int fd = node_open_dir(c, AT_FDCWD, path);
    node_close(fd);
    return fd >= 0;
}

static int collect_throttles(struct node_ctx *c)
{
    char base[PATH_MAX], cpu[PATH_MAX], probe[PATH_MAX];
    size_t count, at = 0;
    int rc = node_path(c, c->n->sysfs, "devices/system/cpu");
    snprintf(base, sizeof(base), "%s", c->path);
    /*
     * thermal_throttle comes with the CPUs' thermal interrupt: every CPU has it or none
     * has, so cpu0 (which every machine has) without it spares listing the others.
     */
    if (rc == 0 &&
        (!join(probe, sizeof(probe), base, "cpu0", "thermal_throttle") || !has_dir(c, probe))) {
        return c->abandoned ? GL_ESTATE : 0;
    }
    rc = rc < 0 ? rc : node_list(c, base, &count);
    if (rc < 0) {
        return rc == GL_ESTATE ? rc : 0;
    }
    gl_buf_reset(&c->scratch);
    for (const char *name; rc == 0 && (name = node_list_next(c, &at)) != NULL;) {
        struct throttle t;
        if (!is_cpu_dir(name) || !join(cpu, sizeof(cpu), base, name, "")) {
            continue;
        }
        if (read_throttle(c, cpu, &t)) {
            gl_buf_append(&c->scratch, &t, sizeof(t));
        }
        rc = c->abandoned ? GL_ESTATE : 0;
    }
    if (rc == 0) {
        emit_throttles(c, (struct throttle *)c->scratch.data,
                       c->scratch.len / sizeof(struct throttle));
    }
    return rc == GL_ESTATE ? rc : 0;
}

int node_collect_cpu(struct node_ctx *c)
{
    int rc = node_read_proc_stat(c);
    if (rc < 0) {
        return rc;
    }
    rc = node_parse_stat_cpu(c, c->proc_stat.data, c->proc_stat.len);
    if (rc < 0) {
        return rc;
    }
    rc = node_read(c, &c->text, c->n->sysfs, "devices/system/cpu/isolated");
    if (rc == GL_ESTATE) {
        return rc;
    }
    if (rc == 0 && !emit_isolated(c, c->text.data, c->text.len)) {
        return node_fail(c, GL_EPARSE, "bad CPU list in %s", c->path);
    }
    return collect_throttles(c);
}

/* ---- cpufreq ------------------------------------------------------------- */

static const char *const freq_files[6] = {"cpuinfo_cur_freq", "cpuinfo_min_freq",
                                          "cpuinfo_max_freq", "scaling_cur_freq",
                                          "scaling_min_freq", "scaling_max_freq"};

struct freq {
    char cpu[16];
    uint64_t khz[6];
    uint8_t have; /* a bit per file read */
};

/* Reads cpuN/cpufreq; GL_ENOENT when the CPU has none. */
static int read_freq(struct node_ctx *c, const char *base, const char *name, struct freq *f)
{
    char path[PATH_MAX], buf[64];
    if (!join(path, sizeof(path), base, name, "cpufreq")) {
        return GL_ENOENT;
    }
    if (!has_dir(c, path)) {
        return c->abandoned ? GL_ESTATE : GL_ENOENT;
    }
    memset(f, 0, sizeof(*f));
    snprintf(f->cpu, sizeof(f->cpu), "%s", name + 3);
    int rc = 0;
    for (int k = 0; k < 6 && rc == 0; k++) {
        size_t len;
        int r = node_read_at(c, path, freq_files[k], buf, sizeof(buf), &len);
        if (r == GL_ENOENT || (r == GL_EIO && c->sys_errno == EACCES)) {
            continue;
        }
        if (r < 0 || !node_parse_u64((struct node_tok){buf, len}, &f->khz[k])) {
            rc = r == GL_ESTATE ? r
                                : node_fail(c, GL_EPARSE, "cpu%s/cpufreq/%s: cannot read it",
                                            f->cpu, freq_files[k]);
        }
        f->have |= (uint8_t)(1u << k);
    }
    return rc;
}

static void emit_freqs(struct node_ctx *c, const struct freq *f, size_t n)
{
    static const char *const names[6] = {
        "node_cpu_frequency_hertz",
        "node_cpu_frequency_min_hertz",
        "node_cpu_frequency_max_hertz",
        "node_cpu_scaling_frequency_hertz",
        "node_cpu_scaling_frequency_min_hertz",
        "node_cpu_scaling_frequency_max_hertz",
    };
    static const char *const help[6] = {
        "Current cpu thread frequency in hertz.",
        "Minimum cpu thread frequency in hertz.",
        "Maximum cpu thread frequency in hertz.",
        "Current scaled CPU thread frequency in hertz.",
        "Minimum scaled CPU thread frequency in hertz.",
        "Maximum scaled CPU thread frequency in hertz.",
    };
    for (int k = 0; k < 6; k++) {
        node_family(c, names[k], GL_METRIC_GAUGE, help[k]);
        for (size_t i = 0; i < n; i++) {
            if (!(f[i].have & (1u << k))) {
                continue;
            }
            struct gl_label l = NODE_LS("cpu", f[i].cpu);
            node_sample(c, &l, 1, (double)f[i].khz[k] * 1000.0);
        }
    }
}

/*
 * Since Linux 4.3 cpuN/cpufreq links to cpufreq/policyM: without a policy
 * (no cpufreq driver, as in most virtual machines) no CPU has anything to read.
 */
static bool no_policy(struct node_ctx *c, const char *base)
{
    char path[PATH_MAX];
    size_t count, at = 0;
    if (!join(path, sizeof(path), base, "cpufreq", "") || node_list(c, path, &count) < 0) {
        return false; /* an older kernel: look in each CPU */
    }
    for (const char *name; (name = node_list_next(c, &at)) != NULL;) {
        if (strncmp(name, "policy", 6) == 0) {
            return false;
        }
    }
    return true;
}

int node_collect_cpufreq(struct node_ctx *c)
{
    char base[PATH_MAX];
    size_t count, at = 0;
    int rc = node_path(c, c->n->sysfs, "devices/system/cpu");
    snprintf(base, sizeof(base), "%s", c->path);
    if (rc < 0 || no_policy(c, base)) {
        return c->abandoned ? GL_ESTATE : 0;
    }
    rc = node_list(c, base, &count);
    if (rc < 0) {
        return rc == GL_ENOENT ? 0 : node_fail(c, rc, "cannot list %s", base);
    }
    gl_buf_reset(&c->scratch);
    for (const char *name; rc == 0 && (name = node_list_next(c, &at)) != NULL;) {
        struct freq f;
        int r = is_cpu_dir(name) ? read_freq(c, base, name, &f) : GL_ENOENT;
        if (r == 0) {
            gl_buf_append(&c->scratch, &f, sizeof(f));
        } else if (r != GL_ENOENT) {
            rc = r;
        }
    }
    if (rc == 0) {
        emit_freqs(c, (const struct freq *)c->scratch.data, c->scratch.len / sizeof(struct freq));
    }
    return rc;
}

/* ---- stat ---------------------------------------------------------------- */

int node_parse_stat(struct node_ctx *c, const char *text, size_t len)
{
    static const char *const keys[6] = {"intr",  "ctxt",          "processes",
                                        "btime", "procs_running", "procs_blocked"};
    static const char *const names[6] = {"node_intr_total",    "node_context_switches_total",
                                         "node_forks_total",   "node_boot_time_seconds",
                                         "node_procs_running", "node_procs_blocked"};
    static const char *const help[6] = {
        "Total number of interrupts serviced.",
        "Total number of context switches.",
        "Total number of forks.",
        "Node boot time, in unixtime.",
        "Number of processes in runnable state.",
        "Number of processes blocked waiting for I/O to complete.",
    };
    uint64_t v[6] = {0};
    const char *p = text, *end = text + len;
    struct node_tok line, key, val;
    while (node_next_line(&p, end, &line)) {
        if (!node_next_field(&line, &key) || !node_next_field(&line, &val)) {
            continue;
        }
        for (int k = 0; k < 6; k++) {
            if (node_tok_eq(key, keys[k]) && !node_parse_u64(val, &v[k])) {
                return node_fail(c, GL_EPARSE, "/proc/stat: bad %s '%.*s'", keys[k], (int)val.n,
                                 val.p);
            }
        }
    }
    for (int k = 0; k < 6; k++) {
        node_family(c, names[k], k < 3 ? GL_METRIC_COUNTER : GL_METRIC_GAUGE, help[k]);
        node_sample(c, NULL, 0, (double)v[k]);
    }
    return 0;
}

int node_collect_stat(struct node_ctx *c)
{
    int rc = node_read_proc_stat(c);
    return rc < 0 ? rc : node_parse_stat(c, c->proc_stat.data, c->proc_stat.len);
}

/* ---- schedstat ----------------------------------------------------------- */

struct sched {
    char cpu[24];
    uint64_t run_ns, wait_ns, slices;
};

/* "cpuN a b c d e f g h i": the last three are running ns, waiting ns and timeslices. */
static bool parse_sched_line(struct node_tok line, struct sched *s)
{
    struct node_tok f;
    uint64_t id, v[9];
    if (!node_next_split(&line, ' ', &f) || !cpu_number(f, &id)) {
        return false;
    }
    for (int k = 0; k < 9; k++) {
        if (!node_next_split(&line, ' ', &f) || !node_parse_u64(f, &v[k])) {
            return false;
        }
    }
    snprintf(s->cpu, sizeof(s->cpu), "%llu", (unsigned long long)id);
    s->run_ns = v[6];
    s->wait_ns = v[7];
    s->slices = v[8];
    return true;
}

int node_parse_schedstat(struct node_ctx *c, const char *text, size_t len)
{
    static const char *const names[3] = {"node_schedstat_running_seconds_total",
                                         "node_schedstat_waiting_seconds_total",
                                         "node_schedstat_timeslices_total"};
    static const char *const help[3] = {
        "Number of seconds CPU spent running a process.",
        "Number of seconds spent by processing waiting for this CPU.",
        "Number of timeslices executed by CPU.",
    };
    const char *p = text, *end = text + len;
    struct node_tok line;
    gl_buf_reset(&c->scratch);
    while (node_next_line(&p, end, &line)) {
        struct sched s;
        if (parse_sched_line(line, &s) && c->scratch.len < CPU_MAX * sizeof(s)) {
            gl_buf_append(&c->scratch, &s, sizeof(s));
        }
    }
    const struct sched *s = (const struct sched *)c->scratch.data;
    size_t n = c->scratch.len / sizeof(*s);
    for (int k = 0; k < 3; k++) {
        node_family(c, names[k], GL_METRIC_COUNTER, help[k]);
        for (size_t i = 0; i < n; i++) {
            struct gl_label l = NODE_LS("cpu", s[i].cpu);
            node_sample(c, &l, 1,
                        k == 0   ? (double)s[i].run_ns / 1e9
                        : k == 1 ? (double)s[i].wait_ns / 1e9
                                 : (double)s[i].slices);
        }
    }
    return 0;
}

int node_collect_schedstat(struct node_ctx *c)
{
    int rc = node_read(c, &c->text, c->n->procfs, "schedstat");
    if (rc == GL_ENOENT) {
        return NODE_NODATA;
    }
    return rc < 0 ? rc : node_parse_schedstat(c, c->text.data, c->text.len);
}

/* ---- softnet ------------------------------------------------------------- */

int node_parse_softnet(struct node_ctx *c, const char *text, size_t len)
{
    static const char *const names[3] = {"node_softnet_processed_total",
                                         "node_softnet_dropped_total",
                                         "node_softnet_times_squeezed_total"};
    static const char *const help[3] = {"Number of processed packets", "Number of dropped packets",
                                        "Number of times processing packets ran out of quota"};
    const char *p = text, *end = text + len;
    struct node_tok line, f;
    gl_buf_reset(&c->scratch);
    for (size_t row = 0; node_next_line(&p, end, &line); row++) {
        uint64_t v[3];
        struct node_tok rest = line;
        int cols = 0;
        while (node_next_field(&rest, &f)) {
            if (cols < 3 && (!node_parse_hex(f, &v[cols]) || v[cols] > UINT32_MAX)) {
                return node_fail(c, GL_EPARSE, "softnet_stat line %zu: bad value", row + 1);
            }
            cols++;
        }
        if (cols < 9 || row >= CPU_MAX) {
            return node_fail(c, GL_EPARSE,
                             "softnet_stat line %zu: %d columns, expected 9 or "
                             "more",
                             row + 1, cols);
        }
        gl_buf_append(&c->scratch, v, sizeof(v));
    }
    const uint64_t *v = (const uint64_t *)c->scratch.data;
    size_t n = c->scratch.len / (3 * sizeof(*v));
    for (int k = 0; k < 3; k++) {
        node_family(c, names[k], GL_METRIC_COUNTER, help[k]);
        for (size_t i = 0; i < n; i++) {
            char cpu[24];
            int cl = snprintf(cpu, sizeof(cpu), "%zu", i);
            struct gl_label l = NODE_L("cpu", cpu, cl);
            node_sample(c, &l, 1, (double)v[i * 3 + (size_t)k]);
        }
    }
    return 0;
}

int node_collect_softnet(struct node_ctx *c)
{
    int rc = node_read(c, &c->text, c->n->procfs, "net/softnet_stat");
    return rc < 0 ? rc : node_parse_softnet(c, c->text.data, c->text.len);
}
