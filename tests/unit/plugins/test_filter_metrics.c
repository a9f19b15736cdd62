/*
 * Tests for the metrics filters, plugins/filter_metrics_selector and
 * plugins/filter_labels: selection by prefix, substring, /regex/ and label,
 * include and exclude; label insert, upsert, update, delete, rename and hash;
 * histograms and the chunk's batches (with their times) kept whole; option
 * errors. A chunk goes through filter_chunk and is read back as text 0.0.4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>

#include "filter_harness.h"
#include "metrics/batch.h"
#include "metrics/prom_text.h"

extern const struct gl_plugin gl_filter_metrics_selector;
extern const struct gl_plugin gl_filter_labels;

#define L(n, v) { (n), sizeof(n) - 1, (v), sizeof(v) - 1 }

/* Two batches: node_cpu and node_memory, then a histogram, at two times. */
static struct gl_chunk *sample_chunk(void)
{
    struct gl_chunk *c = gl_chunk_new(NULL, "m", 1);
    struct gl_batch b;
    c->type = GL_METRICS;
    gl_batch_begin_buf(&b, &c->data, 1000);
    gl_batch_family(&b, "node_cpu_seconds_total", 22, GL_METRIC_COUNTER, NULL, 0, NULL, 0);
    struct gl_label c0[] = { L("cpu", "0"), L("mode", "idle") };
    struct gl_label c1[] = { L("cpu", "1"), L("mode", "idle") };
    gl_batch_sample(&b, c0, 2, 0, 10);
    gl_batch_sample(&b, c1, 2, 0, 11);
    gl_batch_family(&b, "node_memory_MemTotal_bytes", 26, GL_METRIC_GAUGE, NULL, 0, NULL, 0);
    gl_batch_sample(&b, NULL, 0, 0, 4096);
    gl_batch_commit(&b);
    gl_batch_begin_buf(&b, &c->data, 2000);
    gl_batch_family(&b, "rpc_seconds", 11, GL_METRIC_HISTOGRAM, NULL, 0, NULL, 0);
    struct gl_label h[] = { L("job", "api") };
    struct gl_bucket bk[] = { { 1, 2 }, { INFINITY, 3 } };
    gl_batch_histogram(&b, h, 1, 0, bk, 2, 1.5, 3);
    gl_batch_commit(&b);
    c->records = 4;
    return c;
}

/* Runs the chunk through the filter; returns its text with timestamps, or "KEEP". */
static char *run(const struct gl_plugin *p, const char *yaml, enum gl_filter_result *r)
{
    static char text[4096];
    struct fh h;
    assert_int_equal(fh_open(&h, p, yaml), 0);
    struct gl_chunk *c = sample_chunk();
    struct gl_chunk *out = gl_chunk_new(NULL, "m", 1);
    out->type = GL_METRICS;
    *r = p->filter_chunk(&h.ins, c, out);
    const struct gl_chunk *shown = *r == GL_FILTER_KEEP ? c : out;
    struct gl_batch_iter it;
    struct gl_family f;
    struct gl_series s;
    struct gl_buf b;
    uint32_t series = 0;
    gl_buf_init(&b);
    gl_batch_iter_init(&it, shown);
    while (gl_batch_next_family(&it, &f) == 0) {
        assert_true(f.n_series > 0); /* no family is left empty */
        while (gl_batch_next_series(&it, &s) == 0) {
            gl_prom_series(&b, &f, &s, NULL, 0, true, GL_PROM_TEXT);
            series++;
        }
    }
    assert_int_equal(series, shown->records);
    snprintf(text, sizeof(text), "%s", b.len ? b.data : "");
    gl_buf_close(&b);
    gl_chunk_free(c);
    gl_chunk_free(out);
    fh_close(&h);
    return text;
}

static void test_selector_prefix_include(void **state)
{
    (void)state;
    enum gl_filter_result r;
    const char *t = run(&gl_filter_metrics_selector, "metric_name: node_cpu\naction: include\n",
                        &r);
    assert_int_equal(r, GL_FILTER_MODIFIED);
    assert_string_equal(t, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 10 1000\n"
                           "node_cpu_seconds_total{cpu=\"1\",mode=\"idle\"} 11 1000\n");
}

static void test_selector_regex_exclude_keeps_later_batch_time(void **state)
{
    (void)state;
    enum gl_filter_result r;
    const char *t = run(&gl_filter_metrics_selector,
                        "metric_name: /^node_/\naction: EXCLUDE\n", &r);
    assert_int_equal(r, GL_FILTER_MODIFIED);
    assert_string_equal(t, "rpc_seconds_bucket{job=\"api\",le=\"1\"} 2 2000\n"
                           "rpc_seconds_bucket{job=\"api\",le=\"+Inf\"} 3 2000\n"
                           "rpc_seconds_sum{job=\"api\"} 1.5 2000\n"
                           "rpc_seconds_count{job=\"api\"} 3 2000\n");
}

