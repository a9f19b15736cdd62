/*
 * Tests for plugins/out_es/out_es_bulk.c: reading bulk answers item by item,
 * what each answer means, drop reasons, versions, cloud_id, base64, AIMD.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "plugins/out_es/out_es.h"
#include "util/error.h"
#include "util/mem.h"

static int parse(struct es_reply *r, const char *body)
{
    return es_reply_parse(r, body, strlen(body));
}

static void assert_type(const struct es_result *res, const char *want)
{
    assert_non_null(res->type);
    assert_int_equal(res->type_len, strlen(want));
    assert_memory_equal(res->type, want, res->type_len);
}

/* The documented shape: per-item status, errors true, an error object per failed item. */
static void test_es_reply_reads_each_item(void **state)
{
    (void)state;
    struct es_reply r;
    struct es_result res;
    assert_int_equal(parse(&r, "{\"took\":30,\"errors\":true,\"items\":["
                               "{\"index\":{\"_index\":\"a\",\"_id\":\"1\",\"status\":201,"
                               "\"result\":\"created\"}},"
                               "{\"create\":{\"_index\":\"a\",\"_id\":\"2\",\"status\":409,"
                               "\"error\":{\"type\":\"version_conflict_engine_exception\","
                               "\"reason\":\"[2]: version conflict\"}}},"
                               "{\"index\":{\"status\":429,\"error\":{\"type\":"
                               "\"es_rejected_execution_exception\",\"reason\":\"queue full\"}}},"
                               "{\"update\":{\"status\":400,\"error\":\"plain text\"}}]}"), 0);
    assert_true(r.errors);
    assert_int_equal(r.n_items, 4);
    es_reply_item(&r, 0, &res);
    assert_int_equal(res.status, 201);
    assert_null(res.type);
    es_reply_item(&r, 1, &res);
    assert_int_equal(res.status, 409);
    assert_type(&res, "version_conflict_engine_exception");
    assert_int_equal(res.reason_len, strlen("[2]: version conflict"));
    es_reply_item(&r, 2, &res);
    assert_int_equal(res.status, 429);
    assert_type(&res, "es_rejected_execution_exception");
    es_reply_item(&r, 3, &res);
    assert_int_equal(res.status, 400);
    assert_null(res.type);
    assert_memory_equal(res.reason, "plain text", 10);
    es_reply_item(&r, 4, &res);
    assert_int_equal(res.status, 0);
    es_reply_free(&r);
}

static void test_es_reply_whole_request_error(void **state)
{
    (void)state;
    struct es_reply r;
    struct es_result res;
    assert_int_equal(parse(&r, "{\"error\":{\"root_cause\":[{\"type\":\"x\"}],\"type\":"
                               "\"illegal_argument_exception\",\"reason\":\"Action/metadata line "
                               "[1] contains an unknown parameter [_type]\"},\"status\":400}"), 0);
    assert_null(r.items);
    es_reply_error(&r, &res);
    assert_int_equal(res.status, 400);
    assert_type(&res, "illegal_argument_exception");
    es_reply_free(&r);
}

static void test_es_reply_refuses_what_is_not_an_object(void **state)
{
    (void)state;
    struct es_reply r;
    struct es_result res;
    assert_int_equal(parse(&r, "<html>bad gateway</html>"), GL_EPARSE);
    es_reply_free(&r);
    assert_int_equal(parse(&r, "[1,2]"), GL_EPARSE);
    es_reply_error(&r, &res);
    assert_int_equal(res.status, 0);
    es_reply_free(&r);
    assert_int_equal(es_reply_parse(&r, "", 0), GL_EPARSE);
    es_reply_free(&r);
    /* Items of the wrong shape read as answers without a status. */
    assert_int_equal(parse(&r, "{\"items\":[1,{\"a\":1,\"b\":2},{\"index\":\"x\"},"
                               "{\"index\":{\"status\":\"201\"}},{\"index\":{\"status\":99999}}]}"),
                     0);
    for (size_t i = 0; i < r.n_items; i++) {
        es_reply_item(&r, i, &res);
        assert_int_equal(res.status, 0);
    }
    es_reply_free(&r);
}

