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
 * gleaner_<kind>_, e.g. "files_opened_total"; both strings are static.
 */
uint64_t *gl_metric_counter(struct gl_instance *ins, const char *name, const char *help);
uint64_t *gl_metric_gauge(struct gl_instance *ins, const char *name, const char *help);

/* The process' CPU seconds (user + system) and resident memory in bytes. */
double gl_metrics_cpu_seconds(void);
uint64_t gl_metrics_rss_bytes(void);

#endif
