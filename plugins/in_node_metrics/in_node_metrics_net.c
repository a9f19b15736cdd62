/*
 * The netdev, netstat, sockstat, arp, udp_queues and conntrack collectors,
 * from /proc/net and /proc/sys/net. netdev reads /proc/net/dev, whose
 * columns the kernel already sums the way node_exporter's netlink reading
 * does (drop, frame, fifo, carrier); receive_nohandler, which it lacks,
 * comes from /sys/class/net/<dev>/statistics.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "codec/regex.h"
#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"

#define DEVICES_MAX 65536

/* ---- netdev -------------------------------------------------------------- */

static const char *const netdev_keys[17] = {
    "receive_bytes",     "receive_packets",  "receive_errs",       "receive_drop",
    "receive_fifo",      "receive_frame",    "receive_compressed", "receive_multicast",
    "transmit_bytes",    "transmit_packets", "transmit_errs",      "transmit_drop",
    "transmit_fifo",     "transmit_colls",   "transmit_carrier",   "transmit_compressed",
    "receive_nohandler",
};

struct netdev {
    const char *name;
    uint32_t name_len;
    bool nohandler; /* v[16] was read */
    bool excluded;  /* by netdev.device_exclude */
    uint64_t v[17];
};

/* "  eth0: 1 2 ... 16": false when the line does not have that shape. */
static bool parse_netdev_line(struct node_tok line, struct netdev *d)
{
    const char *colon = NULL;
    for (size_t i = line.n; i > 0; i--) {
        if (line.p[i - 1] == ':') {
            colon = line.p + i - 1;
            break;
        }
    }
    if (colon == NULL) {
        return false;
    }
    struct node_tok name = node_trim((struct node_tok){line.p, (size_t)(colon - line.p)});
    struct node_tok rest = {colon + 1, line.n - (size_t)(colon - line.p) - 1}, f;
    memset(d, 0, sizeof(*d));
    d->name = name.p;
    d->name_len = (uint32_t)name.n;
    for (int k = 0; k < 16; k++) {
        if (!node_next_field(&rest, &f) || !node_parse_u64(f, &d->v[k])) {
            return false;
        }
    }
    return name.n > 0;
}

int node_parse_netdev(struct node_ctx *c, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    struct node_tok line;
    gl_buf_reset(&c->scratch);
    for (int no = 1; node_next_line(&p, end, &line); no++) {
        struct netdev d;
        if (no <= 2 || node_trim(line).n == 0) {
            continue; /* the two header lines */
        }
        if (!parse_netdev_line(line, &d) || no > DEVICES_MAX) {
            return node_fail(c, GL_EPARSE, "net/dev line %d: malformed", no);
        }
        struct gl_regex *re = c->n->netdev_device_exclude;
        d.excluded = re != NULL && gl_regex_match(re, d.name, d.name_len);
        gl_buf_append(&c->scratch, &d, sizeof(d));
    }
    return 0;
}

static void emit_netdev(struct node_ctx *c, const struct netdev *d, size_t n)
{
    for (int k = 0; k < 17; k++) {
        char name[64], help[80];
        struct node_tok key = NODE_TS(netdev_keys[k]);
        size_t nl =
            node_concat(name, sizeof(name),
                        (struct node_tok[]){NODE_T("node_network_"), key, NODE_T("_total")}, 3);
        size_t hl = node_concat(
            help, sizeof(help),
            (struct node_tok[]){NODE_T("Network device statistic "), key, NODE_T(".")}, 3);
        node_family_n(c, name, nl, GL_METRIC_COUNTER, help, hl);
        for (size_t i = 0; i < n; i++) {
            if (d[i].excluded || (k == 16 && !d[i].nohandler)) {
                continue;
            }
            struct gl_label l = NODE_L("device", d[i].name, d[i].name_len);
            node_sample(c, &l, 1, (double)d[i].v[k]);
        }
    }
}

