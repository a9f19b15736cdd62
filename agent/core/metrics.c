/*
 * Metrics rendering. Every number lives where it is updated (struct
 * gl_stats in each instance, the output's buffer and latency histogram, the
 * plugins' own registered metrics); this module only walks them, family by
 * family, through a sink: Prometheus text for /metrics, or records for the
 * internal_metrics input. A family's HELP and TYPE come once, followed by
 * all of its series, as the text format requires.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/log.h"
#include "core/metrics.h"
#include "util/mem.h"

/* ---- plugin metrics ---------------------------------------------------- */

static uint64_t *add_metric(struct gl_instance *ins, const char *name, const char *help,
                            int gauge)
{
    struct gl_instance_core *core = ins->core;
    if (core->metrics == NULL) {
        core->metrics = gl_calloc(GL_PLUGIN_METRICS_MAX, sizeof(*core->metrics));
    }
    if (core->n_metrics == GL_PLUGIN_METRICS_MAX) {
        /* A programming error: keep running, the metric just is not shown. */
        static uint64_t sink;
        return &sink;
    }
    struct gl_metric *m = &core->metrics[core->n_metrics++];
    m->name = name;
    m->help = help;
    m->gauge = gauge;
    return &m->value;
}

uint64_t *gl_metric_counter(struct gl_instance *ins, const char *name, const char *help)
{
    return add_metric(ins, name, help, 0);
}

uint64_t *gl_metric_gauge(struct gl_instance *ins, const char *name, const char *help)
{
    return add_metric(ins, name, help, 1);
}

/* ---- process ----------------------------------------------------------- */

double gl_metrics_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0) {
        return 0;
    }
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

uint64_t gl_metrics_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) {
        resident = 0;
    }
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ---- walking ----------------------------------------------------------- */

static void text_family(struct gl_metrics_sink *s, const char *name, const char *type,
                        const char *help)
{
    struct gl_buf *b = s->data;
    gl_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label_value(struct gl_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') {
            gl_buf_putc(b, '\\');
            gl_buf_putc(b, *v);
        } else if (*v == '\n') {
            gl_buf_puts(b, "\\n");
        } else {
            gl_buf_putc(b, *v);
        }
    }
}

static void text_sample(struct gl_metrics_sink *s, const char *name,
                        const struct gl_instance *ins, const char *k2, const char *v2,
                        double value)
{
    struct gl_buf *b = s->data;
    gl_buf_puts(b, name);
    if (ins != NULL || k2 != NULL) {
        gl_buf_putc(b, '{');
        if (ins != NULL) {
            gl_buf_puts(b, "name=\"");
            label_value(b, ins->alias);
            gl_buf_puts(b, "\",plugin=\"");
            label_value(b, ins->plugin->name);
            gl_buf_putc(b, '"');
        }
        if (k2 != NULL) {
            gl_buf_printf(b, "%s%s=\"", ins ? "," : "", k2);
            label_value(b, v2);
            gl_buf_putc(b, '"');
        }
        gl_buf_putc(b, '}');
    }
    if (value == (double)(uint64_t)value && value < 1e15) {
        gl_buf_printf(b, " %llu\n", (unsigned long long)value);
    } else {
        gl_buf_printf(b, " %.9g\n", value);
    }
}

static void family(struct gl_metrics_sink *s, const char *name, const char *type,
                   const char *help)
{
    s->family(s, name, type, help);
}

static void sample(struct gl_metrics_sink *s, const char *name, const struct gl_instance *ins,
                   const char *k2, const char *v2, double value)
{
    s->sample(s, name, ins, k2, v2, value);
}

typedef double (*stat_get)(const struct gl_instance *ins);

