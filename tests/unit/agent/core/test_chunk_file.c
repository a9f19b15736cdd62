/*
 * The chunk file: what the writer encodes, compressed or stored as it is,
 * the reader gives back exactly, and every way a file can be damaged (cut
 * short, a bit flipped, a frame that decompresses to another size, a record
 * count that does not match, a size over the bound) is refused with the
 * reason, never read as records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <msgpack/unpack_define.h>
#include <stdbool.h>
#include <zlib.h>

#include "codec/json.h"
#include "codec/shared.h"
#include "codec/zstd.h"
#include "core/chunk.h"
#include "core/chunk_file.h"
#include "core/event.h"
#include "util/error.h"

const struct gl_plugin *const gl_plugins[] = { NULL };

/* A chunk of n log records, written with the record encoder. */
static struct gl_chunk *make_chunk(int n)
{
    struct gl_chunk *c = gl_chunk_new(NULL, "kube.app", 8);
    for (int i = 0; i < n; i++) {
        struct gl_event ev;
        gl__event_begin_buf(&ev, &c->data, 1000 + (uint64_t)i);
        gl_event_kv_str(&ev, "log", "hello world", 11);
        gl__event_finish(&ev);
    }
    c->records = (uint32_t)n;
    return c;
}

/* Writes chunk c's file into out; frees c. */
static void encode_chunk(struct gl_buf *out, struct gl_chunk *c)
{
    char err[256];
    struct gl_zstd_cctx *cx = gl_zstd_cctx_new(err, sizeof(err));
    gl_buf_init(out);
    assert_int_equal(gl_chunk_file_encode(cx, c, 1, true, out, err, sizeof(err)), 0);
    gl_zstd_cctx_free(cx);
    gl_chunk_free(c);
}

static void encode(struct gl_buf *out, int n)
{
    encode_chunk(out, make_chunk(n));
}

/* Rewrites the crc32 after a test changed the file on purpose. */
static void reseal(struct gl_buf *f)
{
    uLong crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)f->data, 24);
    crc = crc32(crc, (const Bytef *)f->data + 28, (uInt)(f->len - 28)); /* both versions */
    for (int i = 0; i < 4; i++) {
        f->data[24 + i] = (char)(crc >> (8 * i));
    }
}

/*
 * Asserts that the reader refuses file f with an error containing why and
 * gives no data; frees f.
 */
static void assert_refused(struct gl_buf *f, const char *why)
{
    struct gl_buf raw;
    struct gl_chunk_file_info info;
    char err[256] = "";
    struct gl_shared_set shared = { 0 };
    gl_buf_init(&raw);
    assert_int_equal(
        gl_chunk_file_decode(f->data, f->len, &info, &raw, &shared, err, sizeof(err)),
        GL_EPARSE);
    if (strstr(err, why) == NULL) {
        fail_msg("error '%s' does not say '%s'", err, why);
    }
    assert_int_equal(raw.len, 0);
    assert_int_equal(shared.n, 0);
    assert_int_equal(gl_shared_count(), 0);
    gl_buf_close(&raw);
    gl_buf_close(f);
}

/* Reads file f into raw (initialised here) and shared; the reader must accept it. */
static void decode_ok(const struct gl_buf *f, struct gl_chunk_file_info *info, struct gl_buf *raw,
                      struct gl_shared_set *shared)
{
    char err[256] = "";
    gl_buf_init(raw);
    if (gl_chunk_file_decode(f->data, f->len, info, raw, shared, err, sizeof(err)) != 0) {
        fail_msg("refused: %s", err);
    }
}

static void test_chunk_file_round_trip(void **state)
{
    (void)state;
    struct gl_chunk *c = make_chunk(50);
    struct gl_buf f, raw;
    char err[256];
    struct gl_zstd_cctx *cx = gl_zstd_cctx_new(err, sizeof(err));
    assert_non_null(cx);
    gl_buf_init(&f);
    assert_int_equal(gl_chunk_file_encode(cx, c, 1, false, &f, err, sizeof(err)), 0);
    gl_zstd_cctx_free(cx);
    assert_true(f.len < c->data.len);
    struct gl_chunk_file_info info;
    struct gl_shared_set shared = { 0 };
    decode_ok(&f, &info, &raw, &shared);
    assert_int_equal(shared.n, 0);
    assert_int_equal(info.type, GL_LOGS);
    assert_int_equal(info.records, 50);
    assert_int_equal(info.tag_len, 8);
    assert_memory_equal(info.tag, "kube.app", 8);
    assert_int_equal(raw.len, c->data.len);
    assert_memory_equal(raw.data, c->data.data, raw.len);
    gl_chunk_free(c);
    gl_buf_close(&f);
    gl_buf_close(&raw);
}

