/*
 * gl_mp_put_* writes what msgpack-c's packer writes, byte for byte: every
 * integer at and around each boundary between encodings, strings, maps and
 * arrays around each length boundary, doubles (signed zero, NaN, the
 * infinities) and the constants. Readers and chunk files written before
 * rely on those very bytes.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "codec/msgpack_put.h"
#include "util/buf.h"

struct pair {
    struct gl_buf ours, theirs;
    msgpack_packer pk;
};

static void pair_open(struct pair *p)
{
    gl_buf_init(&p->ours);
    gl_buf_init(&p->theirs);
    msgpack_packer_init(&p->pk, &p->theirs, gl_buf_pack_write);
}

static void pair_check(struct pair *p, const char *what, long long n)
{
    if (p->ours.len != p->theirs.len || memcmp(p->ours.data, p->theirs.data, p->ours.len) != 0) {
        fail_msg("%s %lld: %zu bytes written, msgpack-c %zu", what, n, p->ours.len,
                 p->theirs.len);
    }
    assert_int_equal(p->ours.data[p->ours.len], '\0'); /* the buffer stays terminated */
    gl_buf_reset(&p->ours);
    gl_buf_reset(&p->theirs);
}

static void pair_close(struct pair *p)
{
    gl_buf_close(&p->ours);
    gl_buf_close(&p->theirs);
}

/* Each power of two and its neighbours, both signs: every encoding's edges. */
static size_t edges(int64_t *out)
{
    size_t n = 0;
    for (int k = 0; k < 63; k++) {
        int64_t v = (int64_t)1 << k;
        for (int64_t d = -1; d <= 1; d++) {
            out[n++] = v + d;
            out[n++] = -(v + d);
        }
    }
    out[n++] = INT64_MAX;
    out[n++] = INT64_MIN;
    out[n++] = -32;
    out[n++] = -33;
    return n;
}

static void test_msgpack_put_integers_as_msgpack_c(void **state)
{
    (void)state;
    struct pair p;
    int64_t v[400];
    size_t n = edges(v);
    pair_open(&p);
    for (size_t i = 0; i < n; i++) {
        gl_mp_put_int(&p.ours, v[i]);
        msgpack_pack_int64(&p.pk, v[i]);
        pair_check(&p, "int", v[i]);
        uint64_t u = (uint64_t)v[i];
        gl_mp_put_uint(&p.ours, u);
        msgpack_pack_uint64(&p.pk, u);
        pair_check(&p, "uint", (long long)u);
    }
    gl_mp_put_uint(&p.ours, UINT64_MAX);
    msgpack_pack_uint64(&p.pk, UINT64_MAX);
    pair_check(&p, "uint", -1);
    pair_close(&p);
}

static void test_msgpack_put_strings_maps_arrays_as_msgpack_c(void **state)
{
    (void)state;
    static const uint32_t lens[] = {0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 257,
                                    65535, 65536, 65537, 100000};
    char *text = malloc(100000);
    assert_non_null(text);
    for (size_t i = 0; i < 100000; i++) {
        text[i] = (char)('a' + i % 26);
    }
    struct pair p;
    pair_open(&p);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint32_t n = lens[i];
        gl_mp_put_str(&p.ours, text, n);
        msgpack_pack_str_with_body(&p.pk, text, n);
        pair_check(&p, "str", n);
        gl_mp_put_map(&p.ours, n);
        msgpack_pack_map(&p.pk, n);
        pair_check(&p, "map", n);
        gl_mp_put_array(&p.ours, n);
        msgpack_pack_array(&p.pk, n);
        pair_check(&p, "array", n);
    }
    gl_mp_put_str(&p.ours, NULL, 0); /* an empty string may come without a pointer */
    msgpack_pack_str_with_body(&p.pk, "", 0);
    pair_check(&p, "str", 0);
    pair_close(&p);
    free(text);
}

static void test_msgpack_put_doubles_and_constants_as_msgpack_c(void **state)
{
    (void)state;
    static const double ds[] = {0.0, -0.0, 1.0, -1.5, 0.1, 1e300, -1e-300, 4503599627370496.5,
                                INFINITY, -INFINITY, NAN};
    struct pair p;
    pair_open(&p);
    for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
        gl_mp_put_double(&p.ours, ds[i]);
        msgpack_pack_double(&p.pk, ds[i]);
        pair_check(&p, "double #", (long long)i);
    }
    gl_mp_put_nil(&p.ours);
    msgpack_pack_nil(&p.pk);
    gl_mp_put_bool(&p.ours, true);
    msgpack_pack_true(&p.pk);
    gl_mp_put_bool(&p.ours, false);
    msgpack_pack_false(&p.pk);
    pair_check(&p, "nil, true, false", 0);
    pair_close(&p);
}

