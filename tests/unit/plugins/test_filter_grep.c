/* Tests for plugins/filter_grep: regex/exclude rules, accessors, logical_op, option errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "filter_harness.h"

extern const struct gl_plugin gl_filter_grep;

static enum gl_filter_result grep_one(const char *yaml, const char *body)
{
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_grep, yaml), 0);
    enum gl_filter_result r = fh_run(&h, body, 5);
    fh_close(&h);
    return r;
}

static void test_grep_regex_keeps_matching_record(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_grep, "regex: [log ^err]\n"), 0);
    assert_int_equal(fh_run(&h, "{\"log\":\"error: disk\",\"n\":1}", 5), GL_FILTER_KEEP);
    assert_string_equal(h.json, "{\"log\":\"error: disk\",\"n\":1}");
    assert_int_equal(h.ts, 5);
    fh_close(&h);
}

static void test_grep_regex_drops_non_matching_record(void **state)
{
    (void)state;
    assert_int_equal(grep_one("regex: [log ^err]\n", "{\"log\":\"info: ok\"}"), GL_FILTER_DROP);
}

static void test_grep_pattern_between_slashes(void **state)
{
    (void)state;
    /* Fluent Bit's /regex/ and /regex/i: the slashes are not part of the pattern. */
    assert_int_equal(grep_one("exclude: ['log /^\\s*$/']\n", "{\"log\":\"  \"}"), GL_FILTER_DROP);
    assert_int_equal(grep_one("exclude: ['log /^\\s*$/']\n", "{\"log\":\"/x/\"}"), GL_FILTER_KEEP);
    assert_int_equal(grep_one("regex: ['log /^ERR/i']\n", "{\"log\":\"err: x\"}"), GL_FILTER_KEEP);
    assert_int_equal(grep_one("regex: ['log a/b']\n", "{\"log\":\"xa/b\"}"), GL_FILTER_KEEP);
}

static void test_grep_regex_drops_missing_key(void **state)
{
    (void)state;
    assert_int_equal(grep_one("regex: [log err]\n", "{\"msg\":\"err\"}"), GL_FILTER_DROP);
}

static void test_grep_regex_does_not_match_non_string(void **state)
{
    (void)state;
    assert_int_equal(grep_one("regex: [code 500]\n", "{\"code\":500}"), GL_FILTER_DROP);
    assert_int_equal(grep_one("exclude: [code 500]\n", "{\"code\":500}"), GL_FILTER_KEEP);
}

static void test_grep_exclude_drops_matching_record(void **state)
{
    (void)state;
    assert_int_equal(grep_one("exclude: [log debug]\n", "{\"log\":\"a debug line\"}"),
                     GL_FILTER_DROP);
    assert_int_equal(grep_one("exclude: [log debug]\n", "{\"log\":\"an info line\"}"),
                     GL_FILTER_KEEP);
}

static void test_grep_regex_with_spaces_in_pattern(void **state)
{
    (void)state;
    const char *yaml = "regex: ['log ^GET /health HTTP']\n";
    assert_int_equal(grep_one(yaml, "{\"log\":\"GET /health HTTP/1.1\"}"), GL_FILTER_KEEP);
    assert_int_equal(grep_one(yaml, "{\"log\":\"GET /healthz\"}"), GL_FILTER_DROP);
}

static void test_grep_legacy_needs_all_regex_and_no_exclude(void **state)
{
    (void)state;
    const char *yaml = "regex: [log a, stream stdout]\nexclude: [log skip]\n";
    assert_int_equal(grep_one(yaml, "{\"log\":\"a\",\"stream\":\"stdout\"}"), GL_FILTER_KEEP);
    assert_int_equal(grep_one(yaml, "{\"log\":\"a\",\"stream\":\"stderr\"}"), GL_FILTER_DROP);
    assert_int_equal(grep_one(yaml, "{\"log\":\"a skip\",\"stream\":\"stdout\"}"),
                     GL_FILTER_DROP);
}

static void test_grep_accessor_reads_nested_keys(void **state)
{
    (void)state;
    const char *yaml = "regex:\n  - $kubernetes['labels']['app'] ^web$\n";
    assert_int_equal(grep_one(yaml, "{\"kubernetes\":{\"labels\":{\"app\":\"web\"}}}"),
                     GL_FILTER_KEEP);
    assert_int_equal(grep_one(yaml, "{\"kubernetes\":{\"labels\":{\"app\":\"db\"}}}"),
                     GL_FILTER_DROP);
    assert_int_equal(grep_one(yaml, "{\"kubernetes\":{\"labels\":\"web\"}}"), GL_FILTER_DROP);
    assert_int_equal(grep_one(yaml, "{\"kubernetes\":\"x\"}"), GL_FILTER_DROP);
}

static void test_grep_accessor_reads_array_index(void **state)
{
    (void)state;
    const char *yaml = "regex:\n  - \"$tags[1] ^b$\"\n";
    assert_int_equal(grep_one(yaml, "{\"tags\":[\"a\",\"b\"]}"), GL_FILTER_KEEP);
    assert_int_equal(grep_one(yaml, "{\"tags\":[\"b\"]}"), GL_FILTER_DROP);
}