struct stat_family {
    enum gl_kind kind;
    const char *name;
    const char *type;
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

static const struct stat_family stat_families[] = {
    { GL_INPUT, "gleaner_input_records_total", "counter", "Records emitted by the input.",
      get_records_in },
    { GL_INPUT, "gleaner_input_bytes_total", "counter", "Bytes of records emitted by the input.",
      get_bytes_in },
    { GL_INPUT, "gleaner_input_paused", "gauge",
      "1 while the input is paused by back-pressure.", get_paused },
    { GL_INPUT, "gleaner_input_pending_bytes", "gauge",
      "Bytes of the input's records held in memory: open chunks, chunks in filters, output "
      "buffers and flushes in flight (what its mem_buf_limit bounds).", get_held },
    { GL_INPUT, "gleaner_input_pending_limit_bytes", "gauge",
      "The input's mem_buf_limit (0: no limit).", get_held_limit },
    { GL_FILTER, "gleaner_filter_input_records_total", "counter", "Records the filter saw.",
      get_records_in },
    { GL_FILTER, "gleaner_filter_output_records_total", "counter",
      "Records the filter passed on.", get_records_out },
    { GL_OUTPUT, "gleaner_output_records_total", "counter",
      "Records the output delivered and the destination accepted.", get_records_out },
    { GL_OUTPUT, "gleaner_output_bytes_total", "counter",
      "Bytes of records (as buffered) the output delivered.", get_bytes_out },
    { GL_OUTPUT, "gleaner_output_errors_total", "counter", "Failed flush attempts.",
      get_errors },
    { GL_OUTPUT, "gleaner_output_retries_total", "counter", "Flushes scheduled for a retry.",
      get_retries },
    { GL_OUTPUT, "gleaner_output_retries_failed_total", "counter",
      "Chunks given up after retry_limit retries.", get_retries_failed },
    { GL_OUTPUT, "gleaner_output_buffer_bytes", "gauge",
      "Bytes buffered for the output (queued and in flight).", get_buffer_bytes },
    { GL_OUTPUT, "gleaner_output_buffer_chunks", "gauge",
      "Chunks buffered for the output (queued and in flight).", get_buffer_chunks },
    { GL_OUTPUT, "gleaner_output_buffer_limit_bytes", "gauge",
      "The output's mem_buf_limit.", get_buffer_limit },
};

static struct gl_instance *const *kind_list(const struct gl_engine *e, enum gl_kind k,
                                            size_t *n)
{
    *n = k == GL_INPUT ? e->n_inputs : k == GL_FILTER ? e->n_filters : e->n_outputs;
    return k == GL_INPUT ? e->inputs : k == GL_FILTER ? e->filters : e->outputs;
}

static void walk_stats(const struct gl_engine *e, struct gl_metrics_sink *s)
{
    for (size_t f = 0; f < sizeof(stat_families) / sizeof(stat_families[0]); f++) {
        const struct stat_family *sf = &stat_families[f];
        size_t n;
        struct gl_instance *const *list = kind_list(e, sf->kind, &n);
        family(s, sf->name, sf->type, sf->help);
        for (size_t i = 0; i < n; i++) {
            sample(s, sf->name, list[i], NULL, NULL, sf->get(list[i]));
        }
    }
}

static void walk_dropped(const struct gl_engine *e, struct gl_metrics_sink *s)
{
    static const char *const names[] = {
        [GL_INPUT] = "gleaner_input_dropped_records_total",
        [GL_FILTER] = "gleaner_filter_dropped_records_total",
        [GL_OUTPUT] = "gleaner_output_dropped_records_total",
    };
    for (int k = GL_INPUT; k <= GL_OUTPUT; k++) {
        size_t n;
        struct gl_instance *const *list = kind_list(e, (enum gl_kind)k, &n);
        family(s, names[k], "counter", "Records dropped, by reason.");
        for (size_t i = 0; i < n; i++) {
            const struct gl_drop_count *d = list[i]->stats.dropped;
            for (int j = 0; j < GL_DROP_REASONS_MAX && d[j].reason != NULL; j++) {
                sample(s, names[k], list[i], "reason", d[j].reason, (double)d[j].records);
            }
        }
    }
}

double gl__flush_latency_bound(int i);

static void walk_latency(const struct gl_engine *e, struct gl_metrics_sink *s)
{
    const char *name = "gleaner_output_flush_duration_seconds";
    family(s, name, "histogram", "Time from handing a chunk to the output to its answer.");
    for (size_t i = 0; i < e->n_outputs; i++) {
        const struct gl_instance *o = e->outputs[i];
        const struct gl_instance_core *c = o->core;
        for (int j = 0; j <= GL_LATENCY_BUCKETS; j++) {
            char le[32];
            uint64_t v = j < GL_LATENCY_BUCKETS ? c->latency_buckets[j] : c->latency_count;
            if (j < GL_LATENCY_BUCKETS) {
                snprintf(le, sizeof(le), "%g", gl__flush_latency_bound(j));
            } else {
                snprintf(le, sizeof(le), "+Inf");
            }
            sample(s, "gleaner_output_flush_duration_seconds_bucket", o, "le", le, (double)v);
        }
        sample(s, "gleaner_output_flush_duration_seconds_sum", o, NULL, NULL, c->latency_sum);
        sample(s, "gleaner_output_flush_duration_seconds_count", o, NULL, NULL,
               (double)c->latency_count);
    }
}

/* Plugin metrics: one family per distinct (kind, name), series from every instance. */
static void walk_plugin_metrics(const struct gl_engine *e, struct gl_metrics_sink *s)
{
    for (int k = GL_INPUT; k <= GL_OUTPUT; k++) {
        size_t n;
        struct gl_instance *const *list = kind_list(e, (enum gl_kind)k, &n);
        for (size_t i = 0; i < n; i++) {
            const struct gl_instance_core *c = list[i]->core;
            for (size_t m = 0; m < c->n_metrics; m++) {
                const struct gl_metric *met = &c->metrics[m];
                bool seen = false;
                for (size_t j = 0; j < i && !seen; j++) {
                    const struct gl_instance_core *cj = list[j]->core;
                    for (size_t mm = 0; mm < cj->n_metrics && !seen; mm++) {
                        seen = strcmp(cj->metrics[mm].name, met->name) == 0;
                    }
                }
                if (seen) {
                    continue;
                }
                char full[160];
                snprintf(full, sizeof(full), "gleaner_%s_%s",
                         gl_plugin_kind_name((enum gl_kind)k), met->name);
                family(s, full, met->gauge ? "gauge" : "counter", met->help);
                for (size_t j = i; j < n; j++) {
                    const struct gl_instance_core *cj = list[j]->core;
                    for (size_t mm = 0; mm < cj->n_metrics; mm++) {
                        if (strcmp(cj->metrics[mm].name, met->name) == 0) {
                            sample(s, full, list[j], NULL, NULL, (double)cj->metrics[mm].value);
                        }
                    }
                }
            }
        }
    }
}

static void walk_process(const struct gl_engine *e, struct gl_metrics_sink *s)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double uptime = (double)(uv_hrtime() - e->started_ns) / 1e9;
    family(s, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
    sample(s, "process_cpu_seconds_total", NULL, NULL, NULL, gl_metrics_cpu_seconds());
    family(s, "process_resident_memory_bytes", "gauge", "Resident memory size.");
    sample(s, "process_resident_memory_bytes", NULL, NULL, NULL,
           (double)gl_metrics_rss_bytes());
    family(s, "process_start_time_seconds", "gauge", "Start time of the process (Unix time).");
    sample(s, "process_start_time_seconds", NULL, NULL, NULL,
           (double)now.tv_sec - uptime);
    family(s, "gleaner_uptime_seconds", "gauge", "Time since the pipeline started.");
    sample(s, "gleaner_uptime_seconds", NULL, NULL, NULL, uptime);
    family(s, "gleaner_build_info", "gauge", "Always 1; the version is a label.");
    sample(s, "gleaner_build_info", NULL, "version", GL_VERSION, 1);
    family(s, "gleaner_log_suppressed_lines_total", "counter",
           "Log lines held back by the repeat limit.");
    sample(s, "gleaner_log_suppressed_lines_total", NULL, NULL, NULL,
           (double)gl_log_suppressed());
}

void gl_metrics_walk(const struct gl_engine *e, struct gl_metrics_sink *s)
{
    walk_stats(e, s);
    walk_dropped(e, s);
    walk_latency(e, s);
    walk_plugin_metrics(e, s);
    walk_process(e, s);
}

void gl_metrics_render(const struct gl_engine *e, struct gl_buf *out)
{
    struct gl_metrics_sink s = { .family = text_family, .sample = text_sample, .data = out };
    gl_metrics_walk(e, &s);
}
