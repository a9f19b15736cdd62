/* Tests for plugins/out_cloudwatch_logs/out_cloudwatch_logs_emf.c: EMF documents from metrics chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include <math.h>
#include <stdio.h>

#include "codec/json.h"
#include "core/chunk.h"
#include "metrics/batch.h"
#include "plugins/out_cloudwatch_logs/out_cloudwatch_logs.h"
#include "util/error.h"
#include "util/mem.h"

struct docs {
    char *text[8];
    int64_t ts[8];
    uint32_t index[8];
    int n;
    const char *dropped[8];
    int n_dropped;
    const struct gl_buf *arena;
};

static void collect(void *data, size_t off, size_t len, int64_t ts_ms, uint32_t index)
{
    struct docs *d = data;
    d->ts[d->n] = ts_ms;
    d->index[d->n] = index;
    d->text[d->n++] = gl_strndup(d->arena->data + off, len);
}

static void dropped(void *data, uint32_t index, const char *reason)
{
    struct docs *d = data;
    (void)index;
    d->dropped[d->n_dropped++] = reason;
}

/* A metrics chunk being written, one batch at 1700000000000 ms. */
struct mc {
    struct gl_chunk *c;
    struct gl_batch b;
};

static void mc_begin(struct mc *m)
{
    m->c = gl_chunk_new(NULL, "m", 1);
    m->c->type = GL_METRICS;
    gl_batch_begin_buf(&m->b, &m->c->data, 1700000000000);
}

static void mc_family(struct mc *m, const char *name, enum gl_metric_type type)
{
    gl_batch_family(&m->b, name, strlen(name), type, NULL, 0, NULL, 0);
}

/* A series with up to two labels ("k=v" strings, NULL for none). */
static void mc_sample(struct mc *m, const char *l1, const char *l2, double v)
{
    struct gl_label l[2];
    const char *given[2] = { l1, l2 };
    size_t n = 0;
    for (int i = 0; i < 2; i++) {
        if (given[i] != NULL) {
            const char *eq = strchr(given[i], '=');
            l[n++] = (struct gl_label){ given[i], (uint32_t)(eq - given[i]), eq + 1,
                                        (uint32_t)strlen(eq + 1) };
        }
    }
    gl_batch_sample(&m->b, l, n, 0, v);
}

/* Closes the chunk and writes its EMF documents; returns the count. */
static int emf(const struct cwl_emf *e, struct mc *m, struct docs *d)
{
    struct gl_buf arena;
    gl_batch_commit(&m->b);
    m->c->records = m->b.total;
    gl_buf_init(&arena);
    memset(d, 0, sizeof(*d));
    d->arena = &arena;
    struct cwl_emf_sink sink = { .emit = collect, .drop = dropped, .data = d };
    int rc = cwl_emf_write(e, m->c, 0, &arena, &sink);
    gl_buf_close(&arena);
    gl_chunk_free(m->c);
    return rc;
}

static void docs_free(struct docs *d)
{
    for (int i = 0; i < d->n; i++) {
        gl_free(d->text[i]);
    }
}

static void test_cwl_emf_document_shape(void **state)
{
    (void)state;
    struct cwl_emf e = { .ns = "gleaner" };
    struct docs d;
    struct mc m;
    mc_begin(&m);
    mc_family(&m, "records_total", GL_METRIC_COUNTER);
    mc_sample(&m, "name=tail.0", NULL, 12);
    mc_family(&m, "buffer_bytes", GL_METRIC_GAUGE);
    mc_sample(&m, "name=tail.0", NULL, 512);
    assert_int_equal(emf(&e, &m, &d), 1);
    assert_string_equal(d.text[0],
                        "{\"_aws\":{\"Timestamp\":1700000000000,\"CloudWatchMetrics\":[{"
                        "\"Namespace\":\"gleaner\",\"Dimensions\":[[\"name\"]],\"Metrics\":["
                        "{\"Name\":\"records_total\",\"Unit\":\"Count\"},"
                        "{\"Name\":\"buffer_bytes\",\"Unit\":\"Bytes\"}]}]},"
                        "\"name\":\"tail.0\",\"records_total\":12.0,\"buffer_bytes\":512.0}");
    assert_int_equal(d.ts[0], 1700000000000);
    assert_int_equal(d.index[0], 0);
    docs_free(&d);
}

