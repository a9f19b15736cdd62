/*
 * CloudWatch Embedded Metric Format for the cloudwatch_logs output: the
 * series of a metrics chunk become documents
 *   {"_aws": {"Timestamp": ms, "CloudWatchMetrics": [{"Namespace": ns,
 *     "Dimensions": [["k", ...]], "Metrics": [{"Name": n, "Unit": u}, ...]}]},
 *    "k": "v", ..., "n": value, ...}
 * one per distinct time and set of dimension values, at most 100 metrics
 * each, and a name at most once per document (a document holds one value
 * per name). Histograms and summaries send their _sum and _count. Values
 * that are not finite (NaN, staleness markers, infinities) cannot be sent
 * and are dropped, counted.
 * Invariant: every document is valid JSON written by the one JSON writer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "core/chunk.h"
#include "metrics/batch.h"
#include "out_cloudwatch_logs.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mem.h"

#define DIMS_MAX 30 /* the service's limit per dimension set */

/* One value to send: a series, or the _sum or _count of a histogram or summary. */
struct item {
    const char *name;
    uint32_t name_len;
    const char *suffix;      /* "", "_sum" or "_count" */
    enum gl_metric_type type;
    double value;
    int64_t ts_ms;
    uint32_t index;          /* the series' position in the flush */
    struct gl_series series; /* its labels */
    uint64_t dims_hash;      /* of the dimensions kept and the time */
    size_t pos;              /* its place among the items sorted by dims_hash */
    size_t run_end;          /* the end of its run of equal hashes there */
    bool used;
};

/* The labels kept as dimensions: metric_dimensions' in its order, or every label. */
static size_t pick_dims(const struct cwl_emf *e, const struct gl_series *s,
                        struct gl_label *all, const struct gl_label **dims)
{
    uint32_t n = gl_series_labels(s, all);
    size_t nd = 0;
    if (e->dims == NULL || e->dims->count == 0) {
        for (uint32_t i = 0; i < n && nd < DIMS_MAX; i++) {
            dims[nd++] = &all[i];
        }
        return nd;
    }
    for (size_t d = 0; d < e->dims->count && nd < DIMS_MAX; d++) {
        size_t len = strlen(e->dims->items[d]);
        for (uint32_t i = 0; i < n; i++) {
            if (all[i].name_len == len && memcmp(all[i].name, e->dims->items[d], len) == 0) {
                dims[nd++] = &all[i];
                break;
            }
        }
    }
    return nd;
}

static uint64_t hash_dims(const struct gl_label *const *dims, size_t n, int64_t ts)
{
    uint64_t h = gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, &ts, sizeof(ts));
    for (size_t i = 0; i < n; i++) {
        h = gl_hash_fnv1a64(h, dims[i]->name, dims[i]->name_len);
        h = gl_hash_fnv1a64(h, "=", 1);
        h = gl_hash_fnv1a64(h, dims[i]->value, dims[i]->value_len);
        h = gl_hash_fnv1a64(h, ",", 1);
    }
    return h;
}

/* Whether the family's name ends so (a _sum has its family's unit). */
static bool ends_with(const struct item *it, const char *end)
{
    size_t n = strlen(end);
    return it->name_len >= n && memcmp(it->name + it->name_len - n, end, n) == 0;
}

static const char *unit_of(const struct item *it)
{
    if (strcmp(it->suffix, "_count") == 0) {
        return "Count";
    }
    if (ends_with(it, "_bytes") || ends_with(it, "_bytes_total")) {
        return "Bytes";
    }
    if (ends_with(it, "_seconds") || ends_with(it, "_seconds_total")) {
        return "Seconds";
    }
    return it->type == GL_METRIC_COUNTER ? "Count" : "None";
}

static bool same_name(const struct item *a, const struct item *b)
{
    return a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0 &&
           strcmp(a->suffix, b->suffix) == 0;
}

static void write_name(struct gl_buf *b, const struct item *it)
{
    struct gl_buf name;
    gl_buf_init(&name);
    gl_buf_append(&name, it->name, it->name_len);
    gl_buf_puts(&name, it->suffix);
    gl_json_write_str(b, name.data, name.len);
    gl_buf_close(&name);
}

/* Writes one document with members[0..n): same time and dimensions, distinct names. */
static void write_doc(const struct cwl_emf *e, struct item **members, size_t n,
                      struct gl_buf *b)
{
    struct gl_label all[GL_LABELS_MAX];
    const struct gl_label *dims[DIMS_MAX];
    size_t nd = pick_dims(e, &members[0]->series, all, dims);
    gl_buf_printf(b, "{\"_aws\":{\"Timestamp\":%lld,\"CloudWatchMetrics\":[{\"Namespace\":",
                  (long long)members[0]->ts_ms);
    gl_json_write_str(b, e->ns, strlen(e->ns));
    gl_buf_puts(b, ",\"Dimensions\":[[");
    for (size_t i = 0; i < nd; i++) {
        gl_buf_puts(b, i ? "," : "");
        gl_json_write_str(b, dims[i]->name, dims[i]->name_len);
    }
    gl_buf_puts(b, "]],\"Metrics\":[");
    for (size_t i = 0; i < n; i++) {
        gl_buf_puts(b, i ? ",{\"Name\":" : "{\"Name\":");
        write_name(b, members[i]);
        gl_buf_printf(b, ",\"Unit\":\"%s\"}", unit_of(members[i]));
    }
    gl_buf_puts(b, "]}]}");
    for (size_t i = 0; i < nd; i++) {
        gl_buf_putc(b, ',');
        gl_json_write_str(b, dims[i]->name, dims[i]->name_len);
        gl_buf_putc(b, ':');
        gl_json_write_str(b, dims[i]->value, dims[i]->value_len);
    }
    for (size_t i = 0; i < n; i++) {
        gl_buf_putc(b, ',');
        write_name(b, members[i]);
        gl_buf_putc(b, ':');
        gl_json_write_double(b, members[i]->value);
    }
    gl_buf_putc(b, '}');
}

