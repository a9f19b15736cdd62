/*
 * gzip for HTTP bodies. Compression goes through libdeflate, loaded on
 * first use: a body is always whole in memory when it is compressed, and
 * libdeflate's one-shot compressor needs about a third of the CPU of
 * zlib's deflate at level 1 for a slightly smaller output (bulk requests
 * are compressed on the hot path of the es output). Decompression stays
 * with zlib's inflate stream, written into a gl_buf a slice at a time, so
 * that it stops at the caller's bound: a small body that inflates to
 * gigabytes costs at most that bound.
 */
#include <stdatomic.h>
#include <zlib.h>

#include "codec/gzip.h"
#include "net/dl.h"
#include "util/error.h"

#define AUTO_WINDOW (15 + 32) /* inflate: gzip or zlib, detected */
#define SLICE (64 * 1024)

int gl_gzip_load(char *err, size_t errlen)
{
    return gl_dl_deflate(err, errlen);
}

/*
 * A compressor per level kept between calls: its tables are a few hundred
 * KiB, and fresh ones cost their page faults on every request. Any thread
 * may call: a call takes the kept one if it is there (atomically), else
 * makes its own, and puts it back if the place is empty.
 */
#define LEVELS 13 /* libdeflate's 0..12 */
static _Atomic(struct libdeflate_compressor *) kept[LEVELS];

static struct libdeflate_compressor *take(int level)
{
    struct libdeflate_compressor *c = atomic_exchange(&kept[level], NULL);
    return c != NULL ? c : gl_deflate->alloc_compressor(level);
}

static void give(struct libdeflate_compressor *c, int level)
{
    struct libdeflate_compressor *none = NULL;
    if (!atomic_compare_exchange_strong(&kept[level], &none, c)) {
        gl_deflate->free_compressor(c);
    }
}

void gl_gzip_release(void)
{
    for (int i = 0; i < LEVELS; i++) {
        struct libdeflate_compressor *c = atomic_exchange(&kept[i], NULL);
        if (c != NULL) {
            gl_deflate->free_compressor(c);
        }
    }
}

int gl_gzip_compress(const char *data, size_t len, int level, struct gl_buf *out)
{
    char err[256];
    if (gl_dl_deflate(err, sizeof(err)) < 0) {
        return GL_ENOENT;
    }
    if (level < 0 || level >= LEVELS) {
        return GL_EIO;
    }
    struct libdeflate_compressor *c = take(level);
    if (c == NULL) {
        return GL_EIO;
    }
    size_t bound = gl_deflate->gzip_compress_bound(c, len);
    gl_buf_reserve(out, bound);
    size_t n = gl_deflate->gzip_compress(c, data, len, out->data + out->len, bound);
    give(c, level);
    if (n == 0) {
        return GL_EIO;
    }
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
}

int gl_gzip_decompress(const char *data, size_t len, size_t max, struct gl_buf *out)
{
    z_stream z = {0};
    if (inflateInit2(&z, AUTO_WINDOW) != Z_OK) {
        return GL_EIO;
    }
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    size_t start = out->len;
    int rc = Z_OK;
    while (rc == Z_OK) {
        if (out->len - start >= max) {
            inflateEnd(&z);
            return GL_ELIMIT;
        }
        size_t room = max - (out->len - start);
        gl_buf_reserve(out, room < SLICE ? room : SLICE);
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)(out->cap - out->len - 1);
        if (z.avail_out > room) {
            z.avail_out = (uInt)room;
        }
        uInt before = z.avail_out;
        rc = inflate(&z, Z_NO_FLUSH);
        out->len += before - z.avail_out;
        if (rc == Z_BUF_ERROR && z.avail_in == 0) {
            break; /* truncated: no more input */
        }
    }
    out->data[out->len] = '\0';
    inflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : GL_EPARSE;
}
