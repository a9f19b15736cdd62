/*
 * Relabelling as Prometheus 2.42 does it: each action, anchored regexes,
 * Go's expansion of $1, ${1}, $name and $$, empty values as absent labels,
 * and the config checks (each refusal was checked with promtool).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "metrics/relabel.h"
#include "util/error.h"

/* Builds a set from "name=value" strings (borrowed: string literals). */
static void fill(struct gl_labelset *ls, const char *const *pairs)
{
    gl_labelset_reset(ls);
    for (size_t i = 0; pairs[i] != NULL; i++) {
        const char *eq = strchr(pairs[i], '=');
        gl_labelset_set(ls, pairs[i], (size_t)(eq - pairs[i]), eq + 1, strlen(eq + 1));
    }
}

/* The set as "a=1,b=2", or "DROPPED". */
static const char *show(const struct gl_labelset *ls, bool kept)
{
    static char out[512];
    size_t n = 0;
    out[0] = '\0';
    if (!kept) {
        return "DROPPED";
    }
    for (uint32_t i = 0; i < ls->n; i++) {
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%.*s=%.*s", i ? "," : "",
                              (int)ls->l[i].name_len, ls->l[i].name, (int)ls->l[i].value_len,
                              ls->l[i].value);
    }
    return out;
}

/* Applies one rule to a set; returns show()'s text. */
static const char *run1(const struct gl_relabel_spec *spec, const char *const *pairs)
{
    static struct gl_labelset ls;
    struct gl_relabel r;
    char err[256];
    gl_labelset_close(&ls);
    gl_labelset_init(&ls);
    gl_relabel_init(&r);
    assert_int_equal(gl_relabel_add(&r, spec, err, sizeof(err)), 0);
    fill(&ls, pairs);
    bool kept = gl_relabel_apply(&r, &ls);
    const char *text = show(&ls, kept); /* names set by a rule may be the rule's own */
    gl_relabel_free(&r);
    return text;
}

/* The reason a rule is refused. */
static const char *refused(const struct gl_relabel_spec *spec)
{
    static char err[256];
    struct gl_relabel r;
    gl_relabel_init(&r);
    assert_int_equal(gl_relabel_add(&r, spec, err, sizeof(err)), GL_EINVAL);
    assert_int_equal(r.n, 0);
    gl_relabel_free(&r);
    return err;
}

#define SRC(...) ((const char *const[]){ __VA_ARGS__ })
#define NSRC(...) (sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *))
#define SET(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_relabel_replace(void **state)
{
    (void)state;
    struct gl_relabel_spec s = { .sources = SRC("a", "b"), .n_sources = 2, .target = "c" };
    assert_string_equal(run1(&s, SET("a=1", "b=2")), "a=1,b=2,c=1;2");
    s = (struct gl_relabel_spec){ .sources = SRC("__address__", "port"), .n_sources = 2,
                                  .regex = "([^:]+)(?::\\d+)?;(\\d+)", .replacement = "$1:$2",
                                  .target = "__address__" };
    assert_string_equal(run1(&s, SET("__address__=10.0.0.1:80", "port=9100")),
                        "__address__=10.0.0.1:9100,port=9100");
    /* No match: nothing changes. */
    assert_string_equal(run1(&s, SET("__address__=10.0.0.1:80")), "__address__=10.0.0.1:80");
    /* An empty result removes the target. */
    s = (struct gl_relabel_spec){ .sources = SRC("x"), .n_sources = 1, .target = "a" };
    assert_string_equal(run1(&s, SET("a=1")), "");
}

static void test_relabel_replace_expands_as_go(void **state)
{
    (void)state;
    struct gl_relabel_spec s = { .sources = SRC("a"), .n_sources = 1, .regex = "(?P<x>.)(.)",
                                 .target = "t" };
    s.replacement = "${1}_$2 $x $$ $ ${1";
    assert_string_equal(run1(&s, SET("a=pq")), "a=pq,t=p_q p $ $ ${1");
    /* "$1x" names a group called "1x", which there is not: it expands to nothing. */
    s.replacement = "$1x|$01|${2}";
    assert_string_equal(run1(&s, SET("a=pq")), "a=pq,t=||q");
    /* The target may hold references; an invalid name after expansion removes the
     * target as written (here no label is called "$2", so nothing changes). */
    s.replacement = "v";
    s.target = "lbl_$1";
    assert_string_equal(run1(&s, SET("a=pq")), "a=pq,lbl_p=v");
    s.target = "$2";
    assert_string_equal(run1(&s, SET("a=p9")), "a=p9");
}

static void test_relabel_regexes_are_anchored(void **state)
{
    (void)state;
    struct gl_relabel_spec s = { .action = "keep", .sources = SRC("a"), .n_sources = 1,
                                 .regex = "foo" };
    assert_string_equal(run1(&s, SET("a=foo")), "a=foo");
    assert_string_equal(run1(&s, SET("a=foobar")), "DROPPED");
    assert_string_equal(run1(&s, SET("a=foo\n")), "DROPPED");
    s.regex = "a|b";
    assert_string_equal(run1(&s, SET("a=b")), "a=b");
    s.action = "drop";
    assert_string_equal(run1(&s, SET("a=b")), "DROPPED");
    assert_string_equal(run1(&s, SET("a=c")), "a=c");
}

