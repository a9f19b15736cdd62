/*
 * The small system collectors: loadavg, filefd, entropy, time (with the
 * clocksources), timex (adjtimex), uname, os (/etc/os-release below
 * path.rootfs) and selinux.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <sys/utsname.h>
#include <time.h>

#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"

/* ---- loadavg, filefd, entropy -------------------------------------------- */

int node_parse_loadavg(struct node_ctx *c, const char *text, size_t len)
{
    static const char *const names[3] = {"node_load1", "node_load5", "node_load15"};
    static const char *const help[3] = {"1m load average.", "5m load average.",
                                        "15m load average."};
    struct node_tok line = {text, len}, f;
    double v[3];
    for (int k = 0; k < 3; k++) {
        if (!node_next_field(&line, &f) || !node_parse_f64(f, &v[k])) {
            return node_fail(c, GL_EPARSE, "loadavg: unexpected content");
        }
    }
    for (int k = 0; k < 3; k++) {
        node_family(c, names[k], GL_METRIC_GAUGE, help[k]);
        node_sample(c, NULL, 0, v[k]);
    }
    return 0;
}

int node_collect_loadavg(struct node_ctx *c)
{
    int rc = node_read(c, &c->text, c->n->procfs, "loadavg");
    return rc < 0 ? rc : node_parse_loadavg(c, c->text.data, c->text.len);
}

/* /proc/sys/fs/file-nr: "allocated<TAB>unused<TAB>maximum". */
int node_parse_filefd(struct node_ctx *c, const char *text, size_t len)
{
    struct node_tok line = node_trim((struct node_tok){text, len}), f[3];
    double allocated, maximum;
    for (int k = 0; k < 3; k++) {
        if (!node_next_split(&line, '\t', &f[k])) {
            return node_fail(c, GL_EPARSE, "file-nr: expected 3 fields");
        }
    }
    if (!node_parse_f64(f[0], &allocated) || !node_parse_f64(f[2], &maximum)) {
        return node_fail(c, GL_EPARSE, "file-nr: bad value");
    }
    node_family(c, "node_filefd_allocated", GL_METRIC_GAUGE,
                "File descriptor statistics: allocated.");
    node_sample(c, NULL, 0, allocated);
    node_family(c, "node_filefd_maximum", GL_METRIC_GAUGE, "File descriptor statistics: maximum.");
    node_sample(c, NULL, 0, maximum);
    return 0;
}

int node_collect_filefd(struct node_ctx *c)
{
    char buf[128];
    size_t len;
    int rc = node_read_value(c, c->n->procfs, "sys/fs/file-nr", buf, sizeof(buf), &len);
    return rc < 0 ? rc : node_parse_filefd(c, buf, len);
}

int node_collect_entropy(struct node_ctx *c)
{
    uint64_t avail, pool;
    int rc = node_read_u64(c, c->n->procfs, "sys/kernel/random/entropy_avail", &avail);
    if (rc < 0) {
        return rc;
    }
    node_family(c, "node_entropy_available_bits", GL_METRIC_GAUGE, "Bits of available entropy.");
    node_sample(c, NULL, 0, (double)avail);
    rc = node_read_u64(c, c->n->procfs, "sys/kernel/random/poolsize", &pool);
    if (rc < 0) {
        return rc;
    }
    node_family(c, "node_entropy_pool_size_bits", GL_METRIC_GAUGE, "Bits of entropy pool.");
    node_sample(c, NULL, 0, (double)pool);
    return 0;
}

/* ---- time ---------------------------------------------------------------- */

/*
 * One clocksourceN, labelled by its place in the list: its available
 * sources (pass 0) or its current one (pass 1).
 */
static int clocksource(struct node_ctx *c, const char *base, const char *name, size_t index,
                       int pass)
{
    char value[1024], rel[300], dev[24];
    size_t len;
    snprintf(rel, sizeof(rel), "%s/%s", name,
             pass == 0 ? "available_clocksource" : "current_clocksource");
    int rc = node_read_at(c, base, rel, value, sizeof(value), &len);
    if (rc < 0) {
        return rc == GL_ESTATE ? rc : node_fail(c, rc, "cannot read %s", rel);
    }
    int dl = snprintf(dev, sizeof(dev), "%zu", index);
    struct node_tok list = {value, len}, f;
    if (pass == 1) {
        f = list;
        list.n = 0;
        struct gl_label l[2] = {NODE_L("device", dev, dl), NODE_L("clocksource", f.p, f.n)};
        node_sample(c, l, 2, 1);
    }
    while (node_next_field(&list, &f)) {
        struct gl_label l[2] = {NODE_L("device", dev, dl), NODE_L("clocksource", f.p, f.n)};
        node_sample(c, l, 2, 1);
    }
    return 0;
}

