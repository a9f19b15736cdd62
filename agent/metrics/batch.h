/*
 * Metrics events: a batch of series (one scrape, one collection) written
 * once into a chunk of kind GL_METRICS and read back, without allocating,
 * by every metrics filter and output. The batch is to metrics what the
 * record encoder and chunk iterator are to logs.
 *
 * Writing (inputs): gl_batch_begin(&b, ins, ts_ms), then per family
 * gl_batch_family(), then its series with gl_batch_sample(),
 * gl_batch_histogram() or gl_batch_summary(), then gl_batch_commit().
 * Labels are given in any order; the batch stores them sorted by name,
 * without duplicates (the first wins) and without empty values (Prometheus
 * reads an empty label as an absent one). Nothing is allocated per series:
 * everything goes into the chunk's buffer, which grows by doubling.
 *
 * Reading: gl_batch_iter_init(&it, chunk), then
 *   while (gl_batch_next_family(&it, &fam) == 0)
 *       while (gl_batch_next_series(&it, &s) == 0) { ... gl_series_labels(&s, l) ... }
 * Strings point into the chunk and are borrowed while the chunk is.
 *
 * The bytes (msgpack, arrays with 32-bit counts patched at the end):
 *   batch   [ts_ms, series_count, [family...]]
 *   family  [name, type, help, unit, [series...]]
 *   series  [[label_name, label_value, ...], ts_ms (0: the batch's), value]
 *   value   float64; histogram [count, sum, [le, cumulative_count, ...]];
 *           summary [count, sum, [quantile, value, ...]] (all float64), each
 *           with a fourth element, [le or quantile as the source wrote it,
 *           ...], when the source's texts are kept
 */
#ifndef GL_METRICS_BATCH_H
#define GL_METRICS_BATCH_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct gl_instance;
struct gl_slot;
struct gl_chunk;
struct gl_series;

enum gl_metric_type {
    GL_METRIC_UNTYPED,
    GL_METRIC_COUNTER,
    GL_METRIC_GAUGE,
    GL_METRIC_HISTOGRAM,
    GL_METRIC_SUMMARY,
};

/* "untyped", "counter", "gauge", "histogram", "summary". */
const char *gl_metric_type_name(enum gl_metric_type t);

/* A series has at most this many labels; a longer set is refused (see gl_batch_sample). */
#define GL_LABELS_MAX 128

struct gl_label {
    const char *name;
    uint32_t name_len;
    const char *value;
    uint32_t value_len;
};

/*
 * A histogram bucket: observations less than or equal to le, cumulative.
 * le_text, when set, is how the source wrote the bound ("1.0", "1e+06"):
 * it is kept and written out as it came, so a scraped series keeps the
 * exact label value it has at its source (and in a Prometheus that scrapes
 * the source itself). NULL: the number is written as Prometheus writes it.
 */
struct gl_bucket {
    double le;
    double count;
    const char *le_text;
    uint32_t le_text_len;
};

struct gl_quantile {
    double q;
    double value;
    const char *q_text;      /* as le_text */
    uint32_t q_text_len;
};

/* Prometheus' staleness marker: a NaN with this bit pattern ends a series at once. */
#define GL_STALE_NAN_BITS 0x7ff0000000000002ull
double gl_metric_stale(void);
bool gl_metric_is_stale(double v);

/* ---- writing ------------------------------------------------------------- */

struct gl_batch {
    struct gl_buf *buf;
    size_t start;          /* where the batch begins in buf */
    size_t count_at;       /* the 4 bytes of the series count */
    size_t families_at;    /* the array32 header of the families */
    size_t series_at;      /* the array32 header of the open family's series, or 0 */
    uint32_t n_families;
    uint32_t n_series;     /* in the open family */
    uint32_t total;        /* in the batch */
    uint32_t refused;      /* series refused (too many labels, no family) */
    enum gl_metric_type type; /* of the open family */
    struct gl_slot *slot;  /* inputs: the tag's open chunk */
    struct gl_label sorted[GL_LABELS_MAX];
};

void gl_batch_begin(struct gl_batch *b, struct gl_instance *ins, int64_t ts_ms);
void gl_batch_begin_tag(struct gl_batch *b, struct gl_instance *ins, const char *tag,
                        size_t tag_len, int64_t ts_ms);
/* Filters: begins a batch at the end of buf (the chunk they write). */
void gl_batch_begin_buf(struct gl_batch *b, struct gl_buf *buf, int64_t ts_ms);

/* Opens a family; its series follow. help and unit may be empty (NULL, 0). */
void gl_batch_family(struct gl_batch *b, const char *name, size_t name_len,
                     enum gl_metric_type type, const char *help, size_t help_len,
                     const char *unit, size_t unit_len);

/*
 * Adds a series to the open family. ts_ms 0 means the batch's time. Returns
 * 0, or GL_ELIMIT when it has more than GL_LABELS_MAX labels and GL_ESTATE
 * when no family is open: the series is then not written and counted in
 * b->refused.
 */
int gl_batch_sample(struct gl_batch *b, const struct gl_label *labels, size_t n, int64_t ts_ms,
                    double value);
/* The same for a histogram: buckets in increasing le, the last one +Inf. */
int gl_batch_histogram(struct gl_batch *b, const struct gl_label *labels, size_t n,
                       int64_t ts_ms, const struct gl_bucket *buckets, size_t n_buckets,
                       double sum, double count);
int gl_batch_summary(struct gl_batch *b, const struct gl_label *labels, size_t n,
                     int64_t ts_ms, const struct gl_quantile *q, size_t n_q, double sum,
                     double count);

/*
 * For filters: appends a series read from another batch (the open family
 * must be of its type) as it is, or with other labels; its time and value
 * are kept. Return as gl_batch_sample().
 */
