/*
 * Hashes (agent/util/hash.h): FNV-1a against its published vectors, the
 * word-at-a-time hash's independence from alignment, and the tail input's
 * file fingerprint, whose values are stored on disk and must never change.
 * The tail file code is included to reach its static fingerprint().
 */
#include "plugins/in_tail/in_tail_file.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/hash.h"

/* A CRI log line of 93 bytes: longer than TAIL_FP_LEN. */
#define CRI_LINE                                                                     \
    "2024-05-01T12:00:00.123456789Z stdout F {\"level\":\"info\",\"msg\":\"request " \
    "served\",\"status\":200}\n"

static uint64_t fnv(const char *s)
{
    return gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, s, strlen(s));
}

static void test_hash_fnv1a64_matches_published_vectors(void **state)
{
    (void)state;
    assert_true(fnv("") == 0xcbf29ce484222325ull);
    assert_true(fnv("a") == 0xaf63dc4c8601ec8cull);
    assert_true(fnv("foobar") == 0x85944171f73967e8ull);
}

static void test_hash_fnv1a64_continues_across_pieces(void **state)
{
    (void)state;
    uint64_t h = gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, "foo", 3);
    assert_true(gl_hash_fnv1a64(h, "bar", 3) == fnv("foobar"));
}

static void test_hash_words64_ignores_alignment(void **state)
{
    (void)state;
    char buf[64];
    uint64_t want = gl_hash_words64(GL_HASH_FNV1A64_BASIS, CRI_LINE, 40);
    for (size_t off = 1; off < 8; off++) {
        memcpy(buf + off, CRI_LINE, 40);
        assert_true(gl_hash_words64(GL_HASH_FNV1A64_BASIS, buf + off, 40) == want);
    }
}

static void test_hash_words64_tells_pieces_apart(void **state)
{
    (void)state;
    uint64_t ab_c = gl_hash_words64(gl_hash_words64(GL_HASH_FNV1A64_BASIS, "ab", 2), "c", 1);
    uint64_t a_bc = gl_hash_words64(gl_hash_words64(GL_HASH_FNV1A64_BASIS, "a", 1), "bc", 2);
    assert_true(ab_c != a_bc);
    uint64_t empty = gl_hash_words64(GL_HASH_FNV1A64_BASIS, "", 0);
    assert_true(empty != GL_HASH_FNV1A64_BASIS);
}

static void test_hash_words64_uses_every_byte(void **state)
{
    (void)state;
    char a[17], b[17];
    memset(a, 'x', sizeof(a));
    uint64_t base = gl_hash_words64(GL_HASH_FNV1A64_BASIS, a, sizeof(a));
    for (size_t i = 0; i < sizeof(a); i++) {
        memcpy(b, a, sizeof(a));
        b[i] = 'y';
        assert_true(gl_hash_words64(GL_HASH_FNV1A64_BASIS, b, sizeof(b)) != base);
    }
}

/* The tail fingerprint of the first len bytes of s, read from a file as the tail input does. */
static uint64_t tail_fp(const char *s, size_t len, size_t *fp_len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fwrite(s, 1, len, f), len);
    assert_int_equal(fflush(f), 0);
    uint64_t fp = 0;
    assert_int_equal(fingerprint(fileno(f), len, &fp, fp_len), 0);
    fclose(f);
    return fp;
}

/*
 * Offsets databases on disk store these fingerprints (the hex16 field of each
 * record): the values below were computed by the fingerprint code of earlier
 * releases, and a file must still match its record after an upgrade. Never
 * update them to fit a new hash; keep the old one for the tail instead.
 */
static void test_hash_tail_fingerprint_is_unchanged(void **state)
{
    (void)state;
    size_t n;
    assert_true(tail_fp(CRI_LINE, 0, &n) == 0x14650fb0739d0383ull);
    assert_int_equal(n, 0);
    assert_true(tail_fp(CRI_LINE, 20, &n) == 0xde9474fb553687acull);
    assert_int_equal(n, 20);
    assert_int_equal(strlen(CRI_LINE), 93);
    assert_true(tail_fp(CRI_LINE, strlen(CRI_LINE), &n) == 0x127b5132e6e272b8ull);
    assert_int_equal(n, TAIL_FP_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_fnv1a64_matches_published_vectors),
        cmocka_unit_test(test_hash_fnv1a64_continues_across_pieces),
        cmocka_unit_test(test_hash_words64_ignores_alignment),
        cmocka_unit_test(test_hash_words64_tells_pieces_apart),
        cmocka_unit_test(test_hash_words64_uses_every_byte),
        cmocka_unit_test(test_hash_tail_fingerprint_is_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