static void test_relabel_keepequal_dropequal(void **state)
{
    (void)state;
    struct gl_relabel_spec s = { .action = "keepequal", .sources = SRC("a"), .n_sources = 1,
                                 .target = "b" };
    assert_string_equal(run1(&s, SET("a=1", "b=1")), "a=1,b=1");
    assert_string_equal(run1(&s, SET("a=1", "b=2")), "DROPPED");
    assert_string_equal(run1(&s, SET("c=1")), "c=1"); /* both absent: equal */
    s.action = "dropequal";
    assert_string_equal(run1(&s, SET("a=1", "b=1")), "DROPPED");
    assert_string_equal(run1(&s, SET("a=1", "b=2")), "a=1,b=2");
}

static void test_relabel_hashmod(void **state)
{
    (void)state;
    /* Prometheus' own case: md5("baz") mod 1000 is 976. */
    struct gl_relabel_spec s = { .action = "hashmod", .sources = SRC("c"), .n_sources = 1,
                                 .modulus = "1000", .target = "d" };
    assert_string_equal(run1(&s, SET("c=baz")), "c=baz,d=976");
    assert_string_equal(run1(&s, SET("c=foo")), "c=foo,d=696");
}

static void test_relabel_labelmap_labeldrop_labelkeep(void **state)
{
    (void)state;
    struct gl_relabel_spec s = { .action = "labelmap",
                                 .regex = "__meta_kubernetes_pod_label_(.+)" };
    assert_string_equal(run1(&s, SET("__meta_kubernetes_pod_label_app=web",
                                     "__meta_kubernetes_pod_label_tier=db", "job=x")),
                        "__meta_kubernetes_pod_label_app=web,"
                        "__meta_kubernetes_pod_label_tier=db,app=web,job=x,tier=db");
    s = (struct gl_relabel_spec){ .action = "labeldrop", .regex = "__meta_.*|b" };
    assert_string_equal(run1(&s, SET("__meta_x=1", "b=2", "bb=3")), "bb=3");
    s.action = "LabelKeep";
    assert_string_equal(run1(&s, SET("__meta_x=1", "b=2", "bb=3")), "__meta_x=1,b=2");
}

static void test_relabel_lowercase_uppercase(void **state)
{
    (void)state;
    struct gl_relabel_spec s = { .action = "lowercase", .sources = SRC("a", "b"),
                                 .n_sources = 2, .target = "c" };
    assert_string_equal(run1(&s, SET("a=AbC", "b=D")), "a=AbC,b=D,c=abc;d");
    s.action = "uppercase";
    assert_string_equal(run1(&s, SET("a=AbC")), "a=AbC,c=ABC;");
    /* An empty value is an absent label. */
    assert_string_equal(run1(&s, SET("c=1")), "c=;");
}

static void test_relabel_rules_run_in_order_until_dropped(void **state)
{
    (void)state;
    struct gl_relabel r;
    struct gl_labelset ls;
    char err[256];
    gl_relabel_init(&r);
    gl_labelset_init(&ls);
    struct gl_relabel_spec a = { .sources = SRC("a"), .n_sources = 1, .target = "b" };
    struct gl_relabel_spec k = { .action = "keep", .sources = SRC("b"), .n_sources = 1,
                                 .regex = "1" };
    struct gl_relabel_spec c = { .sources = SRC("b"), .n_sources = 1, .target = "c" };
    assert_int_equal(gl_relabel_add(&r, &a, err, sizeof(err)), 0);
    assert_int_equal(gl_relabel_add(&r, &k, err, sizeof(err)), 0);
    assert_int_equal(gl_relabel_add(&r, &c, err, sizeof(err)), 0);
    fill(&ls, SET("a=1"));
    assert_string_equal(show(&ls, gl_relabel_apply(&r, &ls)), "a=1,b=1,c=1");
    fill(&ls, SET("a=2"));
    assert_string_equal(show(&ls, gl_relabel_apply(&r, &ls)), "DROPPED");
    gl_relabel_free(&r);
    gl_labelset_close(&ls);
}

