/*
 * The meminfo, vmstat and pressure collectors: /proc/meminfo (one
 * node_memory_* gauge per field, kB turned into _bytes), /proc/vmstat (the
 * fields vmstat.fields selects, untyped) and /proc/pressure/{cpu,io,memory}.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codec/regex.h"
#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"

/* The longest family name built from a file's field; longer fields are skipped. */
#define NAME_MAX_LEN 200

static bool name_char(char ch, bool first)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':' ||
           (!first && ch >= '0' && ch <= '9');
}

/* True when name[0..n) is a valid Prometheus metric name. */
static bool valid_name(const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!name_char(name[i], i == 0)) {
            return false;
        }
    }
    return n > 0;
}

/* ---- meminfo ------------------------------------------------------------- */

/*
 * "Active(anon):" into "Active_anon", as node_exporter rewrites it (the text
 * between the first '(' and the last ')' follows an underscore). Returns the
 * length written into out, or 0 when the key does not fit.
 */
static size_t meminfo_key(struct node_tok key, char *out, size_t cap)
{
    if (key.n < 2) {
        return 0;
    }
    key.n--; /* the trailing ':' */
    const char *open = memchr(key.p, '(', key.n);
    const char *close = NULL;
    for (size_t i = key.n; open != NULL && i > (size_t)(open - key.p); i--) {
        if (key.p[i - 1] == ')') {
            close = key.p + i - 1;
            break;
        }
    }
    if (open == NULL || close == NULL) {
        return node_concat(out, cap, &key, 1);
    }
    struct node_tok parts[4] = {{key.p, (size_t)(open - key.p)},
                                NODE_T("_"),
                                {open + 1, (size_t)(close - open - 1)},
                                {close + 1, (size_t)(key.p + key.n - close - 1)}};
    return node_concat(out, cap, parts, 4);
}

/* Parses one line; false when it does not have the shape "Key: value [kB]". */
static bool meminfo_line(struct node_tok line, char *key, size_t *key_len, double *v)
{
    struct node_tok f[4];
    int n = 0;
    while (n < 4 && node_next_field(&line, &f[n])) {
        n++;
    }
    if (n < 2 || n > 3 || !node_parse_f64(f[1], v)) {
        return false;
    }
    size_t kl = meminfo_key(f[0], key, NAME_MAX_LEN - 16);
    if (kl == 0) {
        return false;
    }
    if (n == 3) {
        *v *= 1024;
        memcpy(key + kl, "_bytes", 7);
        kl += 6;
    }
    *key_len = kl;
    return true;
}

/* Checks every line first, then writes: a file that does not parse writes nothing. */
int node_parse_meminfo(struct node_ctx *c, const char *text, size_t len)
{
    for (int pass = 0; pass < 2; pass++) {
        const char *p = text, *end = text + len;
        struct node_tok line, probe;
        for (int no = 1; node_next_line(&p, end, &line); no++) {
            char key[NAME_MAX_LEN], name[NAME_MAX_LEN + 16], help[NAME_MAX_LEN + 32];
            size_t kl;
            double v;
            struct node_tok copy = line;
            if (!node_next_field(&copy, &probe)) {
                continue; /* empty lines occur on some kernels */
            }
            if (!meminfo_line(line, key, &kl, &v)) {
                return node_fail(c, GL_EPARSE, "meminfo line %d: '%.*s'", no,
                                 (int)(line.n > 60 ? 60 : line.n), line.p);
            }
            struct node_tok k = {key, kl};
            size_t nl =
                node_concat(name, sizeof(name), (struct node_tok[]){NODE_T("node_memory_"), k}, 2);
            if (pass == 0 || !valid_name(name, nl)) {
                continue;
            }
            size_t hl = node_concat(
                help, sizeof(help),
                (struct node_tok[]){NODE_T("Memory information field "), k, NODE_T(".")}, 3);
            bool total = kl > 6 && memcmp(key + kl - 6, "_total", 6) == 0;
            node_family_n(c, name, nl, total ? GL_METRIC_COUNTER : GL_METRIC_GAUGE, help, hl);
            node_sample(c, NULL, 0, v);
        }
    }
    return 0;
}

int node_collect_meminfo(struct node_ctx *c)
{
    int rc = node_read(c, &c->text, c->n->procfs, "meminfo");
    return rc < 0 ? rc : node_parse_meminfo(c, c->text.data, c->text.len);
}

/* ---- vmstat -------------------------------------------------------------- */

