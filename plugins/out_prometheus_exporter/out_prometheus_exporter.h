/*
 * The prometheus_exporter output's private interfaces:
 *   out_prometheus_exporter.c        the plugin: options, the HTTP endpoint,
 *                                    flushes into the store, expiry timer
 *   out_prometheus_exporter_store.c  the latest value of every series, by
 *                                    family, and its rendering
 */
#ifndef GL_OUT_PROMETHEUS_EXPORTER_H
#define GL_OUT_PROMETHEUS_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/batch.h"
#include "metrics/prom_text.h"
#include "util/buf.h"

struct gl_chunk;

/* ---- the store (out_prometheus_exporter_store.c) ------------------------- */

struct pe_series;
struct pe_family;

/*
 * The latest value of each series received, keyed by family name and label
 * set (already sorted and unique in a batch, so equal sets are equal bytes):
 * the same series from two inputs is one entry. A family keeps its series
 * in arrival order; families render in arrival order.
 */
struct pe_store {
    struct pe_series **buckets;     /* series by hash */
    size_t n_buckets;
    size_t n_series;
    struct pe_family **fbuckets;    /* families by name */
    size_t n_fbuckets;
    struct pe_family *families;     /* arrival order */
    struct pe_family *last_family;
    size_t limit;                   /* most series kept */
    /* what updates refused, for the plugin's counters */
    uint64_t refused_limit;
    uint64_t refused_type;
};

void pe_store_init(struct pe_store *st, size_t limit);
void pe_store_close(struct pe_store *st);

/*
 * Takes every series of a metrics chunk at time now_ms: new series are
 * added, known ones replaced, a staleness marker removes its series (for
 * a histogram or summary, a series whose count is the marker). A
 * series whose family is known under another type, or past the limit, is
 * refused and counted. Returns how many were refused.
 */
uint32_t pe_store_update(struct pe_store *st, const struct gl_chunk *c, uint64_t now_ms);

/* Removes series not updated since before now_ms - ttl_ms; returns how many. */
size_t pe_store_expire(struct pe_store *st, uint64_t now_ms, uint64_t ttl_ms);

/* Writes every family with series as exposition text; extra labels are added to each. */
void pe_store_render(const struct pe_store *st, struct gl_buf *out, enum gl_prom_format f,
                     const struct gl_label *extra, size_t n_extra, bool timestamps);

#endif
