/* Tests for plugins/filter_parser: parsers in order, reserve_data, preserve_key, time, misses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/parser.h"
#include "filter_harness.h"

extern const struct gl_plugin gl_filter_parser;

static void expect(const char *yaml, const char *body, enum gl_filter_result r, const char *json)
{
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_parser, yaml), 0);
    assert_int_equal(fh_run(&h, body, 9), r);
    assert_string_equal(h.json, json);
    fh_close(&h);
}

static struct gl_config *load_parsers(const char *yaml)
{
    struct gl_config *cfg = gl_config_load_text("p.yaml", yaml, strlen(yaml));
    assert_int_equal(gl_parsers_load(cfg, gl_node_get(cfg->root, "parsers")), 0);
    return cfg;
}

static int teardown(void **state)
{
    (void)state;
    gl_parsers_reset();
    return 0;
}

static void test_parser_json_replaces_record(void **state)
{
    (void)state;
    expect("key_name: log\nparser: json\n", "{\"log\":\"{\\\"a\\\":1}\",\"stream\":\"stdout\"}",
           GL_FILTER_MODIFIED, "{\"a\":1}");
}

static void test_parser_reserve_data_keeps_other_keys(void **state)
{
    (void)state;
    expect("key_name: log\nparser: json\nreserve_data: on\n",
           "{\"stream\":\"stdout\",\"log\":\"{\\\"a\\\":1}\",\"n\":2}", GL_FILTER_MODIFIED,
           "{\"stream\":\"stdout\",\"n\":2,\"a\":1}");
}

static void test_parser_preserve_key_keeps_the_text(void **state)
{
    (void)state;
    expect("key_name: log\nparser: json\npreserve_key: on\n",
           "{\"stream\":\"stdout\",\"log\":\"{\\\"a\\\":1}\"}", GL_FILTER_MODIFIED,
           "{\"log\":\"{\\\"a\\\":1}\",\"a\":1}");
}

static void test_parser_parsed_keys_win_over_reserved_ones(void **state)
{
    (void)state;
    expect("key_name: log\nparser: json\nreserve_data: on\n",
           "{\"a\":\"old\",\"log\":\"{\\\"a\\\":\\\"new\\\"}\"}", GL_FILTER_MODIFIED,
           "{\"a\":\"new\"}");
}

static void test_parser_invalid_json_stays_text(void **state)
{
    (void)state;
    expect("key_name: log\nparser: json\n", "{\"log\":\"{not json\"}", GL_FILTER_KEEP,
           "{\"log\":\"{not json\"}");
}

static void test_parser_missing_or_non_string_key_keeps_record(void **state)
{
    (void)state;
    expect("key_name: log\nparser: json\n", "{\"msg\":\"{}\"}", GL_FILTER_KEEP, "{\"msg\":\"{}\"}");
    expect("key_name: log\nparser: json\n", "{\"log\":{\"a\":1}}", GL_FILTER_KEEP,
           "{\"log\":{\"a\":1}}");
}

static void test_parser_tries_parsers_in_order(void **state)
{
    (void)state;
    const char *yaml = "key_name: log\nparser: [json, logfmt]\n";
    expect(yaml, "{\"log\":\"level=warn msg=\\\"disk full\\\"\"}", GL_FILTER_MODIFIED,
           "{\"level\":\"warn\",\"msg\":\"disk full\"}");
    expect(yaml, "{\"log\":\"{\\\"level\\\":\\\"info\\\"}\"}", GL_FILTER_MODIFIED,
           "{\"level\":\"info\"}");
    expect(yaml, "{\"log\":\"a=\\\"open\"}", GL_FILTER_KEEP, "{\"log\":\"a=\\\"open\"}");
}

static void test_parser_regex_parser_sets_time(void **state)
{
    (void)state;
    struct gl_config *cfg = load_parsers("parsers:\n"
                                         "  - name: simple\n"
                                         "    format: regex\n"
                                         "    regex: '^(?<time>\\S+) (?<level>\\w+) (?<msg>.*)$'\n"
                                         "    time_key: time\n"
                                         "    time_format: '%Y-%m-%dT%H:%M:%S.%L%z'\n");
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_parser,
                             "key_name: log\nparser: simple\nreserve_data: on\n"), 0);
    assert_int_equal(fh_run(&h, "{\"log\":\"2024-05-01T12:00:00.5Z INFO up and running\","
                                "\"stream\":\"stderr\"}", 9),
                     GL_FILTER_MODIFIED);
    assert_string_equal(h.json,
                        "{\"stream\":\"stderr\",\"level\":\"INFO\",\"msg\":\"up and running\"}");
    assert_true(h.ts == 1714564800500000000ull);
    assert_int_equal(fh_run(&h, "{\"log\":\"nope\"}", 9), GL_FILTER_KEEP);
    assert_int_equal(h.ts, 9);
    fh_close(&h);
    gl_config_free(cfg);
}

static void test_parser_unknown_parser_fails_init(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_parser, "key_name: log\nparser: [json, nginx]\n"),
                     GL_EINVAL);
    fh_close(&h);
}

static void test_parser_key_name_is_required(void **state)
{
    (void)state;
    struct fh h;
    assert_int_equal(fh_open(&h, &gl_filter_parser, "parser: json\n"), GL_ECONFIG);
    assert_non_null(strstr(fh_error(&h), "key_name"));
    fh_close(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser_json_replaces_record),
        cmocka_unit_test(test_parser_reserve_data_keeps_other_keys),
        cmocka_unit_test(test_parser_preserve_key_keeps_the_text),
        cmocka_unit_test(test_parser_parsed_keys_win_over_reserved_ones),
        cmocka_unit_test(test_parser_invalid_json_stays_text),
        cmocka_unit_test(test_parser_missing_or_non_string_key_keeps_record),
        cmocka_unit_test(test_parser_tries_parsers_in_order),
        cmocka_unit_test_teardown(test_parser_regex_parser_sets_time, teardown),
        cmocka_unit_test(test_parser_unknown_parser_fails_init),
        cmocka_unit_test(test_parser_key_name_is_required),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gl_parsers_reset();
    return rc;
}