static void test_es_verdicts(void **state)
{
    (void)state;
    struct es_result r = { .status = 201 };
    assert_int_equal(es_item_verdict(&r, false), ES_V_OK);
    r.status = 200;
    assert_int_equal(es_item_verdict(&r, false), ES_V_OK);
    r = (struct es_result){ .status = 409, .type = "version_conflict_engine_exception",
                            .type_len = 33 };
    assert_int_equal(es_item_verdict(&r, true), ES_V_DUPLICATE);
    assert_int_equal(es_item_verdict(&r, false), ES_V_REJECTED);
    r = (struct es_result){ .status = 429, .type = "es_rejected_execution_exception",
                            .type_len = 31 };
    assert_int_equal(es_item_verdict(&r, true), ES_V_THROTTLED);
    r.status = 503; /* the thread pool's rejection whatever the status */
    assert_int_equal(es_item_verdict(&r, true), ES_V_THROTTLED);
    r = (struct es_result){ .status = 503 };
    assert_int_equal(es_item_verdict(&r, false), ES_V_RETRY);
    r.status = 0;
    assert_int_equal(es_item_verdict(&r, false), ES_V_RETRY);
    r = (struct es_result){ .status = 400, .type = "mapper_parsing_exception", .type_len = 24 };
    assert_int_equal(es_item_verdict(&r, true), ES_V_REJECTED);
    const char *why = "index [a] blocked by: [FORBIDDEN/12/index read-only / allow delete (api)];";
    r = (struct es_result){ .status = 403, .type = "cluster_block_exception", .type_len = 23,
                            .reason = why, .reason_len = strlen(why) };
    assert_int_equal(es_item_verdict(&r, false), ES_V_RETRY);
    why = "index [a] blocked by: [FORBIDDEN/8/index write (api)];";
    r.reason = why;
    r.reason_len = strlen(why);
    assert_int_equal(es_item_verdict(&r, false), ES_V_REJECTED);
}

static void test_es_drop_reasons_are_static(void **state)
{
    (void)state;
    char type[] = "mapper_parsing_exception";
    const char *a = es_drop_reason(type, strlen(type));
    assert_string_equal(a, "mapper_parsing_exception");
    assert_ptr_not_equal(a, type);
    assert_string_equal(es_drop_reason("teapot_exception", 16), "rejected");
    assert_string_equal(es_drop_reason(NULL, 0), "rejected");
    assert_string_equal(es_status_reason(400), "http_400");
    assert_string_equal(es_status_reason(413), "too_large");
    assert_string_equal(es_status_reason(418), "http_4xx");
}

static void test_es_version_from_root_and_option(void **state)
{
    (void)state;
    struct es_version v;
    const char *es8 = "{\"name\":\"n\",\"version\":{\"number\":\"8.13.4\",\"build_flavor\":"
                      "\"default\"},\"tagline\":\"You Know, for Search\"}";
    const char *os2 = "{\"version\":{\"distribution\":\"opensearch\",\"number\":\"2.11.1\"}}";
    const char *es7 = "{\"version\":{\"number\":\"7.17.21\"}}";
    assert_int_equal(es_version_parse_root(es8, strlen(es8), &v), 0);
    assert_int_equal(v.dist, ES_DIST_ELASTICSEARCH);
    assert_int_equal(v.major, 8);
    assert_int_equal(v.minor, 13);
    assert_string_equal(v.number, "8.13.4");
    assert_false(es_version_has_types(&v));
    assert_int_equal(es_version_parse_root(os2, strlen(os2), &v), 0);
    assert_int_equal(v.dist, ES_DIST_OPENSEARCH);
    assert_false(es_version_has_types(&v));
    assert_int_equal(es_version_parse_root(es7, strlen(es7), &v), 0);
    assert_true(es_version_has_types(&v));
    assert_int_equal(es_version_parse_root("{}", 2, &v), GL_EPARSE);
    assert_false(es_version_has_types(&v));
    assert_int_equal(es_version_parse_option("opensearch 1.3", &v), 0);
    assert_int_equal(v.dist, ES_DIST_OPENSEARCH);
    assert_true(es_version_has_types(&v));
    assert_int_equal(es_version_parse_option("OpenSearch:2", &v), 0);
    assert_false(es_version_has_types(&v));
    assert_int_equal(es_version_parse_option("7.17", &v), 0);
    assert_true(es_version_has_types(&v));
    assert_int_equal(es_version_parse_option("eight", &v), GL_EINVAL);
}

