/*
 * The prometheus_scrape input's sample path, without HTTP: a body read into
 * a batch as Prometheus would store it (target labels, honor_labels,
 * metric_relabel_configs, limits, duplicates), histograms and summaries put
 * back together or left as their pieces, staleness markers for series that
 * went, and pods as discovery labels and targets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "metrics/prom_text.h"
#include "plugins/in_prometheus_scrape/in_prometheus_scrape.h"
#include "util/error.h"
#include "util/mem.h"

static uint64_t counters[16];

/* A scrape state with what the sample path uses, and one target (job=j, instance=i:1). */
static struct {
    struct gl_instance ins;
    struct scrape s;
    struct target t;
    struct gl_label labels[2];
    struct gl_buf out;
    struct failure f;
    struct append_result r;
} T;

static int setup(void **state)
{
    (void)state;
    memset(&T, 0, sizeof(T));
    struct scrape *s = &T.s;
    s->ins = &T.ins;
    s->honor_timestamps = true;
    gl_prom_parser_init(&s->parser);
    gl_labelset_init(&s->ls);
    gl_labelset_init(&s->target_ls);
    seen_init(&s->cur);
    gl_buf_init(&s->series_text);
    family_init(s);
    gl_relabel_init(&s->metric_relabel);
    uint64_t **m = (uint64_t **)&s->m;
    for (size_t i = 0; i < sizeof(s->m) / sizeof(uint64_t *); i++) {
        m[i] = &counters[i];
    }
    T.labels[0] = (struct gl_label){ "instance", 8, "i:1", 3 };
    T.labels[1] = (struct gl_label){ "job", 3, "j", 1 };
    T.t.s = s;
    T.t.labels = T.labels;
    T.t.n_labels = 2;
    seen_init(&T.t.prev);
    gl_buf_init(&T.out);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    struct scrape *s = &T.s;
    gl_prom_parser_close(&s->parser);
    gl_labelset_close(&s->ls);
    gl_labelset_close(&s->target_ls);
    seen_close(&s->cur);
    gl_buf_close(&s->series_text);
    seen_close(&T.t.prev);
    family_free(s);
    gl_relabel_free(&s->metric_relabel);
    gl_buf_close(&T.out);
    return 0;
}

/* Adds a metric relabelling rule. */
static void rule(const struct gl_relabel_spec *spec)
{
    char err[256];
    assert_int_equal(gl_relabel_add(&T.s.metric_relabel, spec, err, sizeof(err)), 0);
}

/*
 * Reads body as one scrape (staleness markers for what the last one had
 * and this lacks) and returns the batch as text exposition, or "ERR: why".
 */
static const char *scrape(const char *body, enum gl_prom_format f)
{
    struct scrape *s = &T.s;
    struct gl_buf buf;
    struct gl_batch b;
    gl_buf_init(&buf);
    gl_buf_reset(&T.out);
    gl_buf_puts(&T.out, "");
    memset(&T.f, 0, sizeof(T.f));
    gl_batch_begin_buf(&b, &buf, 1000);
    family_begin(s, &b);
    seen_clear(&s->cur);
    if (append_body(s, &T.t, body, strlen(body), f, &T.r, &T.f) < 0) {
        gl_buf_printf(&T.out, "ERR: %s", T.f.why ? T.f.why : T.f.detail);
        gl_buf_close(&buf);
        return T.out.data;
    }
    family_end(s);
    if (T.t.prev_live) {
        append_stale(s, &T.t, &s->cur, 0);
    }
    gl_batch_commit(&b);
    struct seen spare = T.t.prev;
    T.t.prev = s->cur;
    s->cur = spare;
    T.t.prev_live = true;
    gl_prom_write(&T.out, buf.data, buf.len, GL_PROM_TEXT);
    gl_buf_close(&buf);
    return T.out.data;
}

#define TEXT(b) scrape((b), GL_PROM_TEXT)
#define OM(b) scrape((b), GL_PROM_OPENMETRICS)

