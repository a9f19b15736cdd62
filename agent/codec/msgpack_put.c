/*
 * gl_mp_put_object: an unpacked msgpack object written back as msgpack-c's
 * msgpack_pack_object() writes it (float32 stays float32, bin and ext keep
 * their forms), for filters that copy a record's values into a new one.
 */
#include <msgpack.h>

#include "codec/msgpack_put.h"

/* A bin or ext header: 8-, 16- or 32-bit length (ext: then its type byte). */
static void put_sized(struct gl_buf *b, uint32_t n, unsigned char c8, unsigned char c16,
                      unsigned char c32)
{
    char *p = gl__mp_at(b, 5);
    if (n < 256) {
        *p++ = (char)c8;
        *p++ = (char)n;
    } else {
        p = gl__mp_wide(p, n, c16, c32);
    }
    gl__mp_end(b, p);
}

static void put_ext(struct gl_buf *b, const msgpack_object_ext *e)
{
    static const struct {
        uint32_t size;
        unsigned char code;
    } fixed[] = {{1, 0xd4}, {2, 0xd5}, {4, 0xd6}, {8, 0xd7}, {16, 0xd8}};
    size_t i = 0;
    while (i < sizeof(fixed) / sizeof(fixed[0]) && fixed[i].size != e->size) {
        i++;
    }
    if (i < sizeof(fixed) / sizeof(fixed[0])) {
        gl_buf_putc(b, (char)fixed[i].code);
    } else {
        put_sized(b, e->size, 0xc7, 0xc8, 0xc9);
    }
    gl_buf_putc(b, (char)e->type);
    gl_buf_append(b, e->ptr, e->size);
}

void gl_mp_put_object(struct gl_buf *b, const struct msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        gl_mp_put_nil(b);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        gl_mp_put_bool(b, o->via.boolean);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        gl_mp_put_uint(b, o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        gl_mp_put_int(b, o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32: {
        float f = (float)o->via.f64;
        uint32_t bits;
        memcpy(&bits, &f, sizeof(bits));
        char *p = gl__mp_at(b, 5);
        *p = (char)0xca;
        gl_put_be32(p + 1, bits);
        gl__mp_end(b, p + 5);
        break;
    }
    case MSGPACK_OBJECT_FLOAT64:
        gl_mp_put_double(b, o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        gl_mp_put_str(b, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        put_sized(b, o->via.bin.size, 0xc4, 0xc5, 0xc6);
        gl_buf_append(b, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_EXT:
        put_ext(b, &o->via.ext);
        break;
    case MSGPACK_OBJECT_ARRAY:
        gl_mp_put_array(b, o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            gl_mp_put_object(b, &o->via.array.ptr[i]);
        }
        break;
    case MSGPACK_OBJECT_MAP:
        gl_mp_put_map(b, o->via.map.size);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            gl_mp_put_object(b, &o->via.map.ptr[i].key);
            gl_mp_put_object(b, &o->via.map.ptr[i].val);
        }
        break;
    }
}
