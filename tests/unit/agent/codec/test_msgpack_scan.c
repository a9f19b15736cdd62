/*
 * Reading msgpack without unpacking, and unpacking one object
 * (msgpack_unpack.c, which must build what msgpack-c builds): for one encoding of every type, packed
 * by msgpack-c, gl_msgpack_skip() returns exactly its length (as
 * msgpack_unpack_next() consumes) and 0 for every truncation of it; headers
 * of maps and strings are read with their counts. Truncations are copied to
 * the end of an allocation of their own size, so a sanitizer sees any read
 * past them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <msgpack.h>
#include <msgpack/unpack_define.h>

#include "codec/msgpack_scan.h"
#include "codec/msgpack_unpack.h"
#include "util/error.h"

#define BIG 65536 /* past every 16-bit length: the 32-bit forms */

static char filler[BIG];

static void pack_fixarray_empty(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 0);
}

static void pack_fixarray(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 15);
    for (int i = 0; i < 15; i++) {
        msgpack_pack_fix_uint16(pk, (uint16_t)i);
    }
}

static void pack_array16(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 16);
    for (int i = 0; i < 16; i++) {
        msgpack_pack_str_with_body(pk, filler, (size_t)i * 3);
    }
}

static void pack_array32(msgpack_packer *pk)
{
    msgpack_pack_array(pk, BIG);
    for (int i = 0; i < BIG; i++) {
        msgpack_pack_nil(pk);
    }
}

static void pack_fixmap_empty(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 0);
}

static void pack_fixmap(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 15);
    for (int i = 0; i < 15; i++) {
        msgpack_pack_str_with_body(pk, filler, (size_t)i);
        msgpack_pack_int(pk, -i);
    }
}

static void pack_map16(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 16);
    for (int i = 0; i < 16; i++) {
        msgpack_pack_int(pk, i);
        msgpack_pack_double(pk, i / 3.0);
    }
}

static void pack_map32(msgpack_packer *pk)
{
    msgpack_pack_map(pk, BIG);
    for (int i = 0; i < BIG; i++) {
        msgpack_pack_int(pk, i & 0x7f);
        msgpack_pack_true(pk);
    }
}

/* A record as the agent writes it, a kubernetes body with nested maps and arrays. */
static void pack_nested(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_fix_uint64(pk, 1714564800123456789ull);
    msgpack_pack_map(pk, 0);
    msgpack_pack_map(pk, 3);
    msgpack_pack_str_with_body(pk, "log", 3);
    msgpack_pack_str_with_body(pk, filler, 40);
    msgpack_pack_str_with_body(pk, "kubernetes", 10);
    msgpack_pack_map(pk, 2);
    msgpack_pack_str_with_body(pk, "labels", 6);
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "app", 3);
    msgpack_pack_str_with_body(pk, "web", 3);
    msgpack_pack_str_with_body(pk, "ports", 5);
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, 80);
    msgpack_pack_array(pk, 0);
    msgpack_pack_ext_with_body(pk, filler, 8, 1);
    msgpack_pack_str_with_body(pk, "x", 1);
    msgpack_pack_array(pk, 2);
    msgpack_pack_map(pk, 0);
    msgpack_pack_bin_with_body(pk, filler, 7);
}

/* 30 arrays deep (msgpack-c unpacks up to 32), each with a scalar beside the next. */
static void pack_deep(msgpack_packer *pk)
{
    for (int i = 0; i < 30; i++) {
        msgpack_pack_array(pk, 2);
        msgpack_pack_fix_int32(pk, i);
    }
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "k", 1);
    msgpack_pack_float(pk, 2.0f);
}

/* What an encoding is packed with: one msgpack-c call, or a function for containers. */
enum kind { INT, U8, U16, U32, U64, I8, I16, I32, I64, F32, F64, NIL, BOOL, STR, BIN, EXT, CALL };

