/*
 * gzip: compressed bodies inflate back exactly (and are gzip, read by zlib
 * as such), a bomb stops at the caller's bound, corrupt and truncated input
 * is refused. Base64 for basic authentication is in the same suite: both are
 * the small codecs HTTP outputs use. The compressor kept between calls is
 * shared by threads and levels without mixing them up; data that does not
 * compress comes back whole.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "codec/base64.h"
#include "codec/gzip.h"
#include "util/error.h"

static void test_gzip_roundtrip_and_header(void **state)
{
    (void)state;
    char text[50000];
    for (size_t i = 0; i < sizeof(text); i++) {
        text[i] = (char)("metrics\n"[i % 8] + (i % 977 == 0));
    }
    struct gl_buf z, back;
    gl_buf_init(&z);
    gl_buf_init(&back);
    assert_int_equal(gl_gzip_compress(text, sizeof(text), 1, &z), 0);
    assert_true(z.len < sizeof(text) / 4);
    assert_int_equal((unsigned char)z.data[0], 0x1f); /* gzip magic */
    assert_int_equal((unsigned char)z.data[1], 0x8b);
    assert_int_equal(gl_gzip_decompress(z.data, z.len, sizeof(text), &back), 0);
    assert_int_equal(back.len, sizeof(text));
    assert_memory_equal(back.data, text, sizeof(text));
    gl_buf_close(&z);
    gl_buf_close(&back);
}

/* Compresses and inflates back a text of its own, many times over. */
static void *roundtrips(void *arg)
{
    int level = (int)(intptr_t)arg;
    char text[20000];
    for (size_t i = 0; i < sizeof(text); i++) {
        text[i] = (char)('a' + (i * (size_t)level) % 23);
    }
    for (int round = 0; round < 200; round++) {
        struct gl_buf z, back;
        gl_buf_init(&z);
        gl_buf_init(&back);
        if (gl_gzip_compress(text, sizeof(text), level, &z) != 0 ||
            gl_gzip_decompress(z.data, z.len, sizeof(text), &back) != 0 ||
            back.len != sizeof(text) || memcmp(back.data, text, sizeof(text)) != 0) {
            gl_buf_close(&z);
            gl_buf_close(&back);
            return (void *)1;
        }
        gl_buf_close(&z);
        gl_buf_close(&back);
    }
    return NULL;
}

static void test_gzip_kept_compressor_across_threads_and_levels(void **state)
{
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, roundtrips, (void *)(intptr_t)(1 + i % 2 * 2)),
                         0);
    }
    for (int i = 0; i < 4; i++) {
        void *failed;
        pthread_join(t[i], &failed);
        assert_null(failed);
    }
    struct gl_buf z;
    gl_buf_init(&z);
    assert_int_equal(gl_gzip_compress("x", 1, 4, &z), GL_EIO); /* no such level */
    assert_int_equal(gl_gzip_compress("x", 1, -1, &z), GL_EIO);
    gl_buf_close(&z);
    gl_gzip_release();
}

/* Data that does not compress (random bytes) and the empty body come back whole at every level. */
static void test_gzip_incompressible_and_empty(void **state)
{
    (void)state;
    static char noise[300000];
    uint64_t x = 88172645463325252u;
    for (size_t i = 0; i < sizeof(noise); i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise[i] = (char)x;
    }
    for (int level = 0; level <= 3; level++) {
        for (size_t len = 0; len <= sizeof(noise); len += len < 70000 ? 65535 : 100000) {
            struct gl_buf z, back;
            gl_buf_init(&z);
            gl_buf_init(&back);
            assert_int_equal(gl_gzip_compress(noise, len, level, &z), 0);
            assert_int_equal(gl_gzip_decompress(z.data, z.len, sizeof(noise), &back), 0);
            assert_int_equal(back.len, len);
            assert_memory_equal(back.data, noise, len);
            gl_buf_close(&z);
            gl_buf_close(&back);
        }
    }
}

static void test_gzip_bomb_stops_at_bound(void **state)
{
    (void)state;
    static char zeros[4 << 20];
    struct gl_buf z, back;
    gl_buf_init(&z);
    gl_buf_init(&back);
    assert_int_equal(gl_gzip_compress(zeros, sizeof(zeros), 1, &z), 0);
    assert_true(z.len < 10000);
    assert_int_equal(gl_gzip_decompress(z.data, z.len, 1 << 20, &back), GL_ELIMIT);
    assert_true(back.len <= (1 << 20));
    gl_buf_close(&z);
    gl_buf_close(&back);
}

static void test_gzip_refuses_corrupt_and_truncated(void **state)
{
    (void)state;
    struct gl_buf z, back;
    gl_buf_init(&z);
    gl_buf_init(&back);
    assert_int_equal(gl_gzip_decompress("not gzip at all", 15, 1000, &back), GL_EPARSE);
    assert_int_equal(gl_gzip_compress("hello hello hello", 17, 1, &z), 0);
    for (size_t cut = 0; cut < z.len; cut++) {
        gl_buf_reset(&back);
        assert_int_not_equal(gl_gzip_decompress(z.data, cut, 1000, &back), 0);
    }
    gl_buf_close(&z);
    gl_buf_close(&back);
}

static void test_base64_encodes_with_padding(void **state)
{
    (void)state;
    struct gl_buf b;
    gl_buf_init(&b);
    gl_base64_encode("user:pass", 9, &b);
    assert_string_equal(b.data, "dXNlcjpwYXNz");
    gl_buf_reset(&b);
    gl_base64_encode("ab", 2, &b);
    assert_string_equal(b.data, "YWI=");
    gl_buf_reset(&b);
    gl_base64_encode("a", 1, &b);
    assert_string_equal(b.data, "YQ==");
    gl_buf_close(&b);
}

/* The compressors kept between calls go at the end, as the agent frees them at exit. */
static int release(void **state)
{
    (void)state;
    gl_gzip_release();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gzip_roundtrip_and_header),
        cmocka_unit_test(test_gzip_kept_compressor_across_threads_and_levels),
        cmocka_unit_test(test_gzip_incompressible_and_empty),
        cmocka_unit_test(test_gzip_bomb_stops_at_bound),
        cmocka_unit_test(test_gzip_refuses_corrupt_and_truncated),
        cmocka_unit_test(test_base64_encodes_with_padding),
    };
    return cmocka_run_group_tests(tests, NULL, release);
}
