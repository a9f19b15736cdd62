/*
 * The exposition writer (see prom_text.h). Families and series come from
 * the batch reader; nothing here allocates but the output buffer's growth.
 * Invariant: what is written parses as the format it claims, whatever the
 * bytes of names, help texts and label values (they are escaped).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/prom_text.h"

const char *gl_prom_content_type(enum gl_prom_format f)
{
    return f == GL_PROM_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                    : "text/plain; version=0.0.4; charset=utf-8";
}

/*
 * The shortest decimal digits that read back as |v| (no trailing zeros) and
 * the exponent of the first: 1234.5 gives "12345" and 3. v is finite, not 0.
 */
static int shortest_digits(double v, char digits[20], int *exp)
{
    char e[40];
    int nd = 0;
    v = fabs(v);
    if (v == floor(v) && v < 1e17) {
        nd = snprintf(digits, 20, "%.0f", v); /* exact: an integer below 2^57 */
        *exp = nd - 1;
    } else {
        for (int p = 1; p <= 17; p++) {
            snprintf(e, sizeof(e), "%.*e", p - 1, v);
            if (strtod(e, NULL) == v) {
                break;
            }
        }
        for (const char *q = e; *q != '\0' && *q != 'e'; q++) {
            if (*q >= '0' && *q <= '9') {
                digits[nd++] = *q;
            }
        }
        *exp = atoi(strchr(e, 'e') + 1);
    }
    while (nd > 1 && digits[nd - 1] == '0') {
        nd--;
    }
    return nd;
}

/*
 * As Go's strconv.FormatFloat(v, 'g', -1, 64) writes it, which is what
 * Prometheus' client libraries put in the text format: the shortest exact
 * digits, in exponent form below 1e-4 and from 1e6 ("1e+06", "2.5e-07").
 */
size_t gl_prom_format_number(char out[GL_PROM_NUMBER_MAX], double v)
{
    if (isnan(v)) {
        return (size_t)snprintf(out, GL_PROM_NUMBER_MAX, "NaN");
    }
    if (isinf(v)) {
        return (size_t)snprintf(out, GL_PROM_NUMBER_MAX, v > 0 ? "+Inf" : "-Inf");
    }
    if (v == 0) {
        return (size_t)snprintf(out, GL_PROM_NUMBER_MAX, signbit(v) ? "-0" : "0");
    }
    char d[20];
    int exp, nd = shortest_digits(v, d, &exp);
    char *o = out;
    if (v < 0) {
        *o++ = '-';
    }
    if (exp < -4 || exp >= 6) {
        *o++ = d[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        o += sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp >= 0) {
        for (int i = 0; i <= exp; i++) {
            *o++ = i < nd ? d[i] : '0';
        }
        if (nd > exp + 1) {
            *o++ = '.';
            memcpy(o, d + exp + 1, (size_t)(nd - exp - 1));
            o += nd - exp - 1;
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -exp - 1; i++) {
            *o++ = '0';
        }
        memcpy(o, d, (size_t)nd);
        o += nd;
    }
    *o = '\0';
    return (size_t)(o - out);
}

void gl_prom_number(struct gl_buf *out, double v)
{
    char text[GL_PROM_NUMBER_MAX];
    size_t n = gl_prom_format_number(text, v);
    gl_buf_append(out, text, n);
}

/* Escapes \ and newline (help texts), and " too (label values, and help in OpenMetrics). */
static void escaped(struct gl_buf *out, const char *s, size_t n, bool quote)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\' && c != '\n' && !(quote && c == '"')) {
            continue;
        }
        gl_buf_append(out, s + run, i - run);
        gl_buf_putc(out, '\\');
        gl_buf_putc(out, c == '\n' ? 'n' : c);
        run = i + 1;
    }
    gl_buf_append(out, s + run, n - run);
}