/* Writes chunk c's file as it is (not compressed) into out, as the buffer writes it; frees c. */
static void encode_stored(struct gl_buf *out, struct gl_chunk *c)
{
    gl_buf_init(out);
    gl_chunk_file_encode_stored(c, out);
    assert_int_equal(out->len, GL_CHUNK_FILE_HEADER + c->tag_len);
    gl_buf_append(out, c->data.data, c->data.len);
    gl_chunk_free(c);
}

/*
 * A chunk written as it is reads back the same; its data is under the
 * crc32, and its length must be the data's.
 */
static void test_chunk_file_stored_round_trip(void **state)
{
    (void)state;
    struct gl_chunk *c = make_chunk(50);
    struct gl_buf want, f, raw;
    gl_buf_init(&want);
    gl_buf_append(&want, c->data.data, c->data.len);
    encode_stored(&f, c);
    struct gl_chunk_file_info info;
    struct gl_shared_set shared = { 0 };
    decode_ok(&f, &info, &raw, &shared);
    assert_true(info.stored);
    assert_int_equal(info.records, 50);
    assert_int_equal(raw.len, want.len);
    assert_memory_equal(raw.data, want.data, raw.len);
    gl_buf_close(&raw);

    f.data[f.len - 5] ^= 0x10;
    assert_refused(&f, "checksum mismatch");

    encode_stored(&f, make_chunk(50));
    f.data[12] = (char)(f.data[12] + 1); /* raw_len: one byte more than stored */
    reseal(&f);
    assert_refused(&f, "stored as it is");

    encode_stored(&f, make_chunk(50));
    f.len--;
    assert_refused(&f, "truncated");
    gl_buf_close(&want);
}

static void test_chunk_file_truncated_is_refused(void **state)
{
    (void)state;
    struct gl_buf f;
    encode(&f, 20);
    f.len -= 3;
    assert_refused(&f, "truncated");
    encode(&f, 20);
    f.len = 10;
    assert_refused(&f, "not a chunk file");
}

static void test_chunk_file_flipped_bit_fails_the_checksum(void **state)
{
    (void)state;
    struct gl_buf f;
    encode(&f, 20);
    f.data[f.len - 5] ^= 0x10;
    assert_refused(&f, "checksum mismatch");
}

/*
 * Header fields changed with the crc32 made to match (as a bug, not a bad
 * disk, would write them): the reader still refuses the file.
 */
static void test_chunk_file_header_that_lies_is_refused(void **state)
{
    (void)state;
    static const struct {
        size_t at;
        char value;
        const char *why;
    } lies[] = {
        { 12, 0x7f, "expected" },                    /* data length other than the frame's */
        { 8, 21, "the data is not whole records" },  /* one record more than there are */
        { 15, 0x10, "bad header" },                  /* 256 MiB of data and more */
        { 5, 9, "bad header" },                      /* neither logs nor metrics */
    };
    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        struct gl_buf f;
        encode(&f, 20);
        f.data[lies[i].at] = lies[i].value;
        reseal(&f);
        assert_refused(&f, lies[i].why);
    }
    gl_zstd_release();
}

/* Whether gl_record_read() reads data (len bytes) as exactly `records` records. */
static bool records_read(const char *data, size_t len, uint32_t records)
{
    msgpack_unpacked up;
    struct gl_record rec;
    size_t off = 0;
    uint32_t n = 0;
    int rc;
    msgpack_unpacked_init(&up);
    while ((rc = gl_record_read(&up, data, len, &off, &rec)) == 0) {
        n++;
    }
    msgpack_unpacked_destroy(&up);
    return rc == GL_ENOENT && n == records;
}

