/*
 * One msgpack object into msgpack-c's tree (see msgpack_unpack.h). The
 * recursion is bounded by MSGPACK_EMBED_STACK_SIZE, as msgpack-c's stack is.
 */
#include <msgpack/unpack_define.h>
#include <string.h>

#include "codec/msgpack_unpack.h"
#include "util/buf.h"
#include "util/error.h"

struct reader {
    const unsigned char *p;
    size_t n;
    size_t off;
    msgpack_zone *zone;
};

static int value(struct reader *r, msgpack_object *o, unsigned open);

/* An integer of a signed encoding: msgpack-c makes a non-negative one positive. */
static void set_signed(msgpack_object *o, int64_t v)
{
    if (v >= 0) {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = (uint64_t)v;
    } else {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = v;
    }
}

/* A string, bin or ext payload of len bytes at the reader; ext takes its type byte first. */
static int payload(struct reader *r, msgpack_object *o, msgpack_object_type type, size_t len)
{
    if (len > r->n - r->off) {
        return GL_EPARSE;
    }
    const char *at = (const char *)r->p + r->off;
    r->off += len;
    o->type = type;
    if (type == MSGPACK_OBJECT_EXT) {
        o->via.ext.type = (int8_t)at[0];
        o->via.ext.size = (uint32_t)(len - 1);
        o->via.ext.ptr = at + 1;
    } else {
        o->via.str.size = (uint32_t)len; /* str and bin share this layout */
        o->via.str.ptr = at;
    }
    return 0;
}

/* An array or map of count elements (pairs for a map) at the reader. */
static int container(struct reader *r, msgpack_object *o, uint32_t count, bool map,
                     unsigned open)
{
    /* msgpack-c opens no container, not even an empty one, past its stack. */
    if (open >= MSGPACK_EMBED_STACK_SIZE) {
        return GL_EPARSE;
    }
    uint64_t objects = map ? 2u * (uint64_t)count : count;
    if (objects > r->n - r->off) { /* every object takes at least a byte */
        return GL_EPARSE;
    }
    size_t size = count * (map ? sizeof(msgpack_object_kv) : sizeof(msgpack_object));
    void *v = msgpack_zone_malloc(r->zone, size);
    if (v == NULL) {
        return GL_EPARSE;
    }
    if (map) {
        o->type = MSGPACK_OBJECT_MAP;
        o->via.map.size = count;
        o->via.map.ptr = v;
        for (uint32_t i = 0; i < count; i++) {
            if (value(r, &o->via.map.ptr[i].key, open + 1) < 0 ||
                value(r, &o->via.map.ptr[i].val, open + 1) < 0) {
                return GL_EPARSE;
            }
        }
    } else {
        o->type = MSGPACK_OBJECT_ARRAY;
        o->via.array.size = count;
        o->via.array.ptr = v;
        for (uint32_t i = 0; i < count; i++) {
            if (value(r, &o->via.array.ptr[i], open + 1) < 0) {
                return GL_EPARSE;
            }
        }
    }
    return 0;
}

/* The fixed-size bytes after a first byte, checked; NULL when truncated. */
static const unsigned char *take(struct reader *r, size_t n)
{
    if (n > r->n - r->off) {
        return NULL;
    }
    const unsigned char *at = r->p + r->off;
    r->off += n;
    return at;
}

