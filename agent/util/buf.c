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

/*
 * Doubles until need fits; a first allocation larger than the smallest is
 * exactly need, so that a buffer reserved for a known size is not rounded
 * up to the next power of two.
 */
void gl__buf_grow(struct gl_buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 256;
    if (b->cap == 0 && need > cap) {
        cap = need;
    }
    while (cap < need) {
        cap *= 2;
    }
    b->data = gl_realloc(b->data, cap);
    b->cap = cap;
    b->data[b->len] = '\0';
}

static struct gl_buf pool[GL_BUF_POOL_MAX];
static int pool_count;
static size_t pool_bytes;

void gl_buf_pool_take(struct gl_buf *b, size_t min)
{
    gl_buf_init(b);
    if (pool_count > 0) {
        /* The first that is big enough, else the biggest (grown below). */
        int pick = 0;
        for (int i = 0; i < pool_count; i++) {
            if (pool[i].cap > min) {
                pick = i;
                break;
            }
            if (pool[i].cap > pool[pick].cap) {
                pick = i;
            }
        }
        *b = pool[pick];
        pool[pick] = pool[--pool_count];
        pool_bytes -= b->cap;
        gl_buf_reset(b);
    }
    if (b->cap < min + 1) {
        /* exactly: a pooled buffer is not doubled past what is asked */
        b->data = gl_realloc(b->data, min + 1);
        b->cap = min + 1;
        b->data[0] = '\0';
    }
}

void gl_buf_pool_give(struct gl_buf *b)
{
    if (pool_count < GL_BUF_POOL_MAX && b->cap >= GL_BUF_POOL_MIN &&
        b->cap <= GL_BUF_POOL_LARGEST && pool_bytes + b->cap <= GL_BUF_POOL_BYTES) {
        pool_bytes += b->cap;
        pool[pool_count++] = *b;
        gl_buf_init(b);
        return;
    }
    gl_buf_close(b);
}

void gl_buf_pool_drain(void)
{
    while (pool_count > 0) {
        gl_buf_close(&pool[--pool_count]);
    }
    pool_bytes = 0;
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