static void test_relabel_config_checks_as_prometheus(void **state)
{
    (void)state;
    assert_string_equal(refused(&(struct gl_relabel_spec){ .action = "kep" }),
                        "unknown relabel action \"kep\"");
    assert_string_equal(refused(&(struct gl_relabel_spec){ .action = "" }),
                        "unknown relabel action \"\"");
    assert_string_equal(refused(&(struct gl_relabel_spec){ .action = "hashmod", .target = "b" }),
                        "relabel configuration for hashmod requires non-zero modulus");
    assert_string_equal(refused(&(struct gl_relabel_spec){ .action = "replace" }),
                        "relabel configuration for replace action requires 'target_label' "
                        "value");
    assert_string_equal(refused(&(struct gl_relabel_spec){ .target = "1a" }),
                        "\"1a\" is invalid 'target_label' for replace action");
    assert_string_equal(refused(&(struct gl_relabel_spec){ .action = "lowercase",
                                                           .target = "b",
                                                           .replacement = "x" }),
                        "'replacement' can not be set for lowercase action");
    assert_string_equal(refused(&(struct gl_relabel_spec){ .action = "labelmap",
                                                           .replacement = "1x" }),
                        "\"1x\" is invalid 'replacement' for labelmap action");
    assert_string_equal(refused(&(struct gl_relabel_spec){ .action = "keepequal",
                                                           .target = "b", .regex = "(.*)" }),
                        "keepequal action requires only 'source_labels' and `target_label`, "
                        "and no other fields");
    assert_string_equal(refused(&(struct gl_relabel_spec){ .action = "labeldrop",
                                                           .sources = SRC("a"),
                                                           .n_sources = 0 }),
                        "labeldrop action requires only 'regex', and no other fields");
    assert_string_equal(refused(&(struct gl_relabel_spec){ .sources = SRC("a-b"),
                                                           .n_sources = 1, .target = "c" }),
                        "\"a-b\" is not a valid label name");
    assert_string_equal(refused(&(struct gl_relabel_spec){ .target = "c", .regex = "(a" }),
                        "bad regex \"(a\": missing closing parenthesis at offset 10");
    /* What Prometheus accepts: $1 as a target, an explicit default replacement. */
    struct gl_relabel r;
    char err[256];
    gl_relabel_init(&r);
    assert_int_equal(gl_relabel_add(&r, &(struct gl_relabel_spec){ .target = "$1" }, err,
                                    sizeof(err)), 0);
    assert_int_equal(gl_relabel_add(&r, &(struct gl_relabel_spec){ .action = "lowercase",
                                                                   .target = "b",
                                                                   .replacement = "$1" },
                                    err, sizeof(err)), 0);
    assert_int_equal(gl_relabel_add(&r, &(struct gl_relabel_spec){ .action = "labeldrop",
                                                                   .regex = "a",
                                                                   .separator = ";" },
                                    err, sizeof(err)), 0);
    gl_relabel_free(&r);
}

static void test_relabel_reads_mappings(void **state)
{
    (void)state;
    char *act[] = { "drop" }, *src[] = { "a", "b" }, *bad[] = { "1" };
    struct gl_map_entry e1[] = { { "source_labels", { src, 2 }, true, 3 },
                                 { "action", { act, 1 }, false, 4 } };
    struct gl_map_entry e2[] = { { "foo", { bad, 1 }, false, 6 } };
    struct gl_map maps[] = { { e1, 2, 3 }, { e2, 1, 6 } };
    struct gl_maplist l = { maps, 1 };
    struct gl_relabel r;
    char err[256];
    gl_relabel_init(&r);
    assert_int_equal(gl_relabel_add_maps(&r, &l, err, sizeof(err)), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.rules[0].action, GL_RELABEL_DROP);
    assert_int_equal(r.rules[0].n_sources, 2);
    l.count = 2;
    assert_int_equal(gl_relabel_add_maps(&r, &l, err, sizeof(err)), GL_EINVAL);
    assert_string_equal(err, "rule 2 (line 6): unknown key 'foo'");
    assert_int_equal(r.n, 1);
    gl_relabel_free(&r);
}

static void test_labelset_keeps_names_sorted_and_unique(void **state)
{
    (void)state;
    struct gl_labelset ls;
    gl_labelset_init(&ls);
    assert_int_equal(gl_labelset_add(&ls, "b", 1, "2", 1), 0);
    assert_int_equal(gl_labelset_add(&ls, "a", 1, "1", 1), 0);
    assert_int_equal(gl_labelset_add(&ls, "a", 1, "3", 1), GL_EINVAL);
    assert_int_equal(gl_labelset_add(&ls, "c", 1, "", 0), 0);
    assert_string_equal(show(&ls, true), "a=1,b=2");
    gl_labelset_set(&ls, "b", 1, "", 0);
    assert_string_equal(show(&ls, true), "a=1");
    const char *kept = gl_labelset_keep(&ls, "xyz", 3);
    gl_labelset_set(&ls, "z", 1, kept, 3);
    assert_non_null(gl_labelset_get(&ls, "z", 1));
    assert_null(gl_labelset_get(&ls, "q", 1));
    gl_labelset_reset(&ls);
    assert_int_equal(ls.n, 0);
    gl_labelset_close(&ls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relabel_replace),
        cmocka_unit_test(test_relabel_replace_expands_as_go),
        cmocka_unit_test(test_relabel_regexes_are_anchored),
        cmocka_unit_test(test_relabel_keepequal_dropequal),
        cmocka_unit_test(test_relabel_hashmod),
        cmocka_unit_test(test_relabel_labelmap_labeldrop_labelkeep),
        cmocka_unit_test(test_relabel_lowercase_uppercase),
        cmocka_unit_test(test_relabel_rules_run_in_order_until_dropped),
        cmocka_unit_test(test_relabel_config_checks_as_prometheus),
        cmocka_unit_test(test_relabel_reads_mappings),
        cmocka_unit_test(test_labelset_keeps_names_sorted_and_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
