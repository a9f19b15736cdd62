/* Tests for plugins/in_tail/in_tail_line.c: CRI lines, docker lines, detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "plugins/in_tail/in_tail.h"
#include "util/error.h"

/* 2024-05-01T12:00:00Z in seconds. */
#define MAY1_NOON 1714564800ull
#define NS 1000000000ull

static void assert_text(const char *p, size_t len, const char *want)
{
    assert_int_equal(len, strlen(want));
    assert_memory_equal(p, want, len);
}

static int cri(const char *s, struct tail_line *l)
{
    return tail_parse_cri(s, strlen(s), l);
}

static int docker(const char *s, struct tail_line *l, struct gl_buf *scratch)
{
    return tail_parse_docker(s, strlen(s), l, scratch);
}

/* ---- CRI ---- */

static void test_cri_full_line_parses(void **state)
{
    (void)state;
    struct tail_line l;
    assert_int_equal(cri("2024-05-01T12:00:00.123456789Z stdout F hello world", &l), 0);
    assert_int_equal(l.ts_ns, MAY1_NOON * NS + 123456789);
    assert_int_equal(l.stream, TAIL_STDOUT);
    assert_false(l.partial);
    assert_text(l.msg, l.len, "hello world");
}

static void test_cri_partial_line_parses(void **state)
{
    (void)state;
    struct tail_line l;
    assert_int_equal(cri("2024-05-01T12:00:00.123Z stdout P first half", &l), 0);
    assert_int_equal(l.ts_ns, MAY1_NOON * NS + 123000000);
    assert_true(l.partial);
    assert_text(l.msg, l.len, "first half");
}

static void test_cri_stderr_stream(void **state)
{
    (void)state;
    struct tail_line l;
    assert_int_equal(cri("2024-05-01T12:00:00Z stderr F oops", &l), 0);
    assert_int_equal(l.stream, TAIL_STDERR);
    assert_text(l.msg, l.len, "oops");
}

static void test_cri_empty_message_with_or_without_space(void **state)
{
    (void)state;
    struct tail_line l;
    assert_int_equal(cri("2024-05-01T12:00:00Z stdout F ", &l), 0);
    assert_text(l.msg, l.len, "");
    assert_false(l.partial);
    assert_int_equal(cri("2024-05-01T12:00:00Z stdout F", &l), 0);
    assert_text(l.msg, l.len, "");
    assert_int_equal(cri("2024-05-01T12:00:00Z stderr P", &l), 0);
    assert_true(l.partial);
    assert_int_equal(l.len, 0);
}

static void test_cri_message_keeps_everything_after_one_space(void **state)
{
    (void)state;
    struct tail_line l;
    assert_int_equal(cri("2024-05-01T12:00:00Z stdout F  two  spaces \t{\"x\":1} F ", &l), 0);
    assert_text(l.msg, l.len, " two  spaces \t{\"x\":1} F ");
    const char bin[] = "2024-05-01T12:00:00Z stdout F a\0b\xff";
    assert_int_equal(tail_parse_cri(bin, sizeof(bin) - 1, &l), 0);
    assert_int_equal(l.len, 4);
    assert_memory_equal(l.msg, "a\0b\xff", 4);
}

static void test_cri_timezone_offset_converts_to_utc(void **state)
{
    (void)state;
    struct tail_line l;
    assert_int_equal(cri("2024-05-01T14:00:00.000000042+02:00 stdout F x", &l), 0);
    assert_int_equal(l.ts_ns, MAY1_NOON * NS + 42);
}

static void test_cri_extra_tags_after_colon_are_accepted(void **state)
{
    (void)state;
    struct tail_line l;
    assert_int_equal(cri("2024-05-01T12:00:00Z stdout P:x msg", &l), 0);
    assert_true(l.partial);
    assert_text(l.msg, l.len, "msg");
}

static void test_cri_bad_time_is_a_parse_error(void **state)
{
    (void)state;
    struct tail_line l;
    assert_int_equal(cri("2024-05-01T25:00:00Z stdout F x", &l), GL_EPARSE);
    assert_int_equal(cri("yesterday stdout F x", &l), GL_EPARSE);
    assert_int_equal(cri(" 2024-05-01T12:00:00Z stdout F x", &l), GL_EPARSE);
}

