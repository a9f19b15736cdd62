/* Tests for agent/core/parser.c: json, logfmt, regex parsers, time formats, types, the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "codec/json.h"
#include "config/config.h"
#include "core/chunk.h"
#include "core/event.h"
#include "core/parser.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

struct run {
    int rc;
    char *json;     /* the keys written, as a JSON object */
    uint64_t ts;
    int has_ts;
};

/* Runs parser p on text into a fresh record that already holds {"pre":0}; renders its body. */
static struct run run_parser(const struct gl_parser *p, const char *text)
{
    struct run r = { 0 };
    struct gl_buf b;
    struct gl_event ev;
    struct gl_record rec;
    msgpack_unpacked up;
    size_t off = 0;
    gl_buf_init(&b);
    msgpack_unpacked_init(&up);
    gl__event_begin_buf(&ev, &b, 0);
    gl_event_kv_int(&ev, "pre", 0);
    r.rc = gl_parser_run(p, text, strlen(text), &ev, &r.ts, &r.has_ts);
    gl__event_finish(&ev);
    assert_int_equal(gl_record_read(&up, b.data, b.len, &off, &rec), 0);
    struct gl_buf out;
    gl_buf_init(&out);
    gl_json_write(&out, rec.body);
    r.json = gl_buf_take(&out);
    msgpack_unpacked_destroy(&up);
    gl_buf_close(&b);
    return r;
}

static void expect_run(const struct gl_parser *p, const char *text, int rc, const char *json)
{
    struct run r = run_parser(p, text);
    assert_int_equal(r.rc, rc);
    assert_string_equal(r.json, json);
    gl_free(r.json);
}

/* Loads a `parsers:` list from YAML; returns the load result and keeps errors in *cfg. */
static int load(const char *yaml, struct gl_config **cfg)
{
    *cfg = gl_config_load_text("p.yaml", yaml, strlen(yaml));
    assert_int_equal((*cfg)->error_count, 0);
    return gl_parsers_load(*cfg, gl_node_get((*cfg)->root, "parsers"));
}

static int teardown(void **state)
{
    (void)state;
    gl_parsers_reset();
    return 0;
}

/* ---- json ---- */

static void test_parser_json_writes_object_keys(void **state)
{
    (void)state;
    expect_run(gl_parser_get("json"), "{\"a\":1,\"b\":{\"c\":[true,null]},\"s\":\"x\\ny\"}", 0,
               "{\"pre\":0,\"a\":1,\"b\":{\"c\":[true,null]},\"s\":\"x\\ny\"}");
}

static void test_parser_json_rejects_invalid_text(void **state)
{
    (void)state;
    expect_run(gl_parser_get("json"), "{\"a\":1", GL_EPARSE, "{\"pre\":0}");
    expect_run(gl_parser_get("json"), "plain text", GL_EPARSE, "{\"pre\":0}");
}

static void test_parser_json_rejects_non_object(void **state)
{
    (void)state;
    expect_run(gl_parser_get("json"), "[1,2]", GL_EPARSE, "{\"pre\":0}");
    expect_run(gl_parser_get("json"), "\"s\"", GL_EPARSE, "{\"pre\":0}");
}

/* ---- logfmt ---- */

static void test_parser_logfmt_reads_pairs(void **state)
{
    (void)state;
    expect_run(gl_parser_get("logfmt"), "level=info msg=started  port=8080", 0,
               "{\"pre\":0,\"level\":\"info\",\"msg\":\"started\",\"port\":\"8080\"}");
}

static void test_parser_logfmt_reads_quoted_values_with_escapes(void **state)
{
    (void)state;
    expect_run(gl_parser_get("logfmt"), "msg=\"a \\\"b\\\" c\\\\d\\n\" path=\"C:\\x\" e=\"\"", 0,
               "{\"pre\":0,\"msg\":\"a \\\"b\\\" c\\\\d\\n\",\"path\":\"C:\\\\x\",\"e\":\"\"}");
}

static void test_parser_logfmt_bare_key_is_true(void **state)
{
    (void)state;
    expect_run(gl_parser_get("logfmt"), "debug a=1 flag", 0,
               "{\"pre\":0,\"debug\":true,\"a\":\"1\",\"flag\":true}");
}

static void test_parser_logfmt_empty_value_is_empty_string(void **state)
{
    (void)state;
    expect_run(gl_parser_get("logfmt"), "a= b=2", 0, "{\"pre\":0,\"a\":\"\",\"b\":\"2\"}");
}

static void test_parser_logfmt_rejects_malformed_text(void **state)
{
    (void)state;
    const struct gl_parser *p = gl_parser_get("logfmt");
    expect_run(p, "a=\"unterminated", GL_EPARSE, "{\"pre\":0}");
    expect_run(p, "=value", GL_EPARSE, "{\"pre\":0}");
    expect_run(p, "a=\"x\"y", GL_EPARSE, "{\"pre\":0}");
    expect_run(p, "a=b\"c", GL_EPARSE, "{\"pre\":0}");
    expect_run(p, "   ", GL_EPARSE, "{\"pre\":0}");
    expect_run(p, "", GL_EPARSE, "{\"pre\":0}");
}

