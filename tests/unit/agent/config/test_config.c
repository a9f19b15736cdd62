/*
 * Tests for agent/config/config.c: node positions, ${VAR} expansion, error lines
 * with FILE:LINE:COL, limits and lookups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "util/buf.h"
#include "util/mem.h"

static struct gl_config *load(const char *text)
{
    return gl_config_load_text("test.yaml", text, strlen(text));
}

static void test_config_nodes_keep_positions(void **state)
{
    (void)state;
    struct gl_config *cfg = load("service:\n  flush: 1s\npipeline:\n  inputs:\n    - name: tail\n");
    assert_int_equal(cfg->error_count, 0);
    const struct gl_node *root = cfg->root;
    assert_non_null(root);
    assert_int_equal(root->type, GL_NODE_MAP);
    assert_int_equal(root->count, 4);
    assert_int_equal(root->items[0]->line, 1);
    assert_int_equal(root->items[0]->col, 1);
    const struct gl_node *service = root->items[1];
    assert_int_equal(service->type, GL_NODE_MAP);
    assert_string_equal(service->items[0]->value, "flush");
    assert_int_equal(service->items[0]->line, 2);
    assert_int_equal(service->items[0]->col, 3);
    assert_string_equal(service->items[1]->value, "1s");
    assert_int_equal(service->items[1]->line, 2);
    assert_int_equal(service->items[1]->col, 10);
    const struct gl_node *inputs = gl_node_get(root->items[3], "inputs");
    assert_non_null(inputs);
    assert_int_equal(inputs->type, GL_NODE_SEQ);
    assert_int_equal(inputs->count, 1);
    const struct gl_node *tail = inputs->items[0];
    assert_int_equal(tail->line, 5);
    assert_int_equal(tail->col, 7);
    assert_string_equal(gl_node_get(tail, "name")->value, "tail");
    gl_config_free(cfg);
}

static void test_config_marks_quoted_scalars(void **state)
{
    (void)state;
    struct gl_config *cfg = load("a: 'on'\nb: on\nc: \"x\"\n");
    assert_int_equal(cfg->error_count, 0);
    assert_true(gl_node_get(cfg->root, "a")->quoted);
    assert_false(gl_node_get(cfg->root, "b")->quoted);
    assert_true(gl_node_get(cfg->root, "c")->quoted);
    gl_config_free(cfg);
}

static void test_config_expands_set_variable(void **state)
{
    (void)state;
    setenv("GL_TEST_REGION", "eu-west-1", 1);
    struct gl_config *cfg = load("region: ${GL_TEST_REGION}\n");
    assert_int_equal(cfg->error_count, 0);
    assert_string_equal(gl_node_get(cfg->root, "region")->value, "eu-west-1");
    gl_config_free(cfg);
    unsetenv("GL_TEST_REGION");
}

static void test_config_expands_default_when_unset(void **state)
{
    (void)state;
    unsetenv("GL_TEST_UNSET");
    struct gl_config *cfg = load("level: ${GL_TEST_UNSET:-info}\nempty: \"${GL_TEST_UNSET:-}\"\n");
    assert_int_equal(cfg->error_count, 0);
    assert_string_equal(gl_node_get(cfg->root, "level")->value, "info");
    assert_string_equal(gl_node_get(cfg->root, "empty")->value, "");
    gl_config_free(cfg);
}

static void test_config_uses_set_variable_over_default(void **state)
{
    (void)state;
    setenv("GL_TEST_LEVEL", "debug", 1);
    struct gl_config *cfg = load("level: ${GL_TEST_LEVEL:-info}\n");
    assert_string_equal(gl_node_get(cfg->root, "level")->value, "debug");
    gl_config_free(cfg);
    unsetenv("GL_TEST_LEVEL");
}

static void test_config_unset_variable_is_error_at_scalar(void **state)
{
    (void)state;
    unsetenv("GL_TEST_UNSET");
    struct gl_config *cfg = load("a: 1\nregion:  x-${GL_TEST_UNSET}\n");
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0],
                        "test.yaml:2:10: environment variable GL_TEST_UNSET is not set "
                        "(use ${GL_TEST_UNSET:-default} to give a default)");
    assert_non_null(cfg->root);
    gl_config_free(cfg);
}

static void test_config_malformed_reference_is_error(void **state)
{
    (void)state;
    struct gl_config *cfg = load("a: ${NAME\nb: ${}\nc: ${1X}\n");
    assert_int_equal(cfg->error_count, 3);
    assert_string_equal(cfg->errors[0], "test.yaml:1:4: malformed ${...}: expected ${NAME} or "
                                        "${NAME:-default} (write $$ for a literal $)");
    assert_memory_equal(cfg->errors[1], "test.yaml:2:4: malformed", 24);
    assert_memory_equal(cfg->errors[2], "test.yaml:3:4: malformed", 24);
    gl_config_free(cfg);
}

static void test_config_double_dollar_is_literal(void **state)
{
    (void)state;
    struct gl_config *cfg = load("a: cost $$5 and $${HOME}\n");
    assert_int_equal(cfg->error_count, 0);
    assert_string_equal(gl_node_get(cfg->root, "a")->value, "cost $5 and ${HOME}");
    gl_config_free(cfg);
}

static void test_config_keeps_record_accessor(void **state)
{
    (void)state;
    setenv("GL_TEST_CLUSTER", "prod", 1);
    struct gl_config *cfg =
        load("t: /aws/eks/${GL_TEST_CLUSTER}/$kubernetes['namespace_name']/$tag\nend: a$\n");
    assert_int_equal(cfg->error_count, 0);
    assert_string_equal(gl_node_get(cfg->root, "t")->value,
                        "/aws/eks/prod/$kubernetes['namespace_name']/$tag");
    assert_string_equal(gl_node_get(cfg->root, "end")->value, "a$");
    gl_config_free(cfg);
    unsetenv("GL_TEST_CLUSTER");
}

static void test_config_expands_several_in_one_string(void **state)
{
    (void)state;
    setenv("GL_TEST_A", "x", 1);
    setenv("GL_TEST_B", "yy", 1);
    struct gl_config *cfg = load("v: ${GL_TEST_A}-${GL_TEST_B}-${GL_TEST_C:-z}${GL_TEST_A}\n");
    assert_int_equal(cfg->error_count, 0);
    assert_string_equal(gl_node_get(cfg->root, "v")->value, "x-yy-zx");
    gl_config_free(cfg);
    unsetenv("GL_TEST_A");
    unsetenv("GL_TEST_B");
}

static void test_config_does_not_expand_keys(void **state)
{
    (void)state;
    struct gl_config *cfg = load("${GL_TEST_UNSET}: 1\n");
    assert_int_equal(cfg->error_count, 0);
    assert_string_equal(cfg->root->items[0]->value, "${GL_TEST_UNSET}");
    gl_config_free(cfg);
}

static void test_config_expand_returns_message(void **state)
{
    (void)state;
    char *err = NULL;
    char *v = gl_config_expand("a ${GL_TEST_UNSET} b", &err);
    assert_null(v);
    assert_string_equal(err, "environment variable GL_TEST_UNSET is not set "
                             "(use ${GL_TEST_UNSET:-default} to give a default)");
    gl_free(err);
    v = gl_config_expand("plain", &err);
    assert_string_equal(v, "plain");
    assert_null(err);
    gl_free(v);
}

static void test_config_syntax_error_has_position(void **state)
{
    (void)state;
    struct gl_config *cfg = load("a: 1\nb: [1, 2\n");
    assert_null(cfg->root);
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0], "test.yaml:3:1: YAML: did not find expected ',' or ']' "
                                        "while parsing a flow sequence");
    gl_config_free(cfg);
}

static void test_config_tab_indentation_is_error(void **state)
{
    (void)state;
    struct gl_config *cfg = load("a:\n\tb: 1\n");
    assert_null(cfg->root);
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0],
                        "test.yaml:2:1: YAML: found character that cannot start any token while "
                        "scanning for the next token (use spaces, not tabs, to indent)");
    gl_config_free(cfg);
}

static void test_config_invalid_utf8_is_error_at_byte(void **state)
{
    (void)state;
    struct gl_config *cfg = load("a: 1\nbad: \"\xc3\xa9\xff\"\n");
    assert_null(cfg->root);
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0], "test.yaml:2:8: YAML: invalid leading UTF-8 octet");
    gl_config_free(cfg);
}

static void test_config_duplicate_key_is_error(void **state)
{
    (void)state;
    struct gl_config *cfg = load("out:\n  port: 1\n  host: h\n  port: 2\n");
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0], "test.yaml:4:3: duplicate key 'port' (first at 2:3)");
    gl_config_free(cfg);
}

static void test_config_keys_differing_in_case_are_not_duplicates(void **state)
{
    (void)state;
    struct gl_config *cfg = load("Path: a\npath: b\n");
    assert_int_equal(cfg->error_count, 0);
    gl_config_free(cfg);
}

static void test_config_rejects_anchors_and_aliases(void **state)
{
    (void)state;
    struct gl_config *cfg = load("a: &x 1\nb: *x\n");
    assert_null(cfg->root);
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0],
                        "test.yaml:1:4: YAML anchors (&x) are not supported: write the value out");
    gl_config_free(cfg);
    cfg = load("a: *x\n");
    assert_null(cfg->root);
    assert_int_equal(cfg->error_count, 1);
    gl_config_free(cfg);
}

static void test_config_empty_file_has_no_root_and_no_error(void **state)
{
    (void)state;
    struct gl_config *cfg = load("");
    assert_null(cfg->root);
    assert_int_equal(cfg->error_count, 0);
    gl_config_free(cfg);
    cfg = load("# nothing but a comment\n\n");
    assert_null(cfg->root);
    assert_int_equal(cfg->error_count, 0);
    gl_config_free(cfg);
}

static void test_config_rejects_second_document(void **state)
{
    (void)state;
    struct gl_config *cfg = load("a: 1\n---\nb: 2\n");
    assert_null(cfg->root);
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0],
                        "test.yaml:2:1: only one YAML document is allowed in a config file");
    gl_config_free(cfg);
}

static void test_config_rejects_complex_keys(void **state)
{
    (void)state;
    struct gl_config *cfg = load("[a, b]: 1\n");
    assert_null(cfg->root);
    assert_string_equal(cfg->errors[0], "test.yaml:1:1: a mapping key must be a plain value, "
                                        "not a list or a mapping");
    gl_config_free(cfg);
}

static void test_node_get_is_case_insensitive(void **state)
{
    (void)state;
    struct gl_config *cfg = load("Service:\n  Flush: 5s\n");
    const struct gl_node *service = gl_node_get(cfg->root, "service");
    assert_non_null(service);
    assert_string_equal(gl_node_get(service, "FLUSH")->value, "5s");
    assert_null(gl_node_get(service, "grace"));
    assert_null(gl_node_get(gl_node_get(service, "flush"), "x"));
    assert_null(gl_node_get(NULL, "x"));
    gl_config_free(cfg);
}

/* Builds n nested flow sequences: "[[[...]]]". */
static char *nested(int n)
{
    struct gl_buf b;
    gl_buf_init(&b);
    for (int i = 0; i < n; i++) {
        gl_buf_putc(&b, '[');
    }
    for (int i = 0; i < n; i++) {
        gl_buf_putc(&b, ']');
    }
    gl_buf_putc(&b, '\n');
    return gl_buf_take(&b);
}