static bool has_suffix(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* The name a family goes by in its metadata lines, and its TYPE word. */
static size_t meta_name(const struct gl_family *fam, enum gl_prom_format f, const char **type)
{
    static const char *const text_types[] = { "untyped", "counter", "gauge", "histogram",
                                              "summary" };
    static const char *const om_types[] = { "unknown", "counter", "gauge", "histogram",
                                            "summary" };
    *type = f == GL_PROM_OPENMETRICS ? om_types[fam->type] : text_types[fam->type];
    if (f != GL_PROM_OPENMETRICS || fam->type != GL_METRIC_COUNTER) {
        return fam->name_len;
    }
    if (!has_suffix(fam->name, fam->name_len, "_total")) {
        *type = "unknown";
        return fam->name_len;
    }
    return fam->name_len - 6;
}

void gl_prom_family(struct gl_buf *out, const struct gl_family *fam, enum gl_prom_format f)
{
    const char *type;
    size_t n = meta_name(fam, f, &type);
    if (fam->help_len > 0) {
        gl_buf_puts(out, "# HELP ");
        gl_buf_append(out, fam->name, n);
        gl_buf_putc(out, ' ');
        escaped(out, fam->help, fam->help_len, f == GL_PROM_OPENMETRICS);
        gl_buf_putc(out, '\n');
    }
    gl_buf_puts(out, "# TYPE ");
    gl_buf_append(out, fam->name, n);
    gl_buf_printf(out, " %s\n", type);
    if (f == GL_PROM_OPENMETRICS && fam->unit_len > 0 && n > fam->unit_len &&
        fam->name[n - fam->unit_len - 1] == '_' &&
        memcmp(fam->name + n - fam->unit_len, fam->unit, fam->unit_len) == 0) {
        gl_buf_puts(out, "# UNIT ");
        gl_buf_append(out, fam->name, n);
        gl_buf_putc(out, ' ');
        gl_buf_append(out, fam->unit, fam->unit_len);
        gl_buf_putc(out, '\n');
    }
}

static int name_cmp(const struct gl_label *a, const struct gl_label *b)
{
    uint32_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, n);
    return c != 0 ? c : (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

static void one_label(struct gl_buf *out, const struct gl_label *l, bool *first)
{
    gl_buf_putc(out, *first ? '{' : ',');
    *first = false;
    gl_buf_append(out, l->name, l->name_len);
    gl_buf_puts(out, "=\"");
    escaped(out, l->value, l->value_len, true);
    gl_buf_putc(out, '"');
}

/* A line's label set: the series' and the extra ones merged by name, plus `last` (le, quantile). */
struct line_labels {
    const struct gl_label *own;
    size_t n_own;
    const struct gl_label *extra;
    size_t n_extra;
};

static void write_labels(struct gl_buf *out, const struct line_labels *l, const char *last_name,
                         const char *last, size_t last_len)
{
    bool first = true;
    size_t i = 0, j = 0;
    while (i < l->n_own || j < l->n_extra) {
        int c = i == l->n_own ? 1 : j == l->n_extra ? -1 : name_cmp(&l->own[i], &l->extra[j]);
        if (c <= 0) {
            one_label(out, &l->own[i++], &first);
            j += c == 0;
        } else {
            one_label(out, &l->extra[j++], &first);
        }
    }
    if (last_name != NULL) {
        gl_buf_putc(out, first ? '{' : ',');
        first = false;
        gl_buf_printf(out, "%s=\"", last_name);
        escaped(out, last, last_len, true);
        gl_buf_putc(out, '"');
    }
    if (!first) {
        gl_buf_putc(out, '}');
    }
}

static void write_line(struct gl_buf *out, const struct gl_family *fam, const char *suffix,
                       const struct line_labels *l, const char *last_name, const char *last,
                       size_t last_len, double value, int64_t ts_ms, enum gl_prom_format f)
{
    gl_buf_append(out, fam->name, fam->name_len);
    gl_buf_puts(out, suffix);
    write_labels(out, l, last_name, last, last_len);
    gl_buf_putc(out, ' ');
    gl_prom_number(out, value);
    if (ts_ms != 0 && f == GL_PROM_OPENMETRICS) {
        gl_buf_printf(out, " %lld.%03lld", (long long)(ts_ms / 1000), (long long)(ts_ms % 1000));
    } else if (ts_ms != 0) {
        gl_buf_printf(out, " %lld", (long long)ts_ms);
    }
    gl_buf_putc(out, '\n');
}

void gl_prom_series(struct gl_buf *out, const struct gl_family *fam, const struct gl_series *s,
                    const struct gl_label *extra, size_t n_extra, bool timestamps,
                    enum gl_prom_format f)
{
    struct gl_label own[GL_LABELS_MAX];
    struct line_labels l = { own, gl_series_labels(s, own), extra, n_extra };
    int64_t ts = timestamps ? s->ts_ms : 0;
    /* OpenMetrics names a counter's sample <family>_total; the family already ends so. */
    if (fam->type != GL_METRIC_HISTOGRAM && fam->type != GL_METRIC_SUMMARY) {
        write_line(out, fam, "", &l, NULL, NULL, 0, s->value, ts, f);
        return;
    }
    bool histogram = fam->type == GL_METRIC_HISTOGRAM;
    size_t cursor = 0;
    for (uint32_t i = 0; i < s->n_points; i++) {
        double k, v;
        char num[GL_PROM_NUMBER_MAX];
        uint32_t len;
        gl_series_point(s, i, &k, &v);
        const char *text = gl_series_point_text(s, &cursor, &len);
        if (text == NULL) {
            text = num;
            len = (uint32_t)gl_prom_format_number(num, k);
        }
        write_line(out, fam, histogram ? "_bucket" : "", &l, histogram ? "le" : "quantile", text,
                   len, v, ts, f);
    }
    write_line(out, fam, "_sum", &l, NULL, NULL, 0, s->sum, ts, f);
    write_line(out, fam, "_count", &l, NULL, NULL, 0, s->count, ts, f);
}

void gl_prom_write(struct gl_buf *out, const char *data, size_t len, enum gl_prom_format f)
{
    struct gl_batch_iter it;
    struct gl_family fam;
    struct gl_series s;
    gl_batch_iter_init_bytes(&it, data, len);
    while (gl_batch_next_family(&it, &fam) == 0) {
        gl_prom_family(out, &fam, f);
        while (gl_batch_next_series(&it, &s) == 0) {
            gl_prom_series(out, &fam, &s, NULL, 0, false, f);
        }
    }
    if (f == GL_PROM_OPENMETRICS) {
        gl_buf_puts(out, "# EOF\n");
    }
}
