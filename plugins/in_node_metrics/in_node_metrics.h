/*
 * The node_metrics input's private interfaces:
 *   in_node_metrics.c           the plugin: options, timer, the table of
 *                               collectors, one collection into a batch
 *   in_node_metrics_worker.c    the thread collections run on, and what
 *                               happens when a read or a statfs hangs
 *   in_node_metrics_read.c      bounded reads of /proc and /sys, the small
 *                               strict parsers they share, writing series
 *                               (declared in in_node_metrics_read.h)
 *   in_node_metrics_rtnl.c      the network devices from one netlink dump
 *   in_node_metrics_cpu.c       cpu, cpufreq, stat, schedstat, softnet
 *   in_node_metrics_mem.c       meminfo, vmstat, pressure
 *   in_node_metrics_fs.c        filesystem (mounts and statfs)
 *   in_node_metrics_disk.c      diskstats (with udev's device properties)
 *   in_node_metrics_net.c       netdev, netstat, sockstat, arp, udp_queues,
 *                               conntrack
 *   in_node_metrics_netclass.c  netclass (/sys/class/net)
 *   in_node_metrics_sys.c       loadavg, filefd, entropy, time, timex,
 *                               uname, os, selinux
 *   in_node_metrics_hw.c        thermal_zone, hwmon
 *
 * A collector reads its files, parses them whole and only then writes its
 * series, so a file that does not parse adds nothing but the collector's
 * node_scrape_collector_success 0. Names, HELP, types and labels are
 * node_exporter 1.5's.
 */
#ifndef GL_IN_NODE_METRICS_H
#define GL_IN_NODE_METRICS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/statfs.h>
#include <uv.h>

#include "config/option.h"
#include "metrics/batch.h"
#include "util/buf.h"

struct gl_instance;
struct gl_regex;
struct node_worker;
struct node_stuck;

/* The most bytes read from one file: past it the collector fails rather than read on. */
#define NODE_FILE_MAX (4u << 20)
/* The most entries a directory listing takes (interfaces, hwmon files, CPUs). */
#define NODE_DIR_MAX 16384
/* Mounts found hung at once; past it the filesystem collector stops trying. */
#define NODE_STUCK_MAX 16

enum node_collector_id {
    NODE_ARP,
    NODE_CONNTRACK,
    NODE_CPU,
    NODE_CPUFREQ,
    NODE_DISKSTATS,
    NODE_ENTROPY,
    NODE_FILEFD,
    NODE_FILESYSTEM,
    NODE_HWMON,
    NODE_LOADAVG,
    NODE_MEMINFO,
    NODE_NETCLASS,
    NODE_NETDEV,
    NODE_NETSTAT,
    NODE_OS,
    NODE_PRESSURE,
    NODE_SCHEDSTAT,
    NODE_SELINUX,
    NODE_SOCKSTAT,
    NODE_SOFTNET,
    NODE_STAT,
    NODE_THERMAL_ZONE,
    NODE_TIME,
    NODE_TIMEX,
    NODE_UDP_QUEUES,
    NODE_UNAME,
    NODE_VMSTAT,
    NODE_COLLECTORS,
};

/* A collector's answer besides 0 and the GL_E* codes: nothing to report here (success 0). */
#define NODE_NODATA 1
/* node_read_changed's answer when the file did not change since it was read. */
#define NODE_UNCHANGED 2

/*
 * What a pattern answered for the keys of a file, in file order, kept from
 * one collection to the next: the same key at the same place is not matched
 * again (files such as /proc/net/netstat have hundreds of keys that never
 * change). A key that differs drops the rest of the cache.
 */
struct node_match_cache {
    struct gl_buf keys;    /* the keys, one after the other */
    struct gl_buf entries; /* struct node_match_entry */
    size_t next;           /* the entry the next lookup compares with */
};

enum { NODE_MATCH_NETSTAT, NODE_MATCH_VMSTAT, NODE_MATCH_MOUNTS, NODE_MATCH_FSTYPES, NODE_MATCHES };

/* /proc/stat's per-CPU times, kept so that node_cpu_seconds_total never goes back. */
struct node_cpu_times {
    double v[10];
};

