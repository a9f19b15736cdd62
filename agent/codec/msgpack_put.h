/*
 * Writing msgpack values straight into a gl_buf: the very bytes msgpack-c's
 * packer writes (the smallest encoding of each integer, str8 from 32 bytes,
 * doubles as float64), without a callback per header and per body. The
 * record encoder and the metrics batch write every key and value through
 * here, whole unpacked objects included (gl_mp_put_object, which filters
 * use to copy a record's values). tests/unit/agent/codec/test_msgpack_put.c
 * holds the two equal byte for byte.
 */
#ifndef GL_CODEC_MSGPACK_PUT_H
#define GL_CODEC_MSGPACK_PUT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "util/buf.h"

/* Room for n more bytes at the end of b; gl__mp_end() sets the length after writing. */
static inline char *gl__mp_at(struct gl_buf *b, size_t n)
{
    gl_buf_reserve(b, n);
    return b->data + b->len;
}

static inline void gl__mp_end(struct gl_buf *b, char *end)
{
    b->len = (size_t)(end - b->data);
    b->data[b->len] = '\0';
}

static inline char *gl__mp_be16(char *p, uint16_t v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
    return p + 2;
}

/* A count or length in its 16-bit form (code c16) below 65536, else its 32-bit one. */
static inline char *gl__mp_wide(char *p, uint32_t n, unsigned char c16, unsigned char c32)
{
    if (n < 65536) {
        *p++ = (char)c16;
        return gl__mp_be16(p, (uint16_t)n);
    }
    *p++ = (char)c32;
    gl_put_be32(p, n);
    return p + 4;
}

/* A header with a count: fix (small | n), then 16- and 32-bit forms. */
static inline void gl__mp_count(struct gl_buf *b, uint32_t n, unsigned char fix, uint32_t fix_max,
                                unsigned char c16, unsigned char c32)
{
    char *p = gl__mp_at(b, 5);
    if (n < fix_max) {
        *p++ = (char)(fix | n);
    } else {
        p = gl__mp_wide(p, n, c16, c32);
    }
    gl__mp_end(b, p);
}

static inline void gl_mp_put_map(struct gl_buf *b, uint32_t n)
{
    gl__mp_count(b, n, 0x80, 16, 0xde, 0xdf);
}

static inline void gl_mp_put_array(struct gl_buf *b, uint32_t n)
{
    gl__mp_count(b, n, 0x90, 16, 0xdc, 0xdd);
}

static inline void gl_mp_put_str(struct gl_buf *b, const char *s, size_t n)
{
    char *p = gl__mp_at(b, 5 + n);
    if (n < 32) {
        *p++ = (char)(0xa0 | n);
    } else if (n < 256) {
        *p++ = (char)0xd9;
        *p++ = (char)n;
    } else {
        p = gl__mp_wide(p, (uint32_t)n, 0xda, 0xdb);
    }
    if (n > 0) {
        memcpy(p, s, n);
    }
    gl__mp_end(b, p + n);
}

static inline void gl_mp_put_uint(struct gl_buf *b, uint64_t v)
{
    char *p = gl__mp_at(b, 9);
    if (v < 128) {
        *p++ = (char)v;
    } else if (v < 256) {
        *p++ = (char)0xcc;
        *p++ = (char)v;
    } else if (v < 65536) {
        *p++ = (char)0xcd;
        p = gl__mp_be16(p, (uint16_t)v);
    } else if (v < (1ull << 32)) {
        *p++ = (char)0xce;
        gl_put_be32(p, (uint32_t)v);
        p += 4;
    } else {
        *p++ = (char)0xcf;
        gl_put_be64(p, v);
        p += 8;
    }
    gl__mp_end(b, p);
}

/* Non-negative values as msgpack-c writes them: unsigned forms. */
static inline void gl_mp_put_int(struct gl_buf *b, int64_t v)
{
    if (v >= -32) {
        if (v >= 0) {
            gl_mp_put_uint(b, (uint64_t)v);
        } else {
            gl_buf_putc(b, (char)(int8_t)v);
        }
        return;
    }
    char *p = gl__mp_at(b, 9);
    if (v >= -128) {
        *p++ = (char)0xd0;
        *p++ = (char)(int8_t)v;
    } else if (v >= -32768) {
        *p++ = (char)0xd1;
        p = gl__mp_be16(p, (uint16_t)(int16_t)v);
    } else if (v >= -2147483648ll) {
        *p++ = (char)0xd2;
        gl_put_be32(p, (uint32_t)(int32_t)v);
        p += 4;
    } else {
        *p++ = (char)0xd3;
        gl_put_be64(p, (uint64_t)v);
        p += 8;
    }
    gl__mp_end(b, p);
}

static inline void gl_mp_put_double(struct gl_buf *b, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    char *p = gl__mp_at(b, 9);
    *p = (char)0xcb;
    gl_put_be64(p + 1, bits);
    gl__mp_end(b, p + 9);
}

static inline void gl_mp_put_bool(struct gl_buf *b, bool v)
{
    gl_buf_putc(b, (char)(v ? 0xc3 : 0xc2));
}

static inline void gl_mp_put_nil(struct gl_buf *b)
{
    gl_buf_putc(b, (char)0xc0);
}

/* A whole unpacked object (maps and arrays with their members), as msgpack_pack_object(). */
struct msgpack_object;
void gl_mp_put_object(struct gl_buf *b, const struct msgpack_object *o);

#endif
