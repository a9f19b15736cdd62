/*
 * A growable byte buffer: the one way the agent builds text and binary
 * payloads (JSON bodies, /metrics pages, msgpack chunks). It grows by
 * doubling; gl_buf_reset() keeps the memory for the next use.
 */
#ifndef GL_BUF_H
#define GL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct gl_buf {
    char *data;
    size_t len;
    size_t cap;
};

void gl_buf_init(struct gl_buf *b);
void gl_buf_close(struct gl_buf *b);
/* Grows the buffer to hold need bytes (the slow path of gl_buf_reserve). */
void gl__buf_grow(struct gl_buf *b, size_t need);

/*
 * Big buffers (chunks, an output's encoding of a flush) come from a small
 * pool and go back to it: a fresh 2 MiB buffer costs 512 page faults, and
 * big blocks freed to malloc stay in its heap as fragments, so reusing them
 * keeps both time and resident memory down. take gives an empty buffer
 * with room for at least min bytes; give returns one (freed when the pool
 * is full, or when it is not big or is too big to keep). The pool holds at
 * most GL_BUF_POOL_MAX buffers of GL_BUF_POOL_MIN..GL_BUF_POOL_LARGEST
 * bytes, GL_BUF_POOL_BYTES in all; drain frees them (at exit). Loop thread
 * only. Three, not two: tail -> kubernetes -> cloudwatch_logs has an input
 * chunk, the filter's chunk and a request's encoded events in use at once,
 * and every buffer the pool could not keep came back as page faults (about
 * 12% of that path's CPU, measured); a fourth gained nothing more.
 */
#define GL_BUF_POOL_MAX 3
#define GL_BUF_POOL_MIN (1u << 20)
#define GL_BUF_POOL_LARGEST (8u << 20)
#define GL_BUF_POOL_BYTES (16u << 20)
void gl_buf_pool_take(struct gl_buf *b, size_t min);
void gl_buf_pool_give(struct gl_buf *b);
void gl_buf_pool_drain(void);

/* Appending is on every hot path (records, JSON): the common case is inline. */
static inline void gl_buf_reserve(struct gl_buf *b, size_t extra)
{
    if (b->len + extra + 1 > b->cap) {
        gl__buf_grow(b, b->len + extra + 1);
    }
}

static inline void gl_buf_append(struct gl_buf *b, const void *p, size_t n)
{
    gl_buf_reserve(b, n);
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void gl_buf_putc(struct gl_buf *b, char c)
{
    gl_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}
/* Writes v big-endian at p (msgpack's byte order), for counts patched after the fact. */
static inline void gl_put_be32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

static inline void gl_put_be64(char *p, uint64_t v)
{
    gl_put_be32(p, (uint32_t)(v >> 32));
    gl_put_be32(p + 4, (uint32_t)v);
}

/* Reads big-endian numbers at p, as msgpack writes them. */
static inline uint32_t gl_get_be16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t gl_get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t gl_get_be64(const unsigned char *p)
{
    return (uint64_t)gl_get_be32(p) << 32 | gl_get_be32(p + 4);
}

/* A msgpack_packer callback that appends to the gl_buf given as its data. */
int gl_buf_pack_write(void *buf, const char *p, size_t n);

void gl_buf_puts(struct gl_buf *b, const char *s);
void gl_buf_printf(struct gl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gl_buf_vprintf(struct gl_buf *b, const char *fmt, va_list ap);
void gl_buf_reset(struct gl_buf *b);
/* Returns the data, NUL-terminated, and leaves the buffer empty; the caller frees it. */
char *gl_buf_take(struct gl_buf *b);

#endif