static void test_config_limits_nesting_depth(void **state)
{
    (void)state;
    char *ok = nested(32);
    struct gl_config *cfg = load(ok);
    assert_int_equal(cfg->error_count, 0);
    assert_non_null(cfg->root);
    gl_config_free(cfg);
    gl_free(ok);
    char *deep = nested(33);
    cfg = load(deep);
    assert_null(cfg->root);
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0], "test.yaml:1:33: nesting deeper than 32 levels");
    gl_config_free(cfg);
    gl_free(deep);
}

static void test_config_limits_file_size(void **state)
{
    (void)state;
    size_t n = (4u << 20) + 1;
    char *big = gl_malloc(n);
    memset(big, '#', n);
    struct gl_config *cfg = gl_config_load_text("big.yaml", big, n);
    assert_null(cfg->root);
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0],
                        "big.yaml: the file is 4194305 bytes, over the limit of 4 MiB");
    gl_config_free(cfg);
    gl_free(big);
}

static void test_config_caps_error_count(void **state)
{
    (void)state;
    struct gl_buf b;
    gl_buf_init(&b);
    for (int i = 0; i < 150; i++) {
        gl_buf_printf(&b, "k%d: ${GL_TEST_UNSET}\n", i);
    }
    struct gl_config *cfg = load(b.data);
    assert_int_equal(cfg->error_count, 101);
    assert_string_equal(cfg->errors[100],
                        "test.yaml:101:7: too many errors, the rest are not shown");
    gl_config_free(cfg);
    gl_buf_close(&b);
}

