/*
 * zstd through libzstd, loaded on first use (net/dl.h): the compression of
 * the filesystem buffer's chunk files. Compression runs with a context the
 * caller owns (one per thread at a time: chunk files are compressed off the
 * loop); decompression with one context kept for the process, loop thread
 * only. Decompression writes into a buffer of the size the caller expects,
 * never more, so a small file that claims gigabytes costs nothing.
 */
#ifndef GL_ZSTD_H
#define GL_ZSTD_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct gl_zstd_cctx;

/* A compression context, or NULL when libzstd cannot be loaded (err says why). */
struct gl_zstd_cctx *gl_zstd_cctx_new(char *err, size_t errlen);
void gl_zstd_cctx_free(struct gl_zstd_cctx *cx);

/*
 * Appends data compressed as one zstd frame (its content size in the frame
 * header; with checksum, zstd's own checksum of the content after it) to
 * out. Any thread, one at a time per context. Returns 0 or GL_EIO (err says
 * why).
 */
int gl_zstd_compress(struct gl_zstd_cctx *cx, const char *data, size_t len, int level,
                     bool checksum, struct gl_buf *out, char *err, size_t errlen);

/*
 * Appends the content of one zstd frame to out, which must be exactly
 * `expect` bytes (as the frame header says too). Returns 0, GL_EPARSE when
 * the frame is corrupt, truncated, carries a wrong checksum or another
 * size, or GL_ENOENT when libzstd cannot be loaded (err says why).
 */
int gl_zstd_decompress(const char *data, size_t len, size_t expect, struct gl_buf *out,
                       char *err, size_t errlen);

/* Frees the decompression context (at exit, so that leak checkers see nothing). */
void gl_zstd_release(void);

#endif
