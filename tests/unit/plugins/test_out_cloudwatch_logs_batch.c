/*
 * Tests for plugins/out_cloudwatch_logs/out_cloudwatch_logs_batch.c: batch
 * limits, event fitting, age checks, bodies, answers and AIMD arithmetic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "plugins/out_cloudwatch_logs/out_cloudwatch_logs.h"
#include "util/buf.h"
#include "util/mem.h"

static struct cwl_event *events_of_len(size_t n, uint32_t len)
{
    struct cwl_event *ev = gl_calloc(n, sizeof(*ev));
    for (size_t i = 0; i < n; i++) {
        ev[i].len = len;
        ev[i].ts_ms = 1000;
        ev[i].order = (uint32_t)i;
    }
    return ev;
}

static void test_cwl_batch_counts_message_bytes_plus_26(void **state)
{
    (void)state;
    struct cwl_event *ev = events_of_len(3, 524262);
    size_t bytes;
    ev[2].len = 1;
    assert_int_equal(cwl_batch_take(ev, 3, &bytes), 2);
    assert_int_equal(bytes, 1048576);
    ev[1].len = 524263;
    assert_int_equal(cwl_batch_take(ev, 3, &bytes), 1);
    assert_int_equal(bytes, 524288);
    gl_free(ev);
}

static void test_cwl_batch_stops_at_10000_events(void **state)
{
    (void)state;
    struct cwl_event *ev = events_of_len(10001, 1);
    size_t bytes;
    assert_int_equal(cwl_batch_take(ev, 10001, &bytes), 10000);
    assert_int_equal(bytes, 270000);
    assert_int_equal(cwl_batch_take(ev + 10000, 1, &bytes), 1);
    gl_free(ev);
}

static void test_cwl_batch_spans_less_than_24h(void **state)
{
    (void)state;
    struct cwl_event *ev = events_of_len(3, 10);
    size_t bytes;
    ev[0].ts_ms = 0;
    ev[1].ts_ms = 86399999;
    ev[2].ts_ms = 86400000;
    assert_int_equal(cwl_batch_take(ev, 3, &bytes), 2);
    assert_int_equal(cwl_batch_take(ev + 2, 1, &bytes), 1);
    assert_int_equal(cwl_batch_take(ev, 0, &bytes), 0);
    gl_free(ev);
}

static void test_cwl_batch_takes_one_oversized_event(void **state)
{
    (void)state;
    struct cwl_event *ev = events_of_len(2, CWL_EVENT_BYTES_MAX);
    size_t bytes;
    assert_int_equal(cwl_batch_take(ev, 2, &bytes), 2);
    assert_int_equal(bytes, 2 * 262144);
    gl_free(ev);
}

static void test_cwl_events_sort_by_stream_time_then_order(void **state)
{
    (void)state;
    struct cwl_stream a = { .seq = 1 }, b = { .seq = 2 };
    struct cwl_event ev[5] = {
        { .ts_ms = 5, .st = &b, .order = 0 }, { .ts_ms = 7, .st = &a, .order = 1 },
        { .ts_ms = 5, .st = &a, .order = 2 }, { .ts_ms = 5, .st = &a, .order = 3 },
        { .ts_ms = 1, .st = &b, .order = 4 },
    };
    cwl_events_sort(ev, 5);
    uint32_t want[5] = { 2, 3, 1, 4, 0 };
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ev[i].order, want[i]);
    }
}

static void test_cwl_event_fit_truncates_with_marker(void **state)
{
    (void)state;
    size_t len = 300000;
    char *msg = gl_malloc(len);
    memset(msg, 'a', len);
    size_t fit = cwl_event_fit(msg, len);
    assert_int_equal(fit, 262118);
    assert_memory_equal(msg + fit - 11, "[truncated]", 11);
    assert_int_equal(msg[fit - 12], 'a');
    assert_int_equal(cwl_event_fit(msg, 262118), 262118);
    gl_free(msg);
}

static void test_cwl_event_fit_cuts_on_character_boundary(void **state)
{
    (void)state;
    size_t len = 300000;
    char *msg = gl_malloc(len);
    for (size_t i = 0; i < len; i += 2) {
        memcpy(msg + i, "\xc3\xa9", 2); /* U+00E9, 2 bytes */
    }
    size_t fit = cwl_event_fit(msg, len);
    /* 262107 bytes of text would end inside a character: one byte fewer is kept. */
    assert_int_equal(fit, 262106 + 11);
    assert_int_equal((unsigned char)msg[fit - 12], 0xa9);
    gl_free(msg);
}