/* ---- regex and the table ---- */

static const char *apache_yaml =
    "parsers:\n"
    "  - name: apache\n"
    "    format: regex\n"
    "    regex: '^(?<host>\\S+) \\[(?<time>[^\\]]+)\\] \"(?<method>\\S+) (?<path>\\S*)\" "
    "(?<code>\\d+) (?<size>\\S+)(?: (?<agent>.*))?$'\n"
    "    time_key: time\n"
    "    time_format: '%d/%b/%Y:%H:%M:%S %z'\n"
    "    types: 'code:integer size:integer'\n";

static void test_parser_regex_named_groups_become_keys(void **state)
{
    (void)state;
    struct gl_config *cfg;
    assert_int_equal(load(apache_yaml, &cfg), 0);
    const struct gl_parser *p = gl_parser_get("apache");
    assert_non_null(p);
    assert_string_equal(gl_parser_name(p), "apache");
    struct run r = run_parser(p, "10.0.0.1 [10/Oct/2000:13:55:36 -0700] \"GET /a.gif\" 200 2326");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.json, "{\"pre\":0,\"host\":\"10.0.0.1\",\"method\":\"GET\","
                                "\"path\":\"/a.gif\",\"code\":200,\"size\":2326}");
    assert_int_equal(r.has_ts, 1);
    assert_true(r.ts == 971211336ull * 1000000000ull);
    gl_free(r.json);
    gl_config_free(cfg);
}

/* Fluent Bit's forms in a classic parsers file: /regex/, look-behind, its escaped decoders. */
static void test_parser_classic_file_forms(void **state)
{
    (void)state;
    const char *text = "[PARSER]\n    Name k\n    Format regex\n"
                       "    Regex /^(?<level>[IWEF])(?<=I)(?<msg>.*)$/\n"
                       "    Decode_Field_As escaped_utf8 log do_next\n"
                       "    Decode_Field_As escaped log\n";
    struct gl_config *cfg = gl_config_load_text("p.conf", text, strlen(text));
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(gl_parsers_load(cfg, gl_node_get(cfg->root, "parsers")), 0);
    expect_run(gl_parser_get("k"), "I0102 started", 0,
               "{\"pre\":0,\"level\":\"I\",\"msg\":\"0102 started\"}");
    expect_run(gl_parser_get("k"), "E0102 failed", GL_EPARSE, "{\"pre\":0}");
    gl_config_free(cfg);
    text = "[PARSER]\n    Name j\n    Format json\n    Decode_Field_As json log\n";
    cfg = gl_config_load_text("p.conf", text, strlen(text));
    assert_int_equal(gl_parsers_load(cfg, gl_node_get(cfg->root, "parsers")), GL_ECONFIG);
    assert_int_equal(cfg->error_count, 1);
    assert_non_null(
        strstr(cfg->errors[0], "p.conf:4:21: parsers.decode_field_as: only the escaped"));
    gl_config_free(cfg);
}

static void test_parser_regex_no_match_writes_nothing(void **state)
{
    (void)state;
    struct gl_config *cfg;
    assert_int_equal(load(apache_yaml, &cfg), 0);
    expect_run(gl_parser_get("apache"), "not an access log line", GL_EPARSE, "{\"pre\":0}");
    gl_config_free(cfg);
}

static void test_parser_types_keep_unconvertible_strings(void **state)
{
    (void)state;
    struct gl_config *cfg;
    assert_int_equal(load(apache_yaml, &cfg), 0);
    struct run r = run_parser(gl_parser_get("apache"), "h [bad time] \"GET \" 200 - agent x");
    assert_int_equal(r.rc, 0);
    /* The time did not read, so the key stays; size "-" is no integer; empty path is skipped. */
    assert_string_equal(r.json, "{\"pre\":0,\"host\":\"h\",\"time\":\"bad time\","
                                "\"method\":\"GET\","
                                "\"code\":200,\"size\":\"-\",\"agent\":\"agent x\"}");
    assert_int_equal(r.has_ts, 0);
    gl_free(r.json);
    gl_config_free(cfg);
}

