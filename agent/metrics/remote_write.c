/*
 * The WriteRequest encoder (see remote_write.h). Protobuf by hand: each
 * message's size is worked out before it is written, so the body is built in
 * one pass into the output buffer with no temporary copies. Field numbers
 * are those of Prometheus' prompb (remote.proto, types.proto):
 *   WriteRequest   timeseries = 1, metadata = 3
 *   TimeSeries     labels = 1, samples = 2
 *   Label          name = 1, value = 2
 *   Sample         value = 1 (double), timestamp = 2 (int64, ms)
 *   MetricMetadata type = 1, metric_family_name = 2, help = 4, unit = 5
 */
#include <stdio.h>
#include <string.h>

#include "metrics/prom_text.h"
#include "metrics/remote_write.h"

#define KEY(field, wire) ((char)((field) << 3 | (wire)))
#define VARINT 0
#define FIXED64 1
#define LEN 2

/* The labels of one TimeSeries, __name__ and le/quantile included, sorted. */
struct ts_labels {
    struct gl_label l[GL_LABELS_MAX + 3];
    uint32_t n;
};

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_varint(struct gl_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        gl_buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    gl_buf_putc(b, (char)v);
}

/* The same into memory reserved beforehand; returns the position after it. */
static char *w_varint(char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (char)v;
    return p;
}

static char *w_bytes(char *p, char key, const char *s, size_t n)
{
    *p++ = key;
    p = w_varint(p, n);
    memcpy(p, s, n);
    return p + n;
}

static size_t field_len(size_t n)
{
    return 1 + varint_len(n) + n;
}

static void put_bytes(struct gl_buf *b, char key, const char *s, size_t n)
{
    gl_buf_putc(b, key);
    put_varint(b, n);
    gl_buf_append(b, s, n);
}

