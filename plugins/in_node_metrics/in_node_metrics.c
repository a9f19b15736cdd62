/*
 * The node_metrics input (also accepted as Fluent Bit's node_exporter_metrics):
 * the node's metrics as node_exporter 1.x gives them, same names, HELP,
 * types and labels, so that dashboards and rules written for node_exporter
 * work unchanged. Every scrape_interval one collection runs every enabled
 * collector on the collecting thread (in_node_metrics_worker.c) and becomes
 * one metrics batch, with node_scrape_collector_success and
 * node_scrape_collector_duration_seconds for each collector.
 *
 * A collector that fails (a file missing or unparsable) reports success 0
 * and the others go on; reads are bounded (NODE_FILE_MAX) and none runs on
 * the loop.
 */
#include <strings.h>
#include <time.h>

#include "codec/regex.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/plugin.h"
#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"
#include "util/mem.h"

const char *const node_collector_names[NODE_COLLECTORS] = {
    [NODE_ARP] = "arp",
    [NODE_CONNTRACK] = "conntrack",
    [NODE_CPU] = "cpu",
    [NODE_CPUFREQ] = "cpufreq",
    [NODE_DISKSTATS] = "diskstats",
    [NODE_ENTROPY] = "entropy",
    [NODE_FILEFD] = "filefd",
    [NODE_FILESYSTEM] = "filesystem",
    [NODE_HWMON] = "hwmon",
    [NODE_LOADAVG] = "loadavg",
    [NODE_MEMINFO] = "meminfo",
    [NODE_NETCLASS] = "netclass",
    [NODE_NETDEV] = "netdev",
    [NODE_NETSTAT] = "netstat",
    [NODE_OS] = "os",
    [NODE_PRESSURE] = "pressure",
    [NODE_SCHEDSTAT] = "schedstat",
    [NODE_SELINUX] = "selinux",
    [NODE_SOCKSTAT] = "sockstat",
    [NODE_SOFTNET] = "softnet",
    [NODE_STAT] = "stat",
    [NODE_THERMAL_ZONE] = "thermal_zone",
    [NODE_TIME] = "time",
    [NODE_TIMEX] = "timex",
    [NODE_UDP_QUEUES] = "udp_queues",
    [NODE_UNAME] = "uname",
    [NODE_VMSTAT] = "vmstat",
};

static int (*const collectors[NODE_COLLECTORS])(struct node_ctx *c) = {
    [NODE_ARP] = node_collect_arp,
    [NODE_CONNTRACK] = node_collect_conntrack,
    [NODE_CPU] = node_collect_cpu,
    [NODE_CPUFREQ] = node_collect_cpufreq,
    [NODE_DISKSTATS] = node_collect_diskstats,
    [NODE_ENTROPY] = node_collect_entropy,
    [NODE_FILEFD] = node_collect_filefd,
    [NODE_FILESYSTEM] = node_collect_filesystem,
    [NODE_HWMON] = node_collect_hwmon,
    [NODE_LOADAVG] = node_collect_loadavg,
    [NODE_MEMINFO] = node_collect_meminfo,
    [NODE_NETCLASS] = node_collect_netclass,
    [NODE_NETDEV] = node_collect_netdev,
    [NODE_NETSTAT] = node_collect_netstat,
    [NODE_OS] = node_collect_os,
    [NODE_PRESSURE] = node_collect_pressure,
    [NODE_SCHEDSTAT] = node_collect_schedstat,
    [NODE_SELINUX] = node_collect_selinux,
    [NODE_SOCKSTAT] = node_collect_sockstat,
    [NODE_SOFTNET] = node_collect_softnet,
    [NODE_STAT] = node_collect_stat,
    [NODE_THERMAL_ZONE] = node_collect_thermal_zone,
    [NODE_TIME] = node_collect_time,
    [NODE_TIMEX] = node_collect_timex,
    [NODE_UDP_QUEUES] = node_collect_udp_queues,
    [NODE_UNAME] = node_collect_uname,
    [NODE_VMSTAT] = node_collect_vmstat,
};

/* Fluent Bit collectors this input does not have: named in a config, they are skipped. */
static const char *const fluent_bit_only[] = {"systemd", "nvme", "processes", NULL};

/*
 * node_exporter 1.5's defaults. They are compiled in init rather than given
 * as the table's defaults because a `|` cannot stand in the README's tables.
 */
