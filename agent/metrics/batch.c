/*
 * Metrics batches: the encoder inputs and metrics filters write series
 * through, and the reader every metrics filter and output reads them with
 * (the layout is in batch.h). A batch is written in place at the end of a
 * chunk's buffer with 32-bit counts patched when it closes, so one scrape
 * of 10,000 series costs the buffer's few doublings and nothing per series.
 *
 * Invariant: between begin and commit/abort nothing else writes to the
 * buffer, so the offsets taken at begin stay valid; the reader never reads
 * past the chunk's length, whatever the bytes say.
 */
#include <math.h>
#include <string.h>

#include "codec/json.h"
#include "codec/msgpack_put.h"
#include "codec/msgpack_scan.h"
#include "core/chunk.h"
#include "core/input.h"
#include "core/plugin.h"
#include "metrics/batch.h"
#include "util/error.h"

static const char *const type_names[] = {
    [GL_METRIC_UNTYPED] = "untyped",     [GL_METRIC_COUNTER] = "counter",
    [GL_METRIC_GAUGE] = "gauge",         [GL_METRIC_HISTOGRAM] = "histogram",
    [GL_METRIC_SUMMARY] = "summary",
};

const char *gl_metric_type_name(enum gl_metric_type t)
{
    return (unsigned)t <= GL_METRIC_SUMMARY ? type_names[t] : "untyped";
}