static void test_cri_missing_fields_are_parse_errors(void **state)
{
    (void)state;
    struct tail_line l;
    assert_int_equal(cri("", &l), GL_EPARSE);
    assert_int_equal(cri("2024-05-01T12:00:00Z", &l), GL_EPARSE);
    assert_int_equal(cri("2024-05-01T12:00:00Z ", &l), GL_EPARSE);
    assert_int_equal(cri("2024-05-01T12:00:00Z stdout", &l), GL_EPARSE);
    assert_int_equal(cri("2024-05-01T12:00:00Z stdout ", &l), GL_EPARSE);
    assert_int_equal(cri("2024-05-01T12:00:00Z stdin F x", &l), GL_EPARSE);
    assert_int_equal(cri("2024-05-01T12:00:00Z stdout X x", &l), GL_EPARSE);
    assert_int_equal(cri("2024-05-01T12:00:00Z stdout FF x", &l), GL_EPARSE);
    assert_int_equal(cri("2024-05-01T12:00:00Z stdout  F x", &l), GL_EPARSE);
    assert_int_equal(cri("plain text line", &l), GL_EPARSE);
}

/* ---- docker ---- */

static void test_docker_complete_line_drops_newline(void **state)
{
    (void)state;
    struct gl_buf scratch;
    gl_buf_init(&scratch);
    struct tail_line l;
    assert_int_equal(docker("{\"log\":\"hello\\n\",\"stream\":\"stdout\","
                            "\"time\":\"2024-05-01T12:00:00.123456789Z\"}", &l, &scratch), 0);
    assert_text(l.msg, l.len, "hello");
    assert_false(l.partial);
    assert_int_equal(l.stream, TAIL_STDOUT);
    assert_int_equal(l.ts_ns, MAY1_NOON * NS + 123456789);
    gl_buf_close(&scratch);
}

static void test_docker_log_without_newline_is_partial(void **state)
{
    (void)state;
    struct gl_buf scratch;
    gl_buf_init(&scratch);
    struct tail_line l;
    assert_int_equal(docker("{\"log\":\"first 16k\",\"stream\":\"stderr\","
                            "\"time\":\"2024-05-01T12:00:00Z\"}", &l, &scratch), 0);
    assert_text(l.msg, l.len, "first 16k");
    assert_true(l.partial);
    assert_int_equal(l.stream, TAIL_STDERR);
    assert_int_equal(docker("{\"log\":\"\\n\",\"stream\":\"stdout\"}", &l, &scratch), 0);
    assert_text(l.msg, l.len, "");
    assert_false(l.partial);
    gl_buf_close(&scratch);
}

static void test_docker_escapes_decode_like_the_json_reader(void **state)
{
    (void)state;
    struct gl_buf scratch;
    gl_buf_init(&scratch);
    struct tail_line l;
    assert_int_equal(docker("{\"log\":\"a\\tb \\\"q\\\" \\\\ \\/ \\u00e9 "
                            "\\ud83d\\ude00 \\ud800x\\r\\n\"}", &l, &scratch), 0);
    assert_text(l.msg, l.len, "a\tb \"q\" \\ / \xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbdx\r");
    assert_int_equal(docker("{\"log\":\"bad \xff\xc3 end\\n\"}", &l, &scratch), 0);
    assert_text(l.msg, l.len, "bad \xef\xbf\xbd\xef\xbf\xbd end");
    gl_buf_close(&scratch);
}

static void test_docker_keys_in_any_order_extra_keys_ignored(void **state)
{
    (void)state;
    struct gl_buf scratch;
    gl_buf_init(&scratch);
    struct tail_line l;
    assert_int_equal(docker(" { \"time\" : \"2024-05-01T12:00:00.5Z\", \"attrs\": {\"a\":[1,{}]},"
                            " \"stream\":\"stderr\", \"n\": 1.5, \"log\" : \"x\\n\" } ", &l,
                            &scratch), 0);
    assert_text(l.msg, l.len, "x");
    assert_int_equal(l.stream, TAIL_STDERR);
    assert_int_equal(l.ts_ns, MAY1_NOON * NS + 500000000);
    gl_buf_close(&scratch);
}

static void test_docker_missing_stream_and_time(void **state)
{
    (void)state;
    struct gl_buf scratch;
    gl_buf_init(&scratch);
    struct tail_line l;
    assert_int_equal(docker("{\"log\":\"x\\n\"}", &l, &scratch), 0);
    assert_int_equal(l.stream, TAIL_STREAM_NONE);
    assert_int_equal(l.ts_ns, 0);
    assert_int_equal(docker("{\"log\":\"x\\n\",\"stream\":\"stdin\"}", &l, &scratch), 0);
    assert_int_equal(l.stream, TAIL_STREAM_NONE);
    gl_buf_close(&scratch);
}

