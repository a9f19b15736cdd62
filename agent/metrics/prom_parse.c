/*
 * The exposition reader (see prom_parse.h). One pass over the body with a
 * pointer; each line is recognised by its first bytes and read with the
 * rules of Prometheus' two lexers, which differ in small ways that decide
 * whether a target is up:
 *
 *   text 0.0.4     spaces and tabs between tokens; a trailing comma and no
 *                  comma between labels accepted; raw newlines inside label
 *                  values; comments anywhere; timestamps in integer ms; the
 *                  end of the body ends it (a NUL at a line's start too)
 *   OpenMetrics    exactly one space between tokens; no blank lines or other
 *                  comments; timestamps in float seconds; exemplars after
 *                  " # " on _total and _bucket lines; # EOF ends it and
 *                  nothing may follow
 *
 * A sample is matched to the family of the metadata lines before it by its
 * name's suffix for that type (_bucket, _sum, _count, _created, _total...);
 * one that fits none is an untyped family of its own, as Prometheus stores it.
 *
 * Invariant: the reader never reads past end, whatever the bytes; every
 * string it hands out is inside the body or one of its own buffers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics/prom_parse.h"
#include "util/error.h"

#define NORMAL_NAN_BITS 0x7ff8000000000001ull /* what Go's math.NaN() and Prometheus store */
#define FLOAT_TEXT_MAX 128                    /* longer numbers go through a heap copy */

/* ---- characters ---------------------------------------------------------- */

enum { C_MSTART = 1, C_MNAME = 2, C_LSTART = 4, C_LNAME = 8 };

static const unsigned char cls[256] = {
    ['a' ... 'z'] = C_MSTART | C_MNAME | C_LSTART | C_LNAME,
    ['A' ... 'Z'] = C_MSTART | C_MNAME | C_LSTART | C_LNAME,
    ['_'] = C_MSTART | C_MNAME | C_LSTART | C_LNAME,
    [':'] = C_MSTART | C_MNAME,
    ['0' ... '9'] = C_MNAME | C_LNAME,
};

static bool is(char c, unsigned what)
{
    return (cls[(unsigned char)c] & what) != 0;
}

/* The end of a name starting at p (p itself when none starts there). */
static const char *scan_name(const char *p, const char *end, unsigned first, unsigned rest)
{
    if (p >= end || !is(*p, first)) {
        return p;
    }
    for (p++; p < end && is(*p, rest); p++) {
    }
    return p;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    return p;
}

bool gl_prom_metric_name_valid(const char *s, size_t len)
{
    return len > 0 && scan_name(s, s + len, C_MSTART, C_MNAME) == s + len;
}

bool gl_prom_label_name_valid(const char *s, size_t len)
{
    return len > 0 && scan_name(s, s + len, C_LSTART, C_LNAME) == s + len;
}

/*
 * Go's utf8.Valid: no overlong forms, no surrogates, nothing past
 * U+10FFFF. ASCII runs are checked eight bytes at a time.
 */
bool gl_prom_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        if (len - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c < 0xc2 || c > 0xf4 || len - i < n) {
            return false;
        }
        unsigned char lo = 0x80, hi = 0xbf;
        if (c == 0xe0) {
            lo = 0xa0;
        } else if (c == 0xed) {
            hi = 0x9f;
        } else if (c == 0xf0) {
            lo = 0x90;
        } else if (c == 0xf4) {
            hi = 0x8f;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
        }
        i += n;
    }
    return true;
}

double gl_prom_normal_nan(void)
{
    uint64_t bits = NORMAL_NAN_BITS;
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* ---- numbers ------------------------------------------------------------- */

/* Powers of ten exact in a double: a mantissa below 2^53 divided by one rounds right. */
static const double pow10[] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

/*
 * The common case, [+-]digits[.digits] with at most 15 digits: exact
 * without strtod. Returns false when s is anything else.
 */
static bool fast_float(const char *s, size_t len, double *out)
{
    size_t i = 0;
    bool neg = false;
    if (len > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    uint64_t m = 0;
    int digits = 0, frac = -1;
    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            m = m * 10 + (uint64_t)(c - '0');
            if (++digits > 15) {
                return false;
            }
            frac += frac >= 0;
        } else if (c == '.' && frac < 0) {
            frac = 0;
        } else {
            return false;
        }
    }
    if (digits == 0) {
        return false;
    }
    double v = frac > 0 ? (double)m / pow10[frac] : (double)m;
    *out = neg ? -v : v;
    return true;
}

