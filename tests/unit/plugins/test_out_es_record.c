/*
 * Tests for plugins/out_es/out_es_record.c: a record's bulk item (action
 * and source lines), index names, time_key, tag_key, replace_dots,
 * deterministic ids from the origin or the content, update and upsert, and
 * dead letters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "codec/json.h"
#include "core/chunk.h"
#include "core/event.h"
#include "plugins/out_es/out_es.h"
#include "util/mem.h"

#define TS 1714564800123456789ull /* 2024-05-01T12:00:00.123456789Z */

static void es_defaults(struct es *e)
{
    memset(e, 0, sizeof(*e));
    e->index = "idx";
    e->logstash_prefix = "logstash";
    e->logstash_prefix_separator = "-";
    e->logstash_dateformat = "%Y.%m.%d";
    e->time_key = "@timestamp";
    e->time_key_format = "%Y-%m-%dT%H:%M:%S";
    e->tag_key = "_flb-key";
    e->dead_letter_index = "dead";
    e->op = ES_OP_CREATE;
}

static void es_close(struct es *e)
{
    struct gl_buf *bufs[] = { &e->name, &e->action_head, &e->type_part, &e->time_key_json,
                              &e->tag_key_json };
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        gl_buf_close(bufs[i]);
    }
}

/* A record [ts, meta, body] read back from msgpack; with_origin adds origin [7, 42]. */
struct rec_buf {
    struct gl_buf b;
    msgpack_unpacked up;
    struct gl_record rec;
};

static void make_record(struct rec_buf *r, const char *body, uint64_t ts, bool with_origin)
{
    struct gl_event ev;
    struct gl_buf json;
    size_t off = 0;
    gl_buf_init(&r->b);
    gl_buf_init(&json);
    gl__event_begin_buf(&ev, &r->b, ts);
    if (with_origin) {
        gl_event_origin(&ev, 7, 42);
    }
    /* The body's pairs, packed by the JSON reader after the map header the event opened. */
    msgpack_packer pk;
    msgpack_packer_init(&pk, &json, gl_buf_pack_write);
    assert_int_equal(gl_json_read(body, strlen(body), &pk, 0, NULL), 0);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t o = 0;
    assert_int_equal(msgpack_unpack_next(&up, json.data, json.len, &o), MSGPACK_UNPACK_SUCCESS);
    for (uint32_t i = 0; i < up.data.via.map.size; i++) {
        const msgpack_object_kv *kv = &up.data.via.map.ptr[i];
        gl_event_kv_obj(&ev, kv->key.via.str.ptr, kv->key.via.str.size, &kv->val);
    }
    msgpack_unpacked_destroy(&up);
    gl__event_finish(&ev);
    gl_buf_close(&json);
    msgpack_unpacked_init(&r->up);
    assert_int_equal(gl_record_read(&r->up, r->b.data, r->b.len, &off, &r->rec), 0);
    r->rec.tag = "app.web";
    r->rec.tag_len = 7;
    r->rec.index = 3;
}

static void free_record(struct rec_buf *r)
{
    msgpack_unpacked_destroy(&r->up);
    gl_buf_close(&r->b);
}

/* The item of one record as text (action line and source line), or the drop reason. */
static char *item(struct es *e, const char *body, uint64_t ts, bool with_origin)
{
    struct rec_buf r;
    struct es_job j;
    memset(&j, 0, sizeof(j));
    gl_buf_init(&j.arena);
    make_record(&r, body, ts, with_origin);
    es_format_init(e); /* the options may have changed since the last item */
    const char *reason = es_item_add(e, &j, &r.rec);
    char *out;
    if (reason != NULL) {
        out = gl_strdup(reason);
    } else {
        assert_int_equal(j.n_items, 1);
        assert_int_equal(j.items[0].index, 3);
        assert_int_equal(j.items[0].len, j.arena.len);
        assert_int_equal(j.arena.data[j.items[0].action_len - 1], '\n');
        out = gl_strdup(j.arena.data);
    }
    free_record(&r);
    gl_free(j.items);
    gl_buf_close(&j.arena);
    return out;
}

static void expect(struct es *e, const char *body, const char *want)
{
    char *got = item(e, body, TS, false);
    assert_string_equal(got, want);
    gl_free(got);
}

