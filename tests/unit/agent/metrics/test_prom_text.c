/*
 * The exposition writer: text 0.0.4 and OpenMetrics lines for every type,
 * escaping, extra labels merged by name, timestamps, numbers as Prometheus
 * writes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "metrics/batch.h"
#include "metrics/prom_text.h"

#define L(n, v) { (n), sizeof(n) - 1, (v), sizeof(v) - 1 }

static void family(struct gl_batch *b, const char *name, enum gl_metric_type t,
                   const char *help, const char *unit)
{
    gl_batch_family(b, name, strlen(name), t, help, help ? strlen(help) : 0, unit,
                    unit ? strlen(unit) : 0);
}

/* One batch of every kind of family. */
static void sample_batch(struct gl_buf *buf)
{
    struct gl_batch b;
    gl_batch_begin_buf(&b, buf, 1700000000000);
    family(&b, "http_requests_total", GL_METRIC_COUNTER, "Requests \\ seen.\nAll.", NULL);
    struct gl_label l[] = { L("path", "/a\"b\\c\nd"), L("code", "200") };
    gl_batch_sample(&b, l, 2, 0, 1027);
    family(&b, "temp_celsius", GL_METRIC_GAUGE, "Temperature.", "celsius");
    gl_batch_sample(&b, NULL, 0, 0, -3.25);
    family(&b, "odd", GL_METRIC_UNTYPED, NULL, NULL);
    gl_batch_sample(&b, NULL, 0, 0, NAN);
    family(&b, "lat_seconds", GL_METRIC_HISTOGRAM, "Latency.", "seconds");
    struct gl_bucket bk[] = { { 0.05, 1 }, { 1, 3 }, { INFINITY, 4 } };
    gl_batch_histogram(&b, l + 1, 1, 0, bk, 3, 2.5e-3, 4);
    family(&b, "rpc_seconds", GL_METRIC_SUMMARY, NULL, NULL);
    struct gl_quantile q[] = { { 0.5, 0.125 }, { 0.99, 1e21 } };
    gl_batch_summary(&b, NULL, 0, 0, q, 2, 17, 9);
    family(&b, "jobs", GL_METRIC_COUNTER, "No _total.", NULL);
    gl_batch_sample(&b, NULL, 0, 0, 2);
    gl_batch_commit(&b);
}

static void test_prom_text_004(void **state)
{
    (void)state;
    struct gl_buf buf, out;
    gl_buf_init(&buf);
    gl_buf_init(&out);
    sample_batch(&buf);
    gl_prom_write(&out, buf.data, buf.len, GL_PROM_TEXT);
    assert_string_equal(out.data,
                        "# HELP http_requests_total Requests \\\\ seen.\\nAll.\n"
                        "# TYPE http_requests_total counter\n"
                        "http_requests_total{code=\"200\",path=\"/a\\\"b\\\\c\\nd\"} 1027\n"
                        "# HELP temp_celsius Temperature.\n"
                        "# TYPE temp_celsius gauge\n"
                        "temp_celsius -3.25\n"
                        "# TYPE odd untyped\n"
                        "odd NaN\n"
                        "# HELP lat_seconds Latency.\n"
                        "# TYPE lat_seconds histogram\n"
                        "lat_seconds_bucket{code=\"200\",le=\"0.05\"} 1\n"
                        "lat_seconds_bucket{code=\"200\",le=\"1\"} 3\n"
                        "lat_seconds_bucket{code=\"200\",le=\"+Inf\"} 4\n"
                        "lat_seconds_sum{code=\"200\"} 0.0025\n"
                        "lat_seconds_count{code=\"200\"} 4\n"
                        "# TYPE rpc_seconds summary\n"
                        "rpc_seconds{quantile=\"0.5\"} 0.125\n"
                        "rpc_seconds{quantile=\"0.99\"} 1e+21\n"
                        "rpc_seconds_sum 17\n"
                        "rpc_seconds_count 9\n"
                        "# HELP jobs No _total.\n"
                        "# TYPE jobs counter\n"
                        "jobs 2\n");
    gl_buf_close(&buf);
    gl_buf_close(&out);
}

static void test_prom_text_openmetrics(void **state)
{
    (void)state;
    struct gl_buf buf, out;
    gl_buf_init(&buf);
    gl_buf_init(&out);
    sample_batch(&buf);
    gl_prom_write(&out, buf.data, buf.len, GL_PROM_OPENMETRICS);
    const char *want_head = "# HELP http_requests Requests \\\\ seen.\\nAll.\n"
                            "# TYPE http_requests counter\n"
                            "http_requests_total{code=\"200\",path=\"/a\\\"b\\\\c\\nd\"} 1027\n"
                            "# HELP temp_celsius Temperature.\n"
                            "# TYPE temp_celsius gauge\n"
                            "# UNIT temp_celsius celsius\n"
                            "temp_celsius -3.25\n"
                            "# TYPE odd unknown\n";
    assert_memory_equal(out.data, want_head, strlen(want_head));
    assert_non_null(strstr(out.data, "# TYPE lat_seconds histogram\n"
                                     "# UNIT lat_seconds seconds\n"));
    assert_non_null(strstr(out.data, "# HELP jobs No _total.\n# TYPE jobs unknown\njobs 2\n"));
    assert_int_equal(strcmp(out.data + out.len - 6, "# EOF\n"), 0);
    gl_buf_close(&buf);
    gl_buf_close(&out);
}

