/*
 * The agent's own metrics as one metrics batch: the counters every instance
 * has (struct gl_stats), drops by reason, the outputs' flush latency, the
 * plugins' own registered metrics and the process. /metrics renders this
 * batch as Prometheus text (net/api.c) and the internal_metrics input sends
 * it through the pipeline, so both always show the same numbers.
 * Names follow Prometheus' rules: gleaner_<kind>_<what>_<unit>, counters end
 * in _total, instance labels name="<alias>" and plugin="<plugin>".
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/engine.h"
#include "core/log.h"
#include "core/metrics.h"
#include "metrics/batch.h"
#include "metrics/self.h"

#define LABEL(n, v) { (n), (uint32_t)strlen(n), (v), (uint32_t)strlen(v) }

/* The labels of an instance, plus one more when k is set. */
static size_t instance_labels(const struct gl_instance *ins, const char *k, const char *v,
                              struct gl_label out[3])
{
    out[0] = (struct gl_label)LABEL("name", ins->alias);
    out[1] = (struct gl_label)LABEL("plugin", ins->plugin->name);
    if (k == NULL) {
        return 2;
    }
    out[2] = (struct gl_label)LABEL(k, v);
    return 3;
}

static void family(struct gl_batch *b, const char *name, enum gl_metric_type type,
                   const char *help)
{
    gl_batch_family(b, name, strlen(name), type, help, strlen(help), NULL, 0);
}

static void instance_sample(struct gl_batch *b, const struct gl_instance *ins, const char *k,
                            const char *v, double value)
{
    struct gl_label l[3];
    gl_batch_sample(b, l, instance_labels(ins, k, v, l), 0, value);
}

typedef double (*stat_get)(const struct gl_instance *ins);

struct stat_family {
    enum gl_kind kind;
    const char *name;
    enum gl_metric_type type;
    const char *help;
    stat_get get;
};

#define GETTER(fn, expr)                                                                      \
    static double fn(const struct gl_instance *ins) { return (double)(expr); }

GETTER(get_records_in, ins->stats.records_in)
GETTER(get_bytes_in, ins->stats.bytes_in)
GETTER(get_records_out, ins->stats.records_out)
GETTER(get_bytes_out, ins->stats.bytes_out)
GETTER(get_errors, ins->stats.errors)
GETTER(get_retries, ins->stats.retries)
GETTER(get_retries_failed, ins->stats.retries_failed)
GETTER(get_paused, ins->core->pause_reasons != 0)
GETTER(get_held, ins->core->held_bytes)
GETTER(get_held_limit, ins->core->opts.mem_buf_limit)
GETTER(get_buffer_bytes, ins->core->buffer_bytes)
GETTER(get_buffer_chunks, ins->core->q_count + ins->core->inflight)
GETTER(get_buffer_limit, ins->core->opts.mem_buf_limit)

#define COUNTER GL_METRIC_COUNTER
#define GAUGE GL_METRIC_GAUGE

static const struct stat_family stat_families[] = {
    { GL_INPUT, "gleaner_input_records_total", COUNTER, "Records emitted by the input.",
      get_records_in },
    { GL_INPUT, "gleaner_input_bytes_total", COUNTER, "Bytes of records emitted by the input.",
      get_bytes_in },
    { GL_INPUT, "gleaner_input_paused", GAUGE,
      "1 while the input is paused by back-pressure.", get_paused },
    { GL_INPUT, "gleaner_input_pending_bytes", GAUGE,
      "Bytes of the input's records held in memory: open chunks, chunks in filters, output "
      "buffers and flushes in flight (what its mem_buf_limit bounds).", get_held },
    { GL_INPUT, "gleaner_input_pending_limit_bytes", GAUGE,
      "The input's mem_buf_limit (0: no limit).", get_held_limit },
    { GL_FILTER, "gleaner_filter_input_records_total", COUNTER, "Records the filter saw.",
      get_records_in },
    { GL_FILTER, "gleaner_filter_output_records_total", COUNTER,
      "Records the filter passed on.", get_records_out },
    { GL_OUTPUT, "gleaner_output_records_total", COUNTER,
      "Records the output delivered and the destination accepted.", get_records_out },
    { GL_OUTPUT, "gleaner_output_bytes_total", COUNTER,
      "Bytes of records (as buffered) the output delivered.", get_bytes_out },
    { GL_OUTPUT, "gleaner_output_errors_total", COUNTER, "Failed flush attempts.",
      get_errors },
    { GL_OUTPUT, "gleaner_output_retries_total", COUNTER, "Flushes scheduled for a retry.",
      get_retries },
    { GL_OUTPUT, "gleaner_output_retries_failed_total", COUNTER,
      "Chunks given up after retry_limit retries.", get_retries_failed },
    { GL_OUTPUT, "gleaner_output_buffer_bytes", GAUGE,
      "Bytes buffered for the output (queued and in flight).", get_buffer_bytes },
    { GL_OUTPUT, "gleaner_output_buffer_chunks", GAUGE,
      "Chunks buffered for the output (queued and in flight).", get_buffer_chunks },
    { GL_OUTPUT, "gleaner_output_buffer_limit_bytes", GAUGE, "The output's mem_buf_limit.",
      get_buffer_limit },
};

