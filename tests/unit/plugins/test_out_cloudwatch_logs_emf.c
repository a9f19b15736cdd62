/* Tests for plugins/out_cloudwatch_logs/out_cloudwatch_logs_emf.c: EMF documents from metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "codec/json.h"
#include "plugins/out_cloudwatch_logs/out_cloudwatch_logs.h"
#include "util/error.h"
#include "util/mem.h"

struct docs {
    char *text[8];
    int n;
    const struct gl_buf *arena;
};

static void collect(void *data, size_t off, size_t len)
{
    struct docs *d = data;
    d->text[d->n++] = gl_strndup(d->arena->data + off, len);
}

/* Writes the EMF documents of a metrics body given as JSON; returns the count. */
static int emf(const struct cwl_emf *e, const char *json, struct docs *d)
{
    struct gl_json_doc doc;
    struct gl_buf arena;
    gl_buf_init(&arena);
    memset(d, 0, sizeof(*d));
    d->arena = &arena;
    assert_int_equal(gl_json_doc_parse(&doc, json, strlen(json), NULL), 0);
    int rc = cwl_emf_write(e, &doc.root, 1700000000000, &arena, collect, d);
    gl_json_doc_free(&doc);
    gl_buf_close(&arena);
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
    const char *body = "{\"metrics\":[{\"name\":\"records_total\",\"type\":\"counter\","
                       "\"labels\":{\"name\":\"tail.0\"},\"value\":12.0},"
                       "{\"name\":\"buffer_bytes\",\"type\":\"gauge\","
                       "\"labels\":{\"name\":\"tail.0\"},\"value\":512}]}";
    assert_int_equal(emf(&e, body, &d), 1);
    assert_string_equal(d.text[0],
                        "{\"_aws\":{\"Timestamp\":1700000000000,\"CloudWatchMetrics\":[{"
                        "\"Namespace\":\"gleaner\",\"Dimensions\":[[\"name\"]],\"Metrics\":["
                        "{\"Name\":\"records_total\",\"Unit\":\"Count\"},"
                        "{\"Name\":\"buffer_bytes\",\"Unit\":\"Bytes\"}]}]},"
                        "\"name\":\"tail.0\",\"records_total\":12.0,\"buffer_bytes\":512}");
    docs_free(&d);
}

static void test_cwl_emf_splits_at_100_metrics(void **state)
{
    (void)state;
    struct cwl_emf e = { .ns = "ns" };
    struct docs d;
    struct gl_buf b;
    gl_buf_init(&b);
    gl_buf_puts(&b, "{\"metrics\":[");
    for (int i = 0; i < 150; i++) {
        gl_buf_printf(&b, "%s{\"name\":\"m%d\",\"type\":\"gauge\",\"labels\":{},\"value\":%d}",
                      i ? "," : "", i, i);
    }
    gl_buf_puts(&b, "]}");
    gl_buf_putc(&b, '\0');
    assert_int_equal(emf(&e, b.data, &d), 2);
    assert_non_null(strstr(d.text[0], "\"Dimensions\":[[]]"));
    assert_non_null(strstr(d.text[0], "\"m99\":99}"));
    assert_null(strstr(d.text[0], "\"m100\""));
    assert_non_null(strstr(d.text[1], "{\"Name\":\"m100\",\"Unit\":\"None\"}"));
    assert_non_null(strstr(d.text[1], "\"m149\":149}"));
    docs_free(&d);
    gl_buf_close(&b);
}

static void test_cwl_emf_groups_by_dimension_values(void **state)
{
    (void)state;
    struct cwl_emf e = { .ns = "ns" };
    struct docs d;
    const char *body = "{\"metrics\":[{\"name\":\"a\",\"labels\":{\"p\":\"x\"},\"value\":1},"
                       "{\"name\":\"a\",\"labels\":{\"p\":\"y\"},\"value\":2},"
                       "{\"name\":\"b\",\"labels\":{\"p\":\"x\"},\"value\":3},"
                       "{\"name\":\"b\",\"labels\":{\"p\":\"x\"},\"value\":4}]}";
    assert_int_equal(emf(&e, body, &d), 3);
    assert_non_null(strstr(d.text[0], "\"p\":\"x\",\"a\":1,\"b\":3}"));
    assert_non_null(strstr(d.text[1], "\"p\":\"y\",\"a\":2}"));
    assert_non_null(strstr(d.text[2], "\"p\":\"x\",\"b\":4}"));
    docs_free(&d);
}

static void test_cwl_emf_metric_dimensions_selects_labels(void **state)
{
    (void)state;
    char *items[] = { "plugin", "missing" };
    struct gl_strlist dims = { .items = items, .count = 2 };
    struct cwl_emf e = { .ns = "ns", .dims = &dims };
    struct docs d;
    const char *body = "{\"metrics\":[{\"name\":\"a\",\"labels\":{\"name\":\"t.0\","
                       "\"plugin\":\"tail\"},\"value\":1}]}";
    assert_int_equal(emf(&e, body, &d), 1);
    assert_non_null(strstr(d.text[0], "\"Dimensions\":[[\"plugin\"]]"));
    assert_non_null(strstr(d.text[0], "]}]},\"plugin\":\"tail\",\"a\":1}"));
    assert_null(strstr(d.text[0], "t.0"));
    docs_free(&d);
}

static void test_cwl_emf_skips_bad_series_and_non_metrics(void **state)
{
    (void)state;
    struct cwl_emf e = { .ns = "ns" };
    struct docs d;
    assert_int_equal(emf(&e, "{\"log\":\"x\"}", &d), GL_ENOENT);
    assert_int_equal(emf(&e, "{\"metrics\":[{\"name\":\"a\",\"value\":\"x\"},{\"value\":1}]}",
                         &d), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cwl_emf_document_shape),
        cmocka_unit_test(test_cwl_emf_splits_at_100_metrics),
        cmocka_unit_test(test_cwl_emf_groups_by_dimension_values),
        cmocka_unit_test(test_cwl_emf_metric_dimensions_selects_labels),
        cmocka_unit_test(test_cwl_emf_skips_bad_series_and_non_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
