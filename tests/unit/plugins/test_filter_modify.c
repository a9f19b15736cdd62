/* Tests for plugins/filter_modify: every rule and condition, rule order, arity errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "filter_harness.h"

extern const struct gl_plugin gl_filter_modify;

/* Runs body through a modify built from yaml; asserts the result and output JSON. */
static void expect(const char *yaml, const char *body, enum gl_filter_result r, const char *json)
{
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_modify, yaml), 0);
    assert_int_equal(fh_run(&h, body, 7), r);
    assert_string_equal(h.json, json);
    assert_int_equal(h.ts, 7);
    fh_close(&h);
}

static void test_modify_set_overwrites_existing_key(void **state)
{
    (void)state;
    expect("set: [a x]\n", "{\"a\":1,\"b\":2}", GL_FILTER_MODIFIED, "{\"a\":\"x\",\"b\":2}");
}

static void test_modify_set_adds_missing_key(void **state)
{
    (void)state;
    expect("set: [c x]\n", "{\"a\":1}", GL_FILTER_MODIFIED, "{\"a\":1,\"c\":\"x\"}");
}

static void test_modify_set_takes_quoted_value(void **state)
{
    (void)state;
    expect("set: ['msg \"two words\"', 'q \"say \\\"hi\\\"\"']\n", "{}", GL_FILTER_MODIFIED,
           "{\"msg\":\"two words\",\"q\":\"say \\\"hi\\\"\"}");
}

static void test_modify_add_only_when_absent(void **state)
{
    (void)state;
    expect("add: [a x]\n", "{\"a\":1}", GL_FILTER_KEEP, "{\"a\":1}");
    expect("add: [b x]\n", "{\"a\":1}", GL_FILTER_MODIFIED, "{\"a\":1,\"b\":\"x\"}");
}

static void test_modify_remove_drops_key(void **state)
{
    (void)state;
    expect("remove: [b]\n", "{\"a\":1,\"b\":2,\"c\":3}", GL_FILTER_MODIFIED, "{\"a\":1,\"c\":3}");
    expect("remove: [z]\n", "{\"a\":1}", GL_FILTER_KEEP, "{\"a\":1}");
}

static void test_modify_remove_wildcard_drops_prefixed_keys(void **state)
{
    (void)state;
    expect("remove_wildcard: [kube_*]\n", "{\"kube_a\":1,\"kube\":2,\"kube_b\":3,\"x\":4}",
           GL_FILTER_MODIFIED, "{\"kube\":2,\"x\":4}");
}

static void test_modify_remove_regex_drops_matching_keys(void **state)
{
    (void)state;
    expect("remove_regex: ['^tmp[0-9]+$']\n", "{\"tmp1\":1,\"tmp\":2,\"tmp22\":3}",
           GL_FILTER_MODIFIED, "{\"tmp\":2}");
}

static void test_modify_rename_when_new_absent(void **state)
{
    (void)state;
    expect("rename: [a b]\n", "{\"a\":1,\"c\":2}", GL_FILTER_MODIFIED, "{\"b\":1,\"c\":2}");
    expect("rename: [a b]\n", "{\"a\":1,\"b\":2}", GL_FILTER_KEEP, "{\"a\":1,\"b\":2}");
    expect("rename: [z b]\n", "{\"a\":1}", GL_FILTER_KEEP, "{\"a\":1}");
}

static void test_modify_hard_rename_replaces_new(void **state)
{
    (void)state;
    expect("hard_rename: [a b]\n", "{\"a\":1,\"b\":2}", GL_FILTER_MODIFIED, "{\"b\":1}");
}

static void test_modify_copy_when_destination_absent(void **state)
{
    (void)state;
    expect("copy: [a b]\n", "{\"a\":{\"x\":[1]}}", GL_FILTER_MODIFIED,
           "{\"a\":{\"x\":[1]},\"b\":{\"x\":[1]}}");
    expect("copy: [a b]\n", "{\"a\":1,\"b\":2}", GL_FILTER_KEEP, "{\"a\":1,\"b\":2}");
}

static void test_modify_hard_copy_replaces_destination(void **state)
{
    (void)state;
    expect("hard_copy: [a b]\n", "{\"b\":2,\"a\":1}", GL_FILTER_MODIFIED, "{\"b\":1,\"a\":1}");
}