/* Go's special values: [+-]inf, [+-]infinity, nan, any case; a sign on NaN is refused. */
static bool special_float(const char *s, size_t len, double *out)
{
    size_t i = len > 0 && (s[0] == '+' || s[0] == '-') ? 1 : 0;
    if ((len - i == 3 && strncasecmp(s + i, "inf", 3) == 0) ||
        (len - i == 8 && strncasecmp(s + i, "infinity", 8) == 0)) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (i == 0 && len == 3 && strncasecmp(s, "nan", 3) == 0) {
        *out = gl_prom_normal_nan();
        return true;
    }
    return false;
}

/* Whether s is a decimal float as Go writes them: [+-](d+[.d*]|.d+)([eE][+-]d+)? */
static bool decimal_syntax(const char *s, size_t len)
{
    size_t i = len > 0 && (s[0] == '+' || s[0] == '-') ? 1 : 0;
    size_t mant = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        mant++;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            mant++;
        }
    }
    if (mant == 0) {
        return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        i += i < len && (s[i] == '+' || s[i] == '-');
        size_t exp = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            exp++;
        }
        if (exp == 0) {
            return false;
        }
    }
    return i == len;
}

int gl_prom_parse_float(const char *s, size_t len, double *out)
{
    if (fast_float(s, len, out) || special_float(s, len, out)) {
        return 0;
    }
    if (!decimal_syntax(s, len)) {
        return GL_EPARSE;
    }
    char small[FLOAT_TEXT_MAX];
    char *copy = len < sizeof(small) ? small : malloc(len + 1);
    if (copy == NULL) {
        return GL_ENOMEM;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    double v = strtod(copy, NULL);
    if (copy != small) {
        free(copy);
    }
    if (isinf(v)) {
        return GL_EPARSE; /* Go: "value out of range" */
    }
    *out = v;
    return 0;
}

/* ---- errors -------------------------------------------------------------- */

static int fail(struct gl_prom_parser *ps, const char *at, const char *why)
{
    ps->line = 1;
    for (const char *q = ps->body; q < at && q < ps->end; q++) {
        ps->line += *q == '\n';
    }
    ps->err = why;
    ps->p = ps->end;
    return GL_EPARSE;
}

static int fail_text(struct gl_prom_parser *ps, const char *at, const char *fmt, const char *s,
                     size_t len)
{
    snprintf(ps->err_buf, sizeof(ps->err_buf), fmt, (int)(len > 60 ? 60 : len), s);
    return fail(ps, at, ps->err_buf);
}

/* ---- lifecycle ----------------------------------------------------------- */

void gl_prom_parser_init(struct gl_prom_parser *ps)
{
    memset(ps, 0, sizeof(*ps));
    gl_buf_init(&ps->scratch);
    gl_buf_init(&ps->help);
}

void gl_prom_parser_close(struct gl_prom_parser *ps)
{
    gl_buf_close(&ps->scratch);
    gl_buf_close(&ps->help);
}

void gl_prom_parser_reset(struct gl_prom_parser *ps, const char *body, size_t len,
                          enum gl_prom_format format)
{
    ps->body = ps->p = body;
    ps->end = body + len;
    ps->format = format;
    ps->line = 0;
    ps->err = NULL;
    memset(&ps->family, 0, sizeof(ps->family));
    gl_buf_reset(&ps->help);
}

enum gl_prom_format gl_prom_content_format(const char *ct)
{
    static const char om[] = "application/openmetrics-text";
    if (ct == NULL) {
        return GL_PROM_TEXT;
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) {
        n--;
    }
    return n == sizeof(om) - 1 && strncasecmp(ct, om, n) == 0 ? GL_PROM_OPENMETRICS
                                                               : GL_PROM_TEXT;
}

/* ---- families ------------------------------------------------------------ */

static bool suffix_is(const char *s, size_t n, const char *word)
{
    size_t k = strlen(word);
    return n == k && memcmp(s, word, k) == 0;
}

/* What a name ending in suffix (after the family's name) is in a family of type t, or -1. */
static int role_of(enum gl_prom_type t, const char *sfx, size_t n)
{
    bool hist = t == GL_PROM_HISTOGRAM || t == GL_PROM_GAUGEHISTOGRAM;
    if (n == 0) {
        return hist ? -1 : GL_PROM_PLAIN;
    }
    if (suffix_is(sfx, n, "_total")) {
        return t == GL_PROM_COUNTER ? GL_PROM_PLAIN : -1;
    }
    if (suffix_is(sfx, n, "_info")) {
        return t == GL_PROM_INFO ? GL_PROM_PLAIN : -1;
    }
    if (suffix_is(sfx, n, "_bucket")) {
        return hist ? GL_PROM_BUCKET : -1;
    }
    if (suffix_is(sfx, n, "_created")) {
        return t == GL_PROM_COUNTER || t == GL_PROM_HISTOGRAM || t == GL_PROM_SUMMARY
                   ? GL_PROM_CREATED : -1;
    }
    bool sums = t == GL_PROM_HISTOGRAM || t == GL_PROM_SUMMARY;
    if (suffix_is(sfx, n, "_sum")) {
        return sums ? GL_PROM_SUM : -1;
    }
    if (suffix_is(sfx, n, "_count")) {
        return sums ? GL_PROM_COUNT : -1;
    }
    if (suffix_is(sfx, n, "_gsum")) {
        return t == GL_PROM_GAUGEHISTOGRAM ? GL_PROM_GSUM : -1;
    }
    if (suffix_is(sfx, n, "_gcount")) {
        return t == GL_PROM_GAUGEHISTOGRAM ? GL_PROM_GCOUNT : -1;
    }
    return -1;
}

/* Finds the sample's family: the described one when its name fits, else its own. */
static void classify(struct gl_prom_parser *ps, struct gl_prom_sample *s)
{
    const struct gl_prom_family *f = &ps->family;
    if (f->name_len > 0 && s->name_len >= f->name_len &&
        memcmp(s->name, f->name, f->name_len) == 0) {
        int role = role_of(f->type, s->name + f->name_len, s->name_len - f->name_len);
        if (role >= 0) {
            s->family = f;
            s->role = (enum gl_prom_role)role;
            return;
        }
    }
    ps->own = (struct gl_prom_family){ .name = s->name, .name_len = s->name_len };
    s->family = &ps->own;
    s->role = GL_PROM_PLAIN;
}

/* A sample read whole: its NaN made Prometheus' one, its family found. Returns 1. */
static int sample_done(struct gl_prom_parser *ps, struct gl_prom_sample *s)
{
    if (isnan(s->value)) {
        s->value = gl_prom_normal_nan();
    }
    classify(ps, s);
    return 1;
}

/* A metadata line names a family: a new one unless it is the one described already. */
static void describe(struct gl_prom_parser *ps, const char *name, size_t len)
{
    struct gl_prom_family *f = &ps->family;
    if (f->name_len == len && memcmp(f->name, name, len) == 0) {
        return;
    }
    memset(f, 0, sizeof(*f));
    f->name = name;
    f->name_len = (uint32_t)len;
}

static int type_of(const char *s, size_t n, enum gl_prom_format fmt)
{
    static const struct {
        const char *word;
        enum gl_prom_type type;
        unsigned formats; /* 1: text, 2: OpenMetrics */
    } types[] = {
        { "counter", GL_PROM_COUNTER, 3 },     { "gauge", GL_PROM_GAUGE, 3 },
        { "histogram", GL_PROM_HISTOGRAM, 3 }, { "summary", GL_PROM_SUMMARY, 3 },
        { "untyped", GL_PROM_UNTYPED, 1 },     { "unknown", GL_PROM_UNTYPED, 2 },
        { "gaugehistogram", GL_PROM_GAUGEHISTOGRAM, 2 },
        { "info", GL_PROM_INFO, 2 },           { "stateset", GL_PROM_STATESET, 2 },
    };
    unsigned want = fmt == GL_PROM_OPENMETRICS ? 2 : 1;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if ((types[i].formats & want) != 0 && strlen(types[i].word) == n &&
            memcmp(types[i].word, s, n) == 0) {
            return (int)types[i].type;
        }
    }
    return -1;
}