static void test_parser_json_with_time_key_and_types(void **state)
{
    (void)state;
    struct gl_config *cfg;
    assert_int_equal(load("parsers:\n"
                          "  - name: json\n"
                          "    format: json\n"
                          "    time_key: ts\n"
                          "    time_format: '%Y-%m-%dT%H:%M:%S.%L%z'\n"
                          "    time_keep: on\n"
                          "    types: 'n:integer r:float ok:bool h:hex'\n",
                          &cfg),
                     0);
    struct run r = run_parser(gl_parser_get("json"),
                              "{\"ts\":\"2024-05-01T12:00:00.123456Z\",\"n\":\"-12\",\"r\":\"1.5\","
                              "\"ok\":\"TRUE\",\"h\":\"ff\",\"x\":\"7\"}");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.json, "{\"pre\":0,\"ts\":\"2024-05-01T12:00:00.123456Z\",\"n\":-12,"
                                "\"r\":1.5,\"ok\":true,\"h\":255,\"x\":\"7\"}");
    assert_int_equal(r.has_ts, 1);
    assert_true(r.ts == 1714564800123456000ull);
    gl_free(r.json);
    gl_config_free(cfg);
}

static void test_parser_logfmt_time_key_is_removed(void **state)
{
    (void)state;
    struct gl_config *cfg;
    assert_int_equal(load("parsers:\n"
                          "  - name: lf\n"
                          "    format: logfmt\n"
                          "    time_key: t\n"
                          "    time_format: '%s'\n",
                          &cfg),
                     0);
    struct run r = run_parser(gl_parser_get("lf"), "t=1700000000.5 msg=hi");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.json, "{\"pre\":0,\"msg\":\"hi\"}");
    assert_true(r.ts == 1700000000500000000ull);
    gl_free(r.json);
    gl_config_free(cfg);
}

static void test_parser_builtins_remain_without_user_parsers(void **state)
{
    (void)state;
    assert_non_null(gl_parser_get("json"));
    assert_non_null(gl_parser_get("logfmt"));
    assert_null(gl_parser_get("apache"));
}

/* Loads yaml expecting GL_ECONFIG with message as the first error. */
static void expect_load_error(const char *yaml, const char *message)
{
    struct gl_config *cfg;
    assert_int_equal(load(yaml, &cfg), GL_ECONFIG);
    assert_true(cfg->error_count > 0);
    assert_string_equal(cfg->errors[0], message);
    gl_config_free(cfg);
}

static void test_parser_load_reports_errors_with_position(void **state)
{
    (void)state;
    expect_load_error("parsers:\n  - name: r\n    format: regex\n",
                      "p.yaml:2:5: parsers.r: format regex needs a `regex`");
    expect_load_error("parsers:\n  - name: r\n    format: xml\n",
                      "p.yaml:3:13: parsers.format: expected one of: json, regex, logfmt");
    expect_load_error("parsers:\n  - name: r\n    format: json\n    time_format: '%Q'\n",
                      "p.yaml:4:18: parsers.time_format: unsupported conversion (use %Y %m %d "
                      "%e %H %I %M %S %L %j %b %a %p %z %Z %s %T %F %y)");
    expect_load_error("parsers:\n  - name: r\n    format: json\n    types: 'a:int'\n",
                      "p.yaml:4:12: parsers.types: expected 'KEY:TYPE ...' with TYPE string, "
                      "integer, float, bool or hex");
    expect_load_error("parsers:\n  - name: a\n    format: json\n  - name: a\n    format: json\n",
                      "p.yaml:4:11: parsers: 'a' is defined twice");
    expect_load_error("parsers: {name: a}\n",
                      "p.yaml:1:10: parsers: expected a list of parser mappings");
    assert_null(gl_parser_get("a"));
    assert_null(gl_parser_get("r"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_parser_json_writes_object_keys, teardown),
        cmocka_unit_test_teardown(test_parser_json_rejects_invalid_text, teardown),
        cmocka_unit_test_teardown(test_parser_json_rejects_non_object, teardown),
        cmocka_unit_test_teardown(test_parser_logfmt_reads_pairs, teardown),
        cmocka_unit_test_teardown(test_parser_logfmt_reads_quoted_values_with_escapes, teardown),
        cmocka_unit_test_teardown(test_parser_logfmt_bare_key_is_true, teardown),
        cmocka_unit_test_teardown(test_parser_logfmt_empty_value_is_empty_string, teardown),
        cmocka_unit_test_teardown(test_parser_logfmt_rejects_malformed_text, teardown),
        cmocka_unit_test_teardown(test_parser_regex_named_groups_become_keys, teardown),
        cmocka_unit_test_teardown(test_parser_classic_file_forms, teardown),
        cmocka_unit_test_teardown(test_parser_regex_no_match_writes_nothing, teardown),
        cmocka_unit_test_teardown(test_parser_types_keep_unconvertible_strings, teardown),
        cmocka_unit_test_teardown(test_parser_json_with_time_key_and_types, teardown),
        cmocka_unit_test_teardown(test_parser_logfmt_time_key_is_removed, teardown),
        cmocka_unit_test_teardown(test_parser_builtins_remain_without_user_parsers, teardown),
        cmocka_unit_test_teardown(test_parser_load_reports_errors_with_position, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