static void test_es_base64_round_trip(void **state)
{
    (void)state;
    struct gl_buf b;
    struct gl_buf d;
    gl_buf_init(&b);
    gl_buf_init(&d);
    es_base64(&b, "elastic:changeme", 16);
    assert_string_equal(b.data, "ZWxhc3RpYzpjaGFuZ2VtZQ==");
    assert_int_equal(es_unbase64(&d, b.data, b.len), 0);
    assert_string_equal(d.data, "elastic:changeme");
    gl_buf_reset(&b);
    es_base64(&b, "ab", 2);
    assert_string_equal(b.data, "YWI=");
    assert_int_equal(es_unbase64(&d, "a!b", 3), GL_EINVAL);
    gl_buf_close(&b);
    gl_buf_close(&d);
}

static void test_es_cloud_id(void **state)
{
    (void)state;
    struct gl_buf b;
    char *host = NULL;
    int64_t port = 0;
    gl_buf_init(&b);
    gl_buf_puts(&b, "prod:");
    es_base64(&b, "eu-west-1.aws.found.io$abc123$kib456", 36);
    assert_int_equal(es_cloud_id_decode(b.data, &host, &port), 0);
    assert_string_equal(host, "abc123.eu-west-1.aws.found.io");
    assert_int_equal(port, 443);
    gl_free(host);
    gl_buf_reset(&b);
    gl_buf_puts(&b, "prod:");
    es_base64(&b, "example.com:9243$uuid$", 22);
    assert_int_equal(es_cloud_id_decode(b.data, &host, &port), 0);
    assert_string_equal(host, "uuid.example.com");
    assert_int_equal(port, 9243);
    gl_free(host);
    assert_int_equal(es_cloud_id_decode("prod:!!!", &host, &port), GL_EINVAL);
    gl_buf_reset(&b);
    es_base64(&b, "no-dollar-here", 14);
    assert_int_equal(es_cloud_id_decode(b.data, &host, &port), GL_EINVAL);
    gl_buf_close(&b);
}

static void test_es_aimd_halves_and_grows_back(void **state)
{
    (void)state;
    struct es_aimd a;
    es_aimd_init(&a, 8);
    assert_int_equal(a.limit, 8);
    es_aimd_rejected(&a);
    es_aimd_rejected(&a);
    assert_int_equal(a.limit, 2);
    es_aimd_rejected(&a);
    es_aimd_rejected(&a);
    assert_int_equal(a.limit, 1);
    a.inflight = 1;
    assert_false(es_aimd_can_send(&a));
    for (int i = 0; i < 20; i++) {
        es_aimd_success(&a);
    }
    assert_int_equal(a.limit, 8);
    assert_true(es_aimd_can_send(&a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_es_reply_reads_each_item),
        cmocka_unit_test(test_es_reply_whole_request_error),
        cmocka_unit_test(test_es_reply_refuses_what_is_not_an_object),
        cmocka_unit_test(test_es_verdicts),
        cmocka_unit_test(test_es_drop_reasons_are_static),
        cmocka_unit_test(test_es_version_from_root_and_option),
        cmocka_unit_test(test_es_base64_round_trip),
        cmocka_unit_test(test_es_cloud_id),
        cmocka_unit_test(test_es_aimd_halves_and_grows_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