static void test_modify_rules_apply_in_the_order_written(void **state)
{
    (void)state;
    /* As Fluent Bit's: set first, so add and copy find c; b still exists for rename. */
    expect("set: [c s]\nadd: [c a]\ncopy: [b c]\nrename: [a b]\nremove: [b]\n",
           "{\"a\":1,\"b\":2}", GL_FILTER_MODIFIED, "{\"a\":1,\"c\":\"s\"}");
    /* The Container Insights shape: renames, then a remove_regex that keeps their names. */
    expect("rename: [_HOSTNAME hostname, MESSAGE message]\n"
           "remove_regex: ['^((?!hostname|message).)*$']\n",
           "{\"_HOSTNAME\":\"n\",\"MESSAGE\":\"m\",\"_PID\":\"1\"}", GL_FILTER_MODIFIED,
           "{\"hostname\":\"n\",\"message\":\"m\"}");
}

static void test_modify_condition_key_exists(void **state)
{
    (void)state;
    const char *yaml = "condition: [key_exists k]\nset: [x 1]\n";
    expect(yaml, "{\"k\":0}", GL_FILTER_MODIFIED, "{\"k\":0,\"x\":\"1\"}");
    expect(yaml, "{\"j\":0}", GL_FILTER_KEEP, "{\"j\":0}");
}

static void test_modify_condition_key_does_not_exist(void **state)
{
    (void)state;
    const char *yaml = "condition: [key_does_not_exist k]\nset: [x 1]\n";
    expect(yaml, "{\"k\":0}", GL_FILTER_KEEP, "{\"k\":0}");
    expect(yaml, "{}", GL_FILTER_MODIFIED, "{\"x\":\"1\"}");
}

static void test_modify_condition_key_value_equals(void **state)
{
    (void)state;
    const char *yaml = "condition: ['key_value_equals level \"very high\"']\nremove: [level]\n";
    expect(yaml, "{\"level\":\"very high\"}", GL_FILTER_MODIFIED, "{}");
    expect(yaml, "{\"level\":\"high\"}", GL_FILTER_KEEP, "{\"level\":\"high\"}");
    expect(yaml, "{\"level\":1}", GL_FILTER_KEEP, "{\"level\":1}");
}

static void test_modify_condition_key_value_does_not_equal(void **state)
{
    (void)state;
    const char *yaml = "condition: [key_value_does_not_equal a b]\nset: [x 1]\n";
    expect(yaml, "{\"a\":\"c\"}", GL_FILTER_MODIFIED, "{\"a\":\"c\",\"x\":\"1\"}");
    expect(yaml, "{\"a\":\"b\"}", GL_FILTER_KEEP, "{\"a\":\"b\"}");
    expect(yaml, "{}", GL_FILTER_KEEP, "{}");
}

static void test_modify_condition_key_value_matches(void **state)
{
    (void)state;
    const char *yaml = "condition: ['key_value_matches log ^ERR\\d+']\nset: [sev high]\n";
    expect(yaml, "{\"log\":\"ERR42 x\"}", GL_FILTER_MODIFIED,
           "{\"log\":\"ERR42 x\",\"sev\":\"high\"}");
    expect(yaml, "{\"log\":\"ERR x\"}", GL_FILTER_KEEP, "{\"log\":\"ERR x\"}");
}

static void test_modify_condition_key_value_does_not_match(void **state)
{
    (void)state;
    const char *yaml = "condition: ['key_value_does_not_match log ^ERR']\nset: [sev low]\n";
    expect(yaml, "{\"log\":\"ok\"}", GL_FILTER_MODIFIED, "{\"log\":\"ok\",\"sev\":\"low\"}");
    expect(yaml, "{\"log\":\"ERR\"}", GL_FILTER_KEEP, "{\"log\":\"ERR\"}");
}

static void test_modify_condition_a_key_matches(void **state)
{
    (void)state;
    const char *yaml = "condition: ['a_key_matches ^kube']\nset: [k8s yes]\n";
    expect(yaml, "{\"kubernetes\":{}}", GL_FILTER_MODIFIED, "{\"kubernetes\":{},\"k8s\":\"yes\"}");
    expect(yaml, "{\"log\":1}", GL_FILTER_KEEP, "{\"log\":1}");
}

