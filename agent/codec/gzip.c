/*
 * gzip through zlib's deflate/inflate streams, writing into a gl_buf a
 * slice at a time. Decompression stops at the caller's bound, so a small
 * body that inflates to gigabytes costs at most that bound.
 */
#include <zlib.h>

#include "codec/gzip.h"
#include "util/error.h"

#define GZIP_WINDOW (15 + 16)      /* 32 KiB window, gzip header and trailer */
#define AUTO_WINDOW (15 + 32)      /* inflate: gzip or zlib, detected */
#define SLICE (64 * 1024)

int gl_gzip_compress(const char *data, size_t len, int level, struct gl_buf *out)
{
    z_stream z = { 0 };
    if (deflateInit2(&z, level, Z_DEFLATED, GZIP_WINDOW, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return GL_EIO;
    }
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    int rc;
    do {
        gl_buf_reserve(out, deflateBound(&z, z.avail_in) + 64);
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)(out->cap - out->len - 1);
        rc = deflate(&z, Z_FINISH);
        out->len = out->cap - 1 - z.avail_out;
    } while (rc == Z_OK || rc == Z_BUF_ERROR);
    out->data[out->len] = '\0';
    deflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : GL_EIO;
}

int gl_gzip_decompress(const char *data, size_t len, size_t max, struct gl_buf *out)
{
    z_stream z = { 0 };
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