/*
 * rx_nohandler of each device (kernels since 4.6): from the netlink dump when
 * it lists the devices /proc/net/dev does, else from /sys/class/net.
 */
static int read_nohandler(struct node_ctx *c, struct netdev *d, size_t n)
{
    int rc = node_rtnl_links(c);
    if (rc == GL_ESTATE) {
        return rc;
    }
    bool dump = rc == 0 && node_rtnl_count(c) == n;
    for (size_t i = 0; i < n && dump; i++) {
        const struct node_link *l = node_rtnl_find(c, d[i].name, d[i].name_len);
        dump = l != NULL;
        d[i].nohandler = l != NULL && l->has & (1u << NODE_LINK_NOHANDLER);
        d[i].v[16] = l != NULL ? l->rx_nohandler : 0;
    }
    if (dump) {
        return 0;
    }
    char base[PATH_MAX];
    if (node_path(c, c->n->sysfs, "class/net") < 0) {
        return 0;
    }
    snprintf(base, sizeof(base), "%s", c->path);
    for (size_t i = 0; i < n; i++) {
        char rel[300], buf[64];
        if (d[i].excluded) {
            continue;
        }
        size_t len;
        snprintf(rel, sizeof(rel), "%.*s/statistics/rx_nohandler", (int)d[i].name_len, d[i].name);
        rc = node_read_at(c, base, rel, buf, sizeof(buf), &len);
        if (rc == GL_ESTATE) {
            break;
        }
        d[i].nohandler = rc == 0 && node_parse_u64((struct node_tok){buf, len}, &d[i].v[16]);
        rc = 0;
    }
    return rc;
}

int node_collect_netdev(struct node_ctx *c)
{
    int rc = node_read(c, &c->text, c->n->procfs, "net/dev");
    if (rc == 0) {
        rc = node_parse_netdev(c, c->text.data, c->text.len);
    }
    struct netdev *d = (struct netdev *)c->scratch.data;
    size_t n = c->scratch.len / sizeof(*d);
    if (rc == 0) {
        rc = read_nohandler(c, d, n);
    }
    if (rc == 0) {
        emit_netdev(c, d, n);
    }
    return rc;
}

/* ---- netstat ------------------------------------------------------------- */

/*
 * Walks /proc/net/{netstat,snmp} (a line of names, then a line of values,
 * per protocol) or /proc/net/snmp6 (one "Ip6InReceives 123" per line). With
 * emit false only checks; with emit true writes the fields the pattern keeps.
 */
static bool walk_pairs(struct node_ctx *c, const char *text, size_t len, bool emit);
static bool walk_snmp6(struct node_ctx *c, const char *text, size_t len, bool emit);

static void emit_netstat(struct node_ctx *c, struct node_tok proto, struct node_tok field, double v)
{
    char name[300], help[300];
    static const char prefix[] = "node_netstat_";
    size_t pl = sizeof(prefix) - 1, kl = proto.n + 1 + field.n;
    if (pl + kl >= sizeof(name)) {
        return;
    }
    memcpy(name, prefix, pl);
    memcpy(name + pl, proto.p, proto.n);
    name[pl + proto.n] = '_';
    memcpy(name + pl + proto.n + 1, field.p, field.n);
    if (!node_match(&c->n->match[NODE_MATCH_NETSTAT], c->n->netstat_re, name + pl, kl)) {
        return;
    }
    for (size_t i = 0; i < pl + kl; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (ch >= '0' && ch <= '9');
        if (!ok) {
            return;
        }
    }
    size_t hl =
        node_concat(help, sizeof(help),
                    (struct node_tok[]){NODE_T("Statistic "), proto, field, NODE_T(".")}, 4);
    node_family_n(c, name, pl + kl, GL_METRIC_UNTYPED, help, hl);
    node_sample(c, NULL, 0, v);
}