static void test_cwl_age_check_too_old_and_too_new(void **state)
{
    (void)state;
    int64_t now = 2000000000000;
    assert_null(cwl_event_age_check(now, now, CWL_MAX_AGE_MS));
    assert_null(cwl_event_age_check(now - CWL_MAX_AGE_MS, now, CWL_MAX_AGE_MS));
    assert_string_equal(cwl_event_age_check(now - CWL_MAX_AGE_MS - 1, now, CWL_MAX_AGE_MS),
                        "too_old");
    assert_null(cwl_event_age_check(now + CWL_MAX_FUTURE_MS, now, CWL_MAX_AGE_MS));
    assert_string_equal(cwl_event_age_check(now + CWL_MAX_FUTURE_MS + 1, now, CWL_MAX_AGE_MS),
                        "too_new");
    assert_string_equal(cwl_event_age_check(now - 86400001, now, 86400000), "too_old");
}

static void test_cwl_utf8_append_replaces_invalid_bytes(void **state)
{
    (void)state;
    struct gl_buf b;
    gl_buf_init(&b);
    cwl_utf8_append(&b, "a\xff" "b\xc3\xa9\xe2\x82", 7);
    assert_int_equal(b.len, 13);
    assert_memory_equal(b.data, "a\xef\xbf\xbd" "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd", 13);
    gl_buf_close(&b);
}

/* Reads a whole body cap bytes at a time. */
static void read_all(struct cwl_body *b, size_t cap, struct gl_buf *out)
{
    char piece[64];
    size_t n;
    while ((n = cwl_body_read(b, out->len, piece, cap)) > 0) {
        gl_buf_append(out, piece, n);
    }
    gl_buf_putc(out, '\0');
}

static void test_cwl_body_is_put_log_events_json(void **state)
{
    (void)state;
    /* The arena holds messages escaped as JSON string content: hello"x" and world. */
    const char *arena = "hello\\\"x\\\"world";
    struct cwl_event ev[2] = { { .ts_ms = 1700000000123, .off = 0, .qlen = 10, .len = 8 },
                               { .ts_ms = 7, .off = 10, .qlen = 5, .len = 5 } };
    const char *want = "{\"logGroupName\":\"/aws/eks/a\",\"logStreamName\":\"pod-1\","
                       "\"logEvents\":[{\"timestamp\":1700000000123,\"message\":"
                       "\"hello\\\"x\\\"\"},{\"timestamp\":7,"
                       "\"message\":\"world\"}]}";
    /* Read in pieces of every size: the same bytes, as long as announced. */
    for (size_t cap = 1; cap <= 64; cap++) {
        struct cwl_body b;
        struct gl_buf out;
        gl_buf_init(&out);
        cwl_body_init(&b, "/aws/eks/a", "pod-1", ev, 2, arena);
        assert_int_equal(b.len, strlen(want));
        read_all(&b, cap, &out);
        assert_string_equal(out.data, want);
        cwl_body_close(&b);
        gl_buf_close(&out);
    }
}

static void test_cwl_body_reads_again_from_an_earlier_offset(void **state)
{
    (void)state;
    const char *arena = "abcdefghij";
    struct cwl_event ev[3] = { { .ts_ms = 1, .off = 0, .qlen = 3, .len = 3 },
                               { .ts_ms = 2, .off = 3, .qlen = 3, .len = 3 },
                               { .ts_ms = 3, .off = 6, .qlen = 4, .len = 4 } };
    struct cwl_body b;
    cwl_body_init(&b, "g", "s", ev, 3, arena);
    struct gl_buf whole;
    gl_buf_init(&whole);
    read_all(&b, 64, &whole);
    /* libcurl rewinds to 0 after a failed send; any later offset works too. */
    for (size_t off = 0; off < b.len; off += 5) {
        char piece[16];
        size_t n = cwl_body_read(&b, off, piece, sizeof(piece));
        assert_true(n > 0);
        assert_memory_equal(piece, whole.data + off, n);
    }
    char piece[4];
    assert_int_equal(cwl_body_read(&b, b.len, piece, sizeof(piece)), 0);
    cwl_body_close(&b);
    gl_buf_close(&whole);
}

static void append_piece(void *ctx, const char *p, size_t len)
{
    gl_buf_append(ctx, p, len);
}

/* The pieces hashed for SigV4 are the bytes sent, and reading afterwards starts at 0. */
static void test_cwl_body_pieces_are_the_body(void **state)
{
    (void)state;
    const char *arena = "hello\\\"x\\\"world";
    struct cwl_event ev[2] = { { .ts_ms = 1700000000123, .off = 0, .qlen = 10, .len = 8 },
                               { .ts_ms = 7, .off = 10, .qlen = 5, .len = 5 } };
    for (size_t n = 0; n <= 2; n++) {
        struct cwl_body b;
        struct gl_buf pieces, read;
        gl_buf_init(&pieces);
        gl_buf_init(&read);
        cwl_body_init(&b, "/aws/eks/a", "pod-1", ev, n, arena);
        char piece[7];
        assert_int_equal(cwl_body_read(&b, 0, piece, sizeof(piece)), sizeof(piece));
        cwl_body_pieces(&b, append_piece, &pieces);
        gl_buf_putc(&pieces, '\0');
        read_all(&b, 13, &read);
        assert_int_equal(pieces.len, b.len + 1);
        assert_string_equal(pieces.data, read.data);
        cwl_body_close(&b);
        gl_buf_close(&pieces);
        gl_buf_close(&read);
    }
}

