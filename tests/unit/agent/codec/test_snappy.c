/*
 * The snappy block codec: what is compressed decompresses to the same bytes
 * (empty, tiny, incompressible, long runs, 64 KiB block boundaries, a few
 * MiB), it shrinks what repeats, and the decompressor refuses every
 * malformed input it is given (bad lengths, offsets before the start,
 * truncations) instead of reading or writing out of bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "codec/snappy.h"
#include "util/error.h"

static void roundtrip(const char *data, size_t len)
{
    struct gl_buf c, d;
    gl_buf_init(&c);
    gl_buf_init(&d);
    gl_snappy_compress(data, len, &c);
    assert_int_equal(gl_snappy_decompress(c.data, c.len, len, &d), 0);
    assert_int_equal(d.len, len);
    assert_true(len == 0 || memcmp(d.data, data, len) == 0);
    assert_true(c.len <= 32 + len + len / 6);
    gl_buf_close(&c);
    gl_buf_close(&d);
}

static void test_snappy_roundtrips(void **state)
{
    (void)state;
    static char big[3 << 20];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < sizeof(big); i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* Words from a small vocabulary, as label sets are, with random bytes between. */
        big[i] = (i / 64) % 3 == 0 ? (char)x : "node_cpu_seconds_total{mode=idle}"[i % 33];
    }
    roundtrip("", 0);
    roundtrip("a", 1);
    roundtrip("abcdefgh", 8);
    static const size_t sizes[] = { 65535, 65536, 65537, 131072 + 5, sizeof(big) };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        roundtrip(big, sizes[i]);
    }
    memset(big, 'z', 200000);
    roundtrip(big, 200000);
}

static void test_snappy_shrinks_repeats(void **state)
{
    (void)state;
    static const char line[] = "up{job=\"node\",instance=\"10.0.0.1:9100\"} 1\n";
    char text[100000];
    for (size_t i = 0; i < sizeof(text); i++) {
        text[i] = line[i % (sizeof(line) - 1)];
    }
    struct gl_buf c;
    gl_buf_init(&c);
    gl_snappy_compress(text, sizeof(text), &c);
    assert_true(c.len < sizeof(text) / 10);
    gl_buf_close(&c);
}

static void test_snappy_refuses_malformed_input(void **state)
{
    (void)state;
    struct gl_buf d;
    gl_buf_init(&d);
    /* Claims 100 bytes, gives a 3-byte literal. */
    assert_int_equal(gl_snappy_decompress("\x64\x08" "abc", 5, 1000, &d), GL_EPARSE);
    /* A copy reaching before the start. */
    assert_int_equal(gl_snappy_decompress("\x08\x00" "a" "\x0a\x05\x00", 6, 1000, &d),
                     GL_EPARSE);
    /* Over the caller's bound. */
    assert_int_equal(gl_snappy_decompress("\x80\x80\x04", 3, 1000, &d), GL_ELIMIT);
    /* A literal longer than what is left. */
    assert_int_equal(gl_snappy_decompress("\x05\xf0\xff" "ab", 5, 1000, &d), GL_EPARSE);
    /* A varint that never ends. */
    assert_int_equal(gl_snappy_decompress("\xff\xff\xff\xff\xff\xff", 6, 1000, &d), GL_EPARSE);
    assert_int_equal(d.len, 0);
    /* Every truncation of a good block is refused or complete, never read past. */
    struct gl_buf c;
    gl_buf_init(&c);
    gl_snappy_compress("abcabcabcabcabcabc-abcabcabc", 28, &c);
    for (size_t cut = 0; cut < c.len; cut++) {
        char *copy = malloc(cut + 1);
        memcpy(copy, c.data, cut);
        gl_buf_reset(&d);
        assert_int_not_equal(gl_snappy_decompress(copy, cut, 1000, &d), 0);
        free(copy);
    }
    gl_buf_close(&c);
    gl_buf_close(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snappy_roundtrips),
        cmocka_unit_test(test_snappy_shrinks_repeats),
        cmocka_unit_test(test_snappy_refuses_malformed_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