/*
 * Writes chunk c to a file at `level` (with the content checksum) and reads
 * it back into raw: the reader's answer; the file's length in *file_len.
 */
static int write_read(const struct gl_chunk *c, int level, struct gl_buf *raw, size_t *file_len)
{
    struct gl_buf f;
    struct gl_chunk_file_info info;
    char err[256];
    struct gl_zstd_cctx *cx = gl_zstd_cctx_new(err, sizeof(err));
    gl_buf_init(&f);
    assert_int_equal(gl_chunk_file_encode(cx, c, level, true, &f, err, sizeof(err)), 0);
    struct gl_shared_set shared = { 0 };
    int rc = gl_chunk_file_decode(f.data, f.len, &info, raw, &shared, err, sizeof(err));
    assert_true(rc < 0 || info.records == c->records);
    assert_int_equal(shared.n, 0);
    *file_len = f.len;
    gl_zstd_cctx_free(cx);
    gl_buf_close(&f);
    return rc;
}

/* Writes chunk c to a file and reads it back: the reader's answer. Frees c. */
static int decode_written(struct gl_chunk *c)
{
    struct gl_buf raw;
    size_t file_len;
    gl_buf_init(&raw);
    int rc = write_read(c, 1, &raw, &file_len);
    gl_chunk_free(c);
    gl_buf_close(&raw);
    return rc;
}

/*
 * The level is the writer's choice, not the file's format: files written
 * at level 1 (as earlier versions did) and at the fast levels read back.
 */
static void test_chunk_file_reads_every_level(void **state)
{
    (void)state;
    static const int levels[] = { 1, 3, -1, -3, -5 };
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        struct gl_chunk *c = make_chunk(200);
        struct gl_buf raw;
        size_t file_len;
        gl_buf_init(&raw);
        assert_int_equal(write_read(c, levels[i], &raw, &file_len), 0);
        assert_true(file_len < c->data.len / 4);
        assert_int_equal(raw.len, c->data.len);
        assert_memory_equal(raw.data, c->data.data, raw.len);
        gl_chunk_free(c);
        gl_buf_close(&raw);
    }
}

/*
 * The reader checks the records without unpacking them: it takes exactly
 * what gl_record_read() reads, for each way a record may be encoded and
 * each way it may not be a record.
 */
static void test_chunk_file_takes_what_record_read_takes(void **state)
{
    (void)state;
    static const struct {
        const char *data;
        size_t len;
        uint32_t records;
        bool whole;
    } cases[] = {
        { "\x93\x05\x80\x81\xa1k\xa1v", 8, 1, true },
        { "\x93\xcc\xff\x80\x80\x93\xcf\0\0\0\0\0\0\0\x01\x80\x80", 17, 2, true },
        { "\x93\xd0\x05\x80\x80", 5, 1, true },                          /* int8, not negative */
        { "\x93\xd3\0\0\0\0\0\0\0\x07\x80\x80", 12, 1, true },           /* int64, likewise */
        { "\xdc\x00\x03\x01\x80\x80", 6, 1, true },                      /* array16 */
        { "\xdd\x00\x00\x00\x03\x01\x80\x80", 8, 1, true },              /* array32 */
        { "\x93\x01\xde\x00\x01\xc0\xc0\x80", 8, 1, true },              /* map16 */
        { "\x93\xd0\xfb\x80\x80", 5, 1, false },                         /* negative time */
        { "\x93\xcb\0\0\0\0\0\0\0\0\x80\x80", 12, 1, false },            /* float time */
        { "\x92\x01\x80", 3, 1, false },                                 /* two elements */
        { "\x94\x01\x80\x80\x80", 5, 1, false },                         /* four */
        { "\x93\x01\xc0\x80", 4, 1, false },                             /* meta not a map */
        { "\x93\x01\x80\xa1x", 5, 1, false },                            /* body not a map */
        { "\x81\x01\x80", 3, 1, false },                                 /* not an array */
        { "\x93\x01\x80\x80\x93\x01\x80", 7, 2, false },                 /* cut short */
        { "\x93\x01\x80\x81\xc1\xc0", 6, 1, false },                     /* the unused byte */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(records_read(cases[i].data, cases[i].len, cases[i].records),
                         cases[i].whole);
        struct gl_chunk *c = gl_chunk_new(NULL, "kube.app", 8);
        gl_buf_append(&c->data, cases[i].data, cases[i].len);
        c->records = cases[i].records;
        assert_int_equal(decode_written(c), cases[i].whole ? 0 : GL_EPARSE);
    }
}

