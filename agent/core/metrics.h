/*
 * The agent's own metrics: the ones a plugin registers for itself (the
 * counters every instance has are in struct gl_stats) and the process'
 * figures. metrics/self.c writes them all as a metrics batch.
 */
#ifndef GL_METRICS_H
#define GL_METRICS_H

#include <stdint.h>

struct gl_instance;
struct gl_engine;

#define GL_PLUGIN_METRICS_MAX 32

/*
 * Registers a plugin metric on an instance and returns the value to update
 * (valid for the instance's life). `name` is the part after
 * gleaner_<kind>_, e.g. "files_opened_total", or a whole name beginning
 * with gleaner_ for a metric of a shared part (gleaner_aws_...); both
 * strings are static.
 */
uint64_t *gl_metric_counter(struct gl_instance *ins, const char *name, const char *help);
uint64_t *gl_metric_gauge(struct gl_instance *ins, const char *name, const char *help);

#define GL_METRIC_LABELS_MAX 3

struct gl_metric;

/*
 * Registers a plugin counter with labels of its own (n names, static, at
 * most GL_METRIC_LABELS_MAX) after name and plugin, whose series come and go
 * while the agent runs: e.g. one per container followed. Returns the family
 * to pass to gl_metric_series_get() (valid for the instance's life).
 */
struct gl_metric *gl_metric_counter_vec(struct gl_instance *ins, const char *name,
                                        const char *help, const char *const *labels, size_t n);
/*
 * Returns the value of the family's series with these label values (copied),
 * adding it at 0 when there is none, and takes a reference on it. The value
 * is valid until its last reference is given back with gl_metric_series_put(),
 * which removes the series: it is no longer exported. Lookups are linear in
 * the family's series: call this when a series is taken, not per update.
 */
uint64_t *gl_metric_series_get(struct gl_metric *m, const char *const *values);
void gl_metric_series_put(struct gl_metric *m, uint64_t *value);

/* Frees the plugin metrics of an instance and their series (the engine, at its end). */
void gl__metrics_free(struct gl_instance *ins);

/* The process' CPU seconds (user + system) and resident memory in bytes. */
double gl_metrics_cpu_seconds(void);
uint64_t gl_metrics_rss_bytes(void);

#endif
