/*
 * The thermal_zone and hwmon collectors: /sys/class/thermal (zone
 * temperatures, cooling device states) and /sys/class/hwmon (every sensor
 * file a chip has, named and scaled as node_exporter names them: temp1_input
 * becomes node_hwmon_temp_celsius{chip,sensor="temp1"}). Sensors are
 * gathered first and written sorted by family, since one family (say
 * node_hwmon_temp_celsius) has series from every chip.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"

/* ---- thermal_zone -------------------------------------------------------- */

struct zone {
    char name[24];
    char type[129];
    double value[2]; /* temp in degrees; or cur_state, max_state */
};

static bool starts_with_number(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 && name[n] >= '0' && name[n] <= '9';
}

/* Reads thermal_zoneN (cooling false) or cooling_deviceN; GL_ENOENT to skip it. */
static int read_zone(struct node_ctx *c, const char *base, const char *dir, bool cooling,
                     struct zone *z)
{
    char rel[300], buf[129];
    size_t len, tl;
    int64_t v;
    snprintf(z->name, sizeof(z->name), "%s", dir + (cooling ? 14 : 12));
    snprintf(rel, sizeof(rel), "%s/type", dir);
    int rc = node_read_at(c, base, rel, z->type, sizeof(z->type), &tl);
    for (int k = 0; k < (cooling ? 2 : 1) && rc == 0; k++) {
        snprintf(rel, sizeof(rel), "%s/%s", dir,
                 cooling ? (k == 0 ? "cur_state" : "max_state") : "temp");
        rc = node_read_at(c, base, rel, buf, sizeof(buf), &len);
        if (rc == 0 && !node_parse_i64((struct node_tok){buf, len}, &v)) {
            rc = GL_EPARSE;
        }
        z->value[k] = cooling ? (double)v : (double)v / 1000.0;
    }
    if (rc == GL_EIO && c->sys_errno == ENODATA && !cooling) {
        return GL_ENOENT; /* a zone without a temperature now */
    }
    return rc < 0 && rc != GL_ESTATE ? node_fail(c, rc, "cannot read %s", rel) : rc;
}

static int read_zones(struct node_ctx *c, const char *base, bool cooling, struct gl_buf *out)
{
    size_t at = 0;
    int rc = 0;
    for (const char *name; rc == 0 && (name = node_list_next(c, &at)) != NULL;) {
        struct zone z;
        if (!starts_with_number(name, cooling ? "cooling_device" : "thermal_zone")) {
            continue;
        }
        rc = read_zone(c, base, name, cooling, &z);
        if (rc == 0) {
            gl_buf_append(out, &z, sizeof(z));
        }
        rc = rc == GL_ENOENT ? 0 : rc;
    }
    return rc;
}

static void emit_zones(struct node_ctx *c, const struct zone *z, size_t n, bool cooling)
{
    static const char *const names[3] = {"node_thermal_zone_temp", "node_cooling_device_cur_state",
                                         "node_cooling_device_max_state"};
    static const char *const help[3] = {"Zone temperature in Celsius",
                                        "Current throttle state of the cooling device",
                                        "Maximum throttle state of the cooling device"};
    for (int k = 0; k < (cooling ? 2 : 1); k++) {
        int m = cooling ? 1 + k : 0;
        node_family(c, names[m], GL_METRIC_GAUGE, help[m]);
        for (size_t i = 0; i < n; i++) {
            struct gl_label l[2] = {cooling ? NODE_LS("name", z[i].name)
                                            : NODE_LS("zone", z[i].name),
                                    NODE_LS("type", z[i].type)};
            node_sample(c, l, 2, z[i].value[k]);
        }
    }
}

int node_collect_thermal_zone(struct node_ctx *c)
{
    char base[PATH_MAX];
    size_t count;
    int rc = node_path(c, c->n->sysfs, "class/thermal");
    snprintf(base, sizeof(base), "%s", c->path);
    rc = rc < 0 ? rc : node_list(c, base, &count);
    if (rc < 0) {
        return rc == GL_ESTATE ? rc : 0; /* no thermal zones: nothing to say */
    }
    gl_buf_reset(&c->scratch);
    gl_buf_reset(&c->aux);
    rc = read_zones(c, base, false, &c->scratch);
    rc = rc < 0 ? rc : read_zones(c, base, true, &c->aux);
    if (rc < 0) {
        return rc;
    }
    emit_zones(c, (const struct zone *)c->scratch.data, c->scratch.len / sizeof(struct zone),
               false);
    emit_zones(c, (const struct zone *)c->aux.data, c->aux.len / sizeof(struct zone), true);
    return 0;
}