/* Values written one after another, as a record is: each lands after the last. */
static void test_msgpack_put_appends(void **state)
{
    (void)state;
    struct pair p;
    pair_open(&p);
    for (int i = 0; i < 1000; i++) {
        gl_mp_put_map(&p.ours, 2);
        gl_mp_put_str(&p.ours, "log", 3);
        gl_mp_put_str(&p.ours, "hello world, a line of a log", 28);
        gl_mp_put_str(&p.ours, "n", 1);
        gl_mp_put_int(&p.ours, -i * 1000);
        msgpack_pack_map(&p.pk, 2);
        msgpack_pack_str_with_body(&p.pk, "log", 3);
        msgpack_pack_str_with_body(&p.pk, "hello world, a line of a log", 28);
        msgpack_pack_str_with_body(&p.pk, "n", 1);
        msgpack_pack_int64(&p.pk, -i * 1000);
    }
    pair_check(&p, "records", 1000);
    pair_close(&p);
}

/*
 * Unpacked objects of every type written back: float32 stays float32, bin and
 * ext keep their length forms (ext's fixed sizes 1, 2, 4, 8, 16 and the rest).
 */
static void test_msgpack_put_objects_as_msgpack_c(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {0, 1, 2, 3, 4, 8, 16, 17, 255, 256, 65535, 65536};
    char *blob = calloc(1, 65536);
    assert_non_null(blob);
    struct gl_buf src;
    msgpack_packer pk;
    gl_buf_init(&src);
    msgpack_packer_init(&pk, &src, gl_buf_pack_write);
    size_t n = sizeof(sizes) / sizeof(sizes[0]);
    msgpack_pack_map(&pk, 8 + 2 * n);
    msgpack_pack_str_with_body(&pk, "f32", 3);
    msgpack_pack_float(&pk, 1.5f);
    msgpack_pack_str_with_body(&pk, "f64", 3);
    msgpack_pack_double(&pk, -2.25);
    msgpack_pack_str_with_body(&pk, "neg", 3);
    msgpack_pack_int64(&pk, -40000);
    msgpack_pack_str_with_body(&pk, "pos", 3);
    msgpack_pack_uint64(&pk, 5000000000ull);
    msgpack_pack_str_with_body(&pk, "nil", 3);
    msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "bool", 4);
    msgpack_pack_true(&pk);
    msgpack_pack_str_with_body(&pk, "arr", 3);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int64(&pk, -1);
    msgpack_pack_str_with_body(&pk, "x", 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "deep", 4);
    msgpack_pack_array(&pk, 0);
    msgpack_pack_str_with_body(&pk, "str", 3);
    msgpack_pack_str_with_body(&pk, blob, 40);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_bin_with_body(&pk, blob, sizes[i]);
        if (sizes[i] > 0) {
            msgpack_pack_ext_with_body(&pk, blob, sizes[i], 7);
        } else {
            msgpack_pack_str_with_body(&pk, "", 0);
        }
        msgpack_pack_str_with_body(&pk, "e", 1);
        msgpack_pack_ext_with_body(&pk, blob, sizes[i], -3);
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&up, src.data, src.len, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, src.len);
    struct pair p;
    pair_open(&p);
    gl_mp_put_object(&p.ours, &up.data);
    msgpack_pack_object(&p.pk, up.data);
    pair_check(&p, "object", 0);
    assert_int_equal(p.ours.len, 0);
    gl_mp_put_object(&p.ours, &up.data);
    assert_int_equal(p.ours.len, src.len); /* and the same as it was packed */
    assert_memory_equal(p.ours.data, src.data, src.len);
    pair_close(&p);
    msgpack_unpacked_destroy(&up);
    gl_buf_close(&src);
    free(blob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msgpack_put_integers_as_msgpack_c),
        cmocka_unit_test(test_msgpack_put_strings_maps_arrays_as_msgpack_c),
        cmocka_unit_test(test_msgpack_put_doubles_and_constants_as_msgpack_c),
        cmocka_unit_test(test_msgpack_put_appends),
        cmocka_unit_test(test_msgpack_put_objects_as_msgpack_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