static void test_es_item_create_adds_timestamp(void **state)
{
    (void)state;
    struct es e;
    es_defaults(&e);
    expect(&e, "{\"log\":\"a\",\"n\":1}",
           "{\"create\":{\"_index\":\"idx\"}}\n"
           "{\"log\":\"a\",\"n\":1,\"@timestamp\":\"2024-05-01T12:00:00.123Z\"}\n");
    e.time_key_nanos = true;
    expect(&e, "{}", "{\"create\":{\"_index\":\"idx\"}}\n"
                     "{\"@timestamp\":\"2024-05-01T12:00:00.123456789Z\"}\n");
    /* A record that has the key keeps its own: two keys of one name would be refused. */
    expect(&e, "{\"@timestamp\":\"x\"}",
           "{\"create\":{\"_index\":\"idx\"}}\n{\"@timestamp\":\"x\"}\n");
    e.time_key = "ts";
    e.time_key_format = "%d/%m/%Y %H:%M:%S";
    e.time_key_nanos = false;
    e.time_cache.valid = false; /* the cache is per second for one format: a new format */
    expect(&e, "{\"a\":true}", "{\"create\":{\"_index\":\"idx\"}}\n"
                               "{\"a\":true,\"ts\":\"01/05/2024 12:00:00.123Z\"}\n");
    es_close(&e);
}

static void test_es_item_logstash_index(void **state)
{
    (void)state;
    struct es e;
    es_defaults(&e);
    e.logstash_format = true;
    expect(&e, "{\"a\":1}", "{\"create\":{\"_index\":\"logstash-2024.05.01\"}}\n"
                            "{\"a\":1,\"@timestamp\":\"2024-05-01T12:00:00.123Z\"}\n");
    e.logstash_prefix_key = "$kubernetes['namespace_name']";
    assert_int_equal(gl_accessor_parse(&e.prefix_acc, e.logstash_prefix_key,
                                       strlen(e.logstash_prefix_key)), 0);
    e.logstash_prefix_separator = "_";
    e.logstash_dateformat = "%Y%m";
    e.index_cache.valid = false;
    e.time_key = "t";
    expect(&e, "{\"kubernetes\":{\"namespace_name\":\"shop\"}}",
           "{\"create\":{\"_index\":\"shop_202405\"}}\n"
           "{\"kubernetes\":{\"namespace_name\":\"shop\"},\"t\":\"2024-05-01T12:00:00.123Z\"}\n");
    /* Without the key, logstash_prefix. */
    expect(&e, "{}", "{\"create\":{\"_index\":\"logstash_202405\"}}\n"
                     "{\"t\":\"2024-05-01T12:00:00.123Z\"}\n");
    gl_accessor_close(&e.prefix_acc);
    es_close(&e);
}

static void test_es_item_tag_type_and_dots(void **state)
{
    (void)state;
    struct es e;
    es_defaults(&e);
    e.include_tag_key = true;
    e.type = "_doc";
    e.send_type = true;
    e.replace_dots = true;
    e.time_key = "@t";
    expect(&e, "{\"a.b\":{\"c.d\":1},\"x\":[{\"y.z\":\"v.w\"}],\"@t\":1}",
           "{\"create\":{\"_index\":\"idx\",\"_type\":\"_doc\"}}\n"
           "{\"a_b\":{\"c_d\":1},\"x\":[{\"y_z\":\"v.w\"}],\"@t\":1,\"_flb-key\":\"app.web\"}\n");
    es_close(&e);
}

static void test_es_item_generated_id_from_origin(void **state)
{
    (void)state;
    struct es e;
    es_defaults(&e);
    e.generate_id = true;
    char *got = item(&e, "{\"log\":\"a\"}", TS, true);
    assert_string_equal(got, "{\"create\":{\"_index\":\"idx\",\"_id\":"
                             "\"0000000000000007000000000000002a\"}}\n"
                             "{\"log\":\"a\",\"@timestamp\":\"2024-05-01T12:00:00.123Z\"}\n");
    gl_free(got);
    /* The origin names the line whatever it holds now (a filter may have changed it). */
    got = item(&e, "{\"log\":\"changed\"}", TS + 1, true);
    assert_non_null(strstr(got, "\"_id\":\"0000000000000007000000000000002a\""));
    gl_free(got);
    es_close(&e);
}

static void test_es_item_generated_id_from_content(void **state)
{
    (void)state;
    struct es e;
    es_defaults(&e);
    e.generate_id = true;
    char *a = item(&e, "{\"log\":\"a\"}", TS, false);
    char *again = item(&e, "{\"log\":\"a\"}", TS, false);
    char *other = item(&e, "{\"log\":\"b\"}", TS, false);
    char *later = item(&e, "{\"log\":\"a\"}", TS + 1000000, false);
    assert_string_equal(a, again);
    assert_memory_equal(a, "{\"create\":{\"_index\":\"idx\",\"_id\":\"17cb5b99ffbf4d15", 49);
    assert_string_not_equal(a, other);
    assert_memory_equal(a, other, 49); /* the time part */
    assert_memory_not_equal(a + 49, other + 49, 16);
    assert_string_not_equal(a, later);
    gl_free(a);
    gl_free(again);
    gl_free(other);
    gl_free(later);
    es_close(&e);
}