static void test_cwl_emf_splits_at_100_metrics(void **state)
{
    (void)state;
    struct cwl_emf e = { .ns = "ns" };
    struct docs d;
    struct mc m;
    mc_begin(&m);
    for (int i = 0; i < 150; i++) {
        char name[16];
        snprintf(name, sizeof(name), "m%d", i);
        mc_family(&m, name, GL_METRIC_GAUGE);
        mc_sample(&m, NULL, NULL, i);
    }
    assert_int_equal(emf(&e, &m, &d), 2);
    assert_non_null(strstr(d.text[0], "\"Dimensions\":[[]]"));
    assert_non_null(strstr(d.text[0], "\"m99\":99.0}"));
    assert_null(strstr(d.text[0], "\"m100\""));
    assert_non_null(strstr(d.text[1], "{\"Name\":\"m100\",\"Unit\":\"None\"}"));
    assert_non_null(strstr(d.text[1], "\"m149\":149.0}"));
    assert_int_equal(d.index[1], 100);
    docs_free(&d);
}

static void test_cwl_emf_groups_by_dimension_values(void **state)
{
    (void)state;
    struct cwl_emf e = { .ns = "ns" };
    struct docs d;
    struct mc m;
    mc_begin(&m);
    mc_family(&m, "a", GL_METRIC_UNTYPED);
    mc_sample(&m, "p=x", NULL, 1);
    mc_sample(&m, "p=y", NULL, 2);
    mc_family(&m, "b", GL_METRIC_UNTYPED);
    mc_sample(&m, "p=x", NULL, 3);
    mc_family(&m, "b", GL_METRIC_UNTYPED);
    mc_sample(&m, "p=x", NULL, 4);
    assert_int_equal(emf(&e, &m, &d), 3);
    assert_non_null(strstr(d.text[0], "\"p\":\"x\",\"a\":1.0,\"b\":3.0}"));
    assert_non_null(strstr(d.text[1], "\"p\":\"y\",\"a\":2.0}"));
    assert_non_null(strstr(d.text[2], "\"p\":\"x\",\"b\":4.0}"));
    docs_free(&d);
}

static void test_cwl_emf_metric_dimensions_selects_labels(void **state)
{
    (void)state;
    char *items[] = { "plugin", "missing" };
    struct gl_strlist dims = { .items = items, .count = 2 };
    struct cwl_emf e = { .ns = "ns", .dims = &dims };
    struct docs d;
    struct mc m;
    mc_begin(&m);
    mc_family(&m, "a", GL_METRIC_GAUGE);
    mc_sample(&m, "name=t.0", "plugin=tail", 1);
    assert_int_equal(emf(&e, &m, &d), 1);
    assert_non_null(strstr(d.text[0], "\"Dimensions\":[[\"plugin\"]]"));
    assert_non_null(strstr(d.text[0], "]}]},\"plugin\":\"tail\",\"a\":1.0}"));
    assert_null(strstr(d.text[0], "t.0"));
    docs_free(&d);
}

static void test_cwl_emf_histogram_sends_sum_and_count(void **state)
{
    (void)state;
    struct cwl_emf e = { .ns = "ns" };
    struct docs d;
    struct mc m;
    struct gl_bucket b[2] = { { 0.5, 3 }, { INFINITY, 4 } };
    mc_begin(&m);
    mc_family(&m, "req_seconds", GL_METRIC_HISTOGRAM);
    gl_batch_histogram(&m.b, NULL, 0, 0, b, 2, 1.25, 4);
    assert_int_equal(emf(&e, &m, &d), 1);
    assert_non_null(strstr(d.text[0], "{\"Name\":\"req_seconds_sum\",\"Unit\":\"Seconds\"},"
                                      "{\"Name\":\"req_seconds_count\",\"Unit\":\"Count\"}"));
    assert_non_null(strstr(d.text[0], "\"req_seconds_sum\":1.25,\"req_seconds_count\":4.0}"));
    docs_free(&d);
}

static void test_cwl_emf_drops_values_that_are_not_finite(void **state)
{
    (void)state;
    struct cwl_emf e = { .ns = "ns" };
    struct docs d;
    struct mc m;
    mc_begin(&m);
    mc_family(&m, "a", GL_METRIC_GAUGE);
    mc_sample(&m, NULL, NULL, NAN);
    mc_sample(&m, "k=v", NULL, gl_metric_stale());
    mc_sample(&m, "k=w", NULL, INFINITY);
    assert_int_equal(emf(&e, &m, &d), 0);
    assert_int_equal(d.n_dropped, 3);
    assert_string_equal(d.dropped[0], "not_finite");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cwl_emf_document_shape),
        cmocka_unit_test(test_cwl_emf_splits_at_100_metrics),
        cmocka_unit_test(test_cwl_emf_groups_by_dimension_values),
        cmocka_unit_test(test_cwl_emf_metric_dimensions_selects_labels),
        cmocka_unit_test(test_cwl_emf_histogram_sends_sum_and_count),
        cmocka_unit_test(test_cwl_emf_drops_values_that_are_not_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
