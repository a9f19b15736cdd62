/*
 * Tests for plugins/out_prometheus_exporter/out_prometheus_exporter_store.c:
 * the latest value per series, one entry for the same series from two
 * sources, staleness markers (histograms and summaries too) and expiry
 * removing series (and their family when empty), type conflicts and the
 * series limit refused, rendering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/chunk.h"
#include "metrics/batch.h"
#include "plugins/out_prometheus_exporter/out_prometheus_exporter.h"

#define L(n, v) { (n), sizeof(n) - 1, (v), sizeof(v) - 1 }

/* A metrics chunk of one batch at ts; series are added with add(). */
struct mc {
    struct gl_chunk *c;
    struct gl_batch b;
};

static void begin(struct mc *m, int64_t ts)
{
    m->c = gl_chunk_new(NULL, "m", 1);
    m->c->type = GL_METRICS;
    gl_batch_begin_buf(&m->b, &m->c->data, ts);
}

static void fam(struct mc *m, const char *name, enum gl_metric_type t)
{
    gl_batch_family(&m->b, name, strlen(name), t, "help", 4, NULL, 0);
}

static void add(struct mc *m, const char *job, double v)
{
    struct gl_label l[] = { { "job", 3, job, (uint32_t)strlen(job) } };
    gl_batch_sample(&m->b, l, 1, 0, v);
}

/* Closes the chunk, updates the store with it at now, frees it; returns refused. */
static uint32_t apply(struct pe_store *st, struct mc *m, uint64_t now)
{
    gl_batch_commit(&m->b);
    m->c->records = m->b.total;
    uint32_t refused = pe_store_update(st, m->c, now);
    gl_chunk_free(m->c);
    return refused;
}

static char *render(const struct pe_store *st)
{
    static char text[4096];
    struct gl_buf out;
    gl_buf_init(&out);
    pe_store_render(st, &out, GL_PROM_TEXT, NULL, 0, false);
    snprintf(text, sizeof(text), "%s", out.len ? out.data : "");
    gl_buf_close(&out);
    return text;
}

static void test_store_keeps_latest_value_once_for_two_sources(void **state)
{
    (void)state;
    struct pe_store st;
    struct mc m;
    pe_store_init(&st, 100);
    begin(&m, 1000);
    fam(&m, "up", GL_METRIC_GAUGE);
    add(&m, "a", 1);
    add(&m, "b", 1);
    assert_int_equal(apply(&st, &m, 1), 0);
    begin(&m, 2000); /* another input sends the same series */
    fam(&m, "up", GL_METRIC_GAUGE);
    add(&m, "a", 0);
    fam(&m, "temp", GL_METRIC_GAUGE);
    add(&m, "a", 21.5);
    assert_int_equal(apply(&st, &m, 2), 0);
    assert_int_equal(st.n_series, 3);
    assert_string_equal(render(&st), "# HELP up help\n# TYPE up gauge\n"
                                     "up{job=\"a\"} 0\nup{job=\"b\"} 1\n"
                                     "# HELP temp help\n# TYPE temp gauge\ntemp{job=\"a\"} 21.5\n");
    pe_store_close(&st);
}

static void test_store_stale_marker_ends_series_and_empty_family(void **state)
{
    (void)state;
    struct pe_store st;
    struct mc m;
    pe_store_init(&st, 100);
    begin(&m, 1000);
    fam(&m, "up", GL_METRIC_GAUGE);
    add(&m, "a", 1);
    fam(&m, "temp", GL_METRIC_GAUGE);
    add(&m, "a", 3);
    apply(&st, &m, 1);
    begin(&m, 2000);
    fam(&m, "temp", GL_METRIC_GAUGE);
    add(&m, "a", gl_metric_stale());
    add(&m, "never-seen", gl_metric_stale());
    apply(&st, &m, 2);
    assert_int_equal(st.n_series, 1);
    assert_string_equal(render(&st), "# HELP up help\n# TYPE up gauge\nup{job=\"a\"} 1\n");
    pe_store_close(&st);
}

/* A histogram and a summary that went from their source: every piece a staleness marker. */
static void test_store_stale_histogram_and_summary_removed(void **state)
{
    (void)state;
    struct pe_store st;
    struct mc m;
    struct gl_label la[] = { L("job", "a") };
    struct gl_label lb[] = { L("job", "b") };
    struct gl_bucket b[] = { { 0.5, 1 }, { INFINITY, 2 } };
    struct gl_quantile q[] = { { 0.5, 0.25 }, { 0.99, 0.5 } };
    pe_store_init(&st, 100);
    begin(&m, 1000);
    fam(&m, "lat_seconds", GL_METRIC_HISTOGRAM);
    gl_batch_histogram(&m.b, la, 1, 0, b, 2, 0.75, 2);
    gl_batch_histogram(&m.b, lb, 1, 0, b, 2, 0.75, 2);
    fam(&m, "rpc_seconds", GL_METRIC_SUMMARY);
    gl_batch_summary(&m.b, la, 1, 0, q, 2, 1.5, 3);
    apply(&st, &m, 1);
    assert_int_equal(st.n_series, 3);

    double x = gl_metric_stale();
    struct gl_bucket sb[] = { { 0.5, x }, { INFINITY, x } };
    struct gl_quantile sq[] = { { 0.5, x }, { 0.99, x } };
    begin(&m, 2000);
    fam(&m, "lat_seconds", GL_METRIC_HISTOGRAM);
    gl_batch_histogram(&m.b, la, 1, 0, sb, 2, x, x);
    fam(&m, "rpc_seconds", GL_METRIC_SUMMARY);
    gl_batch_summary(&m.b, la, 1, 0, sq, 2, x, x);
    gl_batch_summary(&m.b, lb, 1, 0, sq, 2, x, x); /* never seen: not added */
    assert_int_equal(apply(&st, &m, 2), 0);
    assert_int_equal(st.n_series, 1);
    assert_string_equal(render(&st), "# HELP lat_seconds help\n# TYPE lat_seconds histogram\n"
                                     "lat_seconds_bucket{job=\"b\",le=\"0.5\"} 1\n"
                                     "lat_seconds_bucket{job=\"b\",le=\"+Inf\"} 2\n"
                                     "lat_seconds_sum{job=\"b\"} 0.75\n"
                                     "lat_seconds_count{job=\"b\"} 2\n");
    pe_store_close(&st);
}

