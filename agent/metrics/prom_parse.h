/*
 * Prometheus exposition, read: the text format 0.0.4 and OpenMetrics 1.0,
 * as Prometheus 2.42 reads them when it scrapes (the prometheus_scrape input
 * is its one user). A body is read sample by sample; HELP, TYPE and UNIT
 * lines are taken in on the way and describe the family the samples that
 * follow belong to. What Prometheus refuses (a bad float, an OpenMetrics
 * body without # EOF, invalid UTF-8, a label name given twice...) is an
 * error here too, with Prometheus' wording, so that a target fails the same
 * way under both.
 *
 * Nothing is allocated per sample: names and label values point into the
 * body, or into one scratch buffer when an escape had to be undone; both
 * are borrowed until the next call. The parser keeps its buffers between
 * bodies (gl_prom_parser_reset), so a scrape loop allocates nothing in the
 * steady state.
 */
#ifndef GL_METRICS_PROM_PARSE_H
#define GL_METRICS_PROM_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics/batch.h"
#include "metrics/prom_text.h"
#include "util/buf.h"

/* A family's type as the exposition says it; the first five are gl_metric_type's. */
enum gl_prom_type {
    GL_PROM_UNTYPED,       /* untyped (text), unknown (OpenMetrics), or no TYPE line */
    GL_PROM_COUNTER,
    GL_PROM_GAUGE,
    GL_PROM_HISTOGRAM,
    GL_PROM_SUMMARY,
    GL_PROM_GAUGEHISTOGRAM,
    GL_PROM_INFO,
    GL_PROM_STATESET,
};

/* What a sample is within its family: which line of a histogram, a summary... */
enum gl_prom_role {
    GL_PROM_PLAIN,         /* a counter's, gauge's, info's... one value; a summary's quantile */
    GL_PROM_BUCKET,        /* <family>_bucket{le} */
    GL_PROM_SUM,           /* <family>_sum */
    GL_PROM_COUNT,         /* <family>_count */
    GL_PROM_CREATED,       /* <family>_created */
    GL_PROM_GSUM,          /* a gauge histogram's _gsum */
    GL_PROM_GCOUNT,        /* and _gcount */
};

/* The family the last metadata lines described (or a sample's own, when none fits it). */
struct gl_prom_family {
    const char *name;
    uint32_t name_len;
    enum gl_prom_type type;
    const char *help;      /* unescaped */
    uint32_t help_len;
    const char *unit;
    uint32_t unit_len;
};

struct gl_prom_sample {
    const char *name;
    uint32_t name_len;
    struct gl_label labels[GL_LABELS_MAX]; /* as written, in order, unescaped */
    uint32_t n_labels;
    double value;          /* NaN always as Prometheus' normal NaN, never a staleness marker */
    bool has_ts;
    int64_t ts_ms;
    const char *series;    /* the name and labels as written: what Prometheus keys its cache by */
    uint32_t series_len;
    const struct gl_prom_family *family;
    enum gl_prom_role role;
};

struct gl_prom_parser {
    const char *body;
    const char *p;
    const char *end;
    enum gl_prom_format format;
    int line;                      /* where the last GL_EPARSE was met, from 1 */
    const char *err;               /* the reason of the last GL_EPARSE: Prometheus' words */
    char err_buf[160];
    struct gl_prom_sample sample;
    struct gl_prom_family family;  /* the one the metadata lines describe */
    struct gl_prom_family own;     /* a sample's own when it belongs to no described family */
    struct gl_buf scratch;         /* label values with escapes undone, one sample's */
    struct gl_buf help;            /* the family's help with escapes undone */
    uint32_t scratch_at[GL_LABELS_MAX]; /* per label: 1 + its offset in scratch, or 0 */
};

/* Prepares a parser; gl_prom_parser_close() frees its buffers. */
void gl_prom_parser_init(struct gl_prom_parser *ps);
void gl_prom_parser_close(struct gl_prom_parser *ps);

/* Starts reading a body (borrowed until the last call) in one of the formats. */
void gl_prom_parser_reset(struct gl_prom_parser *ps, const char *body, size_t len,
                          enum gl_prom_format format);

/*
 * Reads up to the next sample: returns 1 with ps->sample filled, 0 at the
 * end of the body (for OpenMetrics, at # EOF), or GL_EPARSE with the
 * reason in ps->err (the rest of the body is not read).
 */
int gl_prom_parse_next(struct gl_prom_parser *ps);

/*
 * Reads a sample's series text (ps->sample.series of an earlier body) back
 * into ps->sample's name and labels; value, time, family and role are left
 * alone. Returns 0 or GL_EPARSE.
 */
int gl_prom_parse_series(struct gl_prom_parser *ps, const char *series, size_t len);

/*
 * The format of a body from its Content-Type, as Prometheus chooses its
 * parser: application/openmetrics-text is OpenMetrics, anything else
 * (missing, unreadable, text/plain) the text format.
 */
enum gl_prom_format gl_prom_content_format(const char *content_type);

/*
 * Reads a number as Prometheus reads sample values (Go's ParseFloat without
 * hex, underscores or a signed NaN; an overflow is an error). Returns 0 or
 * GL_EPARSE.
 */
int gl_prom_parse_float(const char *s, size_t len, double *out);

/* Whether a string is a valid metric name, or label name. */
bool gl_prom_metric_name_valid(const char *s, size_t len);
bool gl_prom_label_name_valid(const char *s, size_t len);

/* Whether bytes are valid UTF-8 (Go's utf8.Valid). */
bool gl_prom_utf8_valid(const char *s, size_t len);

/* Prometheus' normal NaN (what a scraped NaN is stored as). */
double gl_prom_normal_nan(void);

#endif