static int name_cmp(const struct gl_label *a, const struct gl_label *b)
{
    uint32_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    return c != 0 ? c : (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

/* Adds a label in sorted place unless one of that name is there (the first added wins). */
static void add_label(struct ts_labels *t, struct gl_label l)
{
    uint32_t i = t->n;
    while (i > 0 && name_cmp(&t->l[i - 1], &l) > 0) {
        i--;
    }
    if (i > 0 && name_cmp(&t->l[i - 1], &l) == 0) {
        return;
    }
    memmove(&t->l[i + 1], &t->l[i], (t->n - i) * sizeof(l));
    t->l[i] = l;
    t->n++;
}

/*
 * Writes one TimeSeries of one sample. Its size is known before a byte is
 * written: the buffer is grown once and filled without further checks.
 */
static void put_series(struct gl_buf *b, const struct ts_labels *t, double value, int64_t ts)
{
    size_t sizes[GL_LABELS_MAX + 3];
    size_t labels = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        sizes[i] = field_len(t->l[i].name_len) + field_len(t->l[i].value_len);
        labels += field_len(sizes[i]);
    }
    size_t sample = 9 + 1 + varint_len((uint64_t)ts);
    size_t body = labels + field_len(sample);
    gl_buf_reserve(b, field_len(body));
    char *p = b->data + b->len;
    *p++ = KEY(1, LEN);
    p = w_varint(p, body);
    for (uint32_t i = 0; i < t->n; i++) {
        *p++ = KEY(1, LEN);
        p = w_varint(p, sizes[i]);
        p = w_bytes(p, KEY(1, LEN), t->l[i].name, t->l[i].name_len);
        p = w_bytes(p, KEY(2, LEN), t->l[i].value, t->l[i].value_len);
    }
    *p++ = KEY(2, LEN);
    p = w_varint(p, sample);
    uint64_t bits;
    memcpy(&bits, &value, sizeof(bits));
    *p++ = KEY(1, FIXED64);
    for (int i = 0; i < 8; i++) {
        *p++ = (char)(bits >> (8 * i));
    }
    *p++ = KEY(2, VARINT);
    p = w_varint(p, (uint64_t)ts);
    b->len = (size_t)(p - b->data);
    b->data[b->len] = '\0';
}

/* The series' labels, then the extra ones: the name is added by the caller. */
static void base_labels(struct ts_labels *t, const struct gl_series *s,
                        const struct gl_label *extra, size_t n_extra)
{
    struct gl_label own[GL_LABELS_MAX];
    uint32_t n = gl_series_labels(s, own);
    t->n = 0;
    for (uint32_t i = 0; i < n; i++) {
        add_label(t, own[i]);
    }
    for (size_t i = 0; i < n_extra; i++) {
        add_label(t, extra[i]);
    }
}

/* The series' labels with __name__ = family name + suffix, and one more (le, quantile). */
static void named(struct ts_labels *out, const struct ts_labels *base, const char *name,
                  size_t name_len, const char *k, const char *v, size_t vlen)
{
    *out = *base;
    add_label(out, (struct gl_label){ "__name__", 8, name, (uint32_t)name_len });
    if (k != NULL) {
        add_label(out, (struct gl_label){ k, (uint32_t)strlen(k), v, (uint32_t)vlen });
    }
}

static size_t suffixed(char *out, size_t cap, const struct gl_rw_series *r, const char *suffix)
{
    int n = snprintf(out, cap, "%.*s%s", (int)r->name_len, r->name, suffix);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* A histogram's or summary's series: one per point, then _sum and _count. */
static void put_points(struct gl_buf *b, const struct gl_rw_series *r, const struct gl_series *s,
                       const struct ts_labels *base)
{
    struct ts_labels t;
    char name[512], num[GL_PROM_NUMBER_MAX];
    bool histogram = r->type == GL_METRIC_HISTOGRAM;
    size_t n = suffixed(name, sizeof(name), r, histogram ? "_bucket" : "");
    size_t cursor = 0;
    for (uint32_t i = 0; i < s->n_points; i++) {
        double k, v;
        uint32_t len;
        gl_series_point(s, i, &k, &v);
        /* As the source wrote it, else as the text format writes it: le="0.5", le="+Inf" */
        const char *text = gl_series_point_text(s, &cursor, &len);
        if (text == NULL) {
            text = num;
            len = (uint32_t)gl_prom_format_number(num, k);
        }
        named(&t, base, name, n, histogram ? "le" : "quantile", text, len);
        put_series(b, &t, v, s->ts_ms);
    }
    n = suffixed(name, sizeof(name), r, "_sum");
    named(&t, base, name, n, NULL, NULL, 0);
    put_series(b, &t, s->sum, s->ts_ms);
    n = suffixed(name, sizeof(name), r, "_count");
    named(&t, base, name, n, NULL, NULL, 0);
    put_series(b, &t, s->count, s->ts_ms);
}

uint32_t gl_rw_samples(const struct gl_rw_series *r)
{
    struct gl_series s;
    if (gl_batch_read_series(r->raw, r->raw_len, r->type, r->batch_ts_ms, &s) < 0) {
        return 0;
    }
    bool points = r->type == GL_METRIC_HISTOGRAM || r->type == GL_METRIC_SUMMARY;
    return points ? s.n_points + 2 : 1;
}

static void put_metadata(struct gl_buf *b, const struct gl_rw_series *r)
{
    static const uint8_t types[] = {
        [GL_METRIC_UNTYPED] = 0, [GL_METRIC_COUNTER] = 1, [GL_METRIC_GAUGE] = 2,
        [GL_METRIC_HISTOGRAM] = 3, [GL_METRIC_SUMMARY] = 5,
    };
    /* Empty strings are left out, as protobuf writes a field at its default. */
    size_t size = 2 + field_len(r->name_len) + (r->help_len ? field_len(r->help_len) : 0) +
                  (r->unit_len ? field_len(r->unit_len) : 0);
    gl_buf_putc(b, KEY(3, LEN));
    put_varint(b, size);
    gl_buf_putc(b, KEY(1, VARINT));
    gl_buf_putc(b, (char)types[r->type]);
    put_bytes(b, KEY(2, LEN), r->name, r->name_len);
    if (r->help_len > 0) {
        put_bytes(b, KEY(4, LEN), r->help, r->help_len);
    }
    if (r->unit_len > 0) {
        put_bytes(b, KEY(5, LEN), r->unit, r->unit_len);
    }
}

void gl_rw_encode(struct gl_buf *out, const struct gl_rw_series *series, size_t n,
                  const struct gl_label *extra, size_t n_extra, bool metadata)
{
    struct ts_labels base;
    for (size_t i = 0; i < n; i++) {
        const struct gl_rw_series *r = &series[i];
        struct gl_series s;
        if (gl_batch_read_series(r->raw, r->raw_len, r->type, r->batch_ts_ms, &s) < 0) {
            continue;
        }
        base_labels(&base, &s, extra, n_extra);
        if (r->type == GL_METRIC_HISTOGRAM || r->type == GL_METRIC_SUMMARY) {
            put_points(out, r, &s, &base);
            continue;
        }
        add_label(&base, (struct gl_label){ "__name__", 8, r->name, r->name_len });
        put_series(out, &base, s.value, s.ts_ms);
    }
    for (size_t i = 0; metadata && i < n; i++) {
        if (i == 0 || series[i].name != series[i - 1].name) {
            put_metadata(out, &series[i]);
        }
    }
}