static void test_scrape_attaches_target_labels(void **state)
{
    (void)state;
    assert_string_equal(TEXT("# HELP a_total A.\n# TYPE a_total counter\n"
                             "a_total{code=\"200\"} 3\nb{job=\"x\",instance=\"y\"} 1\n"),
                        "# HELP a_total A.\n# TYPE a_total counter\n"
                        "a_total{code=\"200\",instance=\"i:1\",job=\"j\"} 3\n"
                        "# TYPE b untyped\n"
                        "b{exported_instance=\"y\",exported_job=\"x\",instance=\"i:1\","
                        "job=\"j\"} 1\n");
    assert_int_equal(T.r.total, 2);
    assert_int_equal(T.r.added, 2);
    assert_int_equal(T.r.series_added, 2);
}

static void test_scrape_honor_labels_keeps_the_targets(void **state)
{
    (void)state;
    T.s.honor_labels = true;
    assert_string_equal(TEXT("b{job=\"x\"} 1\n"), "# TYPE b untyped\nb{instance=\"i:1\",job=\"x\"} 1\n");
}

static void test_scrape_exported_names_avoid_taken_ones(void **state)
{
    (void)state;
    assert_string_equal(TEXT("b{job=\"x\",exported_job=\"y\"} 1\n"),
                        "# TYPE b untyped\nb{exported_exported_job=\"x\",exported_job=\"y\","
                        "instance=\"i:1\",job=\"j\"} 1\n");
}

static void test_scrape_histograms_and_summaries_whole(void **state)
{
    (void)state;
    assert_string_equal(OM("# TYPE h histogram\n# HELP h H.\n"
                           "h_bucket{a=\"1\",le=\"1.0\"} 1\nh_bucket{a=\"1\",le=\"+Inf\"} 2\n"
                           "h_sum{a=\"1\"} 3\nh_count{a=\"1\"} 2\nh_created{a=\"1\"} 5\n"
                           "# TYPE s summary\ns{quantile=\"0.5\"} 7\ns_sum 1\ns_count 1\n"
                           "# EOF\n"),
                        "# TYPE h_created untyped\nh_created{a=\"1\",instance=\"i:1\",job=\"j\"} 5\n"
                        "# HELP h H.\n# TYPE h histogram\n"
                        "h_bucket{a=\"1\",instance=\"i:1\",job=\"j\",le=\"1.0\"} 1\n"
                        "h_bucket{a=\"1\",instance=\"i:1\",job=\"j\",le=\"+Inf\"} 2\n"
                        "h_sum{a=\"1\",instance=\"i:1\",job=\"j\"} 3\n"
                        "h_count{a=\"1\",instance=\"i:1\",job=\"j\"} 2\n"
                        "# TYPE s summary\ns{instance=\"i:1\",job=\"j\",quantile=\"0.5\"} 7\n"
                        "s_sum{instance=\"i:1\",job=\"j\"} 1\ns_count{instance=\"i:1\",job=\"j\"} 1\n");
}

static void test_scrape_incomplete_histograms_stay_pieces(void **state)
{
    (void)state;
    /* metric_relabel_configs dropping the +Inf bucket: what is left goes as untyped pieces. */
    rule(&(struct gl_relabel_spec){ .action = "drop", .sources = (const char *[]){ "le" },
                                    .n_sources = 1, .regex = "\\+Inf" });
    assert_string_equal(TEXT("# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
                             "h_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"),
                        "# TYPE h_bucket untyped\nh_bucket{instance=\"i:1\",job=\"j\",le=\"1\"} 1\n"
                        "# TYPE h_sum untyped\nh_sum{instance=\"i:1\",job=\"j\"} 3\n"
                        "# TYPE h_count untyped\nh_count{instance=\"i:1\",job=\"j\"} 2\n");
    assert_int_equal(T.r.total, 4);
    assert_int_equal(T.r.added, 3);
}

