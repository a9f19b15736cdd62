/*
 * Benchmark: the cost of one 10,000-series metrics batch (three labels each,
 * as a cAdvisor scrape has) written by an input and routed to null, through
 * the metrics filters, and into the exporter, rendered as Prometheus text.
 * Prints one line per path: microseconds of CPU per batch and allocations
 * per batch. Run by bench/run.py; timings are measured, never asserted.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "config/config.h"
#include "core/engine.h"
#include "core/input.h"
#include "core/log.h"
#include "metrics/batch.h"
#include "util/mem.h"

#define SERIES 10000
#define ROUNDS 200

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One batch of SERIES counters with namespace, pod and container labels. */
static void emit(struct gl_instance *in, int round)
{
    struct gl_batch b;
    char pod[32];
    gl_batch_begin(&b, in, 1700000000000 + round);
    gl_batch_family(&b, "container_cpu_usage_seconds_total", 33, GL_METRIC_COUNTER,
                    "Cumulative cpu time consumed in seconds.", 40, NULL, 0);
    for (int i = 0; i < SERIES; i++) {
        int n = snprintf(pod, sizeof(pod), "web-%d", i);
        struct gl_label l[] = { { "namespace", 9, "default", 7 },
                                { "pod", 3, pod, (uint32_t)n },
                                { "container", 9, "app", 3 } };
        gl_batch_sample(&b, l, 3, 0, (double)(round * SERIES + i));
    }
    gl_batch_commit(&b);
}

static void stopped(struct gl_engine *e, void *data)
{
    (void)e;
    *(int *)data = 1;
}

static void run(const char *title, const char *yaml)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gl_log_configure(GL_LOG_OFF, GL_LOG_LOGFMT);
    struct gl_config *cfg = gl_config_load_text("bench.yaml", yaml, strlen(yaml));
    struct gl_engine *e = gl_engine_new(&loop, cfg);
    if (e == NULL) {
        fprintf(stderr, "%s\n", cfg->error_count ? cfg->errors[0] : "bad config");
        return;
    }
    gl_config_free(cfg);
    gl_engine_start(e);
    gl_log_configure(GL_LOG_OFF, GL_LOG_LOGFMT);
    struct gl_instance *in = e->inputs[0];
    double t0 = cpu_now();
    uint64_t a0 = gl_mem_allocations();
    for (int r = 0; r < ROUNDS; r++) {
        emit(in, r);
        gl__input_flush_open(in);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    double secs = cpu_now() - t0;
    uint64_t allocs = gl_mem_allocations() - a0;
    printf("10,000-series batch: %s\t-\t%.0f us CPU per batch, %.0f allocations\n", title,
           secs / ROUNDS * 1e6, (double)allocs / ROUNDS);
    int done = 0;
    gl_engine_stop(e, stopped, &done);
    while (!done) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    gl_engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

int main(void)
{
    static const char head[] = "service: { flush: 1h, log_level: off }\n"
                               "pipeline:\n"
                               "  inputs: [ { name: internal_metrics, tag: m, "
                               "scrape_interval: 1h } ]\n";
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), "%s  outputs: [ { name: null, match: '*' } ]\n", head);
    run("encode + route -> null", yaml);
    snprintf(yaml, sizeof(yaml),
             "%s  filters:\n"
             "    - { name: metrics_selector, match: '*', metric_name: container_, "
             "action: include }\n"
             "    - { name: labels, match: '*', insert: [cluster prod, node n1] }\n"
             "  outputs: [ { name: null, match: '*' } ]\n", head);
    run("encode + metrics_selector + labels -> null", yaml);
    snprintf(yaml, sizeof(yaml),
             "%s  outputs: [ { name: prometheus_exporter, match: '*', host: 127.0.0.1, "
             "port: 0 } ]\n", head);
    run("encode + route -> prometheus_exporter (store update)", yaml);
    return 0;
}