static void test_selector_substring_and_nothing_dropped_is_keep(void **state)
{
    (void)state;
    enum gl_filter_result r;
    const char *t = run(&gl_filter_metrics_selector,
                        "metric_name: MemTotal\noperation_type: substring\naction: include\n",
                        &r);
    assert_string_equal(t, "node_memory_MemTotal_bytes 4096 1000\n");
    run(&gl_filter_metrics_selector, "metric_name: zzz\naction: exclude\n", &r);
    assert_int_equal(r, GL_FILTER_KEEP);
}

static void test_selector_by_label_value(void **state)
{
    (void)state;
    enum gl_filter_result r;
    const char *t = run(&gl_filter_metrics_selector,
                        "context: delete_label_value\nlabel: cpu 1\naction: exclude\n", &r);
    assert_non_null(strstr(t, "cpu=\"0\""));
    assert_null(strstr(t, "cpu=\"1\""));
    assert_non_null(strstr(t, "node_memory_MemTotal_bytes 4096"));
}

static void test_selector_option_errors(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_metrics_selector, "metric_name: '/(/'\naction: "
                                                                "include\n"),
                     GL_ECONFIG);
    assert_non_null(strstr(fh_error(&h), "metrics_selector.metric_name:"));
    fh_close(&h);
    assert_int_equal(fh_open(&h, &gl_filter_metrics_selector, "metric_name: x\naction: keep\n"),
                     GL_ECONFIG);
    fh_close(&h);
    assert_int_equal(fh_open(&h, &gl_filter_metrics_selector,
                             "context: delete_label_value\naction: include\n"),
                     GL_ECONFIG);
    assert_non_null(strstr(fh_error(&h), "label"));
    fh_close(&h);
}

static void test_labels_insert_upsert_update_delete_rename(void **state)
{
    (void)state;
    enum gl_filter_result r;
    const char *t = run(&gl_filter_labels,
                        "insert: [cluster prod, cpu 9]\n"
                        "upsert: node n1\n"
                        "update: [mode busy, absent x]\n"
                        "rename: job service\n"
                        "delete: le\n", &r);
    assert_int_equal(r, GL_FILTER_MODIFIED);
    assert_string_equal(t,
                        "node_cpu_seconds_total{cluster=\"prod\",cpu=\"0\",mode=\"busy\","
                        "node=\"n1\"} 10 1000\n"
                        "node_cpu_seconds_total{cluster=\"prod\",cpu=\"1\",mode=\"busy\","
                        "node=\"n1\"} 11 1000\n"
                        "node_memory_MemTotal_bytes{cluster=\"prod\",cpu=\"9\",node=\"n1\"} "
                        "4096 1000\n"
                        "rpc_seconds_bucket{cluster=\"prod\",cpu=\"9\",node=\"n1\","
                        "service=\"api\",le=\"1\"} 2 2000\n"
                        "rpc_seconds_bucket{cluster=\"prod\",cpu=\"9\",node=\"n1\","
                        "service=\"api\",le=\"+Inf\"} 3 2000\n"
                        "rpc_seconds_sum{cluster=\"prod\",cpu=\"9\",node=\"n1\","
                        "service=\"api\"} 1.5 2000\n"
                        "rpc_seconds_count{cluster=\"prod\",cpu=\"9\",node=\"n1\","
                        "service=\"api\"} 3 2000\n");
}

static void test_labels_hash_is_sha256_hex(void **state)
{
    (void)state;
    enum gl_filter_result r;
    const char *t = run(&gl_filter_labels, "hash: job\n", &r);
    /* sha256("api"), as `sha256sum` prints it */
    assert_non_null(strstr(t, "rpc_seconds_sum{job=\"14c2529eb4498c5d1ffd6915d05bf58a91bdda796"
                              "af59f41d480d11c099d0479\"} 1.5 2000\n"));
    assert_non_null(strstr(t, "node_memory_MemTotal_bytes 4096 1000\n"));
}

static void test_labels_option_errors(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_labels, "insert: cluster\n"), GL_ECONFIG);
    assert_non_null(strstr(fh_error(&h), "labels.insert: 'cluster': expected 'name value'"));
    fh_close(&h);
    assert_int_equal(fh_open(&h, &gl_filter_labels, "rename: a b-c\n"), GL_ECONFIG);
    fh_close(&h);
    assert_int_equal(fh_open(&h, &gl_filter_labels, "{}\n"), GL_ECONFIG);
    fh_close(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selector_prefix_include),
        cmocka_unit_test(test_selector_regex_exclude_keeps_later_batch_time),
        cmocka_unit_test(test_selector_substring_and_nothing_dropped_is_keep),
        cmocka_unit_test(test_selector_by_label_value),
        cmocka_unit_test(test_selector_option_errors),
        cmocka_unit_test(test_labels_insert_upsert_update_delete_rename),
        cmocka_unit_test(test_labels_hash_is_sha256_hex),
        cmocka_unit_test(test_labels_option_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gl_buf_pool_drain();
    return rc;
}