/* Values nested deeper than msgpack-c unpacks are not whole records. */
static void test_chunk_file_refuses_nesting_unpack_refuses(void **state)
{
    (void)state;
    for (size_t depth = 28; depth <= 32; depth++) {
        struct gl_chunk *c = gl_chunk_new(NULL, "kube.app", 8);
        gl_buf_append(&c->data, "\x93\x01\x80\x81\xa1k", 6);
        for (size_t i = 0; i < depth; i++) {
            gl_buf_append(&c->data, "\x91", 1);
        }
        gl_buf_append(&c->data, "\xc0", 1);
        c->records = 1;
        bool whole = records_read(c->data.data, c->data.len, 1);
        assert_int_equal(whole, depth + 2 <= MSGPACK_EMBED_STACK_SIZE);
        assert_int_equal(decode_written(c), whole ? 0 : GL_EPARSE);
    }
    gl_zstd_release();
}

static const char web[] = "\x81\xa8pod_name\xa5web-1";
static const char api[] = "\x81\xa8pod_name\xa5" "api-2";

/* A chunk of n records whose "kubernetes" refers to web, then api from record n / 2 on. */
static struct gl_chunk *make_shared_chunk(int n)
{
    struct gl_chunk *c = gl_chunk_new(NULL, "kube.app", 8);
    struct gl_shared *v[2] = { gl_shared_new(web, sizeof(web) - 1),
                               gl_shared_new(api, sizeof(api) - 1) };
    for (int i = 0; i < n; i++) {
        struct gl_event ev;
        gl__event_begin_buf(&ev, &c->data, 1000 + (uint64_t)i);
        ev.shared = &c->shared;
        gl_event_kv_str(&ev, "log", "hello world", 11);
        gl_event_kv_shared(&ev, "kubernetes", 10, v[i >= n / 2]);
        gl__event_finish(&ev);
    }
    gl_shared_unref(v[0]);
    gl_shared_unref(v[1]);
    c->records = (uint32_t)n;
    return c;
}

static void encode_shared(struct gl_buf *out, int n)
{
    encode_chunk(out, make_shared_chunk(n));
}

/* How many times needle (len bytes) is in f. */
static int count_in(const struct gl_buf *f, const char *needle, size_t len)
{
    int n = 0;
    for (const char *p = f->data; (p = memmem(p, f->len - (size_t)(p - f->data), needle, len));
         p++) {
        n++;
    }
    return n;
}

/*
 * Shared values are written once each, and read back as values made anew:
 * every record's reference names the new value of the map it named.
 */
static void test_chunk_file_shared_values_round_trip(void **state)
{
    (void)state;
    struct gl_buf f, raw;
    struct gl_chunk_file_info info;
    struct gl_shared_set shared = { 0 };
    encode_shared(&f, 100);
    assert_int_equal(gl_shared_count(), 0); /* the file is the only copy */
    assert_int_equal(count_in(&f, web, sizeof(web) - 1), 1);
    assert_int_equal(count_in(&f, api, sizeof(api) - 1), 1);
    decode_ok(&f, &info, &raw, &shared);
    assert_int_equal(shared.n, 2);
    assert_int_equal(gl_shared_count(), 2);
    struct gl_chunk *c = gl_chunk_new(NULL, "kube.app", 8);
    gl_buf_append(&c->data, raw.data, raw.len);
    gl_shared_set_take(&c->shared, &shared);
    struct gl_chunk_iter it;
    struct gl_record rec;
    int n = 0;
    gl_chunk_iter_init(&it, c);
    while (gl_chunk_next(&it, &rec) == 0) {
        const msgpack_object *k = gl_shared_deref(gl_json_map_get(rec.body, "kubernetes"));
        assert_non_null(k);
        const msgpack_object *pod = gl_json_map_get(k, "pod_name");
        assert_non_null(pod);
        assert_memory_equal(pod->via.str.ptr, n < 50 ? "web-1" : "api-2", 5);
        n++;
    }
    gl_chunk_iter_close(&it);
    assert_int_equal(n, 100);
    gl_chunk_free(c);
    assert_int_equal(gl_shared_count(), 0);
    gl_buf_close(&raw);
    gl_buf_close(&f);
}