int node_parse_vmstat(struct node_ctx *c, const char *text, size_t len)
{
    node_match_begin(&c->n->match[NODE_MATCH_VMSTAT]);
    for (int pass = 0; pass < 2; pass++) {
        const char *p = text, *end = text + len;
        struct node_tok line, key, val;
        for (int no = 1; node_next_line(&p, end, &line); no++) {
            double v;
            if (!node_next_field(&line, &key)) {
                continue;
            }
            if (!node_next_field(&line, &val) || !node_parse_f64(val, &v)) {
                return node_fail(c, GL_EPARSE, "vmstat line %d: no value for '%.*s'", no,
                                 (int)(key.n > 60 ? 60 : key.n), key.p);
            }
            if (pass == 0 || key.n > NAME_MAX_LEN ||
                !node_match(&c->n->match[NODE_MATCH_VMSTAT], c->n->vmstat_re, key.p, key.n)) {
                continue;
            }
            char name[NAME_MAX_LEN + 16], help[NAME_MAX_LEN + 48];
            size_t nl = node_concat(name, sizeof(name),
                                    (struct node_tok[]){NODE_T("node_vmstat_"), key}, 2);
            size_t hl = node_concat(
                help, sizeof(help),
                (struct node_tok[]){NODE_T("/proc/vmstat information field "), key, NODE_T(".")},
                3);
            if (valid_name(name, nl)) {
                node_family_n(c, name, nl, GL_METRIC_UNTYPED, help, hl);
                node_sample(c, NULL, 0, v);
            }
        }
    }
    return 0;
}

int node_collect_vmstat(struct node_ctx *c)
{
    int rc = node_read(c, &c->text, c->n->procfs, "vmstat");
    return rc < 0 ? rc : node_parse_vmstat(c, c->text.data, c->text.len);
}

/* ---- pressure ------------------------------------------------------------ */

/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=123": the total in microseconds. */
static bool psi_line(struct node_tok line, const char *kind, uint64_t *total)
{
    static const char *const keys[4] = {"avg10=", "avg60=", "avg300=", "total="};
    struct node_tok f;
    if (!node_next_split(&line, ' ', &f) || !node_tok_eq(f, kind)) {
        return false;
    }
    for (int k = 0; k < 4; k++) {
        size_t kl = strlen(keys[k]);
        double d;
        if (!node_next_split(&line, ' ', &f) || f.n <= kl || memcmp(f.p, keys[k], kl) != 0) {
            return false;
        }
        struct node_tok v = {f.p + kl, f.n - kl};
        if (k < 3 ? !node_parse_f64(v, &d) : !node_parse_u64(v, total)) {
            return false;
        }
    }
    return true;
}

int node_parse_pressure(struct node_ctx *c, const char *resource, const char *text, size_t len)
{
    uint64_t some = 0, full = 0;
    bool has_some = false, has_full = false;
    const char *p = text, *end = text + len;
    struct node_tok line;
    while (node_next_line(&p, end, &line)) {
        bool is_some = line.n >= 5 && memcmp(line.p, "some ", 5) == 0;
        bool is_full = line.n >= 5 && memcmp(line.p, "full ", 5) == 0;
        if (!is_some && !is_full) {
            continue;
        }
        if (!psi_line(line, is_some ? "some" : "full", is_some ? &some : &full)) {
            return node_fail(c, GL_EPARSE, "pressure/%s: bad line '%.*s'", resource,
                             (int)(line.n > 80 ? 80 : line.n), line.p);
        }
        *(is_some ? &has_some : &has_full) = true;
    }
    char name[64], help[128];
    const char *what = strcmp(resource, "cpu") == 0  ? "for CPU time"
                       : strcmp(resource, "io") == 0 ? "due to IO congestion"
                                                     : "for memory";
    if (has_some) {
        snprintf(name, sizeof(name), "node_pressure_%s_waiting_seconds_total", resource);
        snprintf(help, sizeof(help), "Total time in seconds that processes have waited %s", what);
        node_family(c, name, GL_METRIC_COUNTER, help);
        node_sample(c, NULL, 0, (double)some / 1e6);
    }
    if (has_full && strcmp(resource, "cpu") != 0) {
        snprintf(name, sizeof(name), "node_pressure_%s_stalled_seconds_total", resource);
        snprintf(help, sizeof(help), "Total time in seconds no process could make progress %s",
                 strcmp(resource, "io") == 0 ? "due to IO congestion" : "due to memory congestion");
        node_family(c, name, GL_METRIC_COUNTER, help);
        node_sample(c, NULL, 0, (double)full / 1e6);
    }
    return 0;
}

int node_collect_pressure(struct node_ctx *c)
{
    static const char *const resources[3] = {"pressure/cpu", "pressure/io", "pressure/memory"};
    for (int i = 0; i < 3; i++) {
        int rc = node_read(c, &c->text, c->n->procfs, resources[i]);
        if (rc == GL_ENOENT || (rc == GL_EIO && c->sys_errno == EOPNOTSUPP)) {
            return NODE_NODATA; /* a kernel without PSI, or booted without psi=1 */
        }
        if (rc == 0) {
            rc = node_parse_pressure(c, resources[i] + 9, c->text.data, c->text.len);
        }
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}