enum { DEF_MOUNTS, DEF_FSTYPES, DEF_DISKS, DEF_NETSTAT, DEF_VMSTAT };
static const char *const default_patterns[5] = {
    [DEF_MOUNTS] = "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|"
                   "var/lib/containers/storage/.+)($|/)",
    [DEF_FSTYPES] = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|"
                    "fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|"
                    "rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$",
    [DEF_DISKS] = "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$",
    [DEF_NETSTAT] = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|"
                    "Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|"
                    "TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|"
                    "RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|"
                    "RcvbufErrors|SndbufErrors))$",
    [DEF_VMSTAT] = "^(oom_kill|pgpg|pswp|pg.*fault).*",
};

static const char *check_interval(const void *v)
{
    return *(const uint64_t *)v >= 100 ? NULL : "must be at least 100ms";
}

static const char *check_timeout(const void *v)
{
    return *(const uint64_t *)v >= 10 ? NULL : "must be at least 10ms";
}

#define NODE_OPT(field) offsetof(struct node, field)

static const struct gl_option node_options[] = {
    {.name = "scrape_interval",
     .type = GL_OPT_DURATION,
     .def = "5s",
     .check = check_interval,
     .offset = NODE_OPT(interval_ms),
     .help = "How often the node's metrics are collected."},
    {.name = "path.procfs",
     .type = GL_OPT_STR,
     .def = "/proc",
     .offset = NODE_OPT(procfs),
     .help = "Where the host's /proc is mounted."},
    {.name = "path.sysfs",
     .type = GL_OPT_STR,
     .def = "/sys",
     .offset = NODE_OPT(sysfs),
     .help = "Where the host's /sys is mounted."},
    {.name = "path.rootfs",
     .type = GL_OPT_STR,
     .def = "/",
     .offset = NODE_OPT(rootfs),
     .help = "Where the host's / is mounted: filesystems are stat'ed and /etc/os-release "
             "read below it (/host/root in the chart)."},
    {.name = "path.udev.data",
     .type = GL_OPT_STR,
     .def = "/run/udev/data",
     .offset = NODE_OPT(udev_data),
     .help = "udev's database, for the model, serial and path labels of node_disk_info."},
    {.name = "metrics",
     .type = GL_OPT_LIST,
     .offset = NODE_OPT(metrics),
     .help = "Collectors to run, comma-separated (default: all of them; the node_metrics "
             "section lists them)."},
    {.name = "filesystem.mount_points_exclude",
     .type = GL_OPT_REGEX,
     .offset = NODE_OPT(mount_points_exclude),
     .help = "Mount points not reported (default node_exporter's: /dev, /proc, /sys, "
             "/run/credentials/*, /var/lib/docker/*, /var/lib/containers/storage/*)."},
    {.name = "filesystem.fs_types_exclude",
     .type = GL_OPT_REGEX,
     .offset = NODE_OPT(fs_types_exclude),
     .help = "Filesystem types not reported (default node_exporter's: proc, sysfs, "
             "cgroup, overlay, squashfs and the other pseudo filesystems)."},
    {.name = "filesystem.mount_timeout",
     .type = GL_OPT_DURATION,
     .def = "5s",
     .check = check_timeout,
     .offset = NODE_OPT(mount_timeout_ms),
     .help = "A mount whose statfs takes longer is reported with "
             "node_filesystem_device_error 1 until it answers."},
    {.name = "diskstats.device_exclude",
     .type = GL_OPT_REGEX,
     .offset = NODE_OPT(disk_device_exclude),
     .help = "Block devices not reported (default node_exporter's: partitions, ram, "
             "loop and fd devices)."},
    {.name = "netdev.device_exclude",
     .type = GL_OPT_REGEX,
     .offset = NODE_OPT(netdev_device_exclude),
     .help = "Network devices left out of the node_network_*_total counters."},
    {.name = "netclass.device_exclude",
     .type = GL_OPT_REGEX,
     .offset = NODE_OPT(netclass_device_exclude),
     .help = "Network devices left out of the /sys/class/net properties."},
    {.name = "netstat.fields",
     .type = GL_OPT_REGEX,
     .offset = NODE_OPT(netstat_fields),
     .help = "Protocol_Field names of /proc/net/{netstat,snmp,snmp6} reported (default "
             "node_exporter's)."},
    {.name = "vmstat.fields",
     .type = GL_OPT_REGEX,
     .offset = NODE_OPT(vmstat_fields),
     .help = "/proc/vmstat fields reported (default node_exporter's: oom_kill, pgpg*, "
             "pswp*, pg*fault*)."},
    {.name = "filesystem.ignore_mount_point_regex",
     .type = GL_OPT_REGEX,
     .offset = NODE_OPT(fb_mount_point_regex),
     .help = "Fluent Bit's name for filesystem.mount_points_exclude."},
    {.name = "filesystem.ignore_filesystem_type_regex",
     .type = GL_OPT_REGEX,
     .offset = NODE_OPT(fb_fs_type_regex),
     .help = "Fluent Bit's name for filesystem.fs_types_exclude."},
    {.name = "diskstats.ignore_device_regex",
     .type = GL_OPT_REGEX,
     .offset = NODE_OPT(fb_device_regex),
     .help = "Fluent Bit's name for diskstats.device_exclude."},
    {0}};

