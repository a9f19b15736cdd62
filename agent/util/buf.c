/*
 * Growable byte buffer. The data is always NUL-terminated past len when cap
 * is non-zero, so text built here can be handed to printf-style consumers.
 */
#include <stdio.h>
#include <string.h>

#include "util/buf.h"
#include "util/mem.h"

void gl_buf_init(struct gl_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void gl_buf_close(struct gl_buf *b)
{
    gl_free(b->data);
    gl_buf_init(b);
}

void gl__buf_grow(struct gl_buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    b->data = gl_realloc(b->data, cap);
    b->cap = cap;
    b->data[b->len] = '\0';
}

int gl_buf_pack_write(void *buf, const char *p, size_t n)
{
    gl_buf_append(buf, p, n);
    return 0;
}

void gl_buf_puts(struct gl_buf *b, const char *s)
{
    gl_buf_append(b, s, strlen(s));
}

void gl_buf_vprintf(struct gl_buf *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    gl_buf_reserve(b, 64);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n >= 0 && (size_t)n >= b->cap - b->len) {
        gl_buf_reserve(b, (size_t)n);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, again);
    }
    va_end(again);
    if (n > 0) {
        b->len += (size_t)n;
    }
}

void gl_buf_printf(struct gl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gl_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void gl_buf_reset(struct gl_buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

char *gl_buf_take(struct gl_buf *b)
{
    char *p = b->data ? b->data : gl_strdup("");
    gl_buf_init(b);
    return p;
}
