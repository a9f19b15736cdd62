/*
 * The agent's own metrics, where they are kept: every number lives where it
 * is updated (struct gl_stats in each instance, the output's buffer and
 * latency histogram, the plugins' own metrics registered here) and
 * metrics/self.c writes them all as one metrics batch. This file registers
 * plugin metrics, keeps the series of those with labels of their own, and
 * reads the process' CPU time and resident memory.
 *
 * Invariant: a labelled series lives exactly as long as someone holds a
 * reference on it, so what is exported is what is followed now (bounded by
 * it), never everything seen since the start.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/log.h"
#include "core/metrics.h"
#include "util/hash.h"
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

/* ---- plugin metrics with labels ------------------------------------------ */

struct gl_metric *gl_metric_counter_vec(struct gl_instance *ins, const char *name,
                                        const char *help, const char *const *labels, size_t n)
{
    struct gl_instance_core *core = ins->core;
    if (n > GL_METRIC_LABELS_MAX || core->n_metrics == GL_PLUGIN_METRICS_MAX) {
        /* A programming error, as above: its series are never exported. */
        static struct gl_metric sink;
        return &sink;
    }
    add_metric(ins, name, help, 0);
    struct gl_metric *m = &core->metrics[core->n_metrics - 1];
    m->labels = labels;
    m->n_labels = n;
    return m;
}

static uint64_t values_hash(const char *const *values, size_t n)
{
    uint64_t h = GL_HASH_FNV1A64_BASIS;
    for (size_t i = 0; i < n; i++) {
        /* With the terminating NUL, so that ("ab", "c") and ("a", "bc") differ. */
        h = gl_hash_fnv1a64(h, values[i], strlen(values[i]) + 1);
    }
    return h;
}

static bool same_values(const struct gl_metric_series *s, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s->values[i], values[i]) != 0) {
            return false;
        }
    }
    return true;
}

uint64_t *gl_metric_series_get(struct gl_metric *m, const char *const *values)
{
    if (m->labels == NULL) {
        static uint64_t sink;
        return &sink;
    }
    uint64_t h = values_hash(values, m->n_labels);
    for (struct gl_metric_series *s = m->series; s != NULL; s = s->next) {
        if (s->hash == h && same_values(s, values, m->n_labels)) {
            s->refs++;
            return &s->value;
        }
    }
    struct gl_metric_series *s =
        gl_calloc(1, sizeof(*s) + m->n_labels * sizeof(s->values[0]));
    s->hash = h;
    s->refs = 1;
    for (size_t i = 0; i < m->n_labels; i++) {
        s->values[i] = gl_strdup(values[i]);
    }
    s->next = m->series;
    if (m->series != NULL) {
        m->series->prevp = &s->next;
    }
    s->prevp = &m->series;
    m->series = s;
    return &s->value;
}

static void series_free(struct gl_metric *m, struct gl_metric_series *s)
{
    for (size_t i = 0; i < m->n_labels; i++) {
        gl_free(s->values[i]);
    }
    gl_free(s);
}

void gl_metric_series_put(struct gl_metric *m, uint64_t *value)
{
    if (m->labels == NULL || value == NULL) {
        return;
    }
    /* value is the series' first member. */
    struct gl_metric_series *s = (struct gl_metric_series *)(void *)value;
    if (--s->refs > 0) {
        return;
    }
    *s->prevp = s->next;
    if (s->next != NULL) {
        s->next->prevp = s->prevp;
    }
    series_free(m, s);
}

void gl__metrics_free(struct gl_instance *ins)
{
    struct gl_instance_core *core = ins->core;
    for (size_t i = 0; i < core->n_metrics; i++) {
        struct gl_metric *m = &core->metrics[i];
        while (m->series != NULL) {
            struct gl_metric_series *s = m->series;
            m->series = s->next;
            series_free(m, s);
        }
    }
    gl_free(core->metrics);
    core->metrics = NULL;
    core->n_metrics = 0;
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
