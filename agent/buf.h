/*
 * A growable byte buffer: the one way the agent builds text and binary
 * payloads (JSON bodies, /metrics pages, msgpack chunks). It grows by
 * doubling; gl_buf_reset() keeps the memory for the next use.
 */
#ifndef GL_BUF_H
#define GL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct gl_buf {
    char *data;
    size_t len;
    size_t cap;
};

void gl_buf_init(struct gl_buf *b);
void gl_buf_close(struct gl_buf *b);
void gl_buf_reserve(struct gl_buf *b, size_t extra);
void gl_buf_append(struct gl_buf *b, const void *p, size_t n);
void gl_buf_putc(struct gl_buf *b, char c);
void gl_buf_puts(struct gl_buf *b, const char *s);
void gl_buf_printf(struct gl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gl_buf_vprintf(struct gl_buf *b, const char *fmt, va_list ap);
void gl_buf_reset(struct gl_buf *b);
/* Returns the data, NUL-terminated, and leaves the buffer empty; the caller frees it. */
char *gl_buf_take(struct gl_buf *b);

#endif