/* ---- hwmon: file names and chip names ------------------------------------ */

static const char *const sensor_types[] = {
    "vrm",  "beep_enable", "update_interval", "in",     "cpu",      "fan",       "pwm",
    "temp", "curr",        "power",           "energy", "humidity", "intrusion", NULL};

struct sensor_file {
    struct node_tok type, property;
    long long num;
};

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/*
 * Splits a sensor file name as ^([^0-9]+)([0-9]*)(_(.+))?$ does ("temp1_max"
 * into temp, 1, max), including the match the regex finds by backtracking
 * when the greedy one fails ("a_b1x" is type a, property b1x).
 */
static bool explode(const char *s, struct sensor_file *f)
{
    size_t n = strlen(s), i = 0, j;
    while (i < n && !is_digit(s[i])) {
        i++;
    }
    for (j = i; j < n && is_digit(s[j]); j++) {
    }
    if (i > 0 && (j == n || (s[j] == '_' && j + 1 < n))) {
        if (j - i > 18) {
            return false; /* a number node_exporter cannot read either */
        }
        f->type = (struct node_tok){s, i};
        f->num = j > i ? strtoll(s + i, NULL, 10) : 0;
        f->property =
            j == n ? (struct node_tok){s + n, 0} : (struct node_tok){s + j + 1, n - j - 1};
        return true;
    }
    for (size_t k = i; k > 1; k--) {
        if (s[k - 1] == '_' && k < n) {
            f->type = (struct node_tok){s, k - 1};
            f->num = 0;
            f->property = (struct node_tok){s + k, n - k};
            return true;
        }
    }
    return false;
}

/* Lower case, anything but [a-z0-9:_] as '_', underscores trimmed at both ends. */
static size_t clean_name(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        char ch = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == ':' || ch == '_';
        out[o++] = ok ? ch : '_';
    }
    size_t a = 0;
    while (a < o && out[a] == '_') {
        a++;
    }
    while (o > a && out[o - 1] == '_') {
        o--;
    }
    memmove(out, out + a, o - a);
    out[o - a] = '\0';
    return o - a;
}

static size_t base_name(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    return strlen(*base);
}

/* realpath() guarded; false when it fails or the thread was let go. */
static bool resolve(struct node_ctx *c, const char *path, char *real)
{
    bool ok = node_op_begin(c, NULL) && realpath(path, real) != NULL;
    return node_op_end(c) && ok;
}

/* The cleaned last component of path, into out. */
static size_t clean_base(const char *path, char *out, size_t cap)
{
    const char *base;
    size_t n = base_name(path, &base);
    return clean_name(base, n, out, cap);
}

/*
 * A hwmon directory's chip label: its device's bus type and name
 * ("platform_coretemp_0"), else its name file, else the directory's own name.
 */
static size_t chip_label(struct node_ctx *c, const char *dir, char *out, size_t cap)
{
    char path[PATH_MAX + 16], real[PATH_MAX], buf[129];
    size_t len;
    snprintf(path, sizeof(path), "%s/device", dir);
    if (resolve(c, path, real)) {
        char type[128], name[128];
        size_t nl = clean_base(real, name, sizeof(name));
        char *slash = strrchr(real, '/');
        *(slash != NULL ? slash : real) = '\0';
        size_t tl = clean_base(real, type, sizeof(type));
        int n = tl > 0 ? snprintf(out, cap, "%s_%s", type, name) : snprintf(out, cap, "%s", name);
        if (nl > 0 && n > 0 && (size_t)n < cap) {
            return (size_t)n;
        }
    }
    if (node_read_at(c, dir, "name", buf, sizeof(buf), &len) == 0 &&
        clean_name(buf, len, out, cap) > 0) {
        return strlen(out);
    }
    return resolve(c, dir, real) ? clean_base(real, out, cap) : 0;
}