struct encoding {
    const char *name;
    unsigned char first; /* the format byte msgpack-c must have chosen */
    enum kind kind;
    int64_t v; /* the number, or the length of a string, binary or ext */
    int8_t ext_type;
    void (*pack)(msgpack_packer *pk);
};

static const struct encoding encodings[] = {
    { "fixint", 0x00, INT, 0 },
    { "fixint 127", 0x7f, INT, 127 },
    { "negative fixint", 0xff, INT, -1 },
    { "negative fixint -32", 0xe0, INT, -32 },
    { "uint8", 0xcc, U8, 200 },
    { "uint16", 0xcd, U16, 60000 },
    { "uint32", 0xce, U32, 4000000000 },
    { "uint64", 0xcf, U64, -1 },
    { "int8", 0xd0, I8, -100 },
    { "int16", 0xd1, I16, -30000 },
    { "int32", 0xd2, I32, -2000000000 },
    { "int64", 0xd3, I64, INT64_MIN },
    { "float32", 0xca, F32, 3 },
    { "float64", 0xcb, F64, -7 },
    { "nil", 0xc0, NIL, 0 },
    { "false", 0xc2, BOOL, 0 },
    { "true", 0xc3, BOOL, 1 },
    { "fixstr empty", 0xa0, STR, 0 },
    { "fixstr", 0xbf, STR, 31 },
    { "str8", 0xd9, STR, 32 },
    { "str8 255", 0xd9, STR, 255 },
    { "str16", 0xda, STR, 256 },
    { "str16 65535", 0xda, STR, BIG - 1 },
    { "str32", 0xdb, STR, BIG },
    { "bin8 empty", 0xc4, BIN, 0 },
    { "bin8", 0xc4, BIN, 255 },
    { "bin16", 0xc5, BIN, 256 },
    { "bin32", 0xc6, BIN, BIG },
    { "fixext1", 0xd4, EXT, 1, 1 },
    { "fixext2", 0xd5, EXT, 2, -2 },
    { "fixext4", 0xd6, EXT, 4, 3 },
    { "fixext8", 0xd7, EXT, 8, 1 },
    { "fixext16", 0xd8, EXT, 16, 127 },
    { "ext8 empty", 0xc7, EXT, 0, 5 },
    { "ext8", 0xc7, EXT, 3, 5 },
    { "ext8 255", 0xc7, EXT, 255, 5 },
    { "ext16", 0xc8, EXT, 256, -128 },
    { "ext32", 0xc9, EXT, BIG, 9 },
    { "fixarray empty", 0x90, CALL, 0, 0, pack_fixarray_empty },
    { "fixarray", 0x9f, CALL, 0, 0, pack_fixarray },
    { "array16", 0xdc, CALL, 0, 0, pack_array16 },
    { "array32", 0xdd, CALL, 0, 0, pack_array32 },
    { "fixmap empty", 0x80, CALL, 0, 0, pack_fixmap_empty },
    { "fixmap", 0x8f, CALL, 0, 0, pack_fixmap },
    { "map16", 0xde, CALL, 0, 0, pack_map16 },
    { "map32", 0xdf, CALL, 0, 0, pack_map32 },
    { "nested", 0x93, CALL, 0, 0, pack_nested },
    { "deep", 0x92, CALL, 0, 0, pack_deep },
};

#define N_ENCODINGS (sizeof(encodings) / sizeof(encodings[0]))

