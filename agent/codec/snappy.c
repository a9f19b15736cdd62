/*
 * Snappy block format (see snappy.h). The compressor works on 64 KiB
 * blocks with a table of where each 4-byte sequence was last seen, as the
 * format's reference design does: a match becomes a copy element (2-byte
 * offset, or 1-byte for short near ones), the bytes between matches
 * literals. Output is a little larger than the reference's at worst, never
 * wrong: the decoder below, python-snappy and Prometheus read it in tests.
 * Invariant: the decompressor never reads or writes past its bounds,
 * whatever the input says.
 */
#include <stdint.h>
#include <string.h>

#include "codec/snappy.h"
#include "util/error.h"

#define BLOCK (1u << 16)
#define HASH_BITS 14
#define NO_POS UINT32_MAX

static uint32_t load32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint32_t hash4(uint32_t v)
{
    return (v * 0x1e35a7bdu) >> (32 - HASH_BITS);
}

static void put_varint(struct gl_buf *out, uint64_t v)
{
    while (v >= 0x80) {
        gl_buf_putc(out, (char)(v | 0x80));
        v >>= 7;
    }
    gl_buf_putc(out, (char)v);
}

static void put_literal(struct gl_buf *out, const char *p, size_t n)
{
    if (n == 0) {
        return;
    }
    size_t len = n - 1;
    if (len < 60) {
        gl_buf_putc(out, (char)(len << 2));
    } else {
        int bytes = len < (1u << 8) ? 1 : len < (1u << 16) ? 2 : len < (1u << 24) ? 3 : 4;
        gl_buf_putc(out, (char)((59 + bytes) << 2));
        for (int i = 0; i < bytes; i++) {
            gl_buf_putc(out, (char)(len >> (8 * i)));
        }
    }
    gl_buf_append(out, p, n);
}

/* One copy element of 4..64 bytes at an offset under 64 KiB. */
static void put_copy_one(struct gl_buf *out, size_t offset, size_t len)
{
    if (len <= 11 && offset < 2048) {
        gl_buf_putc(out, (char)(1 | (len - 4) << 2 | (offset >> 8) << 5));
        gl_buf_putc(out, (char)offset);
        return;
    }
    gl_buf_putc(out, (char)(2 | (len - 1) << 2));
    gl_buf_putc(out, (char)offset);
    gl_buf_putc(out, (char)(offset >> 8));
}

static void put_copy(struct gl_buf *out, size_t offset, size_t len)
{
    while (len >= 68) {
        put_copy_one(out, offset, 64);
        len -= 64;
    }
    if (len > 64) {
        put_copy_one(out, offset, 60);
        len -= 60;
    }
    put_copy_one(out, offset, len);
}

static void compress_block(const char *b, size_t n, uint32_t *table, struct gl_buf *out)
{
    size_t lit = 0, ip = 0, misses = 32;
    memset(table, 0xff, sizeof(uint32_t) << HASH_BITS);
    while (n >= 8 && ip + 4 <= n - 4) {
        uint32_t v = load32(b + ip);
        uint32_t h = hash4(v);
        uint32_t cand = table[h];
        table[h] = (uint32_t)ip;
        if (cand == NO_POS || load32(b + cand) != v) {
            ip += misses++ >> 5; /* skip faster through data that does not compress */
            continue;
        }
        misses = 32;
        size_t m = 4;
        while (ip + m < n && b[cand + m] == b[ip + m]) {
            m++;
        }
        put_literal(out, b + lit, ip - lit);
        put_copy(out, ip - cand, m);
        ip += m;
        lit = ip;
    }
    put_literal(out, b + lit, n - lit);
}

void gl_snappy_compress(const char *data, size_t len, struct gl_buf *out)
{
    static uint32_t table[1u << HASH_BITS];
    put_varint(out, len);
    gl_buf_reserve(out, len + len / 6 + 32);
    for (size_t off = 0; off < len; off += BLOCK) {
        size_t n = len - off < BLOCK ? len - off : BLOCK;
        compress_block(data + off, n, table, out);
    }
}

/* ---- decompressing ------------------------------------------------------- */

/* Reads the little-endian n-byte value at p (n 1..4). */
static uint32_t le(const unsigned char *p, int n)
{
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

int gl_snappy_decompress(const char *data, size_t len, size_t max, struct gl_buf *out)
{
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    uint64_t want = 0;
    for (int shift = 0;; shift += 7) {
        if (p == end || shift > 28) {
            return GL_EPARSE;
        }
        want |= (uint64_t)(*p & 0x7f) << shift;
        if (!(*p++ & 0x80)) {
            break;
        }
    }
    if (want > max) {
        return GL_ELIMIT;
    }
    size_t start = out->len;
    gl_buf_reserve(out, want);
    char *o = out->data + start;
    size_t got = 0;
    while (p < end) {
        unsigned tag = *p++;
        size_t n, offset = 0;
        if ((tag & 3) == 0) {
            n = tag >> 2;
            if (n >= 60) {
                int bytes = (int)n - 59;
                if (end - p < bytes) {
                    return GL_EPARSE;
                }
                n = le(p, bytes);
                p += bytes;
            }
            n++;
            if ((size_t)(end - p) < n || want - got < n) {
                return GL_EPARSE;
            }
            memcpy(o + got, p, n);
            p += n;
            got += n;
            continue;
        }
        int bytes = (tag & 3) == 1 ? 1 : (tag & 3) == 2 ? 2 : 4;
        if (end - p < bytes) {
            return GL_EPARSE;
        }
        if ((tag & 3) == 1) {
            n = ((tag >> 2) & 7) + 4;
            offset = (size_t)(tag >> 5) << 8 | *p;
        } else {
            n = (tag >> 2) + 1;
            offset = le(p, bytes);
        }
        p += bytes;
        if (offset == 0 || offset > got || want - got < n) {
            return GL_EPARSE;
        }
        for (size_t i = 0; i < n; i++) { /* may overlap itself: byte by byte */
            o[got + i] = o[got - offset + i];
        }
        got += n;
    }
    if (got != want) {
        return GL_EPARSE;
    }
    out->len = start + got;
    out->data[out->len] = '\0';
    return 0;
}