/*
 * Undoes escapes as Prometheus' replacers do: \\ and \n always, \" too
 * when quote is set; any other backslash stays as written.
 */
static void unescape(struct gl_buf *out, const char *s, size_t n, bool quote)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            char d = s[i + 1];
            if (d == '\\' || d == 'n' || (quote && d == '"')) {
                gl_buf_putc(out, d == 'n' ? '\n' : d);
                i++;
                continue;
            }
        }
        gl_buf_putc(out, c);
    }
}

/* Sets the family's help, unescaped into ps->help when it has a backslash. */
static int set_help(struct gl_prom_parser *ps, const char *at, const char *t, size_t n, bool om)
{
    if (!gl_prom_utf8_valid(t, n)) {
        return fail(ps, at, "help text is not a valid utf8 string");
    }
    if (memchr(t, '\\', n) == NULL) {
        ps->family.help = t;
        ps->family.help_len = (uint32_t)n;
        return 0;
    }
    gl_buf_reset(&ps->help);
    unescape(&ps->help, t, n, om);
    ps->family.help = ps->help.data;
    ps->family.help_len = (uint32_t)ps->help.len;
    return 0;
}

/* ---- labels -------------------------------------------------------------- */

/*
 * Finds the end of a quoted label value whose first byte is at p (after
 * the quote): the closing quote, or NULL when the value is not closed by
 * the rules of the format. *escaped tells whether a backslash is inside.
 */
