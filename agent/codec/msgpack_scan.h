/*
 * Reading msgpack bytes without unpacking them: the length of one object, a
 * map's header. For hot paths that only need to find and replace one value
 * in a record (unpacking with msgpack-c builds every object of it).
 * Every function is bounded by n and returns 0 on malformed or truncated
 * bytes.
 */
#ifndef GL_MSGPACK_SCAN_H
#define GL_MSGPACK_SCAN_H

#include <stddef.h>
#include <stdint.h>

size_t gl__msgpack_skip_any(const char *p, size_t n);

/* The length in bytes of the object at p, or 0. Short strings and scalars are inline. */
static inline size_t gl_msgpack_skip(const char *p, size_t n)
{
    if (n > 0) {
        unsigned char c = (unsigned char)p[0];
        size_t len = 0;
        if ((c & 0xe0) == 0xa0) {
            len = 1 + (c & 0x1fu);
        } else if (c <= 0x80 || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            len = 1; /* fixints, nil, booleans, the empty map */
        } else if (c == 0xd9 && n >= 2) {
            len = 2 + (unsigned char)p[1];
        } else if (c == 0xda && n >= 3) {
            len = 3 + ((size_t)(unsigned char)p[1] << 8 | (unsigned char)p[2]);
        } else if (c == 0xcf) {
            len = 9;
        } else {
            return gl__msgpack_skip_any(p, n);
        }
        return len <= n ? len : 0;
    }
    return 0;
}

/*
 * The length of the object at p as msgpack-c's unpacker reads it, or 0:
 * whole, and no container (even an empty one) opened while `depth`
 * non-empty ones are open, as msgpack-c's stack of
 * MSGPACK_EMBED_STACK_SIZE refuses (depth at most GL_MSGPACK_DEPTH_MAX).
 * For checking bytes that msgpack_unpack_next() must read later.
 */
#define GL_MSGPACK_DEPTH_MAX 64
size_t gl_msgpack_skip_nested(const char *p, size_t n, unsigned depth);

/* The length of the map header at p, its pair count in *count; 0 when p is not a map. */
size_t gl_msgpack_map_header(const char *p, size_t n, uint32_t *count);

/* The length of the string header at p, the string's length in *len; 0 when not a string. */
size_t gl_msgpack_str_header(const char *p, size_t n, uint32_t *len);

#endif