static bool walk_pairs(struct node_ctx *c, const char *text, size_t len, bool emit)
{
    const char *p = text, *end = text + len;
    struct node_tok names, values;
    while (node_next_line(&p, end, &names)) {
        struct node_tok nf, vf, proto;
        if (!node_next_line(&p, end, &values)) {
            return false;
        }
        if (!node_next_split(&names, ' ', &proto) || proto.n < 2 || proto.p[proto.n - 1] != ':' ||
            !node_next_split(&values, ' ', &vf)) {
            return false;
        }
        proto.n--;
        for (;;) {
            bool hn = node_next_split(&names, ' ', &nf), hv = node_next_split(&values, ' ', &vf);
            double v;
            if (hn != hv) {
                return false; /* names and values do not pair up */
            }
            if (!hn) {
                break;
            }
            if (!node_parse_f64(vf, &v)) {
                return false;
            }
            if (emit) {
                emit_netstat(c, proto, nf, v);
            }
        }
    }
    return true;
}

static bool walk_snmp6(struct node_ctx *c, const char *text, size_t len, bool emit)
{
    const char *p = text, *end = text + len;
    struct node_tok line, key, val;
    while (node_next_line(&p, end, &line)) {
        double v;
        if (!node_next_field(&line, &key) || !node_next_field(&line, &val)) {
            continue;
        }
        const char *six = memchr(key.p, '6', key.n);
        if (six == NULL) {
            continue;
        }
        if (!node_parse_f64(val, &v)) {
            return false;
        }
        struct node_tok proto = {key.p, (size_t)(six - key.p) + 1};
        struct node_tok field = {six + 1, key.n - proto.n};
        if (emit) {
            emit_netstat(c, proto, field, v);
        }
    }
    return true;
}

int node_parse_netstat(struct node_ctx *c, const char *text, size_t len, bool snmp6)
{
    bool ok = snmp6 ? walk_snmp6(c, text, len, false) : walk_pairs(c, text, len, false);
    if (!ok) {
        return node_fail(c, GL_EPARSE, "%s: malformed", snmp6 ? "snmp6" : "netstat/snmp");
    }
    node_match_begin(&c->n->match[NODE_MATCH_NETSTAT]);
    if (snmp6) {
        walk_snmp6(c, text, len, true);
    } else {
        walk_pairs(c, text, len, true);
    }
    return 0;
}

int node_collect_netstat(struct node_ctx *c)
{
    int rc = node_read(c, &c->text, c->n->procfs, "net/netstat");
    rc = rc < 0 ? rc : node_read(c, &c->aux, c->n->procfs, "net/snmp");
    if (rc < 0) {
        return rc;
    }
    int r6 = node_read(c, &c->scratch, c->n->procfs, "net/snmp6");
    if (r6 < 0 && r6 != GL_ENOENT) {
        return r6;
    }
    if (!walk_pairs(c, c->text.data, c->text.len, false) ||
        !walk_pairs(c, c->aux.data, c->aux.len, false) ||
        (r6 == 0 && !walk_snmp6(c, c->scratch.data, c->scratch.len, false))) {
        return node_fail(c, GL_EPARSE, "net/netstat, net/snmp or net/snmp6: malformed");
    }
    node_match_begin(&c->n->match[NODE_MATCH_NETSTAT]);
    walk_pairs(c, c->text.data, c->text.len, true);
    walk_pairs(c, c->aux.data, c->aux.len, true);
    if (r6 == 0) {
        walk_snmp6(c, c->scratch.data, c->scratch.len, true);
    }
    return 0;
}

/* ---- sockstat ------------------------------------------------------------ */