static void test_config_error_formats_position(void **state)
{
    (void)state;
    struct gl_config *cfg = load("a: 1\n");
    gl_config_error(cfg, cfg->root->items[1], "bad %s %d", "value", 7);
    gl_config_error(cfg, NULL, "whole file");
    assert_int_equal(cfg->error_count, 2);
    assert_string_equal(cfg->errors[0], "test.yaml:1:4: bad value 7");
    assert_string_equal(cfg->errors[1], "test.yaml: whole file");
    gl_config_free(cfg);
}

static void test_config_load_file_reads_and_names_file(void **state)
{
    (void)state;
    char path[] = "/tmp/gl_test_configXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("a:\n  b: ${GL_TEST_UNSET}\n", f);
    fclose(f);
    struct gl_config *cfg = gl_config_load_file(path);
    assert_int_equal(cfg->error_count, 1);
    char want[256];
    snprintf(want, sizeof(want), "%s:2:6: environment variable GL_TEST_UNSET is not set "
             "(use ${GL_TEST_UNSET:-default} to give a default)", path);
    assert_string_equal(cfg->errors[0], want);
    gl_config_free(cfg);
    unlink(path);
}

static void test_config_load_file_reports_missing_file(void **state)
{
    (void)state;
    struct gl_config *cfg = gl_config_load_file("/nonexistent/gleaner.yaml");
    assert_null(cfg->root);
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0],
                        "/nonexistent/gleaner.yaml: cannot open: No such file or directory");
    gl_config_free(cfg);
}

