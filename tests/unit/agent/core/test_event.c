/*
 * The record encoder and the chunk iterator: exact msgpack shape, nested maps, time
 * patching, the origin in the metadata, reading back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "codec/json.h"
#include "core/chunk.h"
#include "core/event.h"
#include "util/error.h"
#include "util/mem.h"

static char *as_json(const struct gl_buf *data)
{
    msgpack_unpacked up;
    struct gl_record rec;
    size_t off = 0;
    struct gl_buf out;
    gl_buf_init(&out);
    msgpack_unpacked_init(&up);
    while (gl_record_read(&up, data->data, data->len, &off, &rec) == 0) {
        gl_buf_printf(&out, "%llu ", (unsigned long long)rec.ts);
        gl_json_write(&out, rec.body);
        gl_buf_putc(&out, '\n');
    }
    msgpack_unpacked_destroy(&up);
    return gl_buf_take(&out);
}

static void test_event_writes_record_shape(void **state)
{
    (void)state;
    struct gl_buf b;
    struct gl_event ev;
    gl_buf_init(&b);
    gl__event_begin_buf(&ev, &b, 1714564800123456789ull);
    gl_event_kv_str(&ev, "log", "hello", 5);
    gl_event_kv_int(&ev, "n", -3);
    gl_event_kv_uint(&ev, "u", 7);
    gl_event_kv_bool(&ev, "ok", 1);
    gl_event_kv_nil(&ev, "none");
    gl_event_kv_double(&ev, "f", 1.5);
    gl__event_finish(&ev);
    /* [uint64 ts, {} , {...}] with the timestamp as 0xcf + 8 bytes. */
    assert_int_equal((unsigned char)b.data[0], 0x93);
    assert_int_equal((unsigned char)b.data[1], 0xcf);
    assert_int_equal((unsigned char)b.data[10], 0x80);
    char *j = as_json(&b);
    assert_string_equal(j, "1714564800123456789 "
                           "{\"log\":\"hello\",\"n\":-3,\"u\":7,\"ok\":true,\"none\":null,\"f\":1.5}\n");
    gl_free(j);
    gl_buf_close(&b);
}

static void test_event_nested_maps_and_set_time(void **state)
{
    (void)state;
    struct gl_buf b;
    struct gl_event ev;
    gl_buf_init(&b);
    gl__event_begin_buf(&ev, &b, 1);
    gl_event_kv_str(&ev, "log", "x", 1);
    gl_event_map_begin(&ev, "kubernetes", 10);
    gl_event_kv_str(&ev, "pod_name", "web-1", 5);
    gl_event_map_begin(&ev, "labels", 6);
    gl_event_kv_str(&ev, "app", "web", 3);
    gl_event_map_end(&ev);
    gl_event_map_end(&ev);
    gl_event_kv_str(&ev, "stream", "stdout", 6);
    gl_event_set_time(&ev, 42);
    gl__event_finish(&ev);
    char *j = as_json(&b);
    assert_string_equal(j, "42 {\"log\":\"x\",\"kubernetes\":{\"pod_name\":\"web-1\","
                           "\"labels\":{\"app\":\"web\"}},\"stream\":\"stdout\"}\n");
    gl_free(j);
    gl_buf_close(&b);
}

static void test_event_abort_leaves_buffer_as_before(void **state)
{
    (void)state;
    struct gl_buf b;
    struct gl_event ev;
    gl_buf_init(&b);
    gl__event_begin_buf(&ev, &b, 5);
    gl_event_kv_str(&ev, "a", "1", 1);
    gl__event_finish(&ev);
    size_t len = b.len;
    gl__event_begin_buf(&ev, &b, 6);
    gl_event_kv_str(&ev, "b", "2", 1);
    gl_event_abort(&ev);
    assert_int_equal(b.len, len);
    char *j = as_json(&b);
    assert_string_equal(j, "5 {\"a\":\"1\"}\n");
    gl_free(j);
    gl_buf_close(&b);
}

static void test_event_raw_pairs_and_obj(void **state)
{
    (void)state;
    struct gl_buf b;
    struct gl_event ev;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    const char *json = "{\"k\":[1,2],\"s\":\"v\"}";
    assert_int_equal(gl_json_read(json, strlen(json), &pk, 0, NULL), 0);
    gl_buf_init(&b);
    gl__event_begin_buf(&ev, &b, 9);
    gl_event_raw_pairs(&ev, sb.data + 1, sb.size - 1, 2);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    msgpack_unpack_next(&up, sb.data, sb.size, NULL);
    gl_event_kv_obj(&ev, "copy", 4, &up.data);
    gl__event_finish(&ev);
    char *j = as_json(&b);
    assert_string_equal(j, "9 {\"k\":[1,2],\"s\":\"v\",\"copy\":{\"k\":[1,2],\"s\":\"v\"}}\n");
    gl_free(j);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    gl_buf_close(&b);
}

static void test_chunk_iterates_with_index_and_tag(void **state)
{
    (void)state;
    struct gl_chunk *c = gl_chunk_new(NULL, "app.web", 7);
    struct gl_event ev;
    for (int i = 0; i < 3; i++) {
        gl__event_begin_buf(&ev, &c->data, (uint64_t)i);
        gl_event_kv_int(&ev, "i", i);
        gl__event_finish(&ev);
        c->records++;
    }
    struct gl_chunk_iter it;
    struct gl_record rec;
    gl_chunk_iter_init(&it, c);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(gl_chunk_next(&it, &rec), 0);
        assert_int_equal(rec.index, i);
        assert_int_equal(rec.ts, i);
        assert_string_equal(rec.tag, "app.web");
        assert_int_equal(rec.body->via.map.ptr[0].val.via.i64, (int64_t)i);
    }
    assert_int_equal(gl_chunk_next(&it, &rec), GL_ENOENT);
    gl_chunk_iter_close(&it);
    struct gl_buf j;
    gl_buf_init(&j);
    gl_chunk_write_json(&j, c);
    assert_string_equal(j.data, "{\"i\":0,\"@timestamp\":\"1970-01-01T00:00:00.000000000Z\"}\n"
                                "{\"i\":1,\"@timestamp\":\"1970-01-01T00:00:00.000000001Z\"}\n"
                                "{\"i\":2,\"@timestamp\":\"1970-01-01T00:00:00.000000002Z\"}\n");
    gl_buf_close(&j);
    gl_chunk_free(c);
}

