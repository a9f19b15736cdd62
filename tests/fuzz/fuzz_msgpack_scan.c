/*
 * Fuzzes agent/codec/msgpack_scan.c: arbitrary bytes are skipped as one msgpack
 * object, which must stay within them and, whenever msgpack-c unpacks an
 * object from the same bytes, end exactly where msgpack-c's did. msgpack-c
 * stops at 32 levels of nesting, so an object it rejects may still skip;
 * gl_msgpack_skip_nested() at that depth must take exactly what it takes.
 * Map and string headers must agree with the skip of the whole object, and
 * the bytes are also walked as a sequence of objects. gl_msgpack_unpack()
 * (msgpack_unpack.c) must take what msgpack-c takes, end where it ends and
 * build the same tree, and never read past the bytes on anything else.
 */
#include <msgpack.h>
#include <msgpack/unpack_define.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/msgpack_scan.h"
#include "codec/msgpack_unpack.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Whether msgpack-c can be given the bytes: it allocates a container's
 * elements when it reads the header, so an array32 or map32 claiming more
 * elements than there are bytes could ask for gigabytes. Any such byte
 * pattern, anywhere, rules the input out (strings included: a bound, not a
 * parse).
 */
static int unpacker_safe(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i + 5 <= size; i++) {
        if ((data[i] == 0xdd || data[i] == 0xdf) && be32(data + i + 1) > size) {
            return 0;
        }
    }
    return 1;
}

/* Whether two trees are the same, floats compared by their bits (NaN included). */
static int same(const msgpack_object *a, const msgpack_object *b)
{
    if (a->type != b->type) {
        return 0;
    }
    switch (a->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return memcmp(&a->via.f64, &b->via.f64, sizeof(double)) == 0;
    case MSGPACK_OBJECT_ARRAY:
        if (a->via.array.size != b->via.array.size) {
            return 0;
        }
        for (uint32_t i = 0; i < a->via.array.size; i++) {
            if (!same(&a->via.array.ptr[i], &b->via.array.ptr[i])) {
                return 0;
            }
        }
        return 1;
    case MSGPACK_OBJECT_MAP:
        if (a->via.map.size != b->via.map.size) {
            return 0;
        }
        for (uint32_t i = 0; i < a->via.map.size; i++) {
            if (!same(&a->via.map.ptr[i].key, &b->via.map.ptr[i].key) ||
                !same(&a->via.map.ptr[i].val, &b->via.map.ptr[i].val)) {
                return 0;
            }
        }
        return 1;
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN: /* the same pointer too (both point into the bytes) when not empty */
        return a->via.str.size == b->via.str.size &&
               (a->via.str.size == 0 || a->via.str.ptr == b->via.str.ptr);
    case MSGPACK_OBJECT_EXT:
        return a->via.ext.type == b->via.ext.type && a->via.ext.size == b->via.ext.size &&
               (a->via.ext.size == 0 || a->via.ext.ptr == b->via.ext.ptr);
    default:
        return msgpack_object_equal(*a, *b);
    }
}

static void check_unpacker(const char *p, size_t size, size_t len)
{
    msgpack_unpacked up;
    size_t off = 0;
    msgpack_unpacked_init(&up);
    int rc = msgpack_unpack_next(&up, p, size, &off);
    if (rc == MSGPACK_UNPACK_SUCCESS && len != off) {
        abort();
    }
    size_t nested = gl_msgpack_skip_nested(p, size, MSGPACK_EMBED_STACK_SIZE);
    if (nested != (rc == MSGPACK_UNPACK_SUCCESS ? off : 0)) {
        abort();
    }
    /* msgpack-c waiting for more bytes means the object is truncated. */
    if (rc == MSGPACK_UNPACK_CONTINUE && len != 0) {
        abort();
    }
    msgpack_unpacked mine;
    size_t mine_off = 0;
    msgpack_unpacked_init(&mine);
    int ok = gl_msgpack_unpack(&mine, p, size, &mine_off) == 0;
    if (ok != (rc == MSGPACK_UNPACK_SUCCESS) || (ok && (mine_off != off ||
                                                        !same(&up.data, &mine.data)))) {
        abort();
    }
    msgpack_unpacked_destroy(&mine);
    msgpack_unpacked_destroy(&up);
}

/* A map's header then its 2 * count objects, skipped one by one, end where the whole map does. */
static void check_map_header(const char *p, size_t size, size_t len)
{
    uint32_t count;
    size_t head = gl_msgpack_map_header(p, size, &count);
    if (head > size || (head > 0 && (head != 1 && head != 3 && head != 5))) {
        abort();
    }
    if (head == 0 || len == 0) {
        return;
    }
    size_t off = head;
    for (uint64_t i = 0; i < 2 * (uint64_t)count; i++) {
        size_t n = gl_msgpack_skip(p + off, len - off);
        if (n == 0) {
            abort();
        }
        off += n;
    }
    if (off != len) {
        abort();
    }
}

/* A string's header and length give its whole length, when the bytes hold it. */
static void check_str_header(const char *p, size_t size, size_t len)
{
    uint32_t slen;
    size_t head = gl_msgpack_str_header(p, size, &slen);
    if (head > size) {
        abort();
    }
    if (head == 0) {
        return;
    }
    uint64_t whole = head + (uint64_t)slen;
    if (len != (whole <= size ? whole : 0)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t len = gl_msgpack_skip(p, size);
    if (len > size) {
        abort();
    }
    /* The object alone skips the same; any byte less is truncated. */
    if (len > 0 && (gl_msgpack_skip(p, len) != len || gl_msgpack_skip(p, len - 1) != 0)) {
        abort();
    }
    if (unpacker_safe(data, size)) {
        check_unpacker(p, size, len);
    } else {
        msgpack_unpacked mine;
        size_t off = 0;
        msgpack_unpacked_init(&mine);
        if (gl_msgpack_unpack(&mine, p, size, &off) == 0 && off != len) {
            abort(); /* what unpacks is exactly one object */
        }
        msgpack_unpacked_destroy(&mine);
    }
    check_map_header(p, size, len);
    check_str_header(p, size, len);

    for (size_t off = 0, n; off < size; off += n) {
        n = gl_msgpack_skip(p + off, size - off);
        if (n == 0) {
            break;
        }
        if (n > size - off) {
            abort();
        }
    }
    return 0;
}