static void test_docker_bad_lines_are_parse_errors(void **state)
{
    (void)state;
    struct gl_buf scratch;
    gl_buf_init(&scratch);
    struct tail_line l;
    assert_int_equal(docker("", &l, &scratch), GL_EPARSE);
    assert_int_equal(docker("{\"log\":\"x\\n\"", &l, &scratch), GL_EPARSE);
    assert_int_equal(docker("{\"log\":\"x\\q\"}", &l, &scratch), GL_EPARSE);
    assert_int_equal(docker("{\"log\":\"x\"} trailing", &l, &scratch), GL_EPARSE);
    assert_int_equal(docker("[\"log\"]", &l, &scratch), GL_EPARSE);
    assert_int_equal(docker("{\"msg\":\"x\\n\"}", &l, &scratch), GL_EPARSE);
    assert_int_equal(docker("{\"log\":5}", &l, &scratch), GL_EPARSE);
    assert_int_equal(docker("{\"log\":\"x\",\"time\":\"now\"}", &l, &scratch), GL_EPARSE);
    assert_int_equal(docker("{\"log\":\"x\",\"time\":17}", &l, &scratch), GL_EPARSE);
    assert_int_equal(docker("2024-05-01T12:00:00Z stdout F x", &l, &scratch), GL_EPARSE);
    gl_buf_close(&scratch);
}

static void test_docker_deep_nesting_is_a_parse_error(void **state)
{
    (void)state;
    struct gl_buf scratch;
    gl_buf_init(&scratch);
    struct gl_buf line;
    gl_buf_init(&line);
    gl_buf_puts(&line, "{\"log\":\"x\",\"a\":");
    for (int i = 0; i < 40; i++) {
        gl_buf_putc(&line, '[');
    }
    for (int i = 0; i < 40; i++) {
        gl_buf_putc(&line, ']');
    }
    gl_buf_putc(&line, '}');
    struct tail_line l;
    assert_int_equal(tail_parse_docker(line.data, line.len, &l, &scratch), GL_EPARSE);
    gl_buf_close(&line);
    gl_buf_close(&scratch);
}

/* ---- detection ---- */

static enum tail_format detect(const char *s)
{
    return tail_detect_format(s, strlen(s));
}

static void test_detect_format_of_first_line(void **state)
{
    (void)state;
    assert_int_equal(detect("{\"log\":\"hi\\n\",\"stream\":\"stdout\",\"time\":"
                            "\"2024-05-01T12:00:00Z\"}"), TAIL_DOCKER);
    assert_int_equal(detect("2024-05-01T12:00:00.1Z stdout F hi"), TAIL_CRI);
    assert_int_equal(detect("{\"level\":\"info\",\"msg\":\"hi\"}"), TAIL_RAW);
    assert_int_equal(detect("{not json"), TAIL_RAW);
    assert_int_equal(detect("I0501 12:00:00.000000 1 main.go:10] hi"), TAIL_RAW);
    assert_int_equal(detect(""), TAIL_RAW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cri_full_line_parses),
        cmocka_unit_test(test_cri_partial_line_parses),
        cmocka_unit_test(test_cri_stderr_stream),
        cmocka_unit_test(test_cri_empty_message_with_or_without_space),
        cmocka_unit_test(test_cri_message_keeps_everything_after_one_space),
        cmocka_unit_test(test_cri_timezone_offset_converts_to_utc),
        cmocka_unit_test(test_cri_extra_tags_after_colon_are_accepted),
        cmocka_unit_test(test_cri_bad_time_is_a_parse_error),
        cmocka_unit_test(test_cri_missing_fields_are_parse_errors),
        cmocka_unit_test(test_docker_complete_line_drops_newline),
        cmocka_unit_test(test_docker_log_without_newline_is_partial),
        cmocka_unit_test(test_docker_escapes_decode_like_the_json_reader),
        cmocka_unit_test(test_docker_keys_in_any_order_extra_keys_ignored),
        cmocka_unit_test(test_docker_missing_stream_and_time),
        cmocka_unit_test(test_docker_bad_lines_are_parse_errors),
        cmocka_unit_test(test_docker_deep_nesting_is_a_parse_error),
        cmocka_unit_test(test_detect_format_of_first_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