static void test_event_origin_goes_to_metadata(void **state)
{
    (void)state;
    struct gl_buf b;
    struct gl_event ev;
    msgpack_unpacked up;
    struct gl_record rec;
    size_t off = 0;
    uint64_t source = 0;
    uint64_t at = 0;
    gl_buf_init(&b);
    gl__event_begin_buf(&ev, &b, 7);
    gl_event_origin(&ev, 0xfedcba9876543210ull, 1234);
    gl_event_kv_str(&ev, "log", "x", 1);
    gl__event_finish(&ev);
    msgpack_unpacked_init(&up);
    assert_int_equal(gl_record_read(&up, b.data, b.len, &off, &rec), 0);
    assert_int_equal(rec.ts, 7);
    assert_int_equal(rec.body->via.map.size, 1);
    assert_int_equal(gl_record_origin(&rec, &source, &at), 0);
    assert_true(source == 0xfedcba9876543210ull);
    assert_int_equal(at, 1234);
    char *j = as_json(&b);
    assert_string_equal(j, "7 {\"log\":\"x\"}\n");
    gl_free(j);
    msgpack_unpacked_destroy(&up);
    gl_buf_close(&b);
}

static void test_event_origin_after_a_key_is_ignored(void **state)
{
    (void)state;
    struct gl_buf b;
    struct gl_event ev;
    msgpack_unpacked up;
    struct gl_record rec;
    size_t off = 0;
    uint64_t source;
    uint64_t at;
    gl_buf_init(&b);
    gl__event_begin_buf(&ev, &b, 7);
    gl_event_kv_str(&ev, "log", "x", 1);
    gl_event_origin(&ev, 1, 2);
    gl__event_finish(&ev);
    msgpack_unpacked_init(&up);
    assert_int_equal(gl_record_read(&up, b.data, b.len, &off, &rec), 0);
    assert_int_equal(rec.body->via.map.size, 1);
    assert_int_equal(gl_record_origin(&rec, &source, &at), GL_ENOENT);
    msgpack_unpacked_destroy(&up);
    gl_buf_close(&b);
}

/* A filter's rewrite gets the record's metadata: the core copies it with gl__event_meta(). */
static void test_event_meta_copied_into_rewrite(void **state)
{
    (void)state;
    struct gl_buf a;
    struct gl_buf b;
    struct gl_event ev;
    msgpack_unpacked up;
    msgpack_unpacked up2;
    struct gl_record rec;
    struct gl_record out;
    size_t off = 0;
    uint64_t source;
    uint64_t at;
    gl_buf_init(&a);
    gl_buf_init(&b);
    gl__event_begin_buf(&ev, &a, 9);
    gl_event_origin(&ev, 5, 6);
    gl_event_kv_str(&ev, "log", "x", 1);
    gl__event_finish(&ev);
    msgpack_unpacked_init(&up);
    msgpack_unpacked_init(&up2);
    assert_int_equal(gl_record_read(&up, a.data, a.len, &off, &rec), 0);
    gl__event_begin_buf(&ev, &b, rec.ts);
    gl__event_meta(&ev, rec.meta);
    gl_event_kv_str(&ev, "log", "y", 1);
    gl_event_kv_int(&ev, "n", 1);
    gl__event_finish(&ev);
    off = 0;
    assert_int_equal(gl_record_read(&up2, b.data, b.len, &off, &out), 0);
    assert_int_equal(gl_record_origin(&out, &source, &at), 0);
    assert_int_equal(source, 5);
    assert_int_equal(at, 6);
    char *j = as_json(&b);
    assert_string_equal(j, "9 {\"log\":\"y\",\"n\":1}\n");
    gl_free(j);
    msgpack_unpacked_destroy(&up);
    msgpack_unpacked_destroy(&up2);
    gl_buf_close(&a);
    gl_buf_close(&b);
}

static void test_chunk_rejects_malformed_record(void **state)
{
    (void)state;
    struct gl_chunk *c = gl_chunk_new(NULL, "t", 1);
    /* [1, 2, 3]: an array of three, but metadata and body are not maps. */
    gl_buf_append(&c->data, "\x93\x01\x02\x03", 4);
    struct gl_chunk_iter it;
    struct gl_record rec;
    gl_chunk_iter_init(&it, c);
    assert_int_equal(gl_chunk_next(&it, &rec), GL_EPARSE);
    assert_int_equal(gl_chunk_next(&it, &rec), GL_ENOENT);
    gl_chunk_iter_close(&it);
    gl_chunk_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_writes_record_shape),
        cmocka_unit_test(test_event_nested_maps_and_set_time),
        cmocka_unit_test(test_event_abort_leaves_buffer_as_before),
        cmocka_unit_test(test_event_raw_pairs_and_obj),
        cmocka_unit_test(test_chunk_iterates_with_index_and_tag),
        cmocka_unit_test(test_chunk_rejects_malformed_record),
        cmocka_unit_test(test_event_origin_goes_to_metadata),
        cmocka_unit_test(test_event_origin_after_a_key_is_ignored),
        cmocka_unit_test(test_event_meta_copied_into_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