static const char *scan_value(const char *p, const char *end, bool om, bool *escaped)
{
    *escaped = false;
    while (p < end && *p != '"') {
        if (*p == '\\') {
            if (p + 1 >= end || p[1] == '\n') {
                return NULL;
            }
            *escaped = true;
            p++;
        } else if (*p == '\n' && om) {
            return NULL;
        }
        p++;
    }
    return p < end ? p : NULL;
}

/* Keeps label n of the sample; an escaped value is undone into scratch (placed later). */
static void store_label(struct gl_prom_parser *ps, struct gl_prom_sample *s, uint32_t n,
                        struct gl_label l, bool escaped)
{
    ps->scratch_at[n] = 0;
    if (escaped) {
        size_t at = ps->scratch.len;
        unescape(&ps->scratch, l.value, l.value_len, true);
        ps->scratch_at[n] = (uint32_t)at + 1;
        l.value_len = (uint32_t)(ps->scratch.len - at);
    }
    s->labels[n] = l;
}

/*
 * Reads a label set from after its '{' to after its '}' into the sample, or
 * only checks it when s is NULL (an exemplar's). Text rules (om false):
 * whitespace between tokens, commas optional, one trailing; raw newlines in
 * values. OpenMetrics: none of that.
 */
static int parse_labels(struct gl_prom_parser *ps, const char **pp, struct gl_prom_sample *s,
                        bool om)
{
    const char *p = *pp, *end = ps->end;
    uint32_t n = 0;
    if (s != NULL) {
        gl_buf_reset(&ps->scratch);
    }
    for (bool first = true;; first = false) {
        p = om ? p : skip_ws(p, end);
        if (p < end && *p == '}') {
            p++;
            break;
        }
        if (om && !first && (p >= end || *p++ != ',')) {
            return fail(ps, p, "expected comma or right brace");
        }
        struct gl_label l = { .name = p };
        p = scan_name(p, end, C_LSTART, C_LNAME);
        l.name_len = (uint32_t)(p - l.name);
        if (l.name_len == 0) {
            return fail(ps, p, "expected label name");
        }
        p = om ? p : skip_ws(p, end);
        if (p >= end || *p != '=') {
            return fail(ps, p, "expected equal");
        }
        p = om ? p + 1 : skip_ws(p + 1, end);
        bool escaped;
        const char *close = p < end && *p == '"' ? scan_value(p + 1, end, om, &escaped) : NULL;
        if (close == NULL) {
            return fail(ps, p, "expected label value");
        }
        l.value = p + 1;
        l.value_len = (uint32_t)(close - l.value);
        if (!gl_prom_utf8_valid(l.value, l.value_len)) {
            return fail(ps, p, "invalid UTF-8 label value");
        }
        if (n == GL_LABELS_MAX) {
            return fail(ps, p, "a sample with more than 128 labels");
        }
        if (s != NULL) {
            store_label(ps, s, n++, l, escaped);
        }
        p = close + 1;
        if (!om) {
            p = skip_ws(p, end);
            p += p < end && *p == ',';
        }
    }
    /* The scratch buffer may have moved while it grew: values point into it only now. */
    for (uint32_t i = 0; i < n; i++) {
        if (ps->scratch_at[i] != 0) {
            s->labels[i].value = ps->scratch.data + ps->scratch_at[i] - 1;
        }
    }
    if (s != NULL) {
        s->n_labels = n;
    }
    *pp = p;
    return 0;
}