int main(void)
{
    unsetenv("GL_TEST_UNSET");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_nodes_keep_positions),
        cmocka_unit_test(test_config_marks_quoted_scalars),
        cmocka_unit_test(test_config_expands_set_variable),
        cmocka_unit_test(test_config_expands_default_when_unset),
        cmocka_unit_test(test_config_uses_set_variable_over_default),
        cmocka_unit_test(test_config_unset_variable_is_error_at_scalar),
        cmocka_unit_test(test_config_malformed_reference_is_error),
        cmocka_unit_test(test_config_double_dollar_is_literal),
        cmocka_unit_test(test_config_keeps_record_accessor),
        cmocka_unit_test(test_config_expands_several_in_one_string),
        cmocka_unit_test(test_config_does_not_expand_keys),
        cmocka_unit_test(test_config_expand_returns_message),
        cmocka_unit_test(test_config_syntax_error_has_position),
        cmocka_unit_test(test_config_tab_indentation_is_error),
        cmocka_unit_test(test_config_invalid_utf8_is_error_at_byte),
        cmocka_unit_test(test_config_duplicate_key_is_error),
        cmocka_unit_test(test_config_keys_differing_in_case_are_not_duplicates),
        cmocka_unit_test(test_config_rejects_anchors_and_aliases),
        cmocka_unit_test(test_config_empty_file_has_no_root_and_no_error),
        cmocka_unit_test(test_config_rejects_second_document),
        cmocka_unit_test(test_config_rejects_complex_keys),
        cmocka_unit_test(test_node_get_is_case_insensitive),
        cmocka_unit_test(test_config_limits_nesting_depth),
        cmocka_unit_test(test_config_limits_file_size),
        cmocka_unit_test(test_config_caps_error_count),
        cmocka_unit_test(test_config_error_formats_position),
        cmocka_unit_test(test_config_load_file_reads_and_names_file),
        cmocka_unit_test(test_config_load_file_reports_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