static bool same_dims(const struct cwl_emf *e, const struct item *a, const struct item *b)
{
    struct gl_label all_a[GL_LABELS_MAX], all_b[GL_LABELS_MAX];
    const struct gl_label *da[DIMS_MAX], *db[DIMS_MAX];
    size_t na = pick_dims(e, &a->series, all_a, da);
    size_t nb = pick_dims(e, &b->series, all_b, db);
    if (na != nb || a->ts_ms != b->ts_ms) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (da[i]->name_len != db[i]->name_len || da[i]->value_len != db[i]->value_len ||
            memcmp(da[i]->name, db[i]->name, da[i]->name_len) != 0 ||
            memcmp(da[i]->value, db[i]->value, da[i]->value_len) != 0) {
            return false;
        }
    }
    return true;
}

/*
 * Gathers into members the unused items of the run [start, end) (same hash)
 * with items[start]'s dimensions and names not taken yet, at most 100.
 */
static size_t gather(const struct cwl_emf *e, struct item **sorted, size_t start, size_t end,
                     struct item **members)
{
    size_t count = 0;
    for (size_t i = start; i < end && count < CWL_EMF_METRICS_MAX; i++) {
        struct item *it = sorted[i];
        if (it->used || (count > 0 && !same_dims(e, members[0], it))) {
            continue;
        }
        bool taken = false;
        for (size_t k = 0; k < count && !taken; k++) {
            taken = same_name(members[k], it);
        }
        if (!taken) {
            it->used = true;
            members[count++] = it;
        }
    }
    return count;
}

static int by_hash(const void *a, const void *b)
{
    const struct item *x = *(struct item *const *)a, *y = *(struct item *const *)b;
    if (x->dims_hash != y->dims_hash) {
        return x->dims_hash < y->dims_hash ? -1 : 1;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

static void add_item(const struct cwl_emf *e, struct item *items, size_t *n,
                     const struct gl_family *fam, const struct gl_series *s,
                     const char *suffix, double value, uint32_t base)
{
    struct gl_label all[GL_LABELS_MAX];
    const struct gl_label *dims[DIMS_MAX];
    struct item *it = &items[(*n)++];
    memset(it, 0, sizeof(*it));
    it->name = fam->name;
    it->name_len = fam->name_len;
    it->suffix = suffix;
    it->type = fam->type;
    it->value = value;
    it->ts_ms = s->ts_ms;
    it->index = base + s->index;
    it->series = *s;
    size_t nd = pick_dims(e, s, all, dims);
    it->dims_hash = hash_dims(dims, nd, s->ts_ms);
}

/* Reads the chunk's series into items; those with no finite value are dropped. */
static size_t read_items(const struct cwl_emf *e, const struct gl_chunk *c, uint32_t base,
                         struct item *items, void (*drop)(void *, uint32_t, const char *),
                         void *data)
{
    struct gl_batch_iter bi;
    struct gl_family fam;
    struct gl_series s;
    size_t n = 0;
    gl_batch_iter_init(&bi, c);
    while (gl_batch_next_family(&bi, &fam) == 0) {
        while (gl_batch_next_series(&bi, &s) == 0) {
            bool points = fam.type == GL_METRIC_HISTOGRAM || fam.type == GL_METRIC_SUMMARY;
            if (points && isfinite(s.sum) && isfinite(s.count)) {
                add_item(e, items, &n, &fam, &s, "_sum", s.sum, base);
                add_item(e, items, &n, &fam, &s, "_count", s.count, base);
            } else if (!points && isfinite(s.value)) {
                add_item(e, items, &n, &fam, &s, "", s.value, base);
            } else {
                drop(data, base + s.index, "not_finite");
            }
        }
    }
    return n;
}

int cwl_emf_write(const struct cwl_emf *e, const struct gl_chunk *c, uint32_t base,
                  struct gl_buf *arena, const struct cwl_emf_sink *sink)
{
    struct item *items = gl_calloc(2 * (size_t)c->records + 1, sizeof(*items));
    size_t n = read_items(e, c, base, items, sink->drop, sink->data);
    struct item **sorted = gl_calloc(n + 1, sizeof(*sorted));
    struct item **members = gl_calloc(CWL_EMF_METRICS_MAX, sizeof(*members));
    for (size_t i = 0; i < n; i++) {
        sorted[i] = &items[i];
    }
    /* Sorted, equal dimensions sit together; documents still come in the series' order. */
    qsort(sorted, n, sizeof(*sorted), by_hash);
    for (size_t start = 0, end; start < n; start = end) {
        for (end = start; end < n && sorted[end]->dims_hash == sorted[start]->dims_hash;) {
            end++;
        }
        for (size_t i = start; i < end; i++) {
            sorted[i]->pos = i;
            sorted[i]->run_end = end;
        }
    }
    int docs = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].used) {
            continue;
        }
        size_t count = gather(e, sorted, items[i].pos, items[i].run_end, members);
        size_t off = arena->len;
        write_doc(e, members, count, arena);
        sink->emit(sink->data, off, arena->len - off, members[0]->ts_ms, members[0]->index);
        docs++;
    }
    gl_free(members);
    gl_free(sorted);
    gl_free(items);
    return docs;
}