/* ---- the text format ----------------------------------------------------- */

/* Text "# HELP name text" or "# TYPE name type", p after the keyword's whitespace. */
static int text_meta(struct gl_prom_parser *ps, const char *p, bool type)
{
    const char *end = ps->end;
    const char *name = p;
    p = scan_name(p, end, C_MSTART, C_MNAME);
    if (p == name) {
        return fail(ps, p, type ? "expected metric name after TYPE"
                                : "expected metric name after HELP");
    }
    const char *name_end = p;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl != NULL ? nl : end;
    /* The lexer's text token: the rest of the line but its first byte; blank if only spaces. */
    const char *t = skip_ws(p, eol) == eol ? eol : p + 1;
    size_t n = (size_t)(eol - t);
    describe(ps, name, (size_t)(name_end - name));
    if (type) {
        int ty = type_of(t, n, GL_PROM_TEXT);
        if (ty < 0) {
            return fail_text(ps, p, "invalid metric type \"%.*s\"", t, n);
        }
        ps->family.type = (enum gl_prom_type)ty;
    } else if (set_help(ps, p, t, n, false) < 0) {
        return GL_EPARSE;
    }
    ps->p = nl != NULL ? nl + 1 : end;
    return 0;
}

/* A text comment line from its '#': HELP and TYPE are read, anything else skipped. */
static int text_comment(struct gl_prom_parser *ps, const char *p)
{
    const char *end = ps->end;
    const char *q = skip_ws(p + 1, end);
    if (q > p + 1 && end - q > 4 && (memcmp(q, "HELP", 4) == 0 || memcmp(q, "TYPE", 4) == 0) &&
        (q[4] == ' ' || q[4] == '\t')) {
        return text_meta(ps, skip_ws(q + 4, end), q[0] == 'T');
    }
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    ps->p = nl != NULL ? nl + 1 : end;
    return 0;
}

/*
 * A text sample; line is where the line starts, p where its name does. As
 * in Prometheus the name runs from the line's start, so a sample indented
 * with spaces has an invalid name (the scrape then fails where names are
 * checked, after the sample was counted).
 */
static int text_sample(struct gl_prom_parser *ps, const char *line, const char *p)
{
    struct gl_prom_sample *s = &ps->sample;
    const char *end = ps->end;
    p = scan_name(p, end, C_MSTART, C_MNAME);
    s->name = line;
    s->name_len = (uint32_t)(p - line);
    s->n_labels = 0;
    const char *series_end = p;
    p = skip_ws(p, end);
    if (p < end && *p == '{') {
        p++;
        if (parse_labels(ps, &p, s, false) < 0) {
            return GL_EPARSE;
        }
        series_end = p;
        p = skip_ws(p, end);
    }
    s->series = line;
    s->series_len = (uint32_t)(series_end - line);
    const char *v = p;
    while (p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '{') {
        p++;
    }
    if (p == v) {
        return fail(ps, p, "expected value after metric");
    }
    if (gl_prom_parse_float(v, (size_t)(p - v), &s->value) < 0) {
        return fail_text(ps, v, "strconv.ParseFloat: parsing \"%.*s\": invalid syntax", v,
                         (size_t)(p - v));
    }
    p = skip_ws(p, end);
    s->has_ts = false;
    if (p < end && *p >= '0' && *p <= '9') {
        int64_t ts = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (__builtin_mul_overflow(ts, 10, &ts) ||
                __builtin_add_overflow(ts, *p - '0', &ts)) {
                return fail(ps, p, "timestamp out of range");
            }
        }
        s->has_ts = true;
        s->ts_ms = ts;
        p = skip_ws(p, end);
        if (p < end && *p != '\n') {
            return fail(ps, p, "expected next entry after timestamp");
        }
    } else if (p < end && *p != '\n') {
        return fail(ps, p, "expected timestamp or new record");
    }
    ps->p = p < end ? p + 1 : end;
    return sample_done(ps, s);
}

static int text_next(struct gl_prom_parser *ps)
{
    const char *end = ps->end;
    for (;;) {
        const char *line = ps->p;
        const char *p = skip_ws(line, end);
        if (p >= end || *p == '\0') {
            ps->p = end;
            return 0;
        }
        if (*p == '\n') {
            ps->p = p + 1;
            continue;
        }
        if (*p == '#') {
            if (text_comment(ps, p) < 0) {
                return GL_EPARSE;
            }
            continue;
        }
        if (is(*p, C_MSTART)) {
            return text_sample(ps, line, p);
        }
        return fail(ps, p, "not a valid start token");
    }
}