static void test_scrape_keeps_the_first_of_a_repeated_series(void **state)
{
    (void)state;
    assert_string_equal(TEXT("a 1\na 2\n"), "# TYPE a untyped\na{instance=\"i:1\",job=\"j\"} 1\n");
    assert_int_equal(T.r.added, 2);
    assert_int_equal(T.r.series_added, 1);
}

static void test_scrape_stale_markers_for_series_that_went(void **state)
{
    (void)state;
    TEXT("a 1\nb 2\nc 3 1700000000000\n");
    assert_int_equal(T.r.series_added, 3);
    /* b went: a staleness marker; c had its own time: none (Prometheus tracks no such). */
    assert_string_equal(TEXT("a 1\n"), "# TYPE a untyped\na{instance=\"i:1\",job=\"j\"} 1\n"
                                       "# TYPE b untyped\nb{instance=\"i:1\",job=\"j\"} NaN\n");
    assert_int_equal(T.r.series_added, 0);
    assert_int_equal(counters[10], 1);
}

static void test_scrape_stale_histogram_is_a_histogram(void **state)
{
    (void)state;
    TEXT("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n");
    assert_string_equal(TEXT(""), "# TYPE h histogram\n"
                                  "h_bucket{instance=\"i:1\",job=\"j\",le=\"+Inf\"} NaN\n"
                                  "h_sum{instance=\"i:1\",job=\"j\"} NaN\n"
                                  "h_count{instance=\"i:1\",job=\"j\"} NaN\n");
}

static void test_scrape_limits_fail_the_scrape(void **state)
{
    (void)state;
    T.s.sample_limit = 2;
    assert_string_equal(TEXT("a 1\nb 1\nc 1\nd 1\n"),
                        "ERR: sample limit exceeded (4 samples, limit 2)");
    assert_int_equal(T.r.total, 4);
    T.s.sample_limit = 0;
    T.s.label_limit = 3;
    assert_string_equal(TEXT("a{x=\"1\",y=\"2\"} 1\n"),
                        "ERR: label_limit exceeded (metric: a, number of labels: 5, limit: 3)");
    T.s.label_limit = 0;
    T.s.label_value_length_limit = 3;
    assert_string_equal(TEXT("a{x=\"1234\"} 1\n"),
                        "ERR: label_value_length_limit exceeded (metric: a, label name: x, "
                        "length: 4, limit: 3)");
    T.s.label_value_length_limit = 0;
    assert_string_equal(TEXT("a{x=\"1\",x=\"2\"} 1\n"),
                        "ERR: label name \"x\" is not unique: invalid sample");
    assert_string_equal(TEXT("  a 1\n"), "ERR: invalid metric name or label names (metric \"  a\")");
    assert_string_equal(OM("a 1\n"), "ERR: data does not end with # EOF (line 2)");
}

static void test_scrape_metric_relabel_renames_and_drops(void **state)
{
    (void)state;
    rule(&(struct gl_relabel_spec){ .action = "drop", .sources = (const char *[]){ "__name__" },
                                    .n_sources = 1, .regex = "go_.*" });
    rule(&(struct gl_relabel_spec){ .sources = (const char *[]){ "__name__" }, .n_sources = 1,
                                    .regex = "(.*)_total", .replacement = "${1}_count_total",
                                    .target = "__name__" });
    assert_string_equal(TEXT("# TYPE go_gc counter\ngo_gc 1\n# TYPE r_total counter\n"
                             "r_total 2\n"),
                        "# TYPE r_count_total untyped\n"
                        "r_count_total{instance=\"i:1\",job=\"j\"} 2\n");
    assert_int_equal(T.r.total, 2);
    assert_int_equal(T.r.added, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scrape_attaches_target_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scrape_honor_labels_keeps_the_targets, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scrape_exported_names_avoid_taken_ones, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scrape_histograms_and_summaries_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scrape_incomplete_histograms_stay_pieces, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scrape_keeps_the_first_of_a_repeated_series, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scrape_stale_markers_for_series_that_went, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scrape_stale_histogram_is_a_histogram, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scrape_limits_fail_the_scrape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scrape_metric_relabel_renames_and_drops, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