/*
 * Files of /proc and /sys kept open from one collection to the next: reading
 * one again is a seek and a read (the kernel makes its text anew), where
 * opening it costs more than reading it (in_node_metrics_read.c).
 */
struct node_fd;
struct node_fds {
    struct node_fd *slots; /* open addressing by path; NULL until the first one */
    size_t used;           /* slots taken, those of files given up included */
    size_t kept;           /* files kept open */
    size_t limit;          /* most files kept: a quarter of the open-file limit, 4096 at most */
    uint32_t collection;   /* counts collections, to find files no longer read */
    uint32_t openings;     /* counts the descriptors kept, each opening its own number */
    uint64_t missing_retry_ns; /* a missing file is looked for again after this; 0: 30 s */
    struct gl_buf keys;        /* their paths */
};

/*
 * What stat() says of a file, enough to tell that it is another one or was
 * written since: its text kept from a collection is read again otherwise.
 */
struct node_file_id {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
    bool valid;
};

/* What one collector did in one collection. */
struct node_result {
    bool ran;
    bool ok;
    bool nodata; /* failed for want of data (a file absent): said at debug level */
    double seconds;
    char err[160];
};

/* A finished collection, handed from the collecting thread to the loop. */
struct node_job_result {
    struct gl_buf batch; /* the collection, as a batch */
    uint32_t series;     /* in it */
    int64_t ts_ms;
    struct node_result result[NODE_COLLECTORS];
};

struct node {
    /* options */
    uint64_t interval_ms;
    char *procfs;
    char *sysfs;
    char *rootfs;
    char *udev_data;
    struct gl_strlist metrics;
    struct gl_regex *mount_points_exclude;
    struct gl_regex *fs_types_exclude;
    struct gl_regex *disk_device_exclude;
    struct gl_regex *netdev_device_exclude;
    struct gl_regex *netclass_device_exclude;
    struct gl_regex *netstat_fields;
    struct gl_regex *vmstat_fields;
    struct gl_regex *fb_mount_point_regex; /* Fluent Bit's names for the three above */
    struct gl_regex *fb_fs_type_regex;
    struct gl_regex *fb_device_regex;
    uint64_t mount_timeout_ms;

    /* built by init: what a collection uses (matched on the collecting thread only) */
    bool enabled[NODE_COLLECTORS];
    struct gl_regex *defaults[5]; /* node_exporter's patterns, compiled */
    struct gl_regex *mount_exclude;
    struct gl_regex *fstype_exclude;
    struct gl_regex *disk_exclude;
    struct gl_regex *netstat_re;
    struct gl_regex *vmstat_re;

    /* run time, on the loop */
    struct gl_instance *ins;
    uv_timer_t timer;
    uv_timer_t watchdog;
    uv_async_t done;
    bool handles_open;
    bool warned_busy;
    struct node_worker *worker;
    struct node_job_result last;   /* the collection being copied into the pipeline */
    bool failing[NODE_COLLECTORS]; /* last reported state, to log changes only */
    struct node_stuck *stuck[NODE_STUCK_MAX];
    size_t n_stuck;
    uint64_t *m_collections;
    uint64_t *m_skipped;
    uint64_t *m_hung;

    /* kept between collections, touched by the collecting thread only */
    struct node_cpu_times *cpu_prev;
    size_t n_cpu_prev;
    struct node_match_cache match[NODE_MATCHES];
    struct gl_buf link_props[2]; /* netclass: what a device keeps for life, and the next one */
};

/*
 * One collection's working state, owned by the thread that runs it. The
 * collectors read the instance's options and cpu_prev through n, and
 * nothing else of the instance.
 */