static void test_prom_text_extra_labels_and_timestamps(void **state)
{
    (void)state;
    struct gl_buf buf, out;
    struct gl_batch b;
    gl_buf_init(&buf);
    gl_buf_init(&out);
    gl_batch_begin_buf(&b, &buf, 1700000000123);
    family(&b, "up", GL_METRIC_GAUGE, NULL, NULL);
    struct gl_label own[] = { L("job", "node"), L("cluster", "own") };
    gl_batch_sample(&b, own, 2, 0, 1);
    gl_batch_commit(&b);
    struct gl_label extra[] = { L("a", "1"), L("cluster", "prod"), L("z", "9") };
    struct gl_batch_iter it;
    struct gl_family f;
    struct gl_series s;
    gl_batch_iter_init_bytes(&it, buf.data, buf.len);
    gl_batch_next_family(&it, &f);
    gl_batch_next_series(&it, &s);
    gl_prom_series(&out, &f, &s, extra, 3, true, GL_PROM_TEXT);
    gl_prom_series(&out, &f, &s, NULL, 0, true, GL_PROM_OPENMETRICS);
    assert_string_equal(out.data,
                        "up{a=\"1\",cluster=\"own\",job=\"node\",z=\"9\"} 1 1700000000123\n"
                        "up{cluster=\"own\",job=\"node\"} 1 1700000000.123\n");
    gl_buf_close(&buf);
    gl_buf_close(&out);
}

static void test_prom_text_numbers(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        /* As Go's strconv.FormatFloat(v, 'g', -1, 64), Prometheus' client libraries' choice. */
        { 0, "0" },        { -0.0, "-0" },       { 999999, "999999" },  { 1e6, "1e+06" },
        { 1234567, "1.234567e+06" }, { 1e15, "1e+15" }, { 123.5, "123.5" }, { -4096, "-4096" },
        { 0.1, "0.1" },    { 1.0 / 3, "0.3333333333333333" }, { 0.0001, "0.0001" },
        { 0.00001234, "1.234e-05" }, { 2.5e-7, "2.5e-07" }, { 1e300, "1e+300" },
        { 5e-324, "5e-324" }, { INFINITY, "+Inf" }, { -INFINITY, "-Inf" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gl_buf out;
        gl_buf_init(&out);
        gl_prom_number(&out, cases[i].v);
        assert_string_equal(out.data, cases[i].text);
        gl_buf_close(&out);
    }
}

static void test_prom_text_keeps_the_sources_bound_texts(void **state)
{
    (void)state;
    struct gl_buf buf, out;
    struct gl_batch b;
    gl_buf_init(&buf);
    gl_buf_init(&out);
    gl_batch_begin_buf(&b, &buf, 1);
    family(&b, "h", GL_METRIC_HISTOGRAM, NULL, NULL);
    struct gl_bucket bk[] = { { 1, 2, "1.0", 3 }, { 1e6, 3, "1e+06", 5 },
                              { INFINITY, 4, "+Inf", 4 } };
    gl_batch_histogram(&b, NULL, 0, 0, bk, 3, 9, 4);
    family(&b, "s", GL_METRIC_SUMMARY, NULL, NULL);
    struct gl_quantile q[] = { { 0.5, 7, "0.50", 4 } };
    gl_batch_summary(&b, NULL, 0, 0, q, 1, 1, 1);
    gl_batch_commit(&b);
    gl_prom_write(&out, buf.data, buf.len, GL_PROM_TEXT);
    assert_string_equal(out.data, "# TYPE h histogram\n"
                                  "h_bucket{le=\"1.0\"} 2\nh_bucket{le=\"1e+06\"} 3\n"
                                  "h_bucket{le=\"+Inf\"} 4\nh_sum 9\nh_count 4\n"
                                  "# TYPE s summary\ns{quantile=\"0.50\"} 7\ns_sum 1\ns_count 1\n");
    gl_buf_close(&buf);
    gl_buf_close(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_text_004),
        cmocka_unit_test(test_prom_text_openmetrics),
        cmocka_unit_test(test_prom_text_extra_labels_and_timestamps),
        cmocka_unit_test(test_prom_text_numbers),
        cmocka_unit_test(test_prom_text_keeps_the_sources_bound_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