static void test_grep_dollar_key_is_top_level(void **state)
{
    (void)state;
    assert_int_equal(grep_one("regex: [$log x]\n", "{\"log\":\"x\"}"), GL_FILTER_KEEP);
}

static void test_grep_and_keeps_when_all_match(void **state)
{
    (void)state;
    const char *yaml = "logical_op: AND\nregex: [log a, stream out]\n";
    assert_int_equal(grep_one(yaml, "{\"log\":\"a\",\"stream\":\"stdout\"}"), GL_FILTER_KEEP);
    assert_int_equal(grep_one(yaml, "{\"log\":\"b\",\"stream\":\"stdout\"}"), GL_FILTER_DROP);
}

static void test_grep_or_keeps_when_one_matches(void **state)
{
    (void)state;
    const char *yaml = "logical_op: OR\nregex: [log a, stream out]\n";
    assert_int_equal(grep_one(yaml, "{\"log\":\"b\",\"stream\":\"stdout\"}"), GL_FILTER_KEEP);
    assert_int_equal(grep_one(yaml, "{\"log\":\"b\",\"stream\":\"stderr\"}"), GL_FILTER_DROP);
}

static void test_grep_and_exclude_drops_when_all_match(void **state)
{
    (void)state;
    const char *yaml = "logical_op: AND\nexclude: [log a, stream out]\n";
    assert_int_equal(grep_one(yaml, "{\"log\":\"a\",\"stream\":\"stdout\"}"), GL_FILTER_DROP);
    assert_int_equal(grep_one(yaml, "{\"log\":\"a\",\"stream\":\"stderr\"}"), GL_FILTER_KEEP);
}

static void test_grep_or_exclude_drops_when_one_matches(void **state)
{
    (void)state;
    const char *yaml = "logical_op: or\nexclude: [log a, stream out]\n";
    assert_int_equal(grep_one(yaml, "{\"log\":\"b\",\"stream\":\"stdout\"}"), GL_FILTER_DROP);
    assert_int_equal(grep_one(yaml, "{\"log\":\"b\",\"stream\":\"stderr\"}"), GL_FILTER_KEEP);
}

static void test_grep_logical_op_refuses_mixed_rules(void **state)
{
    (void)state;
    struct fh h;
    const char *yaml = "logical_op: AND\nregex: [a x]\nexclude: [b y]\n";
    assert_int_equal(fh_open(&h, &gl_filter_grep, yaml), GL_EINVAL);
    fh_close(&h);
}

static void test_grep_rule_without_regex_is_config_error(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_grep, "regex: [log]\n"), GL_ECONFIG);
    assert_string_equal(fh_error(&h), "test.yaml:1:8: grep.regex: expected 'KEY REGEX'");
    fh_close(&h);
}

static void test_grep_bad_accessor_is_config_error(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_grep, "regex: [\"$a['b x\"]\n"), GL_ECONFIG);
    assert_non_null(strstr(fh_error(&h), "grep.regex: bad KEY"));
    fh_close(&h);
}

static void test_grep_bad_regex_fails_init(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_grep, "regex: ['log (unclosed']\n"), GL_EINVAL);
    fh_close(&h);
}

static void test_grep_without_rules_keeps_everything(void **state)
{
    (void)state;
    assert_int_equal(grep_one("logical_op: legacy\n", "{\"log\":\"x\"}"), GL_FILTER_KEEP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grep_regex_keeps_matching_record),
        cmocka_unit_test(test_grep_regex_drops_non_matching_record),
        cmocka_unit_test(test_grep_pattern_between_slashes),
        cmocka_unit_test(test_grep_regex_drops_missing_key),
        cmocka_unit_test(test_grep_regex_does_not_match_non_string),
        cmocka_unit_test(test_grep_exclude_drops_matching_record),
        cmocka_unit_test(test_grep_regex_with_spaces_in_pattern),
        cmocka_unit_test(test_grep_legacy_needs_all_regex_and_no_exclude),
        cmocka_unit_test(test_grep_accessor_reads_nested_keys),
        cmocka_unit_test(test_grep_accessor_reads_array_index),
        cmocka_unit_test(test_grep_dollar_key_is_top_level),
        cmocka_unit_test(test_grep_and_keeps_when_all_match),
        cmocka_unit_test(test_grep_or_keeps_when_one_matches),
        cmocka_unit_test(test_grep_and_exclude_drops_when_all_match),
        cmocka_unit_test(test_grep_or_exclude_drops_when_one_matches),
        cmocka_unit_test(test_grep_logical_op_refuses_mixed_rules),
        cmocka_unit_test(test_grep_rule_without_regex_is_config_error),
        cmocka_unit_test(test_grep_bad_accessor_is_config_error),
        cmocka_unit_test(test_grep_bad_regex_fails_init),
        cmocka_unit_test(test_grep_without_rules_keeps_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