/* ---- hwmon: sensors ------------------------------------------------------ */

/* A sensor file's value, as read: sensor "temp1", property "max". */
struct raw {
    char type[32];
    char sensor[48];
    char prop[64];
    char value[129];
};

/* One series to write. */
struct hw_series {
    char name[128];
    char help[192];
    enum gl_metric_type type;
    char chip[96];
    char sensor[48];
    char label[129];
    bool has_label;
    double v;
};

static bool sensor_type(struct node_tok t)
{
    for (size_t i = 0; sensor_types[i] != NULL; i++) {
        if (node_tok_eq(t, sensor_types[i])) {
            return true;
        }
    }
    return false;
}

/* Reads the sensor files of one directory into c->aux (struct raw), the last read winning. */
static int read_sensor_dir(struct node_ctx *c, const char *dir)
{
    size_t count, at = 0;
    int rc = node_list(c, dir, &count);
    if (rc < 0) {
        return rc == GL_ESTATE ? rc : 0;
    }
    for (const char *file; rc == 0 && (file = node_list_next(c, &at)) != NULL;) {
        struct sensor_file sf;
        struct raw r;
        size_t len;
        if (!explode(file, &sf) || !sensor_type(sf.type) || sf.type.n >= sizeof(r.type) ||
            sf.property.n >= sizeof(r.prop)) {
            continue;
        }
        if (node_read_at(c, dir, file, r.value, sizeof(r.value), &len) != 0) {
            rc = c->abandoned ? GL_ESTATE : 0;
            continue;
        }
        snprintf(r.type, sizeof(r.type), "%.*s", (int)sf.type.n, sf.type.p);
        snprintf(r.sensor, sizeof(r.sensor), "%s%lld", r.type, sf.num);
        snprintf(r.prop, sizeof(r.prop), "%.*s", (int)sf.property.n, sf.property.p);
        struct raw *all = (struct raw *)c->aux.data;
        size_t n = c->aux.len / sizeof(*all), i = 0;
        while (i < n &&
               !(strcmp(all[i].sensor, r.sensor) == 0 && strcmp(all[i].prop, r.prop) == 0)) {
            i++;
        }
        if (i < n) {
            all[i] = r;
        } else {
            gl_buf_append(&c->aux, &r, sizeof(r));
        }
    }
    return rc;
}

static void add_series(struct node_ctx *c, const char *chip, const struct raw *r, const char *name,
                       const char *help, enum gl_metric_type type, double v)
{
    struct hw_series s;
    memset(&s, 0, sizeof(s));
    snprintf(s.name, sizeof(s.name), "%s", name);
    snprintf(s.help, sizeof(s.help), "%s", help);
    snprintf(s.chip, sizeof(s.chip), "%s", chip);
    snprintf(s.sensor, sizeof(s.sensor), "%s", r->sensor);
    s.type = type;
    s.v = v;
    gl_buf_append(&c->scratch, &s, sizeof(s));
}

