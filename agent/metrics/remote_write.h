/*
 * Prometheus remote-write 1.0 bodies: a WriteRequest protobuf, written
 * directly (no generated code) from series kept as their batch bytes. A
 * histogram becomes its _bucket series (one per le), _sum and _count; a
 * summary its quantile series, _sum and _count; each series' labels are
 * __name__, its own and the extra ones (its own win), sorted by name. With
 * metadata, each family sent gets a MetricMetadata (type, help, unit).
 * Compress the result with gl_snappy_compress() for the wire.
 */
#ifndef GL_METRICS_REMOTE_WRITE_H
#define GL_METRICS_REMOTE_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/batch.h"
#include "util/buf.h"

/* One series to send: its family's name, type, help and unit, and its batch bytes. */
struct gl_rw_series {
    const char *name;
    uint32_t name_len;
    enum gl_metric_type type;
    const char *help;
    uint32_t help_len;
    const char *unit;
    uint32_t unit_len;
    const char *raw;
    uint32_t raw_len;
    int64_t batch_ts_ms;
};

/* How many samples (protobuf TimeSeries) a series becomes. */
uint32_t gl_rw_samples(const struct gl_rw_series *s);

/*
 * Appends the WriteRequest for n series to out. extra: labels added to each
 * (sorted by name, unique). Series whose bytes do not read are skipped.
 */
void gl_rw_encode(struct gl_buf *out, const struct gl_rw_series *s, size_t n,
                  const struct gl_label *extra, size_t n_extra, bool metadata);

#endif