/* Files of version 1 (no shared values, the tag at byte 28) still read. */
static void test_chunk_file_version_1_reads(void **state)
{
    (void)state;
    struct gl_buf f, raw;
    struct gl_chunk_file_info info;
    struct gl_shared_set shared = { 0 };
    encode(&f, 20);
    assert_int_equal(f.data[4], 2);
    assert_memory_equal(f.data + 28, "\0\0\0\0", 4);
    memmove(f.data + 28, f.data + 32, f.len - 32);
    f.len -= 4;
    f.data[4] = 1;
    reseal(&f);
    decode_ok(&f, &info, &raw, &shared);
    assert_int_equal(shared.n, 0);
    assert_int_equal(info.records, 20);
    assert_memory_equal(info.tag, "kube.app", 8);
    assert_true(records_read(raw.data, raw.len, 20));
    gl_buf_close(&raw);
    gl_buf_close(&f);
}

/*
 * Shared values a file cannot hold: a record referring to a value the file
 * does not have (with other values, or none at all: such a reference could
 * name a live value of the reader, another pod's), a value that is not a
 * map or refers to a value itself, values in a metrics chunk (the crc32 made
 * to match). Nothing is made of any of them.
 */
static void test_chunk_file_bad_shared_values_are_refused(void **state)
{
    (void)state;
    struct gl_buf f;
    size_t first = 32 + 8; /* header, tag: the first value's id */
    encode_shared(&f, 10);
    f.data[first] ^= 0x40;
    reseal(&f);
    assert_refused(&f, "refers to a shared value the file does not hold");
    encode_shared(&f, 10);
    assert_int_equal((unsigned char)f.data[first + 8], 0x81);
    f.data[first + 8] = (char)0x91;
    reseal(&f);
    assert_refused(&f, "a shared value is not a whole map");
    encode_shared(&f, 10);
    f.data[first + 8 + 1] = (char)0xc1;
    reseal(&f);
    assert_refused(&f, "a shared value is not a whole map");
    struct gl_chunk *c = make_shared_chunk(10);
    gl_shared_set_clear(&c->shared); /* the records keep their references' bytes */
    encode_chunk(&f, c);
    assert_memory_equal(f.data + 28, "\0\0\0\0", 4);
    assert_refused(&f, "refers to a shared value the file does not hold");
    c = gl_chunk_new(NULL, "kube.app", 8);
    static const char inner[] = "\x81\xa1k\xd7\x01\0\0\0\0\x01\0\0\0";
    struct gl_shared *v = gl_shared_new(inner, sizeof(inner) - 1);
    assert_non_null(v);
    struct gl_event ev;
    gl__event_begin_buf(&ev, &c->data, 1000);
    ev.shared = &c->shared;
    gl_event_kv_shared(&ev, "kubernetes", 10, v);
    gl__event_finish(&ev);
    gl_shared_unref(v);
    c->records = 1;
    encode_chunk(&f, c);
    assert_refused(&f, "a shared value is not a whole map");
    encode_shared(&f, 10);
    f.data[5] = GL_METRICS;
    reseal(&f);
    assert_refused(&f, "bad header");
    gl_zstd_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_file_round_trip),
        cmocka_unit_test(test_chunk_file_stored_round_trip),
        cmocka_unit_test(test_chunk_file_truncated_is_refused),
        cmocka_unit_test(test_chunk_file_flipped_bit_fails_the_checksum),
        cmocka_unit_test(test_chunk_file_header_that_lies_is_refused),
        cmocka_unit_test(test_chunk_file_reads_every_level),
        cmocka_unit_test(test_chunk_file_takes_what_record_read_takes),
        cmocka_unit_test(test_chunk_file_refuses_nesting_unpack_refuses),
        cmocka_unit_test(test_chunk_file_shared_values_round_trip),
        cmocka_unit_test(test_chunk_file_version_1_reads),
        cmocka_unit_test(test_chunk_file_bad_shared_values_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