int gl_batch_copy(struct gl_batch *b, const struct gl_series *s);
int gl_batch_relabel(struct gl_batch *b, const struct gl_series *s, const struct gl_label *labels,
                     size_t n);

/*
 * Closes the batch. Inputs: appends it to the tag's chunk and returns 0, or
 * GL_EPAUSED when the pipeline wants the input to pause (the batch was still
 * taken). A batch with no series is dropped. Filters: closes it in place.
 */
int gl_batch_commit(struct gl_batch *b);
void gl_batch_abort(struct gl_batch *b);
/*
 * Inputs that write a batch off the loop (gl_batch_begin_buf into a buffer
 * of their own, then gl_batch_commit) hand it to the pipeline whole: its
 * bytes, holding `series` series, are appended to the instance's tag's
 * chunk as they are. Returns as gl_batch_commit().
 */
int gl_batch_commit_bytes(struct gl_instance *ins, const char *data, size_t len, uint32_t series);

/* ---- reading ------------------------------------------------------------- */

struct gl_family {
    const char *name;
    uint32_t name_len;
    enum gl_metric_type type;
    const char *help;
    uint32_t help_len;
    const char *unit;
    uint32_t unit_len;
    uint32_t n_series;
    int64_t batch_ts_ms;
    uint32_t batch_index;        /* which batch of the chunk it is in (from 1) */
};

struct gl_series {
    int64_t ts_ms;               /* its own, or the batch's */
    uint32_t n_labels;
    const char *labels;          /* the encoded names and values: read with gl_series_labels */
    size_t labels_len;
    double value;                /* counter, gauge, untyped */
    double count;                /* histogram, summary */
    double sum;
    uint32_t n_points;           /* buckets or quantiles */
    const char *points;          /* their float64 pairs: read with gl_series_point */
    const char *point_texts;     /* the source's texts of le/quantile, or NULL */
    size_t point_texts_len;
    uint32_t index;              /* position in the chunk, for gl_flush_drop() */
    const char *raw;             /* the series' bytes, to keep it (gl_batch_read_series) */
    size_t raw_len;
    size_t labels_off;           /* where its labels are in raw: the same set, the same bytes */
};

struct gl_batch_iter {
    const char *data;
    size_t len;
    size_t off;
    int64_t ts_ms;               /* the current batch's */
    uint32_t families_left;      /* in the current batch */
    uint32_t series_left;        /* in the current family */
    enum gl_metric_type type;    /* of the current family */
    uint32_t index;
    uint32_t batch_index;
};

void gl_batch_iter_init(struct gl_batch_iter *it, const struct gl_chunk *c);
void gl_batch_iter_init_bytes(struct gl_batch_iter *it, const char *data, size_t len);
/*
 * Moves to the next family (skipping what is left of the current one).
 * Returns 0, GL_ENOENT at the end, or GL_EPARSE on malformed bytes (the
 * rest is skipped; cannot happen for chunks the batch wrote).
 */
int gl_batch_next_family(struct gl_batch_iter *it, struct gl_family *fam);
/* The next series of the current family: 0, GL_ENOENT after its last, or GL_EPARSE. */
int gl_batch_next_series(struct gl_batch_iter *it, struct gl_series *s);

/*
 * Reads one series kept as its raw bytes (a copy of s->raw) of a family of
 * that type; ts_ms stands for a time of 0. Returns 0 or GL_EPARSE.
 */
int gl_batch_read_series(const char *raw, size_t len, enum gl_metric_type type, int64_t ts_ms,
                         struct gl_series *s);

/* Fills out (GL_LABELS_MAX entries) with the series' labels, sorted; returns how many. */
uint32_t gl_series_labels(const struct gl_series *s, struct gl_label *out);
/* The i-th bucket (le, count) or quantile (q, value) of a histogram or summary. */
void gl_series_point(const struct gl_series *s, uint32_t i, double *a, double *b);
/*
 * The i-th le or quantile as its source wrote it, or NULL when the source's
 * texts were not kept (write the number then). Walks the texts: call it in
 * order, i from 0, with *cursor starting at 0.
 */
const char *gl_series_point_text(const struct gl_series *s, size_t *cursor, uint32_t *len);

/*
 * A metrics filter's pass over a chunk: gl_batch_rewrite_family() for each
 * family read, then each series kept written with gl_batch_copy() or
 * gl_batch_relabel() on gl_batch_rewrite_out(), and gl_batch_rewrite_end(),
 * which returns the series written. The chunk's batches stay apart, each
 * with its time; a family none of whose series is kept is not written.
 */
struct gl_batch_rewrite {
    struct gl_buf *buf;
    struct gl_batch out;
    uint32_t batch_index;        /* the batch open in out (0: none) */
    struct gl_family pending;    /* the family to write before its first series */
    bool has_pending;
    uint32_t written;            /* series in the batches closed so far */
};

void gl_batch_rewrite_init(struct gl_batch_rewrite *rw, struct gl_buf *buf);
void gl_batch_rewrite_family(struct gl_batch_rewrite *rw, const struct gl_family *fam);
struct gl_batch *gl_batch_rewrite_out(struct gl_batch_rewrite *rw);
uint32_t gl_batch_rewrite_end(struct gl_batch_rewrite *rw);

/*
 * Appends every series of a metrics chunk to b as JSON lines:
 * {"@timestamp","name","type","help","unit","labels":{...},"value"} and, for
 * histograms and summaries, "count", "sum" and "buckets" or "quantiles".
 * NaN and infinities are written as the strings "NaN", "+Inf", "-Inf".
 */
void gl_batch_write_json(struct gl_buf *b, const struct gl_chunk *c);

#endif
