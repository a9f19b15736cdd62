/*
 * The exposition reader, against what Prometheus 2.42 does with the same
 * bytes (each case was scraped by the real binary): escapes in label values
 * and HELP, NaN and infinities, timestamps, histograms, summaries,
 * exemplars, missing TYPE, duplicate series, CRLF, empty bodies,
 * OpenMetrics' # EOF, units and _created, and the whitespace rules that
 * decide whether a target is up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics/prom_parse.h"
#include "util/error.h"

static const char *const roles[] = { "", ":bucket", ":sum", ":count", ":created", ":gsum",
                                     ":gcount" };
static const char *const types[] = { "untyped", "counter",        "gauge", "histogram",
                                     "summary", "gaugehistogram", "info",  "stateset" };

/* One sample as a line: family(type)role name{labels} value [@ts]; labels in written order. */
static void render(struct gl_buf *out, const struct gl_prom_sample *s)
{
    const struct gl_prom_family *f = s->family;
    gl_buf_printf(out, "%.*s(%s)%s ", (int)f->name_len, f->name, types[f->type],
                  roles[s->role]);
    gl_buf_printf(out, "%.*s", (int)s->name_len, s->name);
    for (uint32_t i = 0; i < s->n_labels; i++) {
        gl_buf_printf(out, "%s%.*s=%.*s", i ? "," : "{", (int)s->labels[i].name_len,
                      s->labels[i].name, (int)s->labels[i].value_len, s->labels[i].value);
    }
    gl_buf_printf(out, "%s %.17g", s->n_labels ? "}" : "", s->value);
    if (s->has_ts) {
        gl_buf_printf(out, " @%lld", (long long)s->ts_ms);
    }
    if (f->help_len > 0) {
        gl_buf_printf(out, " help=%.*s", (int)f->help_len, f->help);
    }
    if (f->unit_len > 0) {
        gl_buf_printf(out, " unit=%.*s", (int)f->unit_len, f->unit);
    }
    gl_buf_putc(out, '\n');
}

/* Parses a whole body: every sample rendered, then "ERR line N: reason" on a failure. */
static char *parse(const char *body, size_t len, enum gl_prom_format f)
{
    static struct gl_buf out;
    struct gl_prom_parser ps;
    int rc;
    gl_buf_close(&out);
    gl_buf_init(&out);
    gl_buf_puts(&out, "");
    gl_prom_parser_init(&ps);
    gl_prom_parser_reset(&ps, body, len, f);
    while ((rc = gl_prom_parse_next(&ps)) == 1) {
        render(&out, &ps.sample);
    }
    if (rc < 0) {
        gl_buf_printf(&out, "ERR line %d: %s\n", ps.line, ps.err);
    }
    gl_prom_parser_close(&ps);
    return out.data;
}

#define TEXT(s) parse((s), sizeof(s) - 1, GL_PROM_TEXT)
#define OM(s) parse((s), sizeof(s) - 1, GL_PROM_OPENMETRICS)

static void test_prom_parse_text_families_and_labels(void **state)
{
    (void)state;
    assert_string_equal(TEXT("# HELP http_requests_total Requests.\n"
                             "# TYPE http_requests_total counter\n"
                             "http_requests_total{method=\"get\",code=\"200\"} 1027\n"
                             "http_requests_total{method=\"post\",code=\"500\"} 3 1700000000123\n"),
                        "http_requests_total(counter) http_requests_total{method=get,code=200} "
                        "1027 help=Requests.\n"
                        "http_requests_total(counter) http_requests_total{method=post,code=500} "
                        "3 @1700000000123 help=Requests.\n");
}

static void test_prom_parse_escapes_in_label_values_and_help(void **state)
{
    (void)state;
    /* Label values undo \\, \" and \n; \t stays as written. Text HELP undoes \\ and \n only. */
    assert_string_equal(TEXT("# HELP a x\\\\y\\nz\\\"q\na{v=\"t\\tq\\\"n\\nb\\\\\"} 1\n"),
                        "a(untyped) a{v=t\\tq\"n\nb\\} 1 help=x\\y\nz\\\"q\n");
    /* OpenMetrics' HELP undoes \" as well. */
    assert_string_equal(OM("# HELP a h\\\"q\na 1\n# EOF\n"), "a(untyped) a 1 help=h\"q\n");
    /* A raw newline may sit in a text label value, not in an OpenMetrics one. */
    assert_string_equal(TEXT("a{x=\"1\n2\"} 1\n"), "a(untyped) a{x=1\n2} 1\n");
    assert_string_equal(OM("a{x=\"1\n2\"} 1\n# EOF\n"), "ERR line 1: expected label value\n");
    assert_string_equal(TEXT("a{x=\"\xff\"} 1\n"), "ERR line 1: invalid UTF-8 label value\n");
    assert_string_equal(TEXT("# HELP a \xc0\xaf\na 1\n"),
                        "ERR line 1: help text is not a valid utf8 string\n");
}