static void pack_one(const struct encoding *e, msgpack_packer *pk)
{
    switch (e->kind) {
    case INT:
        msgpack_pack_int64(pk, e->v);
        break;
    case U8:
        msgpack_pack_fix_uint8(pk, (uint8_t)e->v);
        break;
    case U16:
        msgpack_pack_fix_uint16(pk, (uint16_t)e->v);
        break;
    case U32:
        msgpack_pack_fix_uint32(pk, (uint32_t)e->v);
        break;
    case U64:
        msgpack_pack_fix_uint64(pk, (uint64_t)e->v);
        break;
    case I8:
        msgpack_pack_fix_int8(pk, (int8_t)e->v);
        break;
    case I16:
        msgpack_pack_fix_int16(pk, (int16_t)e->v);
        break;
    case I32:
        msgpack_pack_fix_int32(pk, (int32_t)e->v);
        break;
    case I64:
        msgpack_pack_fix_int64(pk, e->v);
        break;
    case F32:
        msgpack_pack_float(pk, (float)e->v / 2);
        break;
    case F64:
        msgpack_pack_double(pk, (double)e->v / 10);
        break;
    case NIL:
        msgpack_pack_nil(pk);
        break;
    case BOOL:
        e->v ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        break;
    case STR:
        msgpack_pack_str_with_body(pk, filler, (size_t)e->v);
        break;
    case BIN:
        msgpack_pack_bin_with_body(pk, filler, (size_t)e->v);
        break;
    case EXT:
        msgpack_pack_ext_with_body(pk, filler, (size_t)e->v, e->ext_type);
        break;
    case CALL:
        e->pack(pk);
        break;
    }
}

static void pack(const struct encoding *e, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    pack_one(e, &pk);
    if ((unsigned char)sb->data[0] != e->first) {
        fail_msg("%s: msgpack-c wrote 0x%02x", e->name, (unsigned char)sb->data[0]);
    }
}

/* Appends `between` (n bytes) and then the buffer's bytes as they were. */
static void repeat(msgpack_sbuffer *sb, const char *between, size_t n)
{
    size_t len = sb->size;
    char *again = malloc(len);
    assert_non_null(again);
    memcpy(again, sb->data, len);
    msgpack_sbuffer_write(sb, between, n);
    msgpack_sbuffer_write(sb, again, len);
    free(again);
}

/* gl_msgpack_skip() over exactly n bytes at the end of an allocation of that size. */
static size_t skip_exact(const char *p, size_t n)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, p, n);
    size_t len = gl_msgpack_skip(copy, n);
    free(copy);
    return len;
}

/* Whether a and b are the same tree: msgpack_object_equal() checks types and values. */
static void assert_same_tree(const char *name, const msgpack_object *a, const msgpack_object *b)
{
    if (!msgpack_object_equal(*a, *b)) {
        fail_msg("%s: a tree other than msgpack-c's", name);
    }
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(filler); i++) {
        filler[i] = (char)('a' + i % 26);
    }
    return 0;
}

/* ---- gl_msgpack_skip ---- */