static struct gl_instance *const *kind_list(const struct gl_engine *e, enum gl_kind k,
                                            size_t *n)
{
    *n = k == GL_INPUT ? e->n_inputs : k == GL_FILTER ? e->n_filters : e->n_outputs;
    return k == GL_INPUT ? e->inputs : k == GL_FILTER ? e->filters : e->outputs;
}

static void write_stats(const struct gl_engine *e, struct gl_batch *b)
{
    for (size_t f = 0; f < sizeof(stat_families) / sizeof(stat_families[0]); f++) {
        const struct stat_family *sf = &stat_families[f];
        size_t n;
        struct gl_instance *const *list = kind_list(e, sf->kind, &n);
        family(b, sf->name, sf->type, sf->help);
        for (size_t i = 0; i < n; i++) {
            instance_sample(b, list[i], NULL, NULL, sf->get(list[i]));
        }
    }
}

static void write_dropped(const struct gl_engine *e, struct gl_batch *b)
{
    static const char *const names[] = {
        [GL_INPUT] = "gleaner_input_dropped_records_total",
        [GL_FILTER] = "gleaner_filter_dropped_records_total",
        [GL_OUTPUT] = "gleaner_output_dropped_records_total",
    };
    for (int k = GL_INPUT; k <= GL_OUTPUT; k++) {
        size_t n;
        struct gl_instance *const *list = kind_list(e, (enum gl_kind)k, &n);
        family(b, names[k], COUNTER, "Records dropped, by reason.");
        for (size_t i = 0; i < n; i++) {
            const struct gl_drop_count *d = list[i]->stats.dropped;
            for (int j = 0; j < GL_DROP_REASONS_MAX && d[j].reason != NULL; j++) {
                instance_sample(b, list[i], "reason", d[j].reason, (double)d[j].records);
            }
        }
    }
}

double gl__flush_latency_bound(int i);

static void write_latency(const struct gl_engine *e, struct gl_batch *b)
{
    family(b, "gleaner_output_flush_duration_seconds", GL_METRIC_HISTOGRAM,
           "Time from handing a chunk to the output to its answer.");
    for (size_t i = 0; i < e->n_outputs; i++) {
        const struct gl_instance_core *c = e->outputs[i]->core;
        struct gl_bucket buckets[GL_LATENCY_BUCKETS + 1];
        for (int j = 0; j < GL_LATENCY_BUCKETS; j++) {
            buckets[j] = (struct gl_bucket){ gl__flush_latency_bound(j),
                                             (double)c->latency_buckets[j] };
        }
        buckets[GL_LATENCY_BUCKETS] = (struct gl_bucket){ INFINITY, (double)c->latency_count };
        struct gl_label l[3];
        gl_batch_histogram(b, l, instance_labels(e->outputs[i], NULL, NULL, l), 0, buckets,
                           GL_LATENCY_BUCKETS + 1, c->latency_sum, (double)c->latency_count);
    }
}