static bool is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* Unit, scale and HELP of one element (temp1_max...) by node_exporter's rules. */
static void element_series(struct node_ctx *c, const char *chip, const struct raw *r,
                           bool has_plain)
{
    char name[128], help[192], el[64];
    const char *t = r->type, *e = r->prop;
    double v;
    if (!node_parse_f64((struct node_tok){r->value, strlen(r->value)}, &v)) {
        return;
    }
    size_t el_len = clean_name(e, strlen(e), el, sizeof(el));
    int n = snprintf(name, sizeof(name), "node_hwmon_%s%s%s", t,
                     is(e, "input") ? (has_plain ? "_input" : "")
                     : el_len > 0   ? "_"
                                    : "",
                     is(e, "input") ? "" : el);
    if (n < 0 || (size_t)n >= sizeof(name) - 16) {
        return;
    }
    const char *unit = "", *what = NULL, *fixed = NULL;
    double scale = 1;
    enum gl_metric_type type = GL_METRIC_GAUGE;
    if (is(e, "fault") || is(e, "alarm")) {
        snprintf(help, sizeof(help), "Hardware sensor %s status (%s)", e, t);
    } else if (is(e, "beep")) {
        unit = "_enabled", fixed = "Hardware monitor sensor has beeping enabled";
    } else if (is(t, "in") || is(t, "cpu")) {
        unit = "_volts", scale = 0.001, what = "Hardware monitor for voltage";
    } else if (is(t, "temp") && !is(e, "type")) {
        unit = "_celsius", scale = 0.001, what = "Hardware monitor for temperature";
        e = e[0] ? e : "input";
    } else if (is(t, "curr")) {
        unit = "_amps", scale = 0.001, what = "Hardware monitor for current";
    } else if (is(t, "energy")) {
        unit = "_joule_total", scale = 1e-6, type = GL_METRIC_COUNTER;
        what = "Hardware monitor for joules used so far";
    } else if (is(t, "power") && is(e, "accuracy")) {
        scale = 1e-6, fixed = "Hardware monitor power meter accuracy, as a ratio";
    } else if (is(t, "power") && (is(e, "average_interval") || is(e, "average_interval_min") ||
                                  is(e, "average_interval_max"))) {
        unit = "_seconds", scale = 0.001, what = "Hardware monitor power usage update interval";
    } else if (is(t, "power")) {
        unit = "_watt", scale = 1e-6, what = "Hardware monitor for power usage in watts";
    } else if (is(t, "humidity")) {
        scale = 1e-6, what = "Hardware monitor for humidity, as a ratio (multiply with 100.0 to "
                             "get the humidity as a percentage)";
    } else if (is(t, "fan") &&
               (is(e, "input") || is(e, "min") || is(e, "max") || is(e, "target"))) {
        unit = "_rpm", what = "Hardware monitor for fan revolutions per minute";
    } else {
        snprintf(help, sizeof(help), "Hardware monitor %s element %s", t, e);
    }
    if (what != NULL) {
        snprintf(help, sizeof(help), "%s (%s)", what, e);
    } else if (fixed != NULL) {
        snprintf(help, sizeof(help), "%s", fixed);
    }
    snprintf(name + n, sizeof(name) - (size_t)n, "%s", unit);
    add_series(c, chip, r, name, help, type, v * scale);
}

/* The series of one sensor: r[0..n) are its files. */
static void sensor_series(struct node_ctx *c, const char *chip, const struct raw *r, size_t n)
{
    const char *plain = NULL;
    for (size_t i = 0; i < n; i++) {
        if (r[i].prop[0] == '\0') {
            plain = r[i].value;
        }
        if (is(r[i].prop, "label")) {
            add_series(c, chip, &r[i], "node_hwmon_sensor_label", "Label for given chip and sensor",
                       GL_METRIC_GAUGE, 1);
            struct hw_series *s = (struct hw_series *)(c->scratch.data + c->scratch.len) - 1;
            snprintf(s->label, sizeof(s->label), "%s", r[i].value);
            s->has_label = true;
        }
    }
    double v;
    const char *t = r[0].type;
    if (is(t, "beep_enable")) {
        add_series(c, chip, r, "node_hwmon_beep_enabled", "Hardware beep enabled", GL_METRIC_GAUGE,
                   plain != NULL && is(plain, "1") ? 1 : 0);
    } else if (is(t, "vrm") || is(t, "update_interval")) {
        if (plain != NULL && node_parse_f64((struct node_tok){plain, strlen(plain)}, &v)) {
            bool vrm = is(t, "vrm");
            add_series(c, chip, r,
                       vrm ? "node_hwmon_voltage_regulator_version"
                           : "node_hwmon_update_interval_seconds",
                       vrm ? "Hardware voltage regulator" : "Hardware monitor update interval",
                       GL_METRIC_GAUGE, vrm ? v : v * 0.001);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (!is(r[i].prop, "label")) {
                element_series(c, chip, &r[i], plain != NULL);
            }
        }
    }
}

static int by_sensor(const void *a, const void *b)
{
    return strcmp(((const struct raw *)a)->sensor, ((const struct raw *)b)->sensor);
}

