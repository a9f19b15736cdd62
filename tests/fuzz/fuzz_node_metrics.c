/*
 * Fuzzes the /proc parsers of plugins/in_node_metrics: the first byte picks
 * a parser (stat, meminfo, mounts, diskstats, net/dev, netstat, sockstat...),
 * the rest is the file's text. A parser must stay within the text, accept or
 * refuse it whole (a refused text writes no series), and what it writes must
 * read back as a batch of exactly the series it counted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/option.h"
#include "core/engine.h"
#include "core/plugin.h"
#include "metrics/batch.h"
#include "plugins/in_node_metrics/in_node_metrics.h"
#include "plugins/in_node_metrics/in_node_metrics_read.h"
#include "util/error.h"
#include "util/mem.h"

extern const struct gl_plugin gl_in_node_metrics;

#define PARSERS 20

/* Runs parser which % PARSERS on the text. */
static int parse(struct node_ctx *c, unsigned which, char *t, size_t n)
{
    double tx, rx;
    switch (which % PARSERS) {
    case 0:
        return node_parse_stat_cpu(c, t, n);
    case 1:
        return node_parse_stat(c, t, n);
    case 2:
        return node_parse_schedstat(c, t, n);
    case 3:
        return node_parse_softnet(c, t, n);
    case 4:
        return node_parse_meminfo(c, t, n);
    case 5:
        return node_parse_vmstat(c, t, n);
    case 6:
        return node_parse_pressure(c, "io", t, n);
    case 7:
        return node_parse_mounts(c, t, n);
    case 8:
        return node_parse_diskstats(c, t, n);
    case 9:
        return node_parse_netdev(c, t, n);
    case 10:
        return node_parse_netstat(c, t, n, false);
    case 11:
        return node_parse_netstat(c, t, n, true);
    case 12:
        return node_parse_sockstat(c, t, n, false);
    case 13:
        return node_parse_sockstat(c, t, n, true);
    case 14:
        return node_parse_arp(c, t, n);
    case 15:
        return node_parse_udp(t, n, &tx, &rx);
    case 16:
        return node_parse_conntrack_stat(c, t, n);
    case 17:
        return node_parse_loadavg(c, t, n);
    case 18:
        return node_parse_filefd(c, t, n);
    default:
        return node_parse_os_release(c, t, n);
    }
}

/* One instance with the default options, made once: its patterns are what the parsers match. */
static struct node *instance(void)
{
    static struct gl_instance ins;
    static struct node *n;
    if (n == NULL) {
        static const char yaml[] = "scrape_interval: 5s\n";
        static const char *const skip[] = {"name", NULL};
        const struct gl_option *tables[] = {gl_in_node_metrics.options, NULL};
        struct gl_config *cfg = gl_config_load_text("fuzz.yaml", yaml, sizeof(yaml) - 1);
        ins.plugin = &gl_in_node_metrics;
        ins.alias = "fuzz";
        ins.state = gl_calloc(1, gl_in_node_metrics.state_size);
        ins.core = gl_calloc(1, sizeof(*ins.core)); /* where the input's own counters live */
        if (gl_option_apply(cfg, "node_metrics", tables, skip, cfg->root, ins.state) < 0 ||
            gl_in_node_metrics.init(&ins) < 0) {
            abort();
        }
        gl_config_free(cfg);
        n = ins.state;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    struct node_ctx c;
    struct gl_buf out;
    struct gl_batch b;
    char err[160];
    node_ctx_init(&c, instance());
    c.err = err;
    c.err_len = sizeof(err);
    gl_buf_init(&out);
    gl_batch_begin_buf(&b, &out, 1);
    c.b = &b;
    /* A copy of exactly the text, so that reading past it is caught. */
    char *text = gl_malloc(size - 1);
    memcpy(text, data + 1, size - 1);
    int rc = parse(&c, data[0], text, size - 1);
    gl_batch_commit(&b);
    if (rc < 0 && b.total != 0) {
        abort(); /* a refused text wrote series */
    }
    struct gl_batch_iter it;
    struct gl_family f;
    struct gl_series s;
    struct gl_label l[GL_LABELS_MAX];
    uint32_t read = 0;
    gl_batch_iter_init_bytes(&it, out.data, out.len);
    while (gl_batch_next_family(&it, &f) == 0) {
        while (gl_batch_next_series(&it, &s) == 0) {
            if (gl_series_labels(&s, l) != s.n_labels) {
                abort();
            }
            read++;
        }
    }
    if (read != b.total) {
        abort();
    }
    gl_free(text);
    gl_buf_close(&out);
    node_ctx_close(&c);
    return 0;
}
