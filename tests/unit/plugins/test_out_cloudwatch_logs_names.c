/* Tests for plugins/out_cloudwatch_logs/out_cloudwatch_logs_names.c: templates and sanitising. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "codec/json.h"
#include "plugins/out_cloudwatch_logs/out_cloudwatch_logs.h"
#include "util/error.h"
#include "util/mem.h"

/* Renders template text for a body given as JSON and a tag; returns the rc, name in out. */
static int render(const char *text, const char *tag, const char *json, char *out, size_t cap)
{
    struct cwl_template t;
    struct gl_json_doc doc;
    struct gl_buf b;
    assert_int_equal(cwl_template_parse(&t, text), 0);
    assert_int_equal(gl_json_doc_parse(&doc, json, strlen(json), NULL), 0);
    gl_buf_init(&b);
    int rc = cwl_template_render(&t, tag, strlen(tag), &doc.root, &b);
    snprintf(out, cap, "%.*s", (int)b.len, b.data ? b.data : "");
    gl_buf_close(&b);
    gl_json_doc_free(&doc);
    cwl_template_close(&t);
    return rc;
}

static void test_cwl_template_reads_nested_accessors(void **state)
{
    (void)state;
    char out[256];
    const char *body = "{\"kubernetes\":{\"namespace_name\":\"prod\","
                       "\"labels\":{\"app\":\"web\"}}}";
    assert_int_equal(render("/aws/eks/c1/$kubernetes['namespace_name']", "kube.x", body, out,
                            sizeof(out)), 0);
    assert_string_equal(out, "/aws/eks/c1/prod");
    assert_int_equal(render("$kubernetes['labels']['app']-$kubernetes['namespace_name'].log",
                            "t", body, out, sizeof(out)), 0);
    assert_string_equal(out, "web-prod.log");
}

static void test_cwl_template_expands_tag_and_tag_parts(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(render("s/$TAG", "kube.var.log", "{}", out, sizeof(out)), 0);
    assert_string_equal(out, "s/kube.var.log");
    assert_int_equal(render("$TAG[0]-$TAG[2]", "kube.var.log", "{}", out, sizeof(out)), 0);
    assert_string_equal(out, "kube-log");
    assert_int_equal(render("$TAG[3]", "kube.var.log", "{}", out, sizeof(out)), GL_ENOENT);
}

static void test_cwl_template_missing_key_is_enoent(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(render("g/$kubernetes['pod']", "t", "{\"kubernetes\":{}}", out,
                            sizeof(out)), GL_ENOENT);
    assert_int_equal(render("g/$obj", "t", "{\"obj\":{\"a\":1}}", out, sizeof(out)),
                     GL_ENOENT);
}

static void test_cwl_template_writes_scalars_and_keeps_lone_dollar(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(render("n$n-$b-cost$", "t", "{\"n\":42,\"b\":true}", out, sizeof(out)), 0);
    assert_string_equal(out, "n42-true-cost$");
    assert_int_equal(render("$TAGS", "t", "{\"TAGS\":\"x\"}", out, sizeof(out)), 0);
    assert_string_equal(out, "x");
}

static void test_cwl_group_name_keeps_allowed_characters(void **state)
{
    (void)state;
    char name[] = "/aws/eks/my cluster:prod#1.a-b_c\xc3\xa9";
    size_t n = cwl_name_sanitize(CWL_GROUP, name, strlen(name));
    assert_int_equal(n, 34);
    assert_memory_equal(name, "/aws/eks/my_cluster_prod#1.a-b_c__", 34);
}

static void test_cwl_stream_name_replaces_colon_and_star(void **state)
{
    (void)state;
    char name[] = "pod:a*b\xc3\xa9\xff\n";
    size_t n = cwl_name_sanitize(CWL_STREAM, name, strlen(name));
    assert_int_equal(n, 11);
    assert_memory_equal(name, "pod_a_b\xc3\xa9__", 11);
}

static void test_cwl_names_are_cut_to_512_bytes(void **state)
{
    (void)state;
    char group[600];
    char stream[600];
    memset(group, 'g', sizeof(group));
    for (size_t i = 0; i + 1 < sizeof(stream); i += 2) {
        memcpy(stream + i, "\xc3\xa9", 2);
    }
    assert_int_equal(cwl_name_sanitize(CWL_GROUP, group, sizeof(group)), 512);
    /* one byte off: 511 bytes then a 2-byte character that would end at 513 */
    stream[0] = 'x';
    memmove(stream + 1, stream + 2, sizeof(stream) - 2);
    assert_int_equal(cwl_name_sanitize(CWL_STREAM, stream, sizeof(stream) - 1), 511);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cwl_template_reads_nested_accessors),
        cmocka_unit_test(test_cwl_template_expands_tag_and_tag_parts),
        cmocka_unit_test(test_cwl_template_missing_key_is_enoent),
        cmocka_unit_test(test_cwl_template_writes_scalars_and_keeps_lone_dollar),
        cmocka_unit_test(test_cwl_group_name_keeps_allowed_characters),
        cmocka_unit_test(test_cwl_stream_name_replaces_colon_and_star),
        cmocka_unit_test(test_cwl_names_are_cut_to_512_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