double gl_metric_stale(void)
{
    uint64_t bits = GL_STALE_NAN_BITS;
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

bool gl_metric_is_stale(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits == GL_STALE_NAN_BITS;
}

/* ---- writing ------------------------------------------------------------- */

/* An array32 header whose count is patched later; returns its offset. */
static size_t open_array(struct gl_buf *buf)
{
    static const char header[5] = { (char)0xdd, 0, 0, 0, 0 };
    size_t at = buf->len;
    gl_buf_append(buf, header, sizeof(header));
    return at;
}

void gl_batch_begin_buf(struct gl_batch *b, struct gl_buf *buf, int64_t ts_ms)
{
    static const char count[5] = { (char)0xce, 0, 0, 0, 0 };
    b->buf = buf;
    b->start = buf->len;
    b->n_families = b->n_series = b->total = b->refused = 0;
    b->series_at = 0;
    b->slot = NULL;
    gl_buf_putc(buf, (char)0x93);
    gl_mp_put_int(buf, ts_ms);
    b->count_at = buf->len;
    gl_buf_append(buf, count, sizeof(count));
    b->families_at = open_array(buf);
}

void gl_batch_begin_tag(struct gl_batch *b, struct gl_instance *ins, const char *tag,
                        size_t tag_len, int64_t ts_ms)
{
    struct gl_slot *slot = gl__input_slot(ins, tag, tag_len);
    gl_batch_begin_buf(b, gl__slot_buf(slot, GL_METRICS), ts_ms);
    b->slot = slot;
}

void gl_batch_begin(struct gl_batch *b, struct gl_instance *ins, int64_t ts_ms)
{
    gl_batch_begin_tag(b, ins, ins->tag, strlen(ins->tag), ts_ms);
}

static void close_family(struct gl_batch *b)
{
    if (b->series_at != 0) {
        gl_put_be32(b->buf->data + b->series_at + 1, b->n_series);
        b->series_at = 0;
    }
}

void gl_batch_family(struct gl_batch *b, const char *name, size_t name_len,
                     enum gl_metric_type type, const char *help, size_t help_len,
                     const char *unit, size_t unit_len)
{
    close_family(b);
    b->n_families++;
    b->n_series = 0;
    b->type = type;
    gl_buf_putc(b->buf, (char)0x95);
    gl_mp_put_str(b->buf, name, name_len);
    gl_mp_put_uint(b->buf, (uint8_t)type);
    gl_mp_put_str(b->buf, help, help_len);
    gl_mp_put_str(b->buf, unit, unit_len);
    b->series_at = open_array(b->buf);
}

static int label_cmp(const struct gl_label *a, const struct gl_label *b)
{
    uint32_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    return c != 0 ? c : (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

/*
 * Copies the labels into b->sorted, sorted by name (insertion sort: label
 * sets are small and often sorted already), without empty values and
 * without repeated names (the first given wins). Returns how many, or
 * GL_ELIMIT over GL_LABELS_MAX.
 */
static int sort_labels(struct gl_batch *b, const struct gl_label *labels, size_t n)
{
    if (n > GL_LABELS_MAX) {
        return GL_ELIMIT;
    }
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        if (labels[i].value_len == 0) {
            continue;
        }
        int j = m;
        while (j > 0 && label_cmp(&b->sorted[j - 1], &labels[i]) > 0) {
            b->sorted[j] = b->sorted[j - 1];
            j--;
        }
        if (j > 0 && label_cmp(&b->sorted[j - 1], &labels[i]) == 0) {
            memmove(&b->sorted[j], &b->sorted[j + 1], (size_t)(m - j) * sizeof(b->sorted[0]));
            continue;
        }
        b->sorted[j] = labels[i];
        m++;
    }
    return m;
}

/* Writes a series' frame up to its value: [[labels], ts, ... */
static int series_head(struct gl_batch *b, const struct gl_label *labels, size_t n, int64_t ts)
{
    if (b->series_at == 0) {
        b->refused++;
        return GL_ESTATE;
    }
    int m = sort_labels(b, labels, n);
    if (m < 0) {
        b->refused++;
        return m;
    }
    gl_buf_putc(b->buf, (char)0x93);
    gl_mp_put_array(b->buf, (uint32_t)m * 2);
    for (int i = 0; i < m; i++) {
        gl_mp_put_str(b->buf, b->sorted[i].name, b->sorted[i].name_len);
        gl_mp_put_str(b->buf, b->sorted[i].value, b->sorted[i].value_len);
    }
    gl_mp_put_int(b->buf, ts);
    b->n_series++;
    b->total++;
    return 0;
}

int gl_batch_sample(struct gl_batch *b, const struct gl_label *labels, size_t n, int64_t ts_ms,
                    double value)
{
    int rc = series_head(b, labels, n, ts_ms);
    if (rc == 0) {
        gl_mp_put_double(b->buf, value);
    }
    return rc;
}

/*
 * [count, sum, [a0, b0, a1, b1, ...]] for histograms and summaries, with a
 * fourth element for the source's texts when there are: the pairs follow.
 */
static void points_head(struct gl_batch *b, size_t n, double sum, double count, bool texts)
{
    gl_buf_putc(b->buf, (char)(texts ? 0x94 : 0x93));
    gl_mp_put_double(b->buf, count);
    gl_mp_put_double(b->buf, sum);
    gl_mp_put_array(b->buf, (uint32_t)(n * 2));
}

int gl_batch_histogram(struct gl_batch *b, const struct gl_label *labels, size_t n,
                       int64_t ts_ms, const struct gl_bucket *buckets, size_t n_buckets,
                       double sum, double count)
{
    int rc = series_head(b, labels, n, ts_ms);
    if (rc < 0) {
        return rc;
    }
    bool texts = n_buckets > 0 && buckets[0].le_text != NULL;
    points_head(b, n_buckets, sum, count, texts);
    for (size_t i = 0; i < n_buckets; i++) {
        gl_mp_put_double(b->buf, buckets[i].le);
        gl_mp_put_double(b->buf, buckets[i].count);
    }
    if (texts) {
        gl_mp_put_array(b->buf, (uint32_t)n_buckets);
        for (size_t i = 0; i < n_buckets; i++) {
            gl_mp_put_str(b->buf, buckets[i].le_text, buckets[i].le_text_len);
        }
    }
    return 0;
}

int gl_batch_summary(struct gl_batch *b, const struct gl_label *labels, size_t n,
                     int64_t ts_ms, const struct gl_quantile *q, size_t n_q, double sum,
                     double count)
{
    int rc = series_head(b, labels, n, ts_ms);
    if (rc < 0) {
        return rc;
    }
    bool texts = n_q > 0 && q[0].q_text != NULL;
    points_head(b, n_q, sum, count, texts);
    for (size_t i = 0; i < n_q; i++) {
        gl_mp_put_double(b->buf, q[i].q);
        gl_mp_put_double(b->buf, q[i].value);
    }
    if (texts) {
        gl_mp_put_array(b->buf, (uint32_t)n_q);
        for (size_t i = 0; i < n_q; i++) {
            gl_mp_put_str(b->buf, q[i].q_text, q[i].q_text_len);
        }
    }
    return 0;
}

int gl_batch_copy(struct gl_batch *b, const struct gl_series *s)
{
    if (b->series_at == 0) {
        b->refused++;
        return GL_ESTATE;
    }
    gl_buf_append(b->buf, s->raw, s->raw_len);
    b->n_series++;
    b->total++;
    return 0;
}

int gl_batch_relabel(struct gl_batch *b, const struct gl_series *s, const struct gl_label *labels,
                     size_t n)
{
    int rc = series_head(b, labels, n, s->ts_ms);
    if (rc < 0) {
        return rc;
    }
    if (b->type == GL_METRIC_HISTOGRAM || b->type == GL_METRIC_SUMMARY) {
        points_head(b, s->n_points, s->sum, s->count, s->point_texts != NULL);
        gl_buf_append(b->buf, s->points, (size_t)s->n_points * 18);
        gl_buf_append(b->buf, s->point_texts, s->point_texts_len);
    } else {
        gl_mp_put_double(b->buf, s->value);
    }
    return 0;
}

void gl_batch_rewrite_init(struct gl_batch_rewrite *rw, struct gl_buf *buf)
{
    memset(rw, 0, sizeof(*rw));
    rw->buf = buf;
}

void gl_batch_rewrite_family(struct gl_batch_rewrite *rw, const struct gl_family *fam)
{
    rw->pending = *fam;
    rw->has_pending = true;
}

struct gl_batch *gl_batch_rewrite_out(struct gl_batch_rewrite *rw)
{
    if (!rw->has_pending) {
        return &rw->out;
    }
    const struct gl_family *fam = &rw->pending;
    if (rw->batch_index != fam->batch_index) {
        if (rw->batch_index != 0) {
            rw->written += rw->out.total;
            gl_batch_commit(&rw->out);
        }
        gl_batch_begin_buf(&rw->out, rw->buf, fam->batch_ts_ms);
        rw->batch_index = fam->batch_index;
    }
    gl_batch_family(&rw->out, fam->name, fam->name_len, fam->type, fam->help, fam->help_len,
                    fam->unit, fam->unit_len);
    rw->has_pending = false;
    return &rw->out;
}

uint32_t gl_batch_rewrite_end(struct gl_batch_rewrite *rw)
{
    if (rw->batch_index != 0) {
        rw->written += rw->out.total;
        gl_batch_commit(&rw->out);
        rw->batch_index = 0;
    }
    return rw->written;
}

int gl_batch_commit_bytes(struct gl_instance *ins, const char *data, size_t len, uint32_t series)
{
    if (series == 0) {
        return 0;
    }
    struct gl_slot *slot = gl__input_slot(ins, ins->tag, strlen(ins->tag));
    struct gl_buf *buf = gl__slot_buf(slot, GL_METRICS);
    size_t start = buf->len;
    if (start == 0) {
        /*
         * A new chunk is made room for at once up to the size it is routed
         * at: batches after batch then land without a doubling that copies
         * them, and the chunk's buffer goes back to the pool when it is freed
         * (its untouched pages are never resident).
         */
        gl_buf_reserve(buf, GL_CHUNK_SIZE - 1);
    }
    gl_buf_append(buf, data, len);
    return gl__input_commit_batch(slot, start, series);
}

void gl_batch_abort(struct gl_batch *b)
{
    b->buf->len = b->start;
    b->series_at = 0;
}

int gl_batch_commit(struct gl_batch *b)
{
    close_family(b);
    if (b->total == 0) {
        gl_batch_abort(b);
        return 0;
    }
    gl_put_be32(b->buf->data + b->families_at + 1, b->n_families);
    gl_put_be32(b->buf->data + b->count_at + 1, b->total);
    if (b->slot == NULL) {
        return 0;
    }
    return gl__input_commit_batch(b->slot, b->start, b->total);
}

/* ---- reading ------------------------------------------------------------- */

/*
 * The readers below take one msgpack value at it->off and advance past it;
 * each returns false, leaving the offset alone, when the bytes are not that
 * kind of value or run past the end.
 */
static bool need(const struct gl_batch_iter *it, size_t n)
{
    return it->len - it->off >= n;
}

static uint64_t be(const char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = v << 8 | (unsigned char)p[i];
    }
    return v;
}

static bool rd_array(struct gl_batch_iter *it, uint32_t *n)
{
    if (!need(it, 1)) {
        return false;
    }
    const char *p = it->data + it->off;
    unsigned char c = (unsigned char)p[0];
    if ((c & 0xf0) == 0x90) {
        *n = c & 0x0f;
        it->off += 1;
    } else if (c == 0xdc && need(it, 3)) {
        *n = (uint32_t)be(p + 1, 2);
        it->off += 3;
    } else if (c == 0xdd && need(it, 5)) {
        *n = (uint32_t)be(p + 1, 4);
        it->off += 5;
    } else {
        return false;
    }
    return true;
}

static bool rd_str(struct gl_batch_iter *it, const char **s, uint32_t *len)
{
    if (!need(it, 1)) {
        return false;
    }
    const char *p = it->data + it->off;
    unsigned char c = (unsigned char)p[0];
    size_t h;
    uint32_t n;
    if ((c & 0xe0) == 0xa0) {
        h = 1, n = c & 0x1f;
    } else if (c == 0xd9 && need(it, 2)) {
        h = 2, n = (uint32_t)be(p + 1, 1);
    } else if (c == 0xda && need(it, 3)) {
        h = 3, n = (uint32_t)be(p + 1, 2);
    } else if (c == 0xdb && need(it, 5)) {
        h = 5, n = (uint32_t)be(p + 1, 4);
    } else {
        return false;
    }
    if (!need(it, h + n)) {
        return false;
    }
    *s = p + h;
    *len = n;
    it->off += h + n;
    return true;
}

static bool rd_int(struct gl_batch_iter *it, int64_t *v)
{
    if (!need(it, 1)) {
        return false;
    }
    const char *p = it->data + it->off;
    unsigned char c = (unsigned char)p[0];
    if (c <= 0x7f || c >= 0xe0) {
        *v = (int8_t)c;
        it->off += 1;
        return true;
    }
    static const int widths[] = { 1, 2, 4, 8 };
    if (c >= 0xcc && c <= 0xd3) {
        int w = widths[(c - 0xcc) & 3];
        if (!need(it, 1 + (size_t)w)) {
            return false;
        }
        uint64_t u = be(p + 1, w);
        if (c >= 0xd0 && w < 8) {
            u = (uint64_t)((int64_t)(u << (64 - 8 * w)) >> (64 - 8 * w));
        }
        *v = (int64_t)u;
        it->off += 1 + (size_t)w;
        return true;
    }
    return false;
}

static bool rd_double(struct gl_batch_iter *it, double *d)
{
    if (!need(it, 9) || (unsigned char)it->data[it->off] != 0xcb) {
        return false;
    }
    uint64_t bits = be(it->data + it->off + 1, 8);
    memcpy(d, &bits, sizeof(*d));
    it->off += 9;
    return true;
}

void gl_batch_iter_init_bytes(struct gl_batch_iter *it, const char *data, size_t len)
{
    memset(it, 0, sizeof(*it));
    it->data = data;
    it->len = len;
}

void gl_batch_iter_init(struct gl_batch_iter *it, const struct gl_chunk *c)
{
    gl_batch_iter_init_bytes(it, c->data.data, c->data.len);
}

/* Malformed bytes: nothing more is read from this chunk. */
static int broken(struct gl_batch_iter *it)
{
    it->off = it->len;
    it->families_left = it->series_left = 0;
    return GL_EPARSE;
}

static bool rd_batch_head(struct gl_batch_iter *it)
{
    uint32_t n, families;
    int64_t ts, count;
    if (!rd_array(it, &n) || n != 3 || !rd_int(it, &ts) || !rd_int(it, &count) ||
        !rd_array(it, &families)) {
        return false;
    }
    it->ts_ms = ts;
    it->families_left = families;
    it->batch_index++;
    return true;
}

int gl_batch_next_family(struct gl_batch_iter *it, struct gl_family *fam)
{
    while (it->series_left > 0) {
        size_t n = gl_msgpack_skip(it->data + it->off, it->len - it->off);
        if (n == 0) {
            return broken(it);
        }
        it->off += n;
        it->series_left--;
        it->index++;
    }
    while (it->families_left == 0) {
        if (it->off >= it->len) {
            return GL_ENOENT;
        }
        if (!rd_batch_head(it)) {
            return broken(it);
        }
    }
    uint32_t n, series;
    int64_t type;
    memset(fam, 0, sizeof(*fam));
    if (!rd_array(it, &n) || n != 5 || !rd_str(it, &fam->name, &fam->name_len) ||
        !rd_int(it, &type) || type < 0 || type > GL_METRIC_SUMMARY ||
        !rd_str(it, &fam->help, &fam->help_len) || !rd_str(it, &fam->unit, &fam->unit_len) ||
        !rd_array(it, &series)) {
        return broken(it);
    }
    it->families_left--;
    it->series_left = series;
    it->type = (enum gl_metric_type)type;
    fam->type = it->type;
    fam->n_series = series;
    fam->batch_ts_ms = it->ts_ms;
    fam->batch_index = it->batch_index;
    return 0;
}

/* [texts]: one string per point, kept as bytes (their array header included). */
static bool rd_point_texts(struct gl_batch_iter *it, struct gl_series *s)
{
    uint32_t n;
    size_t start = it->off;
    if (!rd_array(it, &n) || n != s->n_points) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *str;
        uint32_t len;
        if (!rd_str(it, &str, &len)) {
            return false;
        }
    }
    s->point_texts = it->data + start;
    s->point_texts_len = it->off - start;
    return true;
}