static void test_prom_parse_nan_and_infinities(void **state)
{
    (void)state;
    assert_string_equal(TEXT("a +Inf\nb -inf\nc NaN\nd Infinity\ne nan\nf .5\ng 5.\nh 1e-400\n"),
                        "a(untyped) a inf\nb(untyped) b -inf\nc(untyped) c nan\n"
                        "d(untyped) d inf\ne(untyped) e nan\nf(untyped) f 0.5\n"
                        "g(untyped) g 5\nh(untyped) h 0\n");
    /* A NaN is Prometheus' normal NaN, never the staleness marker's bits. */
    struct gl_prom_parser ps;
    gl_prom_parser_init(&ps);
    gl_prom_parser_reset(&ps, "a NaN\n", 6, GL_PROM_TEXT);
    assert_int_equal(gl_prom_parse_next(&ps), 1);
    uint64_t bits;
    memcpy(&bits, &ps.sample.value, sizeof(bits));
    assert_true(bits == 0x7ff8000000000001ull);
    gl_prom_parser_close(&ps);
    assert_string_equal(TEXT("a +NaN\n"),
                        "ERR line 1: strconv.ParseFloat: parsing \"+NaN\": invalid syntax\n");
}

static void test_prom_parse_float_as_go_reads_it(void **state)
{
    (void)state;
    double v;
    assert_int_equal(gl_prom_parse_float("1e400", 5, &v), GL_EPARSE);
    assert_int_equal(gl_prom_parse_float("0x10", 4, &v), GL_EPARSE);
    assert_int_equal(gl_prom_parse_float("1_000", 5, &v), GL_EPARSE);
    assert_int_equal(gl_prom_parse_float("1e", 2, &v), GL_EPARSE);
    assert_int_equal(gl_prom_parse_float("", 0, &v), GL_EPARSE);
    assert_int_equal(gl_prom_parse_float("infin", 5, &v), GL_EPARSE);
    assert_int_equal(gl_prom_parse_float("-0", 2, &v), 0);
    assert_true(v == 0 && signbit(v));
    assert_int_equal(gl_prom_parse_float("+.5e+1", 6, &v), 0);
    assert_true(v == 5);
    assert_int_equal(gl_prom_parse_float("0.1", 3, &v), 0);
    assert_true(v == 0.1);
    assert_int_equal(gl_prom_parse_float("1234567890.123456789", 20, &v), 0);
    assert_true(v == 1234567890.123456789);
    assert_int_equal(gl_prom_parse_float("-INFINITY", 9, &v), 0);
    assert_true(isinf(v) && v < 0);
}

static void test_prom_parse_timestamps(void **state)
{
    (void)state;
    /* Text: integer milliseconds, spaces after allowed, no sign. */
    assert_string_equal(TEXT("a 1 123 \nb 2 000\n"), "a(untyped) a 1 @123\nb(untyped) b 2 @0\n");
    assert_string_equal(TEXT("a 1 -5\n"), "ERR line 1: expected timestamp or new record\n");
    assert_string_equal(TEXT("a 1 2 3\n"), "ERR line 1: expected next entry after timestamp\n");
    /* OpenMetrics: float seconds, truncated to milliseconds. */
    assert_string_equal(OM("a 1 1700000000.1239\nb 1 -1.5\n# EOF\n"),
                        "a(untyped) a 1 @1700000000123\nb(untyped) b 1 @-1500\n");
    assert_string_equal(OM("a 1 NaN\n# EOF\n"), "ERR line 1: invalid timestamp\n");
}

