/* Tag matching: `*` and `?` wildcards as Fluent Bit's, and match_regex through PCRE2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "codec/regex.h"
#include "core/engine.h"

static bool m(const char *pattern, const char *tag)
{
    return gl_router_match(pattern, tag, strlen(tag));
}

static void test_match_exact(void **state)
{
    (void)state;
    assert_true(m("app", "app"));
    assert_false(m("app", "apps"));
    assert_false(m("apps", "app"));
    assert_false(m("", "app"));
    assert_true(m("", ""));
}

static void test_match_star_spans_dots(void **state)
{
    (void)state;
    assert_true(m("*", "anything.at.all"));
    assert_true(m("kube.*", "kube.var.log.containers.web-1_default_app-0123.log"));
    assert_false(m("kube.*", "kubernetes.x"));
    assert_true(m("*.log", "a.b.log"));
    assert_false(m("*.log", "a.b.log.1"));
    assert_true(m("a*b*c", "aXXbYYc"));
    assert_true(m("a*b*c", "abc"));
    assert_false(m("a*b*c", "acb"));
    assert_true(m("**", ""));
}

static void test_match_question_is_one_char(void **state)
{
    (void)state;
    assert_true(m("app.?", "app.1"));
    assert_false(m("app.?", "app."));
    assert_false(m("app.?", "app.12"));
    assert_true(m("?*", "x"));
    assert_false(m("?*", ""));
}

static void test_match_backtracks(void **state)
{
    (void)state;
    assert_true(m("*aab", "aaaab"));
    assert_true(m("*a*a*a*b", "aaaaaaaaaaab"));
    assert_false(m("*a*a*a*b", "aaaaaaaaaaaa"));
}

static void test_match_uses_length_not_nul(void **state)
{
    (void)state;
    assert_true(gl_router_match("app", "app.extra", 3));
    assert_false(gl_router_match("app.*", "app.extra", 3));
}

static void test_match_regex(void **state)
{
    (void)state;
    char err[128];
    struct gl_regex *re = gl_regex_new("^kube\\.var\\.log\\.containers\\.web-", err, sizeof(err));
    assert_non_null(re);
    const char *yes = "kube.var.log.containers.web-7_default_app.log";
    const char *no = "kube.var.log.containers.api-1_default_app.log";
    assert_true(gl_regex_match(re, yes, strlen(yes)));
    assert_false(gl_regex_match(re, no, strlen(no)));
    gl_regex_free(re);
}

static void test_overlap_of_two_patterns(void **state)
{
    (void)state;
    assert_true(gl_router_overlap("kube.*", "kube.var.log.x"));
    assert_true(gl_router_overlap("kube.*", "kube.*"));
    assert_true(gl_router_overlap("kube.var.*", "kube.*"));
    assert_true(gl_router_overlap("*.log", "kube.*"));
    assert_true(gl_router_overlap("a?c", "*b*"));
    assert_true(gl_router_overlap("*", ""));
    assert_false(gl_router_overlap("node.*", "kube.*"));
    assert_false(gl_router_overlap("a?c", "*dd*"));
    assert_false(gl_router_overlap("metrics", "metrics.x"));
    assert_false(gl_router_overlap("?", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_exact),
        cmocka_unit_test(test_match_star_spans_dots),
        cmocka_unit_test(test_match_question_is_one_char),
        cmocka_unit_test(test_match_backtracks),
        cmocka_unit_test(test_match_uses_length_not_nul),
        cmocka_unit_test(test_match_regex),
        cmocka_unit_test(test_overlap_of_two_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