/* [count, sum, [pairs of float64] (, [texts])]: the pairs are read in place (9 bytes each). */
static bool rd_points(struct gl_batch_iter *it, struct gl_series *s)
{
    uint32_t n, pairs;
    if (!rd_array(it, &n) || (n != 3 && n != 4) || !rd_double(it, &s->count) ||
        !rd_double(it, &s->sum) || !rd_array(it, &pairs) || pairs % 2 != 0 ||
        !need(it, (size_t)pairs * 9)) {
        return false;
    }
    for (uint32_t i = 0; i < pairs; i++) {
        if ((unsigned char)it->data[it->off + (size_t)i * 9] != 0xcb) {
            return false;
        }
    }
    s->points = it->data + it->off;
    s->n_points = pairs / 2;
    it->off += (size_t)pairs * 9;
    return n == 3 || rd_point_texts(it, s);
}

int gl_batch_next_series(struct gl_batch_iter *it, struct gl_series *s)
{
    if (it->series_left == 0) {
        return GL_ENOENT;
    }
    uint32_t n, n_labels;
    memset(s, 0, sizeof(*s));
    s->raw = it->data + it->off;
    if (!rd_array(it, &n) || n != 3 || !rd_array(it, &n_labels) || n_labels % 2 != 0 ||
        n_labels / 2 > GL_LABELS_MAX) {
        return broken(it);
    }
    s->labels = it->data + it->off;
    for (uint32_t i = 0; i < n_labels; i++) {
        const char *str;
        uint32_t len;
        if (!rd_str(it, &str, &len)) {
            return broken(it);
        }
    }
    s->labels_len = (size_t)(it->data + it->off - s->labels);
    s->labels_off = (size_t)(s->labels - s->raw);
    s->n_labels = n_labels / 2;
    bool ok = rd_int(it, &s->ts_ms);
    if (it->type == GL_METRIC_HISTOGRAM || it->type == GL_METRIC_SUMMARY) {
        ok = ok && rd_points(it, s);
    } else {
        ok = ok && rd_double(it, &s->value);
    }
    if (!ok) {
        return broken(it);
    }
    if (s->ts_ms == 0) {
        s->ts_ms = it->ts_ms;
    }
    s->index = it->index++;
    s->raw_len = (size_t)(it->data + it->off - s->raw);
    it->series_left--;
    return 0;
}