static void test_prom_parse_histograms_and_summaries(void **state)
{
    (void)state;
    assert_string_equal(TEXT("# TYPE h histogram\n"
                             "h_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
                             "h_sum 3\nh_count 2\nh 9\n"
                             "# TYPE s summary\n"
                             "s{quantile=\"0.5\"} 7\ns_sum 1\ns_count 1\ns_created 5\n"),
                        "h(histogram):bucket h_bucket{le=1.0} 1\n"
                        "h(histogram):bucket h_bucket{le=+Inf} 2\n"
                        "h(histogram):sum h_sum 3\nh(histogram):count h_count 2\n"
                        "h(untyped) h 9\n"
                        "s(summary) s{quantile=0.5} 7\ns(summary):sum s_sum 1\n"
                        "s(summary):count s_count 1\ns(summary):created s_created 5\n");
    assert_string_equal(OM("# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 1\ng_gcount 1\n"
                           "g_gsum 1\n# TYPE i info\ni_info{v=\"1\"} 1\n"
                           "# TYPE st stateset\nst{st=\"a\"} 1\n# EOF\n"),
                        "g(gaugehistogram):bucket g_bucket{le=+Inf} 1\n"
                        "g(gaugehistogram):gcount g_gcount 1\ng(gaugehistogram):gsum g_gsum 1\n"
                        "i(info) i_info{v=1} 1\nst(stateset) st{st=a} 1\n");
}

static void test_prom_parse_exemplars(void **state)
{
    (void)state;
    assert_string_equal(OM("# TYPE a counter\na_total 1 # {t=\"1\"} 1 123\n"
                           "# TYPE h histogram\n"
                           "h_bucket{le=\"+Inf\"} 1 1.5 # {id=\"x\"} 0.5 1.5\n"
                           "h_sum 1\nh_count 1\na_total 2 # {} 1\n# EOF\n"),
                        "a(counter) a_total 1\nh(histogram):bucket h_bucket{le=+Inf} 1 @1500\n"
                        "h(histogram):sum h_sum 1\nh(histogram):count h_count 1\n"
                        "a_total(untyped) a_total 2\n");
    assert_string_equal(OM("a 1 # {t=\"1\"} 1\n# EOF\n"),
                        "ERR line 1: metric name a does not support exemplars\n");
    assert_string_equal(OM("a_total 1 # {t=\"1\"}\n# EOF\n"),
                        "ERR line 1: expected value after exemplar labels\n");
}

static void test_prom_parse_missing_type_and_duplicates(void **state)
{
    (void)state;
    /* No TYPE: each name is an untyped family; a repeated series is read twice (the
     * scrape keeps the first, as Prometheus stores it). */
    assert_string_equal(TEXT("a 1\na 2\n# HELP b B.\nb 3\nc_total 4\n"),
                        "a(untyped) a 1\na(untyped) a 2\nb(untyped) b 3 help=B.\n"
                        "c_total(untyped) c_total 4\n");
    /* A name that fits no suffix of the family's type is a family of its own. */
    assert_string_equal(TEXT("# TYPE a gauge\na_sum 1\n"), "a_sum(untyped) a_sum 1\n");
}

static void test_prom_parse_crlf_fails_as_in_prometheus(void **state)
{
    (void)state;
    assert_string_equal(TEXT("# TYPE a counter\r\na 1\r\n"),
                        "ERR line 1: invalid metric type \"counter\r\"\n");
    assert_string_equal(TEXT("a 1\r\n"),
                        "ERR line 1: strconv.ParseFloat: parsing \"1\r\": invalid syntax\n");
}

static void test_prom_parse_empty_bodies(void **state)
{
    (void)state;
    assert_string_equal(TEXT(""), "");
    assert_string_equal(TEXT("\n\n   \n# just a comment\n"), "");
    assert_string_equal(OM(""), "ERR line 1: data does not end with # EOF\n");
    assert_string_equal(OM("# EOF\n"), "");
}

static void test_prom_parse_openmetrics_eof(void **state)
{
    (void)state;
    assert_string_equal(OM("a 1\n# EOF"), "a(untyped) a 1\n");
    assert_string_equal(OM("a 1\n"),
                        "a(untyped) a 1\nERR line 2: data does not end with # EOF\n");
    assert_string_equal(OM("a 1\n# EOF\n\n"),
                        "a(untyped) a 1\nERR line 3: unexpected data after # EOF\n");
    assert_string_equal(OM("a 1"), "ERR line 1: data does not end with # EOF\n");
    /* In the text format # EOF is a comment. */
    assert_string_equal(TEXT("a 1\n# EOF\nb 2\n"), "a(untyped) a 1\nb(untyped) b 2\n");
}