static void test_es_item_id_key_and_update(void **state)
{
    (void)state;
    struct es e;
    es_defaults(&e);
    e.id_key = "rid";
    e.generate_id = true; /* id_key wins */
    assert_int_equal(gl_accessor_parse(&e.id_acc, "rid", 3), 0);
    expect(&e, "{\"rid\":\"a\\\"b\"}", "{\"create\":{\"_index\":\"idx\",\"_id\":\"a\\\"b\"}}\n"
                                      "{\"rid\":\"a\\\"b\",\"@timestamp\":"
                                      "\"2024-05-01T12:00:00.123Z\"}\n");
    expect(&e, "{\"rid\":12}", "{\"create\":{\"_index\":\"idx\",\"_id\":\"12\"}}\n"
                               "{\"rid\":12,\"@timestamp\":\"2024-05-01T12:00:00.123Z\"}\n");
    expect(&e, "{}", "{\"create\":{\"_index\":\"idx\"}}\n"
                     "{\"@timestamp\":\"2024-05-01T12:00:00.123Z\"}\n");
    e.op = ES_OP_UPSERT;
    expect(&e, "{\"rid\":\"k\"}", "{\"update\":{\"_index\":\"idx\",\"_id\":\"k\"}}\n"
                                  "{\"doc\":{\"rid\":\"k\",\"@timestamp\":"
                                  "\"2024-05-01T12:00:00.123Z\"},\"doc_as_upsert\":true}\n");
    e.op = ES_OP_UPDATE;
    expect(&e, "{}", "id_key_missing");
    gl_accessor_close(&e.id_acc);
    es_close(&e);
}

static void test_es_dead_letter_keeps_the_document_as_text(void **state)
{
    (void)state;
    struct es e;
    struct es_job j;
    struct rec_buf r;
    es_defaults(&e);
    e.generate_id = true;
    memset(&j, 0, sizeof(j));
    gl_buf_init(&j.arena);
    gl_buf_init(&j.dead);
    make_record(&r, "{\"n\":\"x\"}", TS, true);
    es_format_init(&e);
    assert_null(es_item_add(&e, &j, &r.rec));
    assert_int_equal(j.items[0].flags, ES_ITEM_GENERATED);
    struct es_result err = { .status = 400, .type = "mapper_parsing_exception", .type_len = 24,
                             .reason = "failed to parse field [n]", .reason_len = 25 };
    uint32_t d = es_dead_letter_add(&e, &j, 0, &err);
    assert_int_equal(d, 1);
    const struct es_item *it = &j.items[d];
    assert_int_equal(it->flags, ES_ITEM_DEAD | ES_ITEM_GENERATED);
    assert_int_equal(it->index, 3);
    const char *text = es_item_data(&j, it);
    assert_ptr_equal(text, j.dead.data);
    assert_memory_equal(text, "{\"create\":{\"_index\":\"dead\",\"_id\":\"", 34);
    assert_string_equal(text + it->action_len,
                        "{\"@timestamp\":\"2024-05-01T12:00:00.123456789Z\",\"action\":"
                        "\"{\\\"create\\\":{\\\"_index\\\":\\\"idx\\\",\\\"_id\\\":"
                        "\\\"0000000000000007000000000000002a\\\"}}\",\"message\":"
                        "\"{\\\"n\\\":\\\"x\\\",\\\"@timestamp\\\":"
                        "\\\"2024-05-01T12:00:00.123Z\\\"}\",\"error\":{\"status\":400,"
                        "\"type\":\"mapper_parsing_exception\",\"reason\":"
                        "\"failed to parse field [n]\"}}\n");
    /* The same rejected item gives the same dead letter (and _id) every time. */
    char *first = gl_strndup(text, it->len);
    uint32_t d2 = es_dead_letter_add(&e, &j, 0, &err); /* items and dead letters may move */
    assert_int_equal(j.items[d2].len, strlen(first));
    assert_memory_equal(es_item_data(&j, &j.items[d2]), first, strlen(first));
    gl_free(first);
    free_record(&r);
    gl_free(j.items);
    gl_buf_close(&j.arena);
    gl_buf_close(&j.dead);
    es_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_es_item_create_adds_timestamp),
        cmocka_unit_test(test_es_item_logstash_index),
        cmocka_unit_test(test_es_item_tag_type_and_dots),
        cmocka_unit_test(test_es_item_generated_id_from_origin),
        cmocka_unit_test(test_es_item_generated_id_from_content),
        cmocka_unit_test(test_es_item_id_key_and_update),
        cmocka_unit_test(test_es_dead_letter_keeps_the_document_as_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