int gl_batch_read_series(const char *raw, size_t len, enum gl_metric_type type, int64_t ts_ms,
                         struct gl_series *s)
{
    struct gl_batch_iter it;
    gl_batch_iter_init_bytes(&it, raw, len);
    it.series_left = 1;
    it.type = type;
    it.ts_ms = ts_ms;
    return gl_batch_next_series(&it, s) == 0 && it.off == len ? 0 : GL_EPARSE;
}

uint32_t gl_series_labels(const struct gl_series *s, struct gl_label *out)
{
    struct gl_batch_iter it;
    gl_batch_iter_init_bytes(&it, s->labels, s->labels_len);
    uint32_t i = 0;
    /* The bytes were checked when the series was read. */
    while (i < s->n_labels && rd_str(&it, &out[i].name, &out[i].name_len) &&
           rd_str(&it, &out[i].value, &out[i].value_len)) {
        i++;
    }
    return i;
}

const char *gl_series_point_text(const struct gl_series *s, size_t *cursor, uint32_t *len)
{
    if (s->point_texts == NULL) {
        return NULL;
    }
    struct gl_batch_iter it;
    const char *str;
    uint32_t n;
    gl_batch_iter_init_bytes(&it, s->point_texts, s->point_texts_len);
    it.off = *cursor;
    if (*cursor == 0 && !rd_array(&it, &n)) {
        return NULL;
    }
    if (!rd_str(&it, &str, len)) {
        return NULL;
    }
    *cursor = it.off;
    return str;
}