static void test_prom_parse_units_and_created(void **state)
{
    (void)state;
    assert_string_equal(OM("# TYPE req_seconds counter\n# UNIT req_seconds seconds\n"
                           "# HELP req_seconds Time.\n"
                           "req_seconds_total{a=\"1\"} 2.5\nreq_seconds_created{a=\"1\"} 1.5e9\n"
                           "# EOF\n"),
                        "req_seconds(counter) req_seconds_total{a=1} 2.5 help=Time. "
                        "unit=seconds\n"
                        "req_seconds(counter):created req_seconds_created{a=1} 1500000000 "
                        "help=Time. unit=seconds\n");
    assert_string_equal(OM("# UNIT a seconds\na 1\n# EOF\n"),
                        "ERR line 1: unit not a suffix of metric \"a\"\n");
}

static void test_prom_parse_text_whitespace_rules(void **state)
{
    (void)state;
    assert_string_equal(TEXT("a\t{b=\"1\"}\t2\t\nc { d = \"1\" , } 3\ne{x=\"1\" y=\"2\"} 4\n"),
                        "a(untyped) a{b=1} 2\nc(untyped) c{d=1} 3\ne(untyped) e{x=1,y=2} 4\n");
    /* As in Prometheus an indented sample's name keeps its spaces (and is refused later). */
    assert_string_equal(TEXT("  a 1\n"), "  a(untyped)   a 1\n");
    assert_string_equal(TEXT("a{,} 1\n"), "ERR line 1: expected label name\n");
    assert_string_equal(TEXT("a 1{\n"), "ERR line 1: expected timestamp or new record\n");
    assert_string_equal(TEXT("a\n"), "ERR line 1: expected value after metric\n");
    assert_string_equal(TEXT("1a 1\n"), "ERR line 1: not a valid start token\n");
    /* A NUL where a line starts ends the body, as Prometheus' lexer reads it. */
    assert_string_equal(parse("a 1\n\0b 2\n", 9, GL_PROM_TEXT), "a(untyped) a 1\n");
}

static void test_prom_parse_text_metadata_lines(void **state)
{
    (void)state;
    /* The help is the rest of the line but its first byte; blank when only spaces. */
    assert_string_equal(TEXT("# HELP a  two\na 1\n# HELP b\nb 1\n# HELP c   \nc 1\n"),
                        "a(untyped) a 1 help= two\nb(untyped) b 1\nc(untyped) c 1\n");
    assert_string_equal(TEXT("# TYPE a  gauge\na 1\n"),
                        "ERR line 1: invalid metric type \" gauge\"\n");
    assert_string_equal(TEXT("# TYPE a\na 1\n"), "ERR line 1: invalid metric type \"\"\n");
    assert_string_equal(TEXT("# TYPE a unknown\n"), "ERR line 1: invalid metric type \"unknown\"\n");
    assert_string_equal(TEXT("#HELP a b\n# HELPa b\na 1\n"), "a(untyped) a 1\n");
    assert_string_equal(TEXT("# HELP 1a b\n"), "ERR line 1: expected metric name after HELP\n");
}

static void test_prom_parse_openmetrics_strictness(void **state)
{
    (void)state;
    assert_string_equal(OM("a 1\n\n# EOF\n"),
                        "a(untyped) a 1\nERR line 2: not a valid start token\n");
    assert_string_equal(OM("# foo\na 1\n# EOF\n"), "ERR line 1: not a valid start token\n");
    assert_string_equal(OM("a\t1\n# EOF\n"), "ERR line 1: expected value after metric\n");
    assert_string_equal(OM("a{x=\"1\",} 1\n# EOF\n"), "ERR line 1: expected label name\n");
    assert_string_equal(OM("a{x=\"1\" y=\"1\"} 1\n# EOF\n"),
                        "ERR line 1: expected comma or right brace\n");
    assert_string_equal(OM("a  1\n# EOF\n"), "ERR line 1: expected value after metric\n");
    assert_string_equal(OM("# TYPE a untyped\n# EOF\n"),
                        "ERR line 1: invalid metric type \"untyped\"\n");
    assert_string_equal(OM("# HELP a\n# EOF\n"), "ERR line 1: expected text in metadata line\n");
}

static void test_prom_parse_label_count_is_bounded(void **state)
{
    (void)state;
    struct gl_buf b;
    gl_buf_init(&b);
    gl_buf_puts(&b, "a{");
    for (int i = 0; i < GL_LABELS_MAX; i++) {
        gl_buf_printf(&b, "l%d=\"v\",", i);
    }
    gl_buf_puts(&b, "} 1\n");
    assert_int_equal(strncmp(parse(b.data, b.len, GL_PROM_TEXT), "a(untyped) a{l0=v", 17), 0);
    b.len -= 4;
    gl_buf_puts(&b, "x=\"v\"} 1\n");
    assert_string_equal(parse(b.data, b.len, GL_PROM_TEXT),
                        "ERR line 1: a sample with more than 128 labels\n");
    gl_buf_close(&b);
}