/* ---- OpenMetrics --------------------------------------------------------- */

/* "# HELP name text\n", "# TYPE...", "# UNIT...", p after the keyword and its space. */
static int om_meta(struct gl_prom_parser *ps, const char *p, char kind)
{
    const char *end = ps->end;
    const char *name = p;
    p = scan_name(p, end, C_MSTART, C_MNAME);
    if (p == name) {
        return fail(ps, p, "expected metric name after metadata keyword");
    }
    size_t name_len = (size_t)(p - name);
    const char *nl = p < end && *p == ' ' ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    if (nl == NULL) {
        return fail(ps, p, "expected text in metadata line");
    }
    const char *t = p + 1;
    size_t n = (size_t)(nl - t);
    describe(ps, name, name_len);
    if (kind == 'T') {
        int ty = type_of(t, n, GL_PROM_OPENMETRICS);
        if (ty < 0) {
            return fail_text(ps, t, "invalid metric type \"%.*s\"", t, n);
        }
        ps->family.type = (enum gl_prom_type)ty;
    } else if (kind == 'H') {
        if (set_help(ps, t, t, n, true) < 0) {
            return GL_EPARSE;
        }
    } else {
        if (n > 0 && (name_len < n + 1 || memcmp(name + name_len - n, t, n) != 0 ||
                      name[name_len - n - 1] != '_')) {
            return fail_text(ps, t, "unit not a suffix of metric \"%.*s\"", name, name_len);
        }
        ps->family.unit = t;
        ps->family.unit_len = (uint32_t)n;
    }
    ps->p = nl + 1;
    return 0;
}

/* A token of the form " [^ \n]+" at p: its bytes after the space, or NULL. */
static const char *om_token(const char *p, const char *end, size_t *len)
{
    if (p >= end || *p != ' ') {
        return NULL;
    }
    const char *t = ++p;
    while (p < end && *p != ' ' && *p != '\n') {
        p++;
    }
    *len = (size_t)(p - t);
    return *len > 0 ? t : NULL;
}

/* A float timestamp in seconds: milliseconds, truncated as Go converts. */
static int om_time(struct gl_prom_parser *ps, const char *t, size_t n, int64_t *ms)
{
    double ts;
    if (gl_prom_parse_float(t, n, &ts) < 0 || isnan(ts) || isinf(ts)) {
        return fail(ps, t, "invalid timestamp");
    }
    double v = ts * 1000;
    *ms = v >= 9.2e18 ? INT64_MAX : v <= -9.2e18 ? INT64_MIN : (int64_t)v;
    return 0;
}

/* An exemplar after " # {": read and checked, then forgotten (as Prometheus stores none). */
static int om_exemplar(struct gl_prom_parser *ps, const char *p, const char **out)
{
    const struct gl_prom_sample *s = &ps->sample;
    size_t n;
    if (!(s->name_len >= 6 && memcmp(s->name + s->name_len - 6, "_total", 6) == 0) &&
        !(s->name_len >= 7 && memcmp(s->name + s->name_len - 7, "_bucket", 7) == 0)) {
        return fail_text(ps, p, "metric name %.*s does not support exemplars", s->name,
                         s->name_len);
    }
    if (parse_labels(ps, &p, NULL, true) < 0) {
        return GL_EPARSE;
    }
    const char *t = om_token(p, ps->end, &n);
    double v;
    if (t == NULL || gl_prom_parse_float(t, n, &v) < 0) {
        return fail(ps, p, "expected value after exemplar labels");
    }
    p = t + n;
    if ((t = om_token(p, ps->end, &n)) != NULL) {
        int64_t ms;
        if (om_time(ps, t, n, &ms) < 0) {
            return GL_EPARSE;
        }
        p = t + n;
    }
    if (p >= ps->end || *p != '\n') {
        return fail(ps, p, "expected next entry after exemplar");
    }
    *out = p;
    return 0;
}