static bool named_before(struct gl_instance *const *list, size_t i, const char *name)
{
    for (size_t j = 0; j < i; j++) {
        const struct gl_instance_core *c = list[j]->core;
        for (size_t m = 0; m < c->n_metrics; m++) {
            if (strcmp(c->metrics[m].name, name) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* The series of one instance's plugin metric: one, or one per label values it holds. */
static void metric_samples(struct gl_batch *b, const struct gl_instance *ins,
                           const struct gl_metric *m)
{
    if (m->labels == NULL) {
        instance_sample(b, ins, NULL, NULL, (double)m->value);
        return;
    }
    struct gl_label l[2 + GL_METRIC_LABELS_MAX];
    size_t n = instance_labels(ins, NULL, NULL, l);
    for (const struct gl_metric_series *s = m->series; s != NULL; s = s->next) {
        for (size_t i = 0; i < m->n_labels; i++) {
            l[n + i] = (struct gl_label)LABEL(m->labels[i], s->values[i]);
        }
        gl_batch_sample(b, l, n + m->n_labels, 0, (double)s->value);
    }
}

/* Plugin metrics: one family per distinct (kind, name), series from every instance. */
static void write_plugin_metrics(const struct gl_engine *e, struct gl_batch *b)
{
    for (int k = GL_INPUT; k <= GL_OUTPUT; k++) {
        size_t n;
        struct gl_instance *const *list = kind_list(e, (enum gl_kind)k, &n);
        for (size_t i = 0; i < n; i++) {
            const struct gl_instance_core *c = list[i]->core;
            for (size_t m = 0; m < c->n_metrics; m++) {
                const struct gl_metric *met = &c->metrics[m];
                if (named_before(list, i, met->name)) {
                    continue;
                }
                char full[160];
                if (strncmp(met->name, "gleaner_", 8) == 0) {
                    snprintf(full, sizeof(full), "%s", met->name);
                } else {
                    snprintf(full, sizeof(full), "gleaner_%s_%s",
                             gl_plugin_kind_name((enum gl_kind)k), met->name);
                }
                family(b, full, met->gauge ? GAUGE : COUNTER, met->help);
                for (size_t j = i; j < n; j++) {
                    const struct gl_instance_core *cj = list[j]->core;
                    for (size_t mm = 0; mm < cj->n_metrics; mm++) {
                        if (strcmp(cj->metrics[mm].name, met->name) == 0) {
                            metric_samples(b, list[j], &cj->metrics[mm]);
                        }
                    }
                }
            }
        }
    }
}

static void process_sample(struct gl_batch *b, const char *name, enum gl_metric_type type,
                           const char *help, double value)
{
    family(b, name, type, help);
    gl_batch_sample(b, NULL, 0, 0, value);
}

static void write_process(const struct gl_engine *e, struct gl_batch *b)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double uptime = (double)(uv_hrtime() - e->started_ns) / 1e9;
    process_sample(b, "process_cpu_seconds_total", COUNTER, "User and system CPU time spent.",
                   gl_metrics_cpu_seconds());
    process_sample(b, "process_resident_memory_bytes", GAUGE, "Resident memory size.",
                   (double)gl_metrics_rss_bytes());
    process_sample(b, "process_start_time_seconds", GAUGE,
                   "Start time of the process (Unix time).", (double)now.tv_sec - uptime);
    process_sample(b, "gleaner_uptime_seconds", GAUGE, "Time since the pipeline started.",
                   uptime);
    family(b, "gleaner_build_info", GAUGE, "Always 1; the version is a label.");
    struct gl_label version = LABEL("version", GL_VERSION);
    gl_batch_sample(b, &version, 1, 0, 1);
    process_sample(b, "gleaner_log_suppressed_lines_total", COUNTER,
                   "Log lines held back by the repeat limit.", (double)gl_log_suppressed());
}

/* The verdict /healthz gives now, and how often each reason started failing. */
static void write_health(const struct gl_engine *e, struct gl_batch *b)
{
    unsigned bad = gl_health_check(e, gl_health_now_ms(), false, NULL);
    process_sample(b, "gleaner_healthy", GAUGE,
                   "1 while /healthz answers 200, 0 while it lists a problem.", bad == 0);
    family(b, "gleaner_unhealthy_total", COUNTER,
           "Times /healthz started failing, by reason (checked every flush).");
    for (int r = 0; r < GL_HEALTH_REASONS; r++) {
        const char *name = gl_health_reason_name((enum gl_health_reason)r);
        struct gl_label l = LABEL("reason", name);
        gl_batch_sample(b, &l, 1, 0, (double)e->health.became_unhealthy[r]);
    }
}

void gl_self_metrics(const struct gl_engine *e, struct gl_batch *b)
{
    write_stats(e, b);
    write_dropped(e, b);
    write_latency(e, b);
    write_plugin_metrics(e, b);
    write_process(e, b);
    write_health(e, b);
}