void gl_series_point(const struct gl_series *s, uint32_t i, double *a, double *b)
{
    uint64_t bits = be(s->points + (size_t)i * 18 + 1, 8);
    memcpy(a, &bits, sizeof(*a));
    bits = be(s->points + (size_t)i * 18 + 10, 8);
    memcpy(b, &bits, sizeof(*b));
}

/* ---- JSON lines ---------------------------------------------------------- */

static void json_number(struct gl_buf *b, double v)
{
    if (isnan(v)) {
        gl_buf_puts(b, "\"NaN\"");
    } else if (isinf(v)) {
        gl_buf_puts(b, v > 0 ? "\"+Inf\"" : "\"-Inf\"");
    } else {
        gl_json_write_double(b, v);
    }
}

/* A bucket bound or quantile as a JSON key, in Prometheus' text ("+Inf", "0.5"). */
static void json_key_number(struct gl_buf *b, double v)
{
    if (isinf(v)) {
        gl_buf_puts(b, v > 0 ? "\"+Inf\"" : "\"-Inf\"");
        return;
    }
    gl_buf_putc(b, '"');
    gl_json_write_double(b, v);
    if (b->len >= 2 && memcmp(b->data + b->len - 2, ".0", 2) == 0) {
        b->len -= 2;
    }
    gl_buf_putc(b, '"');
}

