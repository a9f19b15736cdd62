/*
 * The agent's own metrics, where they are kept: every number lives where it
 * is updated (struct gl_stats in each instance, the output's buffer and
 * latency histogram, the plugins' own metrics registered here) and
 * metrics/self.c writes them all as one metrics batch. This file registers
 * plugin metrics and reads the process' CPU time and resident memory.
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