static int clocksources(struct node_ctx *c)
{
    int rc = node_path(c, c->n->sysfs, "devices/system/clocksource");
    size_t count;
    char base[PATH_MAX];
    snprintf(base, sizeof(base), "%s", c->path);
    rc = rc < 0 ? rc : node_list(c, base, &count);
    if (rc < 0) {
        return rc == GL_ESTATE ? rc : 0;
    }
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        size_t at = 0, index = 0;
        node_family(c,
                    pass == 0 ? "node_time_clocksource_available_info"
                              : "node_time_clocksource_current_info",
                    GL_METRIC_GAUGE,
                    pass == 0 ? "Available clocksources read from "
                                "'/sys/devices/system/clocksource'."
                              : "Current clocksource read from '/sys/devices/system/clocksource'.");
        for (const char *name; rc == 0 && (name = node_list_next(c, &at)) != NULL;) {
            if (strncmp(name, "clocksource", 11) == 0 && name[11] >= '0' && name[11] <= '9') {
                rc = clocksource(c, base, name, index++, pass);
            }
        }
    }
    return rc;
}

int node_collect_time(struct node_ctx *c)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    time_t secs = now.tv_sec;
    localtime_r(&secs, &tm);
    node_family(c, "node_time_seconds", GL_METRIC_GAUGE,
                "System time in seconds since epoch (1970).");
    node_sample(c, NULL, 0, (double)now.tv_sec + (double)now.tv_nsec / 1e9);
    node_family(c, "node_time_zone_offset_seconds", GL_METRIC_GAUGE,
                "System time zone offset in seconds.");
    struct gl_label l = NODE_LS("time_zone", tm.tm_zone ? tm.tm_zone : "");
    node_sample(c, &l, 1, (double)tm.tm_gmtoff);
    return clocksources(c);
}

/* ---- timex --------------------------------------------------------------- */

struct timex_metric {
    const char *name, *help;
    enum gl_metric_type type;
};

static const struct timex_metric timex_metrics[17] = {
    {"node_timex_sync_status", "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
     GL_METRIC_GAUGE},
    {"node_timex_offset_seconds", "Time offset in between local system and reference clock.",
     GL_METRIC_GAUGE},
    {"node_timex_frequency_adjustment_ratio", "Local clock frequency adjustment.", GL_METRIC_GAUGE},
    {"node_timex_maxerror_seconds", "Maximum error in seconds.", GL_METRIC_GAUGE},
    {"node_timex_estimated_error_seconds", "Estimated error in seconds.", GL_METRIC_GAUGE},
    {"node_timex_status", "Value of the status array bits.", GL_METRIC_GAUGE},
    {"node_timex_loop_time_constant", "Phase-locked loop time constant.", GL_METRIC_GAUGE},
    {"node_timex_tick_seconds", "Seconds between clock ticks.", GL_METRIC_GAUGE},
    {"node_timex_pps_frequency_hertz", "Pulse per second frequency.", GL_METRIC_GAUGE},
    {"node_timex_pps_jitter_seconds", "Pulse per second jitter.", GL_METRIC_GAUGE},
    {"node_timex_pps_shift_seconds", "Pulse per second interval duration.", GL_METRIC_GAUGE},
    {"node_timex_pps_stability_hertz",
     "Pulse per second stability, average of recent frequency changes.", GL_METRIC_GAUGE},
    {"node_timex_pps_jitter_total", "Pulse per second count of jitter limit exceeded events.",
     GL_METRIC_COUNTER},
    {"node_timex_pps_calibration_total", "Pulse per second count of calibration intervals.",
     GL_METRIC_COUNTER},
    {"node_timex_pps_error_total", "Pulse per second count of calibration errors.",
     GL_METRIC_COUNTER},
    {"node_timex_pps_stability_exceeded_total",
     "Pulse per second count of stability limit exceeded events.", GL_METRIC_COUNTER},
    {"node_timex_tai_offset_seconds", "International Atomic Time (TAI) offset.", GL_METRIC_GAUGE},
};

int node_collect_timex(struct node_ctx *c)
{
    struct timex tx = {0};
    int state = adjtimex(&tx);
    if (state < 0) {
        return errno == EPERM ? NODE_NODATA : node_fail(c, GL_EIO, "adjtimex: %s", strerror(errno));
    }
    /* Offsets and jitter are in nanoseconds when STA_NANO is set, else microseconds. */
    double div = (tx.status & STA_NANO) ? 1e9 : 1e6;
    const double ppm16 = 1000000.0 * 65536.0;
    double v[17] = {
        state == TIME_ERROR ? 0 : 1,
        (double)tx.offset / div,
        1 + (double)tx.freq / ppm16,
        (double)tx.maxerror / 1e6,
        (double)tx.esterror / 1e6,
        (double)tx.status,
        (double)tx.constant,
        (double)tx.tick / 1e6,
        (double)tx.ppsfreq / ppm16,
        (double)tx.jitter / div,
        (double)tx.shift,
        (double)tx.stabil / ppm16,
        (double)tx.jitcnt,
        (double)tx.calcnt,
        (double)tx.errcnt,
        (double)tx.stbcnt,
        (double)tx.tai,
    };
    for (int k = 0; k < 17; k++) {
        node_family(c, timex_metrics[k].name, timex_metrics[k].type, timex_metrics[k].help);
        node_sample(c, NULL, 0, v[k]);
    }
    return 0;
}

