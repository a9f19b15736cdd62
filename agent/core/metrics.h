/*
 * Metrics: the counters every instance has (struct gl_stats), the ones a
 * plugin registers for itself, and their rendering as Prometheus text 0.0.4
 * for /metrics (the internal_metrics input reads the same numbers).
 * Names follow Prometheus' rules: gleaner_<kind>_<what>_<unit>, counters end
 * in _total, labels name="<alias>" and plugin="<plugin>".
 */
#ifndef GL_METRICS_H
#define GL_METRICS_H

#include <stdint.h>

#include "util/buf.h"

struct gl_instance;
struct gl_engine;

#define GL_PLUGIN_METRICS_MAX 32

/*
 * Registers a plugin metric on an instance and returns the value to update
 * (valid for the instance's life). `name` is the part after
 * gleaner_<kind>_, e.g. "files_opened_total"; both strings are static.
 */
uint64_t *gl_metric_counter(struct gl_instance *ins, const char *name, const char *help);
uint64_t *gl_metric_gauge(struct gl_instance *ins, const char *name, const char *help);

/*
 * Where gl_metrics_walk() sends what it finds: each family once, then its
 * series. A series has the instance's labels (name, plugin) when ins is set,
 * plus at most one more label k2=v2.
 */
struct gl_metrics_sink {
    void (*family)(struct gl_metrics_sink *s, const char *name, const char *type,
                   const char *help);
    void (*sample)(struct gl_metrics_sink *s, const char *name, const struct gl_instance *ins,
                   const char *k2, const char *v2, double value);
    void *data;
};

void gl_metrics_walk(const struct gl_engine *e, struct gl_metrics_sink *s);

/* Renders every metric of the engine and the process as Prometheus text. */
void gl_metrics_render(const struct gl_engine *e, struct gl_buf *out);

/* The process' CPU seconds (user + system) and resident memory in bytes. */
double gl_metrics_cpu_seconds(void);
uint64_t gl_metrics_rss_bytes(void);

#endif