static void test_cwl_body_with_no_events(void **state)
{
    (void)state;
    struct cwl_body b;
    struct gl_buf out;
    gl_buf_init(&out);
    cwl_body_init(&b, "g", "s", NULL, 0, "");
    read_all(&b, 3, &out);
    assert_string_equal(out.data, "{\"logGroupName\":\"g\",\"logStreamName\":\"s\",\"logEvents\":[]}");
    assert_int_equal(b.len, out.len - 1);
    cwl_body_close(&b);
    gl_buf_close(&out);
}

static void test_cwl_body_create_calls(void **state)
{
    (void)state;
    struct gl_buf b;
    gl_buf_init(&b);
    char *items[] = { "team=payments", "env=prod" };
    struct gl_strlist tags = { .items = items, .count = 2 };
    cwl_body_create(&b, CWL_CREATE_LOG_GROUP, "g", "s", "INFREQUENT_ACCESS", 7, NULL);
    gl_buf_putc(&b, '\n');
    cwl_body_create(&b, CWL_CREATE_LOG_GROUP, "g", "s", NULL, 7, &tags);
    gl_buf_putc(&b, '\n');
    cwl_body_create(&b, CWL_CREATE_LOG_STREAM, "g", "s", NULL, 7, &tags);
    gl_buf_putc(&b, '\n');
    cwl_body_create(&b, CWL_PUT_RETENTION_POLICY, "g", "s", NULL, 7, NULL);
    gl_buf_putc(&b, '\0');
    assert_string_equal(b.data, "{\"logGroupName\":\"g\",\"logGroupClass\":\"INFREQUENT_ACCESS\"}\n"
                                "{\"logGroupName\":\"g\",\"tags\":{\"team\":\"payments\","
                                "\"env\":\"prod\"}}\n"
                                "{\"logGroupName\":\"g\",\"logStreamName\":\"s\"}\n"
                                "{\"logGroupName\":\"g\",\"retentionInDays\":7}");
    assert_string_equal(cwl_action_target(CWL_PUT_LOG_EVENTS), "Logs_20140328.PutLogEvents");
    assert_string_equal(cwl_action_target(CWL_PUT_RETENTION_POLICY),
                        "Logs_20140328.PutRetentionPolicy");
    gl_buf_close(&b);
}

static void test_cwl_reply_reads_rejected_info(void **state)
{
    (void)state;
    const char *body = "{\"nextSequenceToken\":\"1\",\"rejectedLogEventsInfo\":"
                       "{\"tooOldLogEventEndIndex\":2,\"tooNewLogEventStartIndex\":4}}";
    struct cwl_reply r;
    cwl_reply_parse(body, strlen(body), &r);
    assert_int_equal(r.error, CWL_E_NONE);
    assert_int_equal(r.too_old_end, 2);
    assert_int_equal(r.too_new_start, 4);
    assert_int_equal(r.expired_end, -1);
    assert_string_equal(cwl_rejected_reason(&r, 0), "too_old");
    assert_string_equal(cwl_rejected_reason(&r, 1), "too_old");
    assert_null(cwl_rejected_reason(&r, 2));
    assert_null(cwl_rejected_reason(&r, 3));
    assert_string_equal(cwl_rejected_reason(&r, 4), "too_new");
    body = "{\"rejectedLogEventsInfo\":{\"expiredLogEventEndIndex\":1}}";
    cwl_reply_parse(body, strlen(body), &r);
    assert_string_equal(cwl_rejected_reason(&r, 0), "expired");
    assert_null(cwl_rejected_reason(&r, 1));
}

static void test_cwl_reply_reads_error_type(void **state)
{
    (void)state;
    const char *body = "{\"__type\":\"com.amazonaws.logs#ThrottlingException\","
                       "\"message\":\"Rate exceeded\"}";
    struct cwl_reply r;
    cwl_reply_parse(body, strlen(body), &r);
    assert_int_equal(r.error, CWL_E_THROTTLING);
    assert_string_equal(r.type, "ThrottlingException");
    body = "{\"__type\":\"ResourceNotFoundException\"}";
    cwl_reply_parse(body, strlen(body), &r);
    assert_int_equal(r.error, CWL_E_NOT_FOUND);
    body = "{\"__type\":\"AccessDeniedException\"}";
    cwl_reply_parse(body, strlen(body), &r);
    assert_int_equal(r.error, CWL_E_OTHER);
    assert_string_equal(r.type, "AccessDeniedException");
    cwl_reply_parse("<html>", 6, &r);
    assert_int_equal(r.error, CWL_E_NONE);
    assert_string_equal(r.type, "");
    cwl_reply_parse("", 0, &r);
    assert_int_equal(r.too_old_end, -1);
}

