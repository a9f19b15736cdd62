/*
 * The diskstats collector: /proc/diskstats, one series per device and field
 * the kernel gives (14 to 20 fields by version), less the devices
 * diskstats.device_exclude matches; node_disk_info and the udev-derived
 * families take their labels from udev's database (path.udev.data).
 */
#include <stdio.h>
#include <string.h>

#include "codec/regex.h"
#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"

#define DISKS_MAX 16384
/* Ticks are milliseconds; sectors are 512 bytes whatever the device's own size. */
#define SECONDS_PER_TICK 0.001
#define SECTOR 512.0

enum {
    U_PATH,
    U_WWN,
    U_MODEL,
    U_SERIAL,
    U_REVISION,
    U_FS_TYPE,
    U_FS_USAGE,
    U_FS_UUID,
    U_FS_VERSION,
    U_DM_NAME,
    U_DM_UUID,
    U_DM_VG,
    U_DM_LV,
    U_DM_LAYER,
    U_ATA,
    U_ATA_WRITE_CACHE,
    U_ATA_WRITE_CACHE_ENABLED,
    U_ATA_RPM,
    U_COUNT
};

static const char *const udev_keys[U_COUNT] = {
    "ID_PATH",
    "ID_WWN",
    "ID_MODEL",
    "ID_SERIAL_SHORT",
    "ID_REVISION",
    "ID_FS_TYPE",
    "ID_FS_USAGE",
    "ID_FS_UUID",
    "ID_FS_VERSION",
    "DM_NAME",
    "DM_UUID",
    "DM_VG_NAME",
    "DM_LV_NAME",
    "DM_LV_LAYER",
    "ID_ATA",
    "ID_ATA_WRITE_CACHE",
    "ID_ATA_WRITE_CACHE_ENABLED",
    "ID_ATA_ROTATION_RATE_RPM",
};

struct disk {
    const char *name;
    uint32_t name_len;
    uint32_t major, minor;
    int stats; /* fields after the name: 11 to 17 */
    uint64_t v[17];
    uint32_t udev_at[U_COUNT]; /* offsets of udev values in c->names */
    uint32_t udev_len[U_COUNT];
    uint32_t udev_has; /* a bit per key present */
};

static const struct {
    const char *name, *help;
    double scale;
    enum gl_metric_type type;
} fields[17] = {
    {"node_disk_reads_completed_total", "The total number of reads completed successfully.", 1,
     GL_METRIC_COUNTER},
    {"node_disk_reads_merged_total", "The total number of reads merged.", 1, GL_METRIC_COUNTER},
    {"node_disk_read_bytes_total", "The total number of bytes read successfully.", SECTOR,
     GL_METRIC_COUNTER},
    {"node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.",
     SECONDS_PER_TICK, GL_METRIC_COUNTER},
    {"node_disk_writes_completed_total", "The total number of writes completed successfully.", 1,
     GL_METRIC_COUNTER},
    {"node_disk_writes_merged_total", "The number of writes merged.", 1, GL_METRIC_COUNTER},
    {"node_disk_written_bytes_total", "The total number of bytes written successfully.", SECTOR,
     GL_METRIC_COUNTER},
    {"node_disk_write_time_seconds_total",
     "This is the total number of seconds spent by all writes.", SECONDS_PER_TICK,
     GL_METRIC_COUNTER},
    {"node_disk_io_now", "The number of I/Os currently in progress.", 1, GL_METRIC_GAUGE},
    {"node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", SECONDS_PER_TICK,
     GL_METRIC_COUNTER},
    {"node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.",
     SECONDS_PER_TICK, GL_METRIC_COUNTER},
    {"node_disk_discards_completed_total", "The total number of discards completed successfully.",
     1, GL_METRIC_COUNTER},
    {"node_disk_discards_merged_total", "The total number of discards merged.", 1,
     GL_METRIC_COUNTER},
    {"node_disk_discarded_sectors_total", "The total number of sectors discarded successfully.", 1,
     GL_METRIC_COUNTER},
    {"node_disk_discard_time_seconds_total",
     "This is the total number of seconds spent by all discards.", SECONDS_PER_TICK,
     GL_METRIC_COUNTER},
    {"node_disk_flush_requests_total", "The total number of flush requests completed successfully",
     1, GL_METRIC_COUNTER},
    {"node_disk_flush_requests_time_seconds_total",
     "This is the total number of seconds spent by all flush requests.", SECONDS_PER_TICK,
     GL_METRIC_COUNTER},
};