static void json_points(struct gl_buf *b, const struct gl_series *s, const char *key)
{
    gl_buf_printf(b, ",\"count\":");
    json_number(b, s->count);
    gl_buf_puts(b, ",\"sum\":");
    json_number(b, s->sum);
    gl_buf_printf(b, ",\"%s\":{", key);
    for (uint32_t i = 0; i < s->n_points; i++) {
        double k, v;
        gl_series_point(s, i, &k, &v);
        if (i > 0) {
            gl_buf_putc(b, ',');
        }
        json_key_number(b, k);
        gl_buf_putc(b, ':');
        json_number(b, v);
    }
    gl_buf_putc(b, '}');
}

static void json_series(struct gl_buf *b, const struct gl_family *fam,
                        const struct gl_series *s, struct gl_label *labels)
{
    char time[40];
    size_t tl = gl_json_format_time(time, (uint64_t)s->ts_ms * 1000000u);
    gl_buf_puts(b, "{\"@timestamp\":");
    gl_json_write_str(b, time, tl);
    gl_buf_puts(b, ",\"name\":");
    gl_json_write_str(b, fam->name, fam->name_len);
    gl_buf_printf(b, ",\"type\":\"%s\"", gl_metric_type_name(fam->type));
    if (fam->help_len > 0) {
        gl_buf_puts(b, ",\"help\":");
        gl_json_write_str(b, fam->help, fam->help_len);
    }
    if (fam->unit_len > 0) {
        gl_buf_puts(b, ",\"unit\":");
        gl_json_write_str(b, fam->unit, fam->unit_len);
    }
    gl_buf_puts(b, ",\"labels\":{");
    uint32_t n = gl_series_labels(s, labels);
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0) {
            gl_buf_putc(b, ',');
        }
        gl_json_write_str(b, labels[i].name, labels[i].name_len);
        gl_buf_putc(b, ':');
        gl_json_write_str(b, labels[i].value, labels[i].value_len);
    }
    gl_buf_putc(b, '}');
    if (fam->type == GL_METRIC_HISTOGRAM) {
        json_points(b, s, "buckets");
    } else if (fam->type == GL_METRIC_SUMMARY) {
        json_points(b, s, "quantiles");
    } else {
        gl_buf_puts(b, ",\"value\":");
        json_number(b, s->value);
        if (gl_metric_is_stale(s->value)) {
            gl_buf_puts(b, ",\"stale\":true");
        }
    }
    gl_buf_puts(b, "}\n");
}

void gl_batch_write_json(struct gl_buf *b, const struct gl_chunk *c)
{
    struct gl_batch_iter it;
    struct gl_family fam;
    struct gl_series s;
    struct gl_label labels[GL_LABELS_MAX];
    gl_batch_iter_init(&it, c);
    while (gl_batch_next_family(&it, &fam) == 0) {
        while (gl_batch_next_series(&it, &s) == 0) {
            json_series(b, &fam, &s, labels);
        }
    }
}