static enum cwl_verdict verdict_of(long status, const char *type)
{
    char body[128];
    struct cwl_reply r;
    snprintf(body, sizeof(body), "{\"__type\":\"%s\"}", type);
    cwl_reply_parse(body, strlen(body), &r);
    return cwl_verdict(status, NULL, &r);
}

static void test_cwl_verdict_for_each_answer(void **state)
{
    (void)state;
    struct cwl_reply none;
    cwl_reply_parse("", 0, &none);
    assert_int_equal(cwl_verdict(200, NULL, &none), CWL_V_OK);
    assert_int_equal(cwl_verdict(0, gl_http_err_timeout, &none), CWL_V_RETRY);
    assert_int_equal(cwl_verdict(503, NULL, &none), CWL_V_RETRY);
    assert_int_equal(cwl_verdict(403, NULL, &none), CWL_V_DROP);
    assert_int_equal(verdict_of(400, "ThrottlingException"), CWL_V_THROTTLED);
    assert_int_equal(verdict_of(503, "ServiceUnavailableException"), CWL_V_RETRY);
    assert_int_equal(verdict_of(400, "ResourceNotFoundException"), CWL_V_NOT_FOUND);
    assert_int_equal(verdict_of(400, "InvalidParameterException"), CWL_V_BISECT);
    assert_int_equal(verdict_of(400, "DataAlreadyAcceptedException"), CWL_V_OK);
    assert_int_equal(verdict_of(400, "ResourceAlreadyExistsException"), CWL_V_EXISTS);
    assert_int_equal(verdict_of(400, "ExpiredTokenException"), CWL_V_REAUTH);
    assert_int_equal(verdict_of(403, "UnrecognizedClientException"), CWL_V_REAUTH);
    assert_int_equal(verdict_of(400, "AccessDeniedException"), CWL_V_DROP);
    assert_int_equal(verdict_of(500, "SomethingNew"), CWL_V_RETRY);
}

static void test_cwl_aimd_halves_on_throttle_and_grows_by_one(void **state)
{
    (void)state;
    struct cwl_aimd a;
    cwl_aimd_init(&a, 16);
    assert_int_equal(a.limit, 16);
    cwl_aimd_throttled(&a);
    assert_int_equal(a.limit, 8);
    cwl_aimd_throttled(&a);
    cwl_aimd_throttled(&a);
    cwl_aimd_throttled(&a);
    assert_int_equal(a.limit, 1);
    cwl_aimd_throttled(&a);
    assert_int_equal(a.limit, 1);
    a.inflight = 1;
    assert_false(cwl_aimd_can_send(&a));
    cwl_aimd_success(&a);
    assert_int_equal(a.limit, 2);
    assert_true(cwl_aimd_can_send(&a));
    for (int i = 0; i < 20; i++) {
        cwl_aimd_success(&a);
    }
    assert_int_equal(a.limit, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cwl_batch_counts_message_bytes_plus_26),
        cmocka_unit_test(test_cwl_batch_stops_at_10000_events),
        cmocka_unit_test(test_cwl_batch_spans_less_than_24h),
        cmocka_unit_test(test_cwl_batch_takes_one_oversized_event),
        cmocka_unit_test(test_cwl_events_sort_by_stream_time_then_order),
        cmocka_unit_test(test_cwl_event_fit_truncates_with_marker),
        cmocka_unit_test(test_cwl_event_fit_cuts_on_character_boundary),
        cmocka_unit_test(test_cwl_age_check_too_old_and_too_new),
        cmocka_unit_test(test_cwl_utf8_append_replaces_invalid_bytes),
        cmocka_unit_test(test_cwl_body_is_put_log_events_json),
        cmocka_unit_test(test_cwl_body_reads_again_from_an_earlier_offset),
        cmocka_unit_test(test_cwl_body_pieces_are_the_body),
        cmocka_unit_test(test_cwl_body_with_no_events),
        cmocka_unit_test(test_cwl_body_create_calls),
        cmocka_unit_test(test_cwl_reply_reads_rejected_info),
        cmocka_unit_test(test_cwl_reply_reads_error_type),
        cmocka_unit_test(test_cwl_verdict_for_each_answer),
        cmocka_unit_test(test_cwl_aimd_halves_on_throttle_and_grows_by_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
