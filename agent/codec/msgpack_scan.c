/*
 * msgpack without unpacking. gl_msgpack_skip() walks nested containers with
 * a count of objects still to skip instead of recursion, so any depth costs
 * no stack.
 */
#include <string.h>

#include "codec/msgpack_scan.h"
#include "util/buf.h"

/*
 * One object's header at p: its length in *head, the payload bytes after it
 * in *body, the objects it contains in *children. Returns 0, -1 when bad.
 */
static int header(const unsigned char *p, size_t n, size_t *head, uint64_t *body,
                  uint64_t *children)
{
    unsigned char c = p[0];
    *head = 1;
    *body = 0;
    *children = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        return 0;
    }
    if ((c & 0xf0) == 0x80) {
        *children = 2u * (c & 0x0f);
        return 0;
    }
    if ((c & 0xf0) == 0x90) {
        *children = c & 0x0f;
        return 0;
    }
    if ((c & 0xe0) == 0xa0) {
        *body = c & 0x1f;
        return 0;
    }
    switch (c) { /* fixed-size scalars and fixext: the payload after the first byte */
    case 0xcc: case 0xd0: *body = 1; return 0;
    case 0xcd: case 0xd1: case 0xd4: *body = 2; return 0;
    case 0xd5: *body = 3; return 0;
    case 0xce: case 0xd2: case 0xca: *body = 4; return 0;
    case 0xd6: *body = 5; return 0;
    case 0xcf: case 0xd3: case 0xcb: *body = 8; return 0;
    case 0xd7: *body = 9; return 0;
    case 0xd8: *body = 17; return 0;
    default: break;
    }
    size_t lenbytes;
    switch (c) {
    case 0xc4: case 0xd9: case 0xc7: lenbytes = 1; break;  /* bin8, str8, ext8 */
    case 0xc5: case 0xda: case 0xc8: lenbytes = 2; break;  /* bin16, str16, ext16 */
    case 0xc6: case 0xdb: case 0xc9: lenbytes = 4; break;  /* bin32, str32, ext32 */
    case 0xdc: case 0xde: lenbytes = 2; break;             /* array16, map16 */
    case 0xdd: case 0xdf: lenbytes = 4; break;             /* array32, map32 */
    default: return -1;                                    /* 0xc1, never used */
    }
    if (n < 1 + lenbytes) {
        return -1;
    }
    uint64_t v = lenbytes == 1 ? p[1] : lenbytes == 2 ? gl_get_be16(p + 1) : gl_get_be32(p + 1);
    *head = 1 + lenbytes;
    if (c == 0xdc || c == 0xdd) {
        *children = v;
    } else if (c == 0xde || c == 0xdf) {
        *children = 2 * v;
    } else {
        *body = v + (c >= 0xc7 && c <= 0xc9 ? 1 : 0); /* ext: the type byte */
    }
    return 0;
}

size_t gl__msgpack_skip_any(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t off = 0;
    uint64_t pending = 1;
    while (pending > 0) {
        size_t head;
        uint64_t body, children;
        if (off >= n || header(u + off, n - off, &head, &body, &children) < 0 ||
            body > n - off - head) {
            return 0;
        }
        off += head + (size_t)body;
        pending = pending - 1 + children;
        if (pending > n - off) { /* every object takes at least a byte */
            return 0;
        }
    }
    return off;
}

static int is_container(unsigned char c)
{
    return (c >= 0x80 && c <= 0x9f) || (c >= 0xdc && c <= 0xdf);
}

size_t gl_msgpack_skip_nested(const char *p, size_t n, unsigned depth)
{
    const unsigned char *u = (const unsigned char *)p;
    uint64_t left[GL_MSGPACK_DEPTH_MAX]; /* objects still to come in each open container */
    unsigned top = 0;
    size_t off = 0;
    depth = depth < GL_MSGPACK_DEPTH_MAX ? depth : GL_MSGPACK_DEPTH_MAX;
    for (;;) {
        size_t head = 1;
        uint64_t body = 0, children = 0;
        if (off >= n) {
            return 0;
        }
        unsigned char c = u[off];
        /* Inline, the encodings records are mostly made of; header() for the others. */
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* fixints, nil, booleans */
        } else if ((c & 0xe0) == 0xa0) {
            body = c & 0x1fu;
        } else if (c == 0xd9 && n - off >= 2) {
            head = 2;
            body = u[off + 1];
        } else if (c <= 0x9f && top < depth) {
            children = c <= 0x8f ? 2u * (c & 0x0fu) : c & 0x0fu;
        } else if (header(u + off, n - off, &head, &body, &children) < 0 ||
                   (is_container(c) && top >= depth)) {
            return 0;
        }
        if (body > n - off - head) {
            return 0;
        }
        off += head + (size_t)body;
        if (children > 0) {
            if (children > n - off) { /* every object takes at least a byte */
                return 0;
            }
            left[top++] = children;
            continue;
        }
        /* An object ended: so do the containers it was the last of. */
        while (top > 0 && --left[top - 1] == 0) {
            top--;
        }
        if (top == 0) {
            return off;
        }
    }
}

size_t gl_msgpack_map_header(const char *p, size_t n, uint32_t *count)
{
    const unsigned char *u = (const unsigned char *)p;
    if (n >= 1 && (u[0] & 0xf0) == 0x80) {
        *count = u[0] & 0x0f;
        return 1;
    }
    if (n >= 3 && u[0] == 0xde) {
        *count = gl_get_be16(u + 1);
        return 3;
    }
    if (n >= 5 && u[0] == 0xdf) {
        *count = gl_get_be32(u + 1);
        return 5;
    }
    return 0;
}

size_t gl_msgpack_str_header(const char *p, size_t n, uint32_t *len)
{
    const unsigned char *u = (const unsigned char *)p;
    if (n >= 1 && (u[0] & 0xe0) == 0xa0) {
        *len = u[0] & 0x1f;
        return 1;
    }
    if (n >= 2 && u[0] == 0xd9) {
        *len = u[1];
        return 2;
    }
    if (n >= 3 && u[0] == 0xda) {
        *len = gl_get_be16(u + 1);
        return 3;
    }
    if (n >= 5 && u[0] == 0xdb) {
        *len = gl_get_be32(u + 1);
        return 5;
    }
    return 0;
}