static void test_prom_parse_series_reads_back(void **state)
{
    (void)state;
    struct gl_prom_parser ps;
    gl_prom_parser_init(&ps);
    const char body[] = "x_total{a=\"q\\\"\\n\", b = \"2\",} 1\n";
    gl_prom_parser_reset(&ps, body, sizeof(body) - 1, GL_PROM_TEXT);
    assert_int_equal(gl_prom_parse_next(&ps), 1);
    char series[64];
    size_t n = ps.sample.series_len;
    memcpy(series, ps.sample.series, n);
    assert_int_equal(n, 28);
    memset(&ps.sample, 0, sizeof(ps.sample));
    assert_int_equal(gl_prom_parse_series(&ps, series, n), 0);
    assert_int_equal(ps.sample.name_len, 7);
    assert_int_equal(ps.sample.n_labels, 2);
    assert_memory_equal(ps.sample.labels[0].value, "q\"\n", 3);
    assert_int_equal(ps.sample.labels[0].value_len, 3);
    assert_int_equal(gl_prom_parse_series(&ps, "x{a=\"1\"} 2", 10), GL_EPARSE);
    assert_int_equal(gl_prom_parse_series(&ps, "", 0), GL_EPARSE);
    gl_prom_parser_close(&ps);
}

static void test_prom_parse_content_type_chooses_the_format(void **state)
{
    (void)state;
    assert_int_equal(gl_prom_content_format("application/openmetrics-text; version=1.0.0"),
                     GL_PROM_OPENMETRICS);
    assert_int_equal(gl_prom_content_format("Application/OpenMetrics-Text"),
                     GL_PROM_OPENMETRICS);
    assert_int_equal(gl_prom_content_format("text/plain; version=0.0.4"), GL_PROM_TEXT);
    assert_int_equal(gl_prom_content_format("garbage;;"), GL_PROM_TEXT);
    assert_int_equal(gl_prom_content_format(NULL), GL_PROM_TEXT);
}

static void test_prom_parse_names_and_utf8(void **state)
{
    (void)state;
    assert_true(gl_prom_metric_name_valid("a:b_c9", 6));
    assert_false(gl_prom_metric_name_valid("9a", 2));
    assert_false(gl_prom_label_name_valid("a:b", 3));
    assert_false(gl_prom_label_name_valid("", 0));
    assert_true(gl_prom_utf8_valid("h\xc3\xa9llo w\xe2\x82\xacrld, long enough", 26));
    assert_false(gl_prom_utf8_valid("\xed\xa0\x80", 3));     /* a surrogate */
    assert_false(gl_prom_utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    assert_false(gl_prom_utf8_valid("\xe2\x82", 2));         /* cut short */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_parse_text_families_and_labels),
        cmocka_unit_test(test_prom_parse_escapes_in_label_values_and_help),
        cmocka_unit_test(test_prom_parse_nan_and_infinities),
        cmocka_unit_test(test_prom_parse_float_as_go_reads_it),
        cmocka_unit_test(test_prom_parse_timestamps),
        cmocka_unit_test(test_prom_parse_histograms_and_summaries),
        cmocka_unit_test(test_prom_parse_exemplars),
        cmocka_unit_test(test_prom_parse_missing_type_and_duplicates),
        cmocka_unit_test(test_prom_parse_crlf_fails_as_in_prometheus),
        cmocka_unit_test(test_prom_parse_empty_bodies),
        cmocka_unit_test(test_prom_parse_openmetrics_eof),
        cmocka_unit_test(test_prom_parse_units_and_created),
        cmocka_unit_test(test_prom_parse_text_whitespace_rules),
        cmocka_unit_test(test_prom_parse_text_metadata_lines),
        cmocka_unit_test(test_prom_parse_openmetrics_strictness),
        cmocka_unit_test(test_prom_parse_label_count_is_bounded),
        cmocka_unit_test(test_prom_parse_series_reads_back),
        cmocka_unit_test(test_prom_parse_content_type_chooses_the_format),
        cmocka_unit_test(test_prom_parse_names_and_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