/* What follows a value: the end of the line, a timestamp, an exemplar. */
static int om_after_value(struct gl_prom_parser *ps, const char *p)
{
    struct gl_prom_sample *s = &ps->sample;
    const char *end = ps->end;
    size_t n;
    s->has_ts = false;
    for (int i = 0; i < 2; i++) {
        if (p >= end) {
            return fail(ps, p, "data does not end with # EOF");
        }
        if (*p == '\n') {
            ps->p = p + 1;
            return 0;
        }
        if (end - p >= 4 && memcmp(p, " # {", 4) == 0) {
            if (om_exemplar(ps, p + 4, &p) < 0) {
                return GL_EPARSE;
            }
            ps->p = p + 1;
            return 0;
        }
        const char *t = om_token(p, end, &n);
        if (t == NULL || i == 1) {
            return fail(ps, p, i == 0 ? "expected timestamp or # symbol"
                                      : "expected next entry after timestamp");
        }
        if (om_time(ps, t, n, &s->ts_ms) < 0) {
            return GL_EPARSE;
        }
        s->has_ts = true;
        p = t + n;
    }
    return fail(ps, p, "expected next entry after timestamp");
}

static int om_sample(struct gl_prom_parser *ps, const char *p)
{
    struct gl_prom_sample *s = &ps->sample;
    const char *end = ps->end;
    const char *name = p;
    size_t n;
    p = scan_name(p, end, C_MSTART, C_MNAME);
    s->name = name;
    s->name_len = (uint32_t)(p - name);
    s->n_labels = 0;
    if (p < end && *p == '{') {
        p++;
        if (parse_labels(ps, &p, s, true) < 0) {
            return GL_EPARSE;
        }
    }
    s->series = name;
    s->series_len = (uint32_t)(p - name);
    const char *v = om_token(p, end, &n);
    if (v == NULL) {
        return fail(ps, p, "expected value after metric");
    }
    if (gl_prom_parse_float(v, n, &s->value) < 0) {
        return fail_text(ps, v, "strconv.ParseFloat: parsing \"%.*s\": invalid syntax", v, n);
    }
    if (om_after_value(ps, v + n) < 0) {
        return GL_EPARSE;
    }
    return sample_done(ps, s);
}

static int om_next(struct gl_prom_parser *ps)
{
    const char *end = ps->end;
    for (;;) {
        const char *p = ps->p;
        if (p >= end) {
            return fail(ps, p, "data does not end with # EOF");
        }
        if (*p != '#') {
            if (is(*p, C_MSTART)) {
                return om_sample(ps, p);
            }
            return fail(ps, p, "not a valid start token");
        }
        if (end - p < 5 || p[1] != ' ') {
            return fail(ps, p, "not a valid start token");
        }
        const char *k = p + 2;
        if (memcmp(k, "EOF", 3) == 0) {
            const char *after = k + 3 + (k + 3 < end && k[3] == '\n');
            if (after != end) {
                return fail(ps, after, "unexpected data after # EOF");
            }
            ps->p = end;
            return 0;
        }
        if (end - k < 5 || k[4] != ' ' ||
            (memcmp(k, "HELP", 4) != 0 && memcmp(k, "TYPE", 4) != 0 &&
             memcmp(k, "UNIT", 4) != 0)) {
            return fail(ps, p, "not a valid start token");
        }
        if (om_meta(ps, k + 5, k[0]) < 0) {
            return GL_EPARSE;
        }
    }
}

/* ---- entry points -------------------------------------------------------- */

int gl_prom_parse_next(struct gl_prom_parser *ps)
{
    if (ps->err != NULL) {
        return GL_EPARSE;
    }
    return ps->format == GL_PROM_OPENMETRICS ? om_next(ps) : text_next(ps);
}

int gl_prom_parse_series(struct gl_prom_parser *ps, const char *series, size_t len)
{
    struct gl_prom_sample *s = &ps->sample;
    const char *p = series, *end = series + len;
    const char *saved_p = ps->p, *saved_end = ps->end;
    const char *saved_err = ps->err;
    p = scan_name(p, end, C_MSTART, C_MNAME);
    s->name = series;
    s->name_len = (uint32_t)(p - series);
    s->n_labels = 0;
    s->series = series;
    s->series_len = (uint32_t)len;
    ps->end = end;
    p = skip_ws(p, end);
    int rc = 0;
    if (s->name_len == 0) {
        rc = GL_EPARSE;
    } else if (p < end && *p == '{') {
        p++;
        rc = parse_labels(ps, &p, s, false);
    }
    if (rc == 0 && skip_ws(p, end) != end) {
        rc = GL_EPARSE;
    }
    ps->p = saved_p;
    ps->end = saved_end;
    ps->err = saved_err;
    return rc;
}