/* ---- uname --------------------------------------------------------------- */

int node_collect_uname(struct node_ctx *c)
{
    struct utsname u;
    if (uname(&u) < 0) {
        return node_fail(c, GL_EIO, "uname: %s", strerror(errno));
    }
    node_family(c, "node_uname_info", GL_METRIC_GAUGE,
                "Labeled system information as provided by the uname system call.");
    struct gl_label l[6] = {
        NODE_LS("sysname", u.sysname),   NODE_LS("release", u.release),
        NODE_LS("version", u.version),   NODE_LS("machine", u.machine),
        NODE_LS("nodename", u.nodename), NODE_LS("domainname", u.domainname),
    };
    node_sample(c, l, 6, 1);
    return 0;
}

/* ---- os ------------------------------------------------------------------ */

enum {
    OS_BUILD_ID,
    OS_ID,
    OS_ID_LIKE,
    OS_IMAGE_ID,
    OS_IMAGE_VERSION,
    OS_NAME,
    OS_PRETTY_NAME,
    OS_VARIANT,
    OS_VARIANT_ID,
    OS_VERSION,
    OS_VERSION_CODENAME,
    OS_VERSION_ID,
    OS_COUNT
};

static const char *const os_keys[OS_COUNT][2] = {
    {"BUILD_ID", "build_id"},
    {"ID", "id"},
    {"ID_LIKE", "id_like"},
    {"IMAGE_ID", "image_id"},
    {"IMAGE_VERSION", "image_version"},
    {"NAME", "name"},
    {"PRETTY_NAME", "pretty_name"},
    {"VARIANT", "variant"},
    {"VARIANT_ID", "variant_id"},
    {"VERSION", "version"},
    {"VERSION_CODENAME", "version_codename"},
    {"VERSION_ID", "version_id"},
};

/*
 * An os-release value: double-quoted (with \" \\ \$ \` escapes), single-
 * quoted, or bare. Writes it to c->aux and returns its length; -1 when the
 * quotes do not close.
 */
static long os_value(struct node_ctx *c, struct node_tok v)
{
    size_t start = c->aux.len;
    v = node_trim(v);
    if (v.n > 0 && (v.p[0] == '"' || v.p[0] == '\'')) {
        char q = v.p[0];
        size_t i = 1;
        for (; i < v.n && v.p[i] != q; i++) {
            if (q == '"' && v.p[i] == '\\' && i + 1 < v.n) {
                i++;
            }
            gl_buf_putc(&c->aux, v.p[i]);
        }
        if (i >= v.n) {
            c->aux.len = start;
            return -1;
        }
    } else {
        gl_buf_append(&c->aux, v.p, v.n);
    }
    return (long)(c->aux.len - start);
}

/* The major.minor of VERSION_ID ("22.04" -> 22.04, "12" -> 12), or 0. */
static double os_version(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
    }
    if (i == 0) {
        return 0;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    double v = 0;
    return node_parse_f64((struct node_tok){s, i}, &v) ? v : 0;
}

int node_parse_os_release(struct node_ctx *c, const char *text, size_t len)
{
    uint32_t at[OS_COUNT] = {0}, vl[OS_COUNT] = {0};
    const char *p = text, *end = text + len;
    struct node_tok line, key;
    gl_buf_reset(&c->aux);
    gl_buf_putc(&c->aux, '\0'); /* offset 0: the empty value */
    while (node_next_line(&p, end, &line)) {
        line = node_trim(line);
        if (line.n == 0 || line.p[0] == '#' || !node_next_split(&line, '=', &key) ||
            line.p == NULL) {
            continue;
        }
        key = node_trim(key);
        for (int k = 0; k < OS_COUNT; k++) {
            if (node_tok_eq(key, os_keys[k][0])) {
                size_t start = c->aux.len;
                long n = os_value(c, line);
                at[k] = n < 0 ? 0 : (uint32_t)start;
                vl[k] = n < 0 ? 0 : (uint32_t)n;
            }
        }
    }
    struct gl_label l[OS_COUNT];
    for (int k = 0; k < OS_COUNT; k++) {
        l[k] = (struct gl_label){os_keys[k][1], (uint32_t)strlen(os_keys[k][1]),
                                 c->aux.data + at[k], vl[k]};
    }
    node_family(c, "node_os_info", GL_METRIC_GAUGE,
                "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, "
                "image_version, name, pretty_name, variant, variant_id, version, "
                "version_codename, version_id.");
    node_sample(c, l, OS_COUNT, 1);
    double version = os_version(c->aux.data + at[OS_VERSION_ID], vl[OS_VERSION_ID]);
    if (version > 0) {
        struct gl_label vlabels[3] = {l[OS_ID], l[OS_ID_LIKE], l[OS_NAME]};
        node_family(c, "node_os_version", GL_METRIC_GAUGE,
                    "Metric containing the major.minor part of the OS version.");
        node_sample(c, vlabels, 3, version);
    }
    return 0;
}