/* One "TCP: inuse 5 orphan 0 ... mem 3" line: its pairs, as node_exporter names them. */
static void emit_sockstat(struct node_ctx *c, struct node_tok proto, const struct node_tok *k,
                          const int64_t *val, int n, bool v6)
{
    static const char *const order[7] = {"inuse", "orphan", "tw",       "alloc",
                                         "mem",   "memory", "mem_bytes"};
    double found[7] = {0};
    bool has[7] = {true}; /* inuse is always given, 0 when the line lacks it */
    for (int i = 0; i < n; i++) {
        if (node_tok_eq(proto, "sockets") && node_tok_eq(k[i], "used") && !v6) {
            node_family(c, "node_sockstat_sockets_used", GL_METRIC_GAUGE,
                        "Number of IPv4 sockets in use.");
            node_sample(c, NULL, 0, (double)val[i]);
        }
        for (int o = 0; o < 6; o++) {
            if (node_tok_eq(k[i], order[o])) {
                found[o] = (double)val[i];
                has[o] = true;
            }
        }
    }
    if (node_tok_eq(proto, "sockets")) {
        return;
    }
    found[6] = found[4] * (double)sysconf(_SC_PAGESIZE);
    has[6] = has[4];
    for (int o = 0; o < 7; o++) {
        char name[128], help[160];
        if (!has[o]) {
            continue;
        }
        struct node_tok state = NODE_TS(order[o]);
        size_t nl = node_concat(
            name, sizeof(name),
            (struct node_tok[]){NODE_T("node_sockstat_"), proto, NODE_T("_"), state}, 4);
        size_t hl =
            node_concat(help, sizeof(help),
                        (struct node_tok[]){NODE_T("Number of "), proto,
                                            NODE_T(" sockets in state "), state, NODE_T(".")},
                        5);
        if (nl > 0 && hl > 0) {
            node_family_n(c, name, nl, GL_METRIC_GAUGE, help, hl);
            node_sample(c, NULL, 0, found[o]);
        }
    }
}

/* Checks (emit false) or writes one sockstat file. */
static bool walk_sockstat(struct node_ctx *c, const char *text, size_t len, bool v6, bool emit)
{
    const char *p = text, *end = text + len;
    struct node_tok line, proto;
    while (node_next_line(&p, end, &line)) {
        struct node_tok k[16], v[16];
        int64_t val[16];
        int n = 0;
        if (!node_next_split(&line, ' ', &proto) || proto.n < 2 || proto.p[proto.n - 1] != ':') {
            return false;
        }
        proto.n--;
        while (n < 16 && node_next_split(&line, ' ', &k[n])) {
            if (!node_next_split(&line, ' ', &v[n]) || !node_parse_int_auto(v[n], &val[n])) {
                return false;
            }
            n++;
        }
        if (n == 0 || line.p != NULL) {
            return false;
        }
        if (emit) {
            emit_sockstat(c, proto, k, val, n, v6);
        }
    }
    return true;
}

int node_parse_sockstat(struct node_ctx *c, const char *text, size_t len, bool v6)
{
    if (!walk_sockstat(c, text, len, v6, false)) {
        return node_fail(c, GL_EPARSE, "sockstat%s: malformed", v6 ? "6" : "");
    }
    walk_sockstat(c, text, len, v6, true);
    return 0;
}