/* One hwmonN directory: its chip names and every sensor's series, into c->scratch. */
static int hwmon_chip(struct node_ctx *c, const char *dir)
{
    char chip[96], chip_name[96], buf[129], path[PATH_MAX + 16];
    size_t len;
    if (chip_label(c, dir, chip, sizeof(chip)) == 0) {
        return c->abandoned ? GL_ESTATE : node_fail(c, GL_EPARSE, "no name for %s", dir);
    }
    gl_buf_reset(&c->aux);
    int rc = read_sensor_dir(c, dir);
    snprintf(path, sizeof(path), "%s/device", dir);
    rc = rc < 0 ? rc : read_sensor_dir(c, path);
    if (rc < 0) {
        return rc;
    }
    if (node_read_at(c, dir, "name", buf, sizeof(buf), &len) == 0 &&
        clean_name(buf, len, chip_name, sizeof(chip_name)) > 0) {
        struct raw r = {.sensor = ""};
        add_series(c, chip, &r, "node_hwmon_chip_names",
                   "Annotation metric for human-readable chip names", GL_METRIC_GAUGE, 1);
        struct hw_series *s = (struct hw_series *)(c->scratch.data + c->scratch.len) - 1;
        snprintf(s->label, sizeof(s->label), "%s", chip_name);
    }
    struct raw *r = (struct raw *)c->aux.data;
    size_t n = c->aux.len / sizeof(*r);
    qsort(r, n, sizeof(*r), by_sensor);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && is(r[j].sensor, r[i].sensor); j++) {
        }
        sensor_series(c, chip, r + i, j - i);
    }
    return c->abandoned ? GL_ESTATE : 0;
}

static int by_series(const void *a, const void *b)
{
    const struct hw_series *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    r = r != 0 ? r : strcmp(x->chip, y->chip);
    r = r != 0 ? r : strcmp(x->sensor, y->sensor);
    return r != 0 ? r : strcmp(x->label, y->label);
}

static void emit_hwmon(struct node_ctx *c, struct hw_series *s, size_t n)
{
    qsort(s, n, sizeof(*s), by_series);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && by_series(&s[i - 1], &s[i]) == 0) {
            continue; /* the same series from two directories: the first one */
        }
        if (i == 0 || strcmp(s[i - 1].name, s[i].name) != 0) {
            node_family(c, s[i].name, s[i].type, s[i].help);
        }
        bool names = is(s[i].name, "node_hwmon_chip_names");
        struct gl_label l[3] = {NODE_LS("chip", s[i].chip),
                                names ? NODE_LS("chip_name", s[i].label)
                                      : NODE_LS("sensor", s[i].sensor),
                                NODE_LS("label", s[i].label)};
        node_sample(c, l, names ? 2 : s[i].has_label ? 3 : 2, s[i].v);
    }
}

int node_collect_hwmon(struct node_ctx *c)
{
    int rc = node_path(c, c->n->sysfs, "class/hwmon");
    char base[PATH_MAX];
    size_t count, at = 0;
    snprintf(base, sizeof(base), "%s", c->path);
    rc = rc < 0 ? rc : node_list(c, base, &count);
    if (rc == GL_ENOENT) {
        return node_fail(c, NODE_NODATA, "no %s", base);
    }
    if (rc < 0) {
        return rc;
    }
    /* The chips' own listings reuse c->names: keep this one aside. */
    gl_buf_reset(&c->text);
    for (const char *name; (name = node_list_next(c, &at)) != NULL;) {
        gl_buf_append(&c->text, name, strlen(name) + 1);
    }
    gl_buf_reset(&c->scratch);
    int last = 0;
    for (size_t off = 0; off < c->text.len; off += strlen(c->text.data + off) + 1) {
        char dir[PATH_MAX];
        int dl = snprintf(dir, sizeof(dir), "%s/%s", base, c->text.data + off);
        int fd = dl > 0 && (size_t)dl < sizeof(dir) ? node_open_dir(c, AT_FDCWD, dir) : GL_ELIMIT;
        if (fd < 0) {
            last = fd == GL_ESTATE ? fd : last;
            continue; /* not a directory */
        }
        node_close(fd);
        rc = hwmon_chip(c, dir);
        last = rc < 0 ? rc : last;
        if (rc == GL_ESTATE) {
            return rc;
        }
    }
    emit_hwmon(c, (struct hw_series *)c->scratch.data, c->scratch.len / sizeof(struct hw_series));
    return last;
}
