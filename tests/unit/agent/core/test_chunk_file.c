/*
 * The chunk file: what the writer encodes the reader gives back exactly,
 * and every way a file can be damaged (cut short, a bit flipped, a frame
 * that decompresses to another size, a record count that does not match,
 * a size over the bound) is refused with the reason, never read as records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

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

static void encode(struct gl_buf *out, int n)
{
    char err[256];
    struct gl_chunk *c = make_chunk(n);
    struct gl_zstd_cctx *cx = gl_zstd_cctx_new(err, sizeof(err));
    gl_buf_init(out);
    assert_int_equal(gl_chunk_file_encode(cx, c, 1, true, out, err, sizeof(err)), 0);
    gl_zstd_cctx_free(cx);
    gl_chunk_free(c);
}

/* Rewrites the crc32 after a test changed the file on purpose. */
static void reseal(struct gl_buf *f)
{
    uLong crc = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)f->data, 24);
    crc = crc32(crc, (const Bytef *)f->data + 28, (uInt)(f->len - 28));
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
    gl_buf_init(&raw);
    assert_int_equal(gl_chunk_file_decode(f->data, f->len, &info, &raw, err, sizeof(err)),
                     GL_EPARSE);
    if (strstr(err, why) == NULL) {
        fail_msg("error '%s' does not say '%s'", err, why);
    }
    assert_int_equal(raw.len, 0);
    gl_buf_close(&raw);
    gl_buf_close(f);
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
    gl_buf_init(&raw);
    assert_int_equal(gl_chunk_file_encode(cx, c, 1, false, &f, err, sizeof(err)), 0);
    gl_zstd_cctx_free(cx);
    assert_true(f.len < c->data.len);
    struct gl_chunk_file_info info;
    assert_int_equal(gl_chunk_file_decode(f.data, f.len, &info, &raw, err, sizeof(err)), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_file_round_trip),
        cmocka_unit_test(test_chunk_file_truncated_is_refused),
        cmocka_unit_test(test_chunk_file_flipped_bit_fails_the_checksum),
        cmocka_unit_test(test_chunk_file_header_that_lies_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