static void test_modify_condition_no_key_matches(void **state)
{
    (void)state;
    const char *yaml = "condition: ['no_key_matches ^kube']\nset: [k8s no]\n";
    expect(yaml, "{\"log\":1}", GL_FILTER_MODIFIED, "{\"log\":1,\"k8s\":\"no\"}");
    expect(yaml, "{\"kube\":1}", GL_FILTER_KEEP, "{\"kube\":1}");
}

static void test_modify_conditions_must_all_hold(void **state)
{
    (void)state;
    const char *yaml = "condition: [key_exists a, key_exists b]\nset: [x 1]\n";
    expect(yaml, "{\"a\":1,\"b\":2}", GL_FILTER_MODIFIED, "{\"a\":1,\"b\":2,\"x\":\"1\"}");
    expect(yaml, "{\"a\":1}", GL_FILTER_KEEP, "{\"a\":1}");
}

/* Opens a modify expecting a config error and checks its text. */
static void expect_error(const char *yaml, const char *message)
{
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_modify, yaml), GL_ECONFIG);
    assert_string_equal(fh_error(&h), message);
    fh_close(&h);
}

static void test_modify_rule_arity_is_config_error(void **state)
{
    (void)state;
    expect_error("set: [a]\n",
                 "test.yaml:1:6: modify.set: expected 'KEY VALUE' (quote values with spaces)");
    expect_error("rename: [a b c]\n",
                 "test.yaml:1:9: modify.rename: expected 'KEY VALUE' (quote values with spaces)");
    expect_error("remove: ['a b']\n", "test.yaml:1:9: modify.remove: expected 'KEY'");
    expect_error("set: ['a \"open']\n",
                 "test.yaml:1:6: modify.set: expected 'KEY VALUE' (quote values with spaces)");
}

static void test_modify_condition_errors_are_config_errors(void **state)
{
    (void)state;
    expect_error("condition: [key_exists]\n",
                 "test.yaml:1:12: modify.condition: this condition takes one argument");
    expect_error("condition: [key_value_equals a]\n",
                 "test.yaml:1:12: modify.condition: this condition takes 'KEY VALUE'");
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_modify, "condition: [key_is a]\n"), GL_ECONFIG);
    assert_non_null(strstr(fh_error(&h), "modify.condition: expected 'CONDITION ARGS'"));
    fh_close(&h);
}

static void test_modify_bad_regex_fails_init(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_modify, "condition: ['a_key_matches (']\n"),
                     GL_EINVAL);
    fh_close(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modify_set_overwrites_existing_key),
        cmocka_unit_test(test_modify_set_adds_missing_key),
        cmocka_unit_test(test_modify_set_takes_quoted_value),
        cmocka_unit_test(test_modify_add_only_when_absent),
        cmocka_unit_test(test_modify_remove_drops_key),
        cmocka_unit_test(test_modify_remove_wildcard_drops_prefixed_keys),
        cmocka_unit_test(test_modify_remove_regex_drops_matching_keys),
        cmocka_unit_test(test_modify_rename_when_new_absent),
        cmocka_unit_test(test_modify_hard_rename_replaces_new),
        cmocka_unit_test(test_modify_copy_when_destination_absent),
        cmocka_unit_test(test_modify_hard_copy_replaces_destination),
        cmocka_unit_test(test_modify_rules_apply_in_the_order_written),
        cmocka_unit_test(test_modify_condition_key_exists),
        cmocka_unit_test(test_modify_condition_key_does_not_exist),
        cmocka_unit_test(test_modify_condition_key_value_equals),
        cmocka_unit_test(test_modify_condition_key_value_does_not_equal),
        cmocka_unit_test(test_modify_condition_key_value_matches),
        cmocka_unit_test(test_modify_condition_key_value_does_not_match),
        cmocka_unit_test(test_modify_condition_a_key_matches),
        cmocka_unit_test(test_modify_condition_no_key_matches),
        cmocka_unit_test(test_modify_conditions_must_all_hold),
        cmocka_unit_test(test_modify_rule_arity_is_config_error),
        cmocka_unit_test(test_modify_condition_errors_are_config_errors),
        cmocka_unit_test(test_modify_bad_regex_fails_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