/* The objects of the formats with a first byte of their own (0xc0 to 0xdf). */
static int tagged(struct reader *r, msgpack_object *o, unsigned char c, unsigned open)
{
    static const unsigned char extra[32] = { /* bytes after the first, before any payload */
        0, 0, 0, 0, 1, 2, 4, 1, 2, 4, 4, 8, 1, 2, 4, 8,      /* 0xc0-0xcf */
        1, 2, 4, 8, 1, 1, 1, 1, 1, 1, 2, 4, 2, 4, 2, 4,      /* 0xd0-0xdf */
    };
    if (c == 0xc1) {
        return GL_EPARSE;
    }
    const unsigned char *p = take(r, extra[c - 0xc0]);
    if (p == NULL) {
        return GL_EPARSE;
    }
    switch (c) {
    case 0xc0: o->type = MSGPACK_OBJECT_NIL; return 0;
    case 0xc2: case 0xc3:
        o->type = MSGPACK_OBJECT_BOOLEAN;
        o->via.boolean = c == 0xc3;
        return 0;
    case 0xc4: return payload(r, o, MSGPACK_OBJECT_BIN, p[0]);
    case 0xc5: return payload(r, o, MSGPACK_OBJECT_BIN, gl_get_be16(p));
    case 0xc6: return payload(r, o, MSGPACK_OBJECT_BIN, gl_get_be32(p));
    case 0xc7: return payload(r, o, MSGPACK_OBJECT_EXT, (size_t)p[0] + 1);
    case 0xc8: return payload(r, o, MSGPACK_OBJECT_EXT, (size_t)gl_get_be16(p) + 1);
    case 0xc9: return payload(r, o, MSGPACK_OBJECT_EXT, (size_t)gl_get_be32(p) + 1);
    case 0xca: {
        uint32_t bits = gl_get_be32(p);
        float f;
        memcpy(&f, &bits, sizeof(f));
        o->type = MSGPACK_OBJECT_FLOAT32;
        o->via.f64 = f;
        return 0;
    }
    case 0xcb: {
        uint64_t bits = gl_get_be64(p);
        o->type = MSGPACK_OBJECT_FLOAT64;
        memcpy(&o->via.f64, &bits, sizeof(bits));
        return 0;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = c == 0xcc ? p[0] : c == 0xcd ? gl_get_be16(p) :
                     c == 0xce ? gl_get_be32(p) : gl_get_be64(p);
        return 0;
    case 0xd0: set_signed(o, (int8_t)p[0]); return 0;
    case 0xd1: set_signed(o, (int16_t)gl_get_be16(p)); return 0;
    case 0xd2: set_signed(o, (int32_t)gl_get_be32(p)); return 0;
    case 0xd3: set_signed(o, (int64_t)gl_get_be64(p)); return 0;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext 1 to 16: back over the type */
        r->off--;
        return payload(r, o, MSGPACK_OBJECT_EXT, 1 + ((size_t)1 << (c - 0xd4)));
    case 0xd9: return payload(r, o, MSGPACK_OBJECT_STR, p[0]);
    case 0xda: return payload(r, o, MSGPACK_OBJECT_STR, gl_get_be16(p));
    case 0xdb: return payload(r, o, MSGPACK_OBJECT_STR, gl_get_be32(p));
    case 0xdc: return container(r, o, gl_get_be16(p), false, open);
    case 0xdd: return container(r, o, gl_get_be32(p), false, open);
    case 0xde: return container(r, o, gl_get_be16(p), true, open);
    default: return container(r, o, gl_get_be32(p), true, open); /* 0xdf */
    }
}

static int value(struct reader *r, msgpack_object *o, unsigned open)
{
    if (r->off >= r->n) {
        return GL_EPARSE;
    }
    unsigned char c = r->p[r->off++];
    if (c <= 0x7f) {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = c;
        return 0;
    }
    if (c >= 0xe0) {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = (int8_t)c;
        return 0;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        return payload(r, o, MSGPACK_OBJECT_STR, c & 0x1fu);
    }
    if (c <= 0x8f) {
        return container(r, o, c & 0x0fu, true, open);
    }
    if (c <= 0x9f) {
        return container(r, o, c & 0x0fu, false, open);
    }
    return tagged(r, o, c, open);
}

int gl_msgpack_unpack(msgpack_unpacked *up, const char *data, size_t len, size_t *off)
{
    if (up->zone == NULL) {
        up->zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
        if (up->zone == NULL) {
            return GL_EPARSE;
        }
    } else {
        msgpack_zone_clear(up->zone);
    }
    struct reader r = { (const unsigned char *)data, len, *off, up->zone };
    if (*off > len || value(&r, &up->data, 0) < 0) {
        up->data.type = MSGPACK_OBJECT_NIL;
        return GL_EPARSE;
    }
    *off = r.off;
    return 0;
}