int node_collect_sockstat(struct node_ctx *c)
{
    static const char *const files[2] = {"net/sockstat", "net/sockstat6"};
    for (int i = 0; i < 2; i++) {
        int rc = node_read(c, &c->text, c->n->procfs, files[i]);
        if (rc == GL_ENOENT) {
            continue;
        }
        if (rc == 0) {
            rc = node_parse_sockstat(c, c->text.data, c->text.len, i == 1);
        }
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* ---- arp ----------------------------------------------------------------- */

struct arp_dev {
    const char *name;
    uint32_t name_len;
    uint32_t entries;
};

int node_parse_arp(struct node_ctx *c, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    struct node_tok line, f, last = {NULL, 0};
    gl_buf_reset(&c->scratch);
    while (node_next_line(&p, end, &line)) {
        int cols = 0;
        struct node_tok first = {NULL, 0};
        while (node_next_field(&line, &f)) {
            first = cols == 0 ? f : first;
            last = f;
            cols++;
        }
        if (cols < 6) {
            return node_fail(c, GL_EPARSE, "net/arp: unexpected format");
        }
        if (node_tok_eq(first, "IP")) {
            continue;
        }
        struct arp_dev *d = (struct arp_dev *)c->scratch.data;
        size_t n = c->scratch.len / sizeof(*d), i = 0;
        while (i < n && !(d[i].name_len == last.n && memcmp(d[i].name, last.p, last.n) == 0)) {
            i++;
        }
        if (i == n) {
            struct arp_dev nd = {last.p, (uint32_t)last.n, 0};
            gl_buf_append(&c->scratch, &nd, sizeof(nd));
            d = (struct arp_dev *)c->scratch.data;
        }
        d[i].entries++;
    }
    const struct arp_dev *d = (const struct arp_dev *)c->scratch.data;
    size_t n = c->scratch.len / sizeof(*d);
    node_family(c, "node_arp_entries", GL_METRIC_GAUGE, "ARP entries by device");
    for (size_t i = 0; i < n; i++) {
        struct gl_label l = NODE_L("device", d[i].name, d[i].name_len);
        node_sample(c, &l, 1, d[i].entries);
    }
    return 0;
}

int node_collect_arp(struct node_ctx *c)
{
    int rc = node_read(c, &c->text, c->n->procfs, "net/arp");
    return rc < 0 ? rc : node_parse_arp(c, c->text.data, c->text.len);
}

/* ---- udp_queues ---------------------------------------------------------- */

/* Sums the tx_queue:rx_queue column of /proc/net/udp{,6}; GL_EPARSE on a bad line. */
int node_parse_udp(const char *text, size_t len, double *tx, double *rx)
{
    const char *p = text, *end = text + len;
    struct node_tok line, f;
    *tx = *rx = 0;
    node_next_line(&p, end, &line); /* the header */
    while (node_next_line(&p, end, &line)) {
        struct node_tok q = {NULL, 0}, t;
        int cols = 0;
        while (node_next_field(&line, &f)) {
            q = cols == 4 ? f : q;
            cols++;
        }
        uint64_t a, b;
        if (cols == 0) {
            continue;
        }
        if (cols < 10 || !node_next_split(&q, ':', &t) || !node_parse_hex(t, &a) || q.p == NULL ||
            !node_parse_hex(q, &b)) {
            return GL_EPARSE;
        }
        *tx += (double)a;
        *rx += (double)b;
    }
    return 0;
}

/*
 * The queues of one family's sockets (q: tx, rx) from a sock_diag dump when
 * the file is the agent's own /proc/net/udp{,6} (the same numbers, in one
 * pass over the socket table), else from the file itself. Returns as
 * node_read, or GL_EPARSE.
 */
static int udp_queues(struct node_ctx *c, const char *file, int family, double *q)
{
    bool proc;
    int rc = node_proc_file(c, c->n->procfs, file, &proc);
    if (rc < 0) {
        return rc;
    }
    if (proc && !c->no_udp_diag) {
        rc = node_diag_udp(c, family, &q[0], &q[1]);
        if (rc == 0 || rc == GL_ESTATE) {
            return rc;
        }
        c->no_udp_diag = rc == GL_ENOENT;
    }
    rc = node_read(c, &c->text, c->n->procfs, file);
    if (rc == 0 && node_parse_udp(c->text.data, c->text.len, &q[0], &q[1]) < 0) {
        rc = node_fail(c, GL_EPARSE, "%s: malformed line", c->path);
    }
    return rc;
}

int node_collect_udp_queues(struct node_ctx *c)
{
    static const char *const files[2] = {"net/udp", "net/udp6"};
    bool any = false;
    node_family(c, "node_udp_queues", GL_METRIC_GAUGE,
                "Number of allocated memory in the kernel for UDP datagrams in bytes.");
    for (int i = 0; i < 2; i++) {
        double q[2];
        int rc = udp_queues(c, files[i], i == 0 ? AF_INET : AF_INET6, q);
        if (rc == GL_ENOENT) {
            continue;
        }
        if (rc < 0) {
            return rc;
        }
        for (int k = 0; k < 2; k++) {
            struct gl_label l[2] = {NODE_LS("queue", k == 0 ? "tx" : "rx"),
                                    NODE_LS("ip", i == 0 ? "v4" : "v6")};
            node_sample(c, l, 2, q[k]);
        }
        any = true;
    }
    return any ? 0 : NODE_NODATA;
}

/* ---- conntrack ----------------------------------------------------------- */

static const char *const conntrack_stat[8][2] = {
    {"node_nf_conntrack_stat_found", "Number of searched entries which were successful."},
    {"node_nf_conntrack_stat_invalid", "Number of packets seen which can not be tracked."},
    {"node_nf_conntrack_stat_ignore",
     "Number of packets seen which are already connected to a conntrack entry."},
    {"node_nf_conntrack_stat_insert", "Number of entries inserted into the list."},
    {"node_nf_conntrack_stat_insert_failed",
     "Number of entries for which list insertion was attempted but failed."},
    {"node_nf_conntrack_stat_drop", "Number of packets dropped due to conntrack failure."},
    {"node_nf_conntrack_stat_early_drop",
     "Number of dropped conntrack entries to make room for new ones, if maximum table size "
     "was reached."},
    {"node_nf_conntrack_stat_search_restart",
     "Number of conntrack table lookups which had to be restarted due to hashtable resizes."},
};

/* /proc/net/stat/nf_conntrack: a header, then a row of 17 hex counters per CPU, summed. */
int node_parse_conntrack_stat(struct node_ctx *c, const char *text, size_t len)
{
    static const int column[8] = {2, 4, 5, 8, 9, 10, 11, 16};
    double sum[8] = {0};
    const char *p = text, *end = text + len;
    struct node_tok line, f;
    node_next_line(&p, end, &line);
    while (node_next_line(&p, end, &line)) {
        uint64_t v[17];
        int cols = 0;
        while (node_next_field(&line, &f)) {
            if (cols >= 17 || !node_parse_hex(f, &v[cols])) {
                return node_fail(c, GL_EPARSE, "nf_conntrack stat: bad row");
            }
            cols++;
        }
        if (cols != 17) {
            return node_fail(c, GL_EPARSE, "nf_conntrack stat: %d columns, expected 17", cols);
        }
        for (int k = 0; k < 8; k++) {
            sum[k] += (double)v[column[k]];
        }
    }
    for (int k = 0; k < 8; k++) {
        node_family(c, conntrack_stat[k][0], GL_METRIC_GAUGE, conntrack_stat[k][1]);
        node_sample(c, NULL, 0, sum[k]);
    }
    return 0;
}

int node_collect_conntrack(struct node_ctx *c)
{
    static const char *const files[2][3] = {
        {"sys/net/netfilter/nf_conntrack_count", "node_nf_conntrack_entries",
         "Number of currently allocated flow entries for connection tracking."},
        {"sys/net/netfilter/nf_conntrack_max", "node_nf_conntrack_entries_limit",
         "Maximum size of connection tracking table."},
    };
    for (int i = 0; i < 2; i++) {
        uint64_t v;
        int rc = node_read_u64(c, c->n->procfs, files[i][0], &v);
        if (rc == GL_ENOENT) {
            return NODE_NODATA; /* conntrack not loaded */
        }
        if (rc < 0) {
            return rc;
        }
        node_family(c, files[i][1], GL_METRIC_GAUGE, files[i][2]);
        node_sample(c, NULL, 0, (double)v);
    }
    int rc = node_read(c, &c->text, c->n->procfs, "net/stat/nf_conntrack");
    if (rc == GL_ENOENT) {
        return NODE_NODATA;
    }
    return rc < 0 ? rc : node_parse_conntrack_stat(c, c->text.data, c->text.len);
}