/* ---- one collection ------------------------------------------------------ */

void node_ctx_init(struct node_ctx *c, struct node *n)
{
    memset(c, 0, sizeof(*c));
    c->n = n;
    c->rtnl_fd = -1;
    c->diag_fd = -1;
    gl_buf_init(&c->text);
    gl_buf_init(&c->aux);
    gl_buf_init(&c->names);
    gl_buf_init(&c->index);
    gl_buf_init(&c->clean);
    gl_buf_init(&c->scratch);
    gl_buf_init(&c->mounts_text);
    gl_buf_init(&c->os_text);
    gl_buf_init(&c->mounts);
    gl_buf_init(&c->proc_stat);
    gl_buf_init(&c->links);
    gl_buf_init(&c->link_text);
    gl_buf_init(&c->recv);
}

void node_ctx_close(struct node_ctx *c)
{
    gl_buf_close(&c->text);
    gl_buf_close(&c->aux);
    gl_buf_close(&c->names);
    gl_buf_close(&c->index);
    gl_buf_close(&c->clean);
    gl_buf_close(&c->scratch);
    gl_buf_close(&c->mounts_text);
    gl_buf_close(&c->os_text);
    gl_buf_close(&c->mounts);
    gl_buf_close(&c->proc_stat);
    gl_buf_close(&c->links);
    gl_buf_close(&c->link_text);
    gl_buf_close(&c->recv);
    node_fds_close(&c->fds);
    node_close(c->rtnl_fd);
    node_close(c->diag_fd);
    c->rtnl_fd = c->diag_fd = -1;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A buffer that grew past what one normal node needs is given back after the collection. */
static void trim(struct gl_buf *b)
{
    if (b->cap > (256u << 10)) {
        gl_buf_close(b);
    }
}

static void scrape_families(struct node_ctx *c)
{
    static const char *const names[2] = {"node_scrape_collector_duration_seconds",
                                         "node_scrape_collector_success"};
    static const char *const help[2] = {"node_exporter: Duration of a collector scrape.",
                                        "node_exporter: Whether a collector succeeded."};
    for (int f = 0; f < 2; f++) {
        node_family(c, names[f], GL_METRIC_GAUGE, help[f]);
        for (int i = 0; i < NODE_COLLECTORS; i++) {
            const struct node_result *r = &c->result[i];
            if (r->ran) {
                struct gl_label l = NODE_LS("collector", node_collector_names[i]);
                node_sample(c, &l, 1, f == 0 ? r->seconds : r->ok ? 1 : 0);
            }
        }
    }
}

void node_collect(struct node_ctx *c)
{
    c->proc_stat_read = false;
    c->links_state = 0;
    c->family.pending = false;
    node_fds_tidy(&c->fds);
    for (int i = 0; i < NODE_COLLECTORS; i++) {
        struct node_result *r = &c->result[i];
        r->ran = false;
        if (c->abandoned) {
            return;
        }
        if (!c->n->enabled[i]) {
            continue;
        }
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r->err[0] = '\0';
        c->err = r->err;
        c->err_len = sizeof(r->err);
        int rc = collectors[i](c);
        r->ran = true;
        r->ok = rc == 0;
        r->nodata = rc == NODE_NODATA;
        r->seconds = seconds_since(&t0);
    }
    c->err = NULL;
    scrape_families(c);
    trim(&c->text);
    trim(&c->aux);
    trim(&c->names);
    trim(&c->index);
    trim(&c->scratch);
    trim(&c->links);
    trim(&c->link_text);
}

/* ---- the loop's side ----------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Says once why a collector fails, and again only after it worked in between. */
static void report(struct node *n, const struct node_result *res)
{
    for (int i = 0; i < NODE_COLLECTORS; i++) {
        const struct node_result *r = &res[i];
        if (!r->ran || r->ok == !n->failing[i]) {
            continue;
        }
        n->failing[i] = !r->ok;
        if (r->ok) {
            gl_log_info(n->ins, "collector %s works again", node_collector_names[i]);
        } else if (r->nodata) {
            gl_log_debug(n->ins, "collector %s: no data here (%s)", node_collector_names[i],
                         r->err[0] ? r->err : "nothing to read");
        } else {
            gl_log_warn(n->ins, "collector %s failed: %s", node_collector_names[i], r->err);
        }
    }
}

static void on_done(uv_async_t *a)
{
    struct node *n = a->data;
    struct node_job_result *res = &n->last;
    if (!node_worker_take(n, res)) {
        return;
    }
    uv_timer_stop(&n->watchdog);
    gl_batch_commit_bytes(n->ins, res->batch.data, res->batch.len, res->series);
    (*n->m_collections)++;
    report(n, res->result);
    trim(&res->batch);
}

static void on_watchdog(uv_timer_t *t);

static void post(struct node *n)
{
    node_stuck_prune(n);
    *n->m_hung = n->n_stuck;
    if (node_worker_busy(n)) {
        (*n->m_skipped)++;
        if (!n->warned_busy) {
            gl_log_warn(n->ins, "a collection is still running after scrape_interval: "
                                "this one is skipped");
            n->warned_busy = true;
        }
        return;
    }
    if (node_worker_post(n, wall_ms()) == 0) {
        uint64_t every = n->mount_timeout_ms / 2 > 0 ? n->mount_timeout_ms / 2 : 1;
        uv_timer_start(&n->watchdog, on_watchdog, every, every);
    }
}

static void on_tick(uv_timer_t *t)
{
    post(t->data);
}

/* A statfs hung: the thread was let go, so this collection runs again without the mount. */
static void on_watchdog(uv_timer_t *t)
{
    struct node *n = t->data;
    if (node_worker_check(n)) {
        uv_timer_stop(&n->watchdog);
        post(n);
    }
}

/* ---- configuration ------------------------------------------------------- */

static bool known_collector(const char *name, bool *enabled)
{
    for (int i = 0; i < NODE_COLLECTORS; i++) {
        if (strcasecmp(name, node_collector_names[i]) == 0) {
            enabled[i] = true;
            return true;
        }
    }
    return false;
}

static bool fluent_bit_collector(const char *name)
{
    for (size_t i = 0; fluent_bit_only[i] != NULL; i++) {
        if (strcasecmp(name, fluent_bit_only[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int pick_collectors(struct gl_instance *ins, struct node *n)
{
    int rc = 0;
    for (int i = 0; i < NODE_COLLECTORS; i++) {
        n->enabled[i] = n->metrics.count == 0;
    }
    for (size_t k = 0; k < n->metrics.count; k++) {
        const char *name = n->metrics.items[k];
        if (known_collector(name, n->enabled)) {
            continue;
        }
        if (fluent_bit_collector(name)) {
            gl_log_warn(ins, "metrics: collector '%s' is not available here and is skipped", name);
            continue;
        }
        gl_instance_option_error(ins, "metrics",
                                 "unknown collector '%s' (collectors: arp, "
                                 "conntrack, cpu, cpufreq, diskstats, entropy, filefd, "
                                 "filesystem, hwmon, loadavg, meminfo, netclass, netdev, "
                                 "netstat, os, pressure, schedstat, selinux, sockstat, softnet, "
                                 "stat, thermal_zone, time, timex, udp_queues, uname, vmstat)",
                                 name);
        rc = GL_ECONFIG;
    }
    return rc;
}

/*
 * The pattern in use for one filter: the option under node_exporter's name,
 * or under Fluent Bit's (fb), or node_exporter's default. Both names at once
 * is an error.
 */
static int pick_regex(struct gl_instance *ins, struct node *n, struct gl_regex **out,
                      struct gl_regex *own, struct gl_regex *fb, const char *fb_name, int def)
{
    if (own != NULL && fb != NULL) {
        gl_instance_option_error(ins, fb_name, "give this or its node_exporter name, not both");
        return GL_ECONFIG;
    }
    if (own != NULL || fb != NULL) {
        *out = own != NULL ? own : fb;
        return 0;
    }
    char err[256];
    n->defaults[def] = gl_regex_new(default_patterns[def], err, sizeof(err));
    if (n->defaults[def] == NULL) {
        gl_instance_error(ins, "built-in pattern %s: %s", default_patterns[def], err);
        return GL_ECONFIG;
    }
    *out = n->defaults[def];
    return 0;
}

static void node_destroy(struct gl_instance *ins)
{
    struct node *n = ins->state;
    for (size_t i = 0; i < sizeof(n->defaults) / sizeof(n->defaults[0]); i++) {
        gl_regex_free(n->defaults[i]);
        n->defaults[i] = NULL;
    }
    gl_buf_close(&n->last.batch);
    for (int i = 0; i < NODE_MATCHES; i++) {
        node_match_close(&n->match[i]);
    }
    gl_buf_close(&n->link_props[0]);
    gl_buf_close(&n->link_props[1]);
    gl_free(n->cpu_prev);
    n->cpu_prev = NULL;
}

static int node_init(struct gl_instance *ins)
{
    struct node *n = ins->state;
    n->ins = ins;
    gl_buf_init(&n->last.batch);
    int rc = pick_collectors(ins, n);
    int r[5] = {
        pick_regex(ins, n, &n->mount_exclude, n->mount_points_exclude, n->fb_mount_point_regex,
                   "filesystem.ignore_mount_point_regex", DEF_MOUNTS),
        pick_regex(ins, n, &n->fstype_exclude, n->fs_types_exclude, n->fb_fs_type_regex,
                   "filesystem.ignore_filesystem_type_regex", DEF_FSTYPES),
        pick_regex(ins, n, &n->disk_exclude, n->disk_device_exclude, n->fb_device_regex,
                   "diskstats.ignore_device_regex", DEF_DISKS),
        pick_regex(ins, n, &n->netstat_re, n->netstat_fields, NULL, NULL, DEF_NETSTAT),
        pick_regex(ins, n, &n->vmstat_re, n->vmstat_fields, NULL, NULL, DEF_VMSTAT),
    };
    for (int i = 0; i < 5; i++) {
        rc = rc < 0 ? rc : r[i];
    }
    n->m_collections =
        gl_metric_counter(ins, "node_collections_total", "Collections written into the pipeline.");
    n->m_skipped = gl_metric_counter(ins, "node_collections_skipped_total",
                                     "Collections not begun: the previous one was still running.");
    n->m_hung = gl_metric_gauge(ins, "node_mounts_hung",
                                "Mounts whose statfs has not returned; not stat'ed until it does.");
    if (rc < 0) {
        node_destroy(ins);
    }
    return rc;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int node_start(struct gl_instance *ins)
{
    struct node *n = ins->state;
    uv_timer_init(ins->loop, &n->timer);
    uv_timer_init(ins->loop, &n->watchdog);
    uv_async_init(ins->loop, &n->done, on_done);
    n->timer.data = n->watchdog.data = n->done.data = n;
    n->handles_open = true;
    /* The first collection at once: a node's metrics are there as soon as the agent is. */
    uv_timer_start(&n->timer, on_tick, 0, n->interval_ms);
    return 0;
}

static void node_pause(struct gl_instance *ins)
{
    struct node *n = ins->state;
    uv_timer_stop(&n->timer);
}

static void node_resume(struct gl_instance *ins)
{
    struct node *n = ins->state;
    uv_timer_start(&n->timer, on_tick, n->interval_ms, n->interval_ms);
}

static void node_stop(struct gl_instance *ins)
{
    struct node *n = ins->state;
    node_worker_stop(n);
    if (n->handles_open) {
        uv_close((uv_handle_t *)&n->timer, NULL);
        uv_close((uv_handle_t *)&n->watchdog, NULL);
        uv_close((uv_handle_t *)&n->done, NULL);
        n->handles_open = false;
    }
}

const struct gl_plugin gl_in_node_metrics = {
    .kind = GL_INPUT,
    .name = "node_metrics",
    .other_name = "node_exporter_metrics",
    .data = GL_METRICS,
    .description = "The node's metrics from /proc and /sys, named as node_exporter names them",
    .options = node_options,
    .state_size = sizeof(struct node),
    .init = node_init,
    .start = node_start,
    .pause = node_pause,
    .resume = node_resume,
    .stop = node_stop,
    .destroy = node_destroy,
};
