/*
 * Prometheus exposition, written: the text format 0.0.4 and OpenMetrics
 * 1.0, from metrics batches. The one writer of exposition text: /metrics
 * (the agent's own) and the prometheus_exporter output use it.
 *
 * A family is written as its HELP and TYPE lines (and UNIT in OpenMetrics,
 * when the name ends with it) followed by its series; histograms and
 * summaries as their _bucket/quantile, _sum and _count lines. In
 * OpenMetrics a counter's family name drops its _total (the samples keep
 * it); a counter whose name lacks _total is written as `unknown` so that its
 * samples keep their name; the text ends with "# EOF".
 */
#ifndef GL_METRICS_PROM_TEXT_H
#define GL_METRICS_PROM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics/batch.h"
#include "util/buf.h"

enum gl_prom_format { GL_PROM_TEXT, GL_PROM_OPENMETRICS };

/* The Content-Type of each format. */
const char *gl_prom_content_type(enum gl_prom_format f);

/* Writes the family's metadata lines. */
void gl_prom_family(struct gl_buf *out, const struct gl_family *fam, enum gl_prom_format f);

/*
 * Writes one series' lines. extra: labels added to every series (sorted by
 * name, not repeating one another); a label the series has itself wins.
 * With timestamps, each line carries the series' time.
 */
void gl_prom_series(struct gl_buf *out, const struct gl_family *fam, const struct gl_series *s,
                    const struct gl_label *extra, size_t n_extra, bool timestamps,
                    enum gl_prom_format f);

/* Writes every family of the batches in data[0..len), in order; OpenMetrics ends with # EOF. */
void gl_prom_write(struct gl_buf *out, const char *data, size_t len, enum gl_prom_format f);

/* Writes a sample value as Prometheus does: NaN, +Inf, -Inf, or the shortest exact number. */
void gl_prom_number(struct gl_buf *out, double v);
/* The same into out (NUL-terminated); returns its length. */
#define GL_PROM_NUMBER_MAX 32
size_t gl_prom_format_number(char out[GL_PROM_NUMBER_MAX], double v);

#endif