static struct node_file_id file_id(const struct stat *st)
{
    return (struct node_file_id){
        .dev = st->st_dev,
        .ino = st->st_ino,
        .size = (uint64_t)st->st_size,
        .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
        .ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec,
        .valid = true,
    };
}

static bool same_file(const struct node_file_id *a, const struct node_file_id *b)
{
    return a->valid && b->valid && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

/*
 * An os-release file below path.rootfs into c->os_text: read again only when
 * stat() says it is another file than the one kept, or was written since
 * (node_exporter 1.5 keeps it by modification time the same way). Returns as
 * node_read; GL_ENOENT when there is no such file.
 */
static int os_read(struct node_ctx *c, const char *rel)
{
    struct stat st;
    int rc = node_path(c, c->n->rootfs, rel);
    if (rc < 0) {
        return rc;
    }
    if (!node_op_begin(c, NULL)) {
        return GL_ESTATE;
    }
    int e = stat(c->path, &st) == 0 ? 0 : errno;
    if (!node_op_end(c)) {
        return GL_ESTATE;
    }
    if (e == ENOENT) {
        return GL_ENOENT;
    }
    struct node_file_id id = e == 0 ? file_id(&st) : (struct node_file_id){0};
    if (same_file(&id, &c->os_id)) {
        return 0;
    }
    /* Written after the stat above: the next collection sees another time and reads again. */
    c->os_id.valid = false;
    rc = node_read(c, &c->os_text, c->n->rootfs, rel);
    if (rc == 0) {
        c->os_id = id;
    }
    return rc;
}

int node_collect_os(struct node_ctx *c)
{
    int rc = os_read(c, "etc/os-release");
    if (rc == GL_ENOENT) {
        rc = os_read(c, "usr/lib/os-release");
    }
    if (rc == GL_ENOENT) {
        return NODE_NODATA;
    }
    return rc < 0 ? rc : node_parse_os_release(c, c->os_text.data, c->os_text.len);
}

/* ---- selinux ------------------------------------------------------------- */

/* SELINUX= of /etc/selinux/config: enforcing 1, permissive 0, anything else -1. */
static double selinux_config_mode(struct node_ctx *c)
{
    if (node_read(c, &c->text, c->n->rootfs, "etc/selinux/config") < 0) {
        return -1;
    }
    const char *p = c->text.data, *end = p + c->text.len;
    struct node_tok line, key;
    double mode = -1;
    while (node_next_line(&p, end, &line)) {
        line = node_trim(line);
        if (node_next_split(&line, '=', &key) && line.p != NULL &&
            node_tok_eq(node_trim(key), "SELINUX")) {
            struct node_tok v = node_trim(line);
            mode = node_tok_eq(v, "enforcing") ? 1 : node_tok_eq(v, "permissive") ? 0 : -1;
        }
    }
    return mode;
}

int node_collect_selinux(struct node_ctx *c)
{
    int64_t current = 0;
    int rc = node_read(c, &c->text, c->n->sysfs, "fs/selinux/enforce");
    if (rc == GL_ESTATE) {
        return rc;
    }
    bool enabled =
        rc == 0 &&
        node_parse_i64(node_trim((struct node_tok){c->text.data, c->text.len}), &current);
    node_family(c, "node_selinux_enabled", GL_METRIC_GAUGE,
                "SELinux is enabled, 1 is true, 0 is false");
    node_sample(c, NULL, 0, enabled ? 1 : 0);
    if (!enabled) {
        return 0;
    }
    double config = selinux_config_mode(c);
    node_family(c, "node_selinux_config_mode", GL_METRIC_GAUGE,
                "Configured SELinux enforcement mode");
    node_sample(c, NULL, 0, config);
    node_family(c, "node_selinux_current_mode", GL_METRIC_GAUGE,
                "Current SELinux enforcement mode");
    node_sample(c, NULL, 0, (double)current);
    return 0;
}
