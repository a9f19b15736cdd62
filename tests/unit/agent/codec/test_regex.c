/*
 * Tests for agent/codec/regex.c: matching, named groups in pattern order, invalid
 * UTF-8 subjects, compile errors and the JIT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "codec/regex.h"
#include "util/buf.h"

/* Collects "name=value;" for each reported group. */
static void collect(void *data, const char *name, const char *value, size_t len)
{
    gl_buf_printf(data, "%s=%.*s;", name, (int)len, value);
}

static struct gl_regex *compile(const char *pattern)
{
    char err[128];
    struct gl_regex *re = gl_regex_new(pattern, err, sizeof(err));
    assert_non_null(re);
    return re;
}

static void test_regex_matches_anywhere(void **state)
{
    (void)state;
    struct gl_regex *re = compile("err(or)?");
    assert_true(gl_regex_match(re, "an error here", 13));
    assert_true(gl_regex_match(re, "err", 3));
    assert_false(gl_regex_match(re, "warning", 7));
    assert_string_equal(gl_regex_pattern(re), "err(or)?");
    gl_regex_free(re);
}

static void test_regex_respects_subject_length(void **state)
{
    (void)state;
    struct gl_regex *re = compile("^abc$");
    assert_true(gl_regex_match(re, "abcdef", 3));
    assert_false(gl_regex_match(re, "abcdef", 6));
    gl_regex_free(re);
}

static void test_regex_named_reports_groups_in_order(void **state)
{
    (void)state;
    /* PCRE2 keeps names sorted alphabetically; callers must see pattern order. */
    struct gl_regex *re = compile("^(?<time>\\S+) (?<stream>stdout|stderr) (?<flag>[PF]) "
                                  "(?<log>.*)$");
    const char *line = "2024-01-02T03:04:05Z stdout F hello world";
    struct gl_buf out;
    gl_buf_init(&out);
    assert_int_equal(gl_regex_named(re, line, strlen(line), collect, &out), 4);
    assert_string_equal(out.data, "time=2024-01-02T03:04:05Z;stream=stdout;flag=F;"
                                  "log=hello world;");
    gl_buf_close(&out);
    gl_regex_free(re);
}

static void test_regex_named_skips_groups_that_did_not_match(void **state)
{
    (void)state;
    struct gl_regex *re = compile("(?<a>x)?(?<b>y)(z)(?<c>w)?");
    struct gl_buf out;
    gl_buf_init(&out);
    assert_int_equal(gl_regex_named(re, "yz", 2, collect, &out), 1);
    assert_string_equal(out.data, "b=y;");
    gl_buf_close(&out);
    gl_regex_free(re);
}

static void test_regex_named_reports_empty_group(void **state)
{
    (void)state;
    struct gl_regex *re = compile("^(?<key>[a-z]*)=(?<value>.*)$");
    struct gl_buf out;
    gl_buf_init(&out);
    assert_int_equal(gl_regex_named(re, "=v", 2, collect, &out), 2);
    assert_string_equal(out.data, "key=;value=v;");
    gl_buf_close(&out);
    gl_regex_free(re);
}

static void test_regex_named_returns_minus_one_without_match(void **state)
{
    (void)state;
    struct gl_regex *re = compile("(?<n>\\d+)");
    struct gl_buf out;
    gl_buf_init(&out);
    assert_int_equal(gl_regex_named(re, "abc", 3, collect, &out), -1);
    assert_int_equal(out.len, 0);
    gl_buf_close(&out);
    gl_regex_free(re);
}

static void test_regex_groups_reports_every_group_by_number(void **state)
{
    (void)state;
    char err[128];
    struct gl_regex *re = gl_regex_new("(a)(?P<mid>x)?(b+)", err, sizeof(err));
    struct gl_regex_group g[8];
    assert_int_equal(gl_regex_groups(re, "zabbb", 5, g, 8), 4);
    assert_int_equal(g[0].start, 1);
    assert_int_equal(g[0].end, 5);
    assert_null(g[1].name);
    assert_int_equal(g[1].start, 1);
    assert_string_equal(g[2].name, "mid");
    assert_int_equal(g[2].start, -1);
    assert_int_equal(g[3].start, 2);
    assert_int_equal(g[3].end, 5);
    assert_int_equal(gl_regex_groups(re, "zabbb", 5, g, 2), 2);
    assert_int_equal(gl_regex_groups(re, "zzz", 3, g, 8), -1);
    gl_regex_free(re);
}

static void test_regex_matches_invalid_utf8_subject(void **state)
{
    (void)state;
    struct gl_regex *re = compile("(?<word>h.llo)");
    const char subject[] = "\xff\xfe bad \xc3 bytes h\xe9llo \xc3\xa9";
    struct gl_buf out;
    gl_buf_init(&out);
    assert_false(gl_regex_match(re, subject, sizeof(subject) - 1));
    assert_int_equal(gl_regex_named(re, subject, sizeof(subject) - 1, collect, &out), -1);
    const char good[] = "\xff\xfe hallo";
    assert_true(gl_regex_match(re, good, sizeof(good) - 1));
    assert_int_equal(gl_regex_named(re, good, sizeof(good) - 1, collect, &out), 1);
    assert_string_equal(out.data, "word=hallo;");
    gl_buf_close(&out);
    gl_regex_free(re);
}

static void test_regex_matches_unicode_classes(void **state)
{
    (void)state;
    struct gl_regex *re = compile("^\\p{L}+$");
    assert_true(gl_regex_match(re, "h\xc3\xa9llo", 6));
    assert_false(gl_regex_match(re, "h3llo", 5));
    gl_regex_free(re);
}

static void test_regex_reports_compile_error_with_offset(void **state)
{
    (void)state;
    char err[128];
    assert_null(gl_regex_new("abc(", err, sizeof(err)));
    assert_string_equal(err, "missing closing parenthesis at offset 4");
    assert_null(gl_regex_new("a[", err, sizeof(err)));
    assert_string_equal(err, "missing terminating ] for character class at offset 2");
    assert_null(gl_regex_new("(", NULL, 0));
}

static void test_regex_uses_jit(void **state)
{
    (void)state;
    uint32_t jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &jit);
    struct gl_regex *re = compile("^(?<a>\\w+)\\s+(?<b>\\d+)$");
    assert_int_equal(gl_regex_jit(re), jit == 1);
    assert_true(gl_regex_match(re, "abc 123", 7));
    gl_regex_free(re);
}

static void test_regex_free_accepts_null(void **state)
{
    (void)state;
    gl_regex_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regex_matches_anywhere),
        cmocka_unit_test(test_regex_respects_subject_length),
        cmocka_unit_test(test_regex_named_reports_groups_in_order),
        cmocka_unit_test(test_regex_named_skips_groups_that_did_not_match),
        cmocka_unit_test(test_regex_named_reports_empty_group),
        cmocka_unit_test(test_regex_named_returns_minus_one_without_match),
        cmocka_unit_test(test_regex_groups_reports_every_group_by_number),
        cmocka_unit_test(test_regex_matches_invalid_utf8_subject),
        cmocka_unit_test(test_regex_matches_unicode_classes),
        cmocka_unit_test(test_regex_reports_compile_error_with_offset),
        cmocka_unit_test(test_regex_uses_jit),
        cmocka_unit_test(test_regex_free_accepts_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