static void test_msgpack_skip_returns_each_encodings_length(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ENCODINGS; i++) {
        msgpack_sbuffer sb;
        pack(&encodings[i], &sb);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        if (msgpack_unpack_next(&up, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
            off != sb.size) {
            fail_msg("%s: msgpack-c did not unpack its own %zu bytes", encodings[i].name, sb.size);
        }
        size_t len = skip_exact(sb.data, sb.size);
        if (len != off) {
            fail_msg("%s: skip %zu, unpacked %zu", encodings[i].name, len, off);
        }
        msgpack_unpacked_destroy(&up);
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_msgpack_skip_stops_at_the_end_of_the_object(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ENCODINGS; i++) {
        msgpack_sbuffer sb;
        pack(&encodings[i], &sb);
        size_t len = sb.size;
        /* The object, a nil, the object again: each one's own length. */
        repeat(&sb, "\xc0", 1);
        if (gl_msgpack_skip(sb.data, sb.size) != len ||
            gl_msgpack_skip(sb.data + len, sb.size - len) != 1 ||
            gl_msgpack_skip(sb.data + len + 1, sb.size - len - 1) != len) {
            fail_msg("%s: skip did not stop at %zu", encodings[i].name, len);
        }
        msgpack_sbuffer_destroy(&sb);
    }
}

/*
 * Every strict prefix is truncated. Where encodings are long, the prefixes
 * near either end are also given in allocations of their own size (reads are
 * of headers, and only near those ends can a header straddle the end).
 */
static void test_msgpack_skip_rejects_every_truncation(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ENCODINGS; i++) {
        msgpack_sbuffer sb;
        pack(&encodings[i], &sb);
        for (size_t n = 0; n < sb.size; n++) {
            size_t len = gl_msgpack_skip(sb.data, n);
            if (len == 0 && (n < 300 || sb.size - n < 300 || sb.size < 4096)) {
                len = skip_exact(sb.data, n);
            }
            if (len != 0) {
                fail_msg("%s: %zu of %zu bytes skipped as %zu", encodings[i].name, n, sb.size, len);
            }
        }
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_msgpack_skip_truncations_agree_with_unpacker(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ENCODINGS; i++) {
        msgpack_sbuffer sb;
        pack(&encodings[i], &sb);
        if (sb.size > 4096) {
            msgpack_sbuffer_destroy(&sb);
            continue;
        }
        for (size_t n = 0; n < sb.size; n++) {
            msgpack_unpacked up;
            msgpack_unpacked_init(&up);
            size_t off = 0;
            assert_int_equal(msgpack_unpack_next(&up, sb.data, n, &off), MSGPACK_UNPACK_CONTINUE);
            msgpack_unpacked_destroy(&up);
        }
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_msgpack_skip_rejects_the_unused_byte(void **state)
{
    (void)state;
    assert_int_equal(skip_exact("\xc1", 1), 0);
    assert_int_equal(skip_exact("\xc1\xc0\xc0", 3), 0);
    assert_int_equal(skip_exact("\x92\xc0\xc1", 3), 0);
    assert_int_equal(skip_exact("\x81\xc1\xc0", 3), 0);
    assert_int_equal(skip_exact("\x81\xc0\xc1", 3), 0);
    assert_int_equal(gl_msgpack_skip("", 0), 0);
}

static void test_msgpack_skip_rejects_huge_counts_at_once(void **state)
{
    (void)state;
    assert_int_equal(skip_exact("\xdf\xff\xff\xff\xff\xc0\xc0\xc0", 8), 0);
    assert_int_equal(skip_exact("\xdd\xff\xff\xff\xff\xc0\xc0\xc0", 8), 0);
    assert_int_equal(skip_exact("\xdd\xff\xff\xff\xff\xdd\xff\xff\xff\xff", 10), 0);
    assert_int_equal(skip_exact("\xdb\xff\xff\xff\xff\x61\x62\x63", 8), 0);
    assert_int_equal(skip_exact("\xc6\xff\xff\xff\xff\x61\x62\x63", 8), 0);
    assert_int_equal(skip_exact("\xc9\xff\xff\xff\xff\x01\x61\x62\x63", 9), 0);
    /* Counts one over what is there, at every level. */
    assert_int_equal(skip_exact("\x93\xc0\xc0", 3), 0);
    assert_int_equal(skip_exact("\x91\x92\xc0", 3), 0);
    assert_int_equal(skip_exact("\x82\xc0\xc0\xc0", 4), 0);

    /*
     * A map32 claiming 2^32-1 pairs before 64 KiB of nils: a walk that did
     * not compare the count with the bytes left would visit every nil, on
     * each of many calls.
     */
    size_t n = BIG;
    char *p = malloc(n);
    assert_non_null(p);
    memcpy(p, "\xdf\xff\xff\xff\xff", 5);
    memset(p + 5, 0xc0, n - 5);
    clock_t start = clock();
    for (int i = 0; i < 100000; i++) {
        assert_int_equal(gl_msgpack_skip(p, n), 0);
    }
    assert_true((double)(clock() - start) / CLOCKS_PER_SEC < 2.0);
    free(p);
}

/* Nesting deeper than msgpack-c unpacks costs no stack. */
static void test_msgpack_skip_walks_any_depth(void **state)
{
    (void)state;
    size_t depth = 100000;
    char *p = malloc(depth + 1);
    assert_non_null(p);
    memset(p, 0x91, depth);
    p[depth] = (char)0xc0;
    assert_int_equal(gl_msgpack_skip(p, depth + 1), depth + 1);
    assert_int_equal(gl_msgpack_skip(p, depth), 0);
    memset(p, 0x81, depth);
    assert_int_equal(gl_msgpack_skip(p, depth + 1), 0); /* every map lacks its value */
    free(p);
}

/*
 * gl_msgpack_skip_nested() takes what msgpack_unpack_next() takes around
 * its stack's depth: non-empty arrays and maps nested 30 to 34 deep, around
 * a scalar or an empty container.
 */
static void test_msgpack_skip_nested_and_unpack_agree_with_unpacker_on_depth(void **state)
{
    (void)state;
    static const char inner[][2] = { "\xc0", "\x90", "\x80" };
    for (size_t depth = 30; depth <= 34; depth++) {
        for (size_t k = 0; k < sizeof(inner) / sizeof(inner[0]); k++) {
            for (int map = 0; map < 2; map++) {
                char p[80];
                size_t n = 0;
                for (size_t i = 0; i < depth; i++) {
                    if (map) {
                        p[n++] = (char)0x81;
                        p[n++] = (char)0xc0; /* the key */
                    } else {
                        p[n++] = (char)0x91;
                    }
                }
                p[n++] = inner[k][0];
                msgpack_unpacked up;
                size_t off = 0;
                msgpack_unpacked_init(&up);
                bool ok = msgpack_unpack_next(&up, p, n, &off) == MSGPACK_UNPACK_SUCCESS;
                assert_int_equal(gl_msgpack_skip_nested(p, n, MSGPACK_EMBED_STACK_SIZE),
                                 ok ? n : 0);
                /* gl_msgpack_unpack() takes the same depths and builds the same tree. */
                msgpack_unpacked mine;
                size_t mine_off = 0;
                msgpack_unpacked_init(&mine);
                assert_int_equal(gl_msgpack_unpack(&mine, p, n, &mine_off) == 0, ok);
                if (ok) {
                    assert_int_equal(mine_off, n);
                    assert_same_tree("deep", &up.data, &mine.data);
                }
                msgpack_unpacked_destroy(&mine);
                msgpack_unpacked_destroy(&up);
                assert_int_equal(gl_msgpack_skip_nested(p, n - 1, MSGPACK_EMBED_STACK_SIZE), 0);
            }
        }
    }
    /* Within the depth, it is gl_msgpack_skip(). */
    assert_int_equal(gl_msgpack_skip_nested("\x92\x81\xa1k\x90\xc3", 6, 3), 6);
    assert_int_equal(gl_msgpack_skip_nested("\x92\x81\xa1k\x90\xc3", 6, 2), 0);
    assert_int_equal(gl_msgpack_skip_nested("\x93\xc0\xc0", 3, 3), 0);
    assert_int_equal(gl_msgpack_skip_nested("\xdd\xff\xff\xff\xff\xc0", 6, 3), 0);
}

/* ---- gl_msgpack_unpack ---- */

/* For every encoding: the tree msgpack-c builds, and nothing from any truncation. */
static void test_msgpack_unpack_builds_what_msgpack_c_builds(void **state)
{
    (void)state;
    msgpack_unpacked mine;
    msgpack_unpacked_init(&mine);
    for (size_t i = 0; i < N_ENCODINGS; i++) {
        msgpack_sbuffer sb;
        pack(&encodings[i], &sb);
        /* The object twice, into the same unpacked: the zone is reused. */
        size_t len = sb.size;
        repeat(&sb, "", 0);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0, mine_off = 0;
        assert_int_equal(msgpack_unpack_next(&up, sb.data, len, &off), MSGPACK_UNPACK_SUCCESS);
        for (int round = 0; round < 2; round++) {
            if (gl_msgpack_unpack(&mine, sb.data, sb.size, &mine_off) != 0 ||
                mine_off != len * (size_t)(round + 1)) {
                fail_msg("%s: not unpacked whole (round %d)", encodings[i].name, round);
            }
            assert_same_tree(encodings[i].name, &up.data, &mine.data);
        }
        /* Strings point into the bytes, as msgpack-c's do. */
        if (mine.data.type == MSGPACK_OBJECT_STR && mine.data.via.str.size > 0) {
            assert_true(mine.data.via.str.ptr > sb.data + len);
            assert_true(mine.data.via.str.ptr < sb.data + sb.size);
        }
        /* Every strict prefix fails and leaves the offset where it was. */
        size_t step = len > 4096 ? 997 : 1;
        for (size_t n = 0; n < len; n += step) {
            char *copy = malloc(n ? n : 1);
            assert_non_null(copy);
            memcpy(copy, sb.data, n);
            size_t at = 0;
            if (gl_msgpack_unpack(&mine, copy, n, &at) == 0 || at != 0) {
                fail_msg("%s: a prefix of %zu bytes unpacked", encodings[i].name, n);
            }
            free(copy);
        }
        msgpack_unpacked_destroy(&up);
        msgpack_sbuffer_destroy(&sb);
    }
    msgpack_unpacked_destroy(&mine);
}

/* A signed encoding of a number >= 0 is a positive integer, as msgpack-c has it. */
static void test_msgpack_unpack_reads_signed_encodings_as_msgpack_c(void **state)
{
    (void)state;
    static const char *const bytes[] = { "\xd0\x05", "\xd1\x00\x05", "\xd2\x00\x00\x00\x05",
                                         "\xd3\x00\x00\x00\x00\x00\x00\x00\x05",
                                         "\xd0\xfb", "\xca\x3f\x80\x00\x00" };
    static const size_t lens[] = { 2, 3, 5, 9, 2, 5 };
    msgpack_unpacked mine, up;
    msgpack_unpacked_init(&mine);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t off = 0, mine_off = 0;
        msgpack_unpacked_init(&up);
        assert_int_equal(msgpack_unpack_next(&up, bytes[i], lens[i], &off),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(gl_msgpack_unpack(&mine, bytes[i], lens[i], &mine_off), 0);
        assert_int_equal(mine_off, lens[i]);
        assert_int_equal(mine.data.type, up.data.type);
        assert_same_tree("signed", &up.data, &mine.data);
        msgpack_unpacked_destroy(&up);
    }
    msgpack_unpacked_destroy(&mine);
}

/* 0xc1 and counts past the bytes fail at once, leaving the offset where it was. */
static void test_msgpack_unpack_rejects_bad_bytes(void **state)
{
    (void)state;
    msgpack_unpacked mine;
    msgpack_unpacked_init(&mine);
    static const char *const bad[] = { "\xc1", "\xdd\xff\xff\xff\xff\xc0",
                                       "\xdf\x7f\xff\xff\xff\xc0\xc0", "\x92\xc0\xc1" };
    static const size_t lens[] = { 1, 6, 7, 3 };
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t off = 0;
        assert_int_equal(gl_msgpack_unpack(&mine, bad[i], lens[i], &off), GL_EPARSE);
        assert_int_equal(off, 0);
    }
    size_t off = 2;
    assert_int_equal(gl_msgpack_unpack(&mine, "\xc0", 1, &off), GL_EPARSE);
    msgpack_unpacked_destroy(&mine);
}

/* ---- headers ---- */

static void test_msgpack_map_header_reads_count(void **state)
{
    (void)state;
    struct {
        uint32_t count;
        size_t head;
    } cases[] = { { 0, 1 }, { 15, 1 }, { 16, 3 }, { 65535, 3 }, { 65536, 5 }, { UINT32_MAX, 5 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, cases[i].count);
        assert_int_equal(sb.size, cases[i].head);
        uint32_t count = 12345;
        assert_int_equal(gl_msgpack_map_header(sb.data, sb.size, &count), cases[i].head);
        assert_int_equal(count, cases[i].count);
        for (size_t n = 0; n < sb.size; n++) {
            char *copy = malloc(n ? n : 1);
            memcpy(copy, sb.data, n);
            assert_int_equal(gl_msgpack_map_header(copy, n, &count), 0);
            free(copy);
        }
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_msgpack_map_header_rejects_other_types(void **state)
{
    (void)state;
    uint32_t count = 7;
    static const char others[][6] = { "\x90", "\xdc\x00\x10", "\xdd\x00\x01\x00\x00", "\xa1x",
                                      "\xd9\x01x", "\xc0", "\x00", "\xff", "\xc1",
                                      "\xc7\x00\x01" };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        assert_int_equal(gl_msgpack_map_header(others[i], sizeof(others[i]), &count), 0);
    }
    assert_int_equal(gl_msgpack_map_header("", 0, &count), 0);
    assert_int_equal(count, 7);
}

static void test_msgpack_str_header_reads_length(void **state)
{
    (void)state;
    struct {
        uint32_t len;
        size_t head;
    } cases[] = { { 0, 1 }, { 31, 1 }, { 32, 2 }, { 255, 2 }, { 256, 3 },
                  { 65535, 3 }, { 65536, 5 }, { UINT32_MAX, 5 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_str(&pk, cases[i].len);
        assert_int_equal(sb.size, cases[i].head);
        uint32_t len = 12345;
        assert_int_equal(gl_msgpack_str_header(sb.data, sb.size, &len), cases[i].head);
        assert_int_equal(len, cases[i].len);
        for (size_t n = 0; n < sb.size; n++) {
            char *copy = malloc(n ? n : 1);
            memcpy(copy, sb.data, n);
            assert_int_equal(gl_msgpack_str_header(copy, n, &len), 0);
            free(copy);
        }
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_msgpack_str_header_rejects_other_types(void **state)
{
    (void)state;
    uint32_t len = 7;
    static const char others[][6] = { "\xc4\x01x", "\xc5\x00\x01x", "\xc6\x00\x00\x00\x01",
                                      "\x80", "\x90", "\xc0", "\x7f", "\xe0", "\xc1",
                                      "\xd4\x01x", "\xc7\x01\x01x" };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        assert_int_equal(gl_msgpack_str_header(others[i], sizeof(others[i]), &len), 0);
    }
    assert_int_equal(gl_msgpack_str_header("", 0, &len), 0);
    assert_int_equal(len, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msgpack_skip_returns_each_encodings_length),
        cmocka_unit_test(test_msgpack_skip_stops_at_the_end_of_the_object),
        cmocka_unit_test(test_msgpack_skip_rejects_every_truncation),
        cmocka_unit_test(test_msgpack_skip_truncations_agree_with_unpacker),
        cmocka_unit_test(test_msgpack_skip_rejects_the_unused_byte),
        cmocka_unit_test(test_msgpack_skip_rejects_huge_counts_at_once),
        cmocka_unit_test(test_msgpack_skip_walks_any_depth),
        cmocka_unit_test(test_msgpack_skip_nested_and_unpack_agree_with_unpacker_on_depth),
        cmocka_unit_test(test_msgpack_unpack_builds_what_msgpack_c_builds),
        cmocka_unit_test(test_msgpack_unpack_reads_signed_encodings_as_msgpack_c),
        cmocka_unit_test(test_msgpack_unpack_rejects_bad_bytes),
        cmocka_unit_test(test_msgpack_map_header_reads_count),
        cmocka_unit_test(test_msgpack_map_header_rejects_other_types),
        cmocka_unit_test(test_msgpack_str_header_reads_length),
        cmocka_unit_test(test_msgpack_str_header_rejects_other_types),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