/* One line: "major minor name" and 11 to 17 numbers; false when malformed. */
static bool parse_disk_line(struct node_tok line, struct disk *d)
{
    struct node_tok f;
    uint64_t maj, min;
    memset(d, 0, sizeof(*d));
    if (!node_next_field(&line, &f) || !node_parse_u64(f, &maj) || maj > UINT32_MAX ||
        !node_next_field(&line, &f) || !node_parse_u64(f, &min) || min > UINT32_MAX ||
        !node_next_field(&line, &f)) {
        return false;
    }
    d->major = (uint32_t)maj;
    d->minor = (uint32_t)min;
    d->name = f.p;
    d->name_len = (uint32_t)f.n;
    while (d->stats < 17 && node_next_field(&line, &f)) {
        if (!node_parse_u64(f, &d->v[d->stats])) {
            return false;
        }
        d->stats++;
    }
    return true;
}

/* Parses /proc/diskstats into c->scratch: devices with 11 or more fields, not excluded. */
static int parse_disks(struct node_ctx *c, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    struct node_tok line, probe;
    gl_buf_reset(&c->scratch);
    for (int no = 1; node_next_line(&p, end, &line); no++) {
        struct disk d;
        struct node_tok copy = line;
        if (!node_next_field(&copy, &probe)) {
            continue;
        }
        if (!parse_disk_line(line, &d) || no > DISKS_MAX) {
            return node_fail(c, GL_EPARSE, "diskstats line %d: malformed", no);
        }
        if (d.stats < 11 || gl_regex_match(c->n->disk_exclude, d.name, d.name_len)) {
            continue;
        }
        gl_buf_append(&c->scratch, &d, sizeof(d));
    }
    return 0;
}

/* Reads udev's "E:KEY=VALUE" lines for a block device into c->names. */
static int read_udev(struct node_ctx *c, struct disk *d)
{
    char rel[48];
    snprintf(rel, sizeof(rel), "b%u:%u", d->major, d->minor);
    int rc = node_read(c, &c->aux, c->n->udev_data, rel);
    if (rc < 0) {
        return rc == GL_ESTATE ? rc : 0;
    }
    const char *p = c->aux.data, *end = p + c->aux.len;
    struct node_tok line, key;
    while (node_next_line(&p, end, &line)) {
        if (line.n < 2 || memcmp(line.p, "E:", 2) != 0) {
            continue;
        }
        line.p += 2;
        line.n -= 2;
        if (!node_next_split(&line, '=', &key) || line.p == NULL) {
            continue;
        }
        for (int k = 0; k < U_COUNT; k++) {
            if (node_tok_eq(key, udev_keys[k]) && line.n < 4096) {
                d->udev_at[k] = (uint32_t)c->names.len;
                d->udev_len[k] = (uint32_t)line.n;
                d->udev_has |= 1u << k;
                gl_buf_append(&c->names, line.p, line.n);
            }
        }
    }
    return 0;
}

static struct gl_label udev_label(const struct node_ctx *c, const struct disk *d, const char *name,
                                  int k)
{
    struct gl_label l = {name, (uint32_t)strlen(name), "", 0};
    if (d->udev_has & (1u << k)) {
        l.value = c->names.data + d->udev_at[k];
        l.value_len = d->udev_len[k];
    }
    return l;
}

static void emit_info(struct node_ctx *c, const struct disk *d, size_t n)
{
    node_family(c, "node_disk_info", GL_METRIC_GAUGE, "Info of /sys/block/<block_device>.");
    for (size_t i = 0; i < n; i++) {
        char maj[16], min[16];
        int jl = snprintf(maj, sizeof(maj), "%u", d[i].major);
        int nl = snprintf(min, sizeof(min), "%u", d[i].minor);
        struct gl_label l[8] = {
            NODE_L("device", d[i].name, d[i].name_len),
            NODE_L("major", maj, jl),
            NODE_L("minor", min, nl),
            udev_label(c, &d[i], "path", U_PATH),
            udev_label(c, &d[i], "wwn", U_WWN),
            udev_label(c, &d[i], "model", U_MODEL),
            udev_label(c, &d[i], "serial", U_SERIAL),
            udev_label(c, &d[i], "revision", U_REVISION),
        };
        node_sample(c, l, 8, 1);
    }
}