static void test_store_refuses_type_conflicts_and_past_limit(void **state)
{
    (void)state;
    struct pe_store st;
    struct mc m;
    pe_store_init(&st, 2);
    begin(&m, 1000);
    fam(&m, "x", GL_METRIC_COUNTER);
    add(&m, "a", 1);
    apply(&st, &m, 1);
    begin(&m, 1000);
    fam(&m, "x", GL_METRIC_GAUGE);
    add(&m, "b", 1);
    fam(&m, "y", GL_METRIC_GAUGE);
    add(&m, "a", 1);
    add(&m, "b", 1);
    assert_int_equal(apply(&st, &m, 2), 2);
    assert_int_equal(st.refused_type, 1);
    assert_int_equal(st.refused_limit, 1);
    assert_int_equal(st.n_series, 2);
    pe_store_close(&st);
}

static void test_store_expires_series_not_updated(void **state)
{
    (void)state;
    struct pe_store st;
    struct mc m;
    pe_store_init(&st, 100);
    begin(&m, 1000);
    fam(&m, "old", GL_METRIC_GAUGE);
    add(&m, "a", 1);
    fam(&m, "up", GL_METRIC_GAUGE);
    add(&m, "a", 1);
    add(&m, "b", 1);
    apply(&st, &m, 1000);
    begin(&m, 5000);
    fam(&m, "up", GL_METRIC_GAUGE);
    add(&m, "b", 2);
    apply(&st, &m, 5000);
    assert_int_equal(pe_store_expire(&st, 5500, 1000), 2);
    assert_string_equal(render(&st), "# HELP up help\n# TYPE up gauge\nup{job=\"b\"} 2\n");
    assert_int_equal(pe_store_expire(&st, 7000, 1000), 1);
    assert_string_equal(render(&st), "");
    pe_store_close(&st);
}

static void test_store_renders_histograms_extra_labels_and_openmetrics(void **state)
{
    (void)state;
    struct pe_store st;
    struct mc m;
    pe_store_init(&st, 100);
    begin(&m, 1700000000000);
    fam(&m, "lat_seconds", GL_METRIC_HISTOGRAM);
    struct gl_bucket b[] = { { 0.5, 1 }, { INFINITY, 2 } };
    gl_batch_histogram(&m.b, NULL, 0, 0, b, 2, 0.75, 2);
    fam(&m, "req_total", GL_METRIC_COUNTER);
    add(&m, "z", 5);
    apply(&st, &m, 1);
    struct gl_label extra[] = { L("cluster", "prod") };
    struct gl_buf out;
    gl_buf_init(&out);
    pe_store_render(&st, &out, GL_PROM_OPENMETRICS, extra, 1, true);
    assert_string_equal(out.data,
                        "# HELP lat_seconds help\n# TYPE lat_seconds histogram\n"
                        "lat_seconds_bucket{cluster=\"prod\",le=\"0.5\"} 1 1700000000.000\n"
                        "lat_seconds_bucket{cluster=\"prod\",le=\"+Inf\"} 2 1700000000.000\n"
                        "lat_seconds_sum{cluster=\"prod\"} 0.75 1700000000.000\n"
                        "lat_seconds_count{cluster=\"prod\"} 2 1700000000.000\n"
                        "# HELP req help\n# TYPE req counter\n"
                        "req_total{cluster=\"prod\",job=\"z\"} 5 1700000000.000\n"
                        "# EOF\n");
    gl_buf_close(&out);
    pe_store_close(&st);
}

static void test_store_holds_10000_series_and_grows(void **state)
{
    (void)state;
    struct pe_store st;
    struct mc m;
    char job[16];
    pe_store_init(&st, 1000000);
    for (int round = 0; round < 2; round++) {
        begin(&m, 1000 + round);
        fam(&m, "s", GL_METRIC_GAUGE);
        for (int i = 0; i < 10000; i++) {
            snprintf(job, sizeof(job), "j%d", i);
            add(&m, job, round);
        }
        assert_int_equal(apply(&st, &m, 1), 0);
    }
    assert_int_equal(st.n_series, 10000);
    assert_true(st.n_buckets >= 10000);
    pe_store_close(&st);
    gl_buf_pool_drain();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_keeps_latest_value_once_for_two_sources),
        cmocka_unit_test(test_store_stale_marker_ends_series_and_empty_family),
        cmocka_unit_test(test_store_stale_histogram_and_summary_removed),
        cmocka_unit_test(test_store_refuses_type_conflicts_and_past_limit),
        cmocka_unit_test(test_store_expires_series_not_updated),
        cmocka_unit_test(test_store_renders_histograms_extra_labels_and_openmetrics),
        cmocka_unit_test(test_store_holds_10000_series_and_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