struct node_ctx {
    struct node *n;
    struct node_worker *w; /* NULL when the calling thread collects (tests, fuzzing) */
    struct gl_batch *b;
    struct gl_buf text;      /* the file being parsed */
    struct gl_buf aux;       /* a second file, read while text is in use */
    struct gl_buf names;     /* a directory listing: its names, NUL-terminated */
    struct gl_buf index;     /* ... and their offsets (size_t), sorted by name */
    struct gl_buf clean;     /* label values made valid UTF-8 */
    struct gl_buf proc_stat; /* /proc/stat, read once for the cpu and stat collectors */
    bool proc_stat_read;
    struct { /* the family named last, written with its first series */
        char name[256];
        char help[512];
        size_t name_len, help_len;
        enum gl_metric_type type;
        bool pending;
    } family;
    struct gl_buf links; /* struct node_link by name, dumped once per collection */
    struct gl_buf link_text;
    struct gl_buf recv;
    int links_state;           /* 0 not dumped yet, 1 dumped, -1 failed */
    int rtnl_fd;               /* the netlink socket of the dump, kept open, or -1 */
    int diag_fd;               /* the sock_diag socket of the UDP queues, or -1 */
    bool no_udp_diag;          /* the kernel has none: the UDP queues come from the files */
    struct gl_buf scratch;     /* collectors' tables */
    struct gl_buf mounts_text; /* the mount table as last read, and its mounts (parsed) */
    struct gl_buf mounts;
    uint32_t mounts_opened; /* the descriptor that read it (node_read_changed) */
    struct gl_buf os_text;  /* os-release as last read, and what stat() said of it then */
    struct node_file_id os_id;
    struct node_fds fds;
    char path[PATH_MAX];
    char *err; /* the current collector's message buffer */
    size_t err_len;
    bool abandoned;    /* the instance let go of this thread: touch nothing of it */
    int sys_errno;     /* errno of the last failed read */
    const char *stuck; /* mount points known hung: NUL-separated, owned by the job */
    size_t stuck_len;
    struct node_result result[NODE_COLLECTORS];
};

/* ---- in_node_metrics.c --------------------------------------------------- */

/* The collector names, as node_scrape_collector_success labels them. */
extern const char *const node_collector_names[NODE_COLLECTORS];

void node_ctx_init(struct node_ctx *c, struct node *n);
void node_ctx_close(struct node_ctx *c);
/* Runs every enabled collector into c->b, then the two node_scrape_collector_* families. */
void node_collect(struct node_ctx *c);

/* ---- in_node_metrics_worker.c -------------------------------------------- */

int node_worker_post(struct node *n, int64_t ts_ms);
/* Takes a finished collection's result (swapping buffers); false while none is finished. */
bool node_worker_take(struct node *n, struct node_job_result *out);
/* Called on the watchdog timer: gives up a thread hung on a statfs; true when it did. */
bool node_worker_check(struct node *n);
bool node_worker_busy(const struct node *n);
void node_worker_stop(struct node *n);
void node_stuck_prune(struct node *n);
/* Guards a call that may block: false when the instance let go of this thread. */
bool node_op_begin(struct node_ctx *c, const char *statfs_path);
bool node_op_end(struct node_ctx *c);

/* ---- the collectors (one function each, in the files above) -------------- */

int node_collect_cpu(struct node_ctx *c);
int node_collect_cpufreq(struct node_ctx *c);
int node_collect_stat(struct node_ctx *c);
int node_collect_schedstat(struct node_ctx *c);
int node_collect_softnet(struct node_ctx *c);
int node_collect_meminfo(struct node_ctx *c);
int node_collect_vmstat(struct node_ctx *c);
int node_collect_pressure(struct node_ctx *c);
int node_collect_filesystem(struct node_ctx *c);
int node_collect_diskstats(struct node_ctx *c);
int node_collect_netdev(struct node_ctx *c);
int node_collect_netstat(struct node_ctx *c);
int node_collect_sockstat(struct node_ctx *c);
int node_collect_arp(struct node_ctx *c);
int node_collect_udp_queues(struct node_ctx *c);
int node_collect_conntrack(struct node_ctx *c);
int node_collect_netclass(struct node_ctx *c);
int node_collect_loadavg(struct node_ctx *c);
int node_collect_filefd(struct node_ctx *c);
int node_collect_entropy(struct node_ctx *c);
int node_collect_time(struct node_ctx *c);
int node_collect_timex(struct node_ctx *c);
int node_collect_uname(struct node_ctx *c);
int node_collect_os(struct node_ctx *c);
int node_collect_selinux(struct node_ctx *c);
int node_collect_thermal_zone(struct node_ctx *c);
int node_collect_hwmon(struct node_ctx *c);

#endif