static void emit_stats(struct node_ctx *c, const struct disk *d, size_t n)
{
    for (int k = 0; k < 17; k++) {
        node_family(c, fields[k].name, fields[k].type, fields[k].help);
        for (size_t i = 0; i < n; i++) {
            if (d[i].stats <= k) {
                continue;
            }
            struct gl_label l = NODE_L("device", d[i].name, d[i].name_len);
            node_sample(c, &l, 1, (double)d[i].v[k] * fields[k].scale);
        }
    }
}

static bool has_value(const struct disk *d, int k)
{
    return d->udev_has & (1u << k) && d->udev_len[k] > 0;
}

/* The info families udev gives: a device with the first key has the family. */
static const struct {
    const char *name, *help;
    int n;
    const char *labels[5];
    int keys[5];
} udev_infos[2] = {
    {"node_disk_filesystem_info",
     "Info about disk filesystem.",
     4,
     {"type", "usage", "uuid", "version"},
     {U_FS_TYPE, U_FS_USAGE, U_FS_UUID, U_FS_VERSION}},
    {"node_disk_device_mapper_info",
     "Info about disk device mapper.",
     5,
     {"name", "uuid", "vg_name", "lv_name", "lv_layer"},
     {U_DM_NAME, U_DM_UUID, U_DM_VG, U_DM_LV, U_DM_LAYER}},
};

/* The families only udev knows: filesystem, device mapper, ATA. */
static void emit_udev(struct node_ctx *c, const struct disk *d, size_t n)
{
    static const int ata[3] = {U_ATA_WRITE_CACHE, U_ATA_WRITE_CACHE_ENABLED, U_ATA_RPM};
    static const char *const ata_names[3] = {"node_disk_ata_write_cache",
                                             "node_disk_ata_write_cache_enabled",
                                             "node_disk_ata_rotation_rate_rpm"};
    static const char *const ata_help[3] = {"ATA disk has a write cache.",
                                            "ATA disk has its write cache enabled.",
                                            "ATA disk rotation rate in RPMs (0 for SSDs)."};
    for (int f = 0; f < 2; f++) {
        node_family(c, udev_infos[f].name, GL_METRIC_GAUGE, udev_infos[f].help);
        for (size_t i = 0; i < n; i++) {
            struct gl_label l[6] = {NODE_L("device", d[i].name, d[i].name_len)};
            if (!has_value(&d[i], udev_infos[f].keys[0])) {
                continue;
            }
            for (int k = 0; k < udev_infos[f].n; k++) {
                l[1 + k] = udev_label(c, &d[i], udev_infos[f].labels[k], udev_infos[f].keys[k]);
            }
            node_sample(c, l, 1 + (size_t)udev_infos[f].n, 1);
        }
    }
    for (int k = 0; k < 3; k++) {
        node_family(c, ata_names[k], GL_METRIC_GAUGE, ata_help[k]);
        for (size_t i = 0; i < n; i++) {
            double v;
            if (!has_value(&d[i], U_ATA) || !(d[i].udev_has & (1u << ata[k]))) {
                continue;
            }
            struct node_tok t = {c->names.data + d[i].udev_at[ata[k]], d[i].udev_len[ata[k]]};
            if (!node_parse_f64(t, &v)) {
                continue;
            }
            struct gl_label l = NODE_L("device", d[i].name, d[i].name_len);
            node_sample(c, &l, 1, v);
        }
    }
}

int node_parse_diskstats(struct node_ctx *c, const char *text, size_t len)
{
    int rc = parse_disks(c, text, len);
    if (rc < 0) {
        return rc;
    }
    const struct disk *d = (const struct disk *)c->scratch.data;
    size_t n = c->scratch.len / sizeof(*d);
    gl_buf_reset(&c->names);
    emit_info(c, d, n);
    emit_stats(c, d, n);
    return 0;
}

int node_collect_diskstats(struct node_ctx *c)
{
    int rc = node_read(c, &c->text, c->n->procfs, "diskstats");
    if (rc == 0) {
        rc = parse_disks(c, c->text.data, c->text.len);
    }
    if (rc < 0) {
        return rc;
    }
    struct disk *d = (struct disk *)c->scratch.data;
    size_t n = c->scratch.len / sizeof(*d);
    gl_buf_reset(&c->names);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = read_udev(c, &d[i]);
    }
    if (rc < 0) {
        return rc;
    }
    emit_info(c, d, n);
    emit_stats(c, d, n);
    emit_udev(c, d, n);
    return 0;
}
