/*
 * zstd through libzstd, loaded on first use (net/dl.h): the compression of
 * the filesystem buffer's chunk files. One compression and one
 * decompression context are kept for the process once used; loop thread
 * only. Decompression writes into a buffer of the size the caller expects,
 * never more, so a small file that claims gigabytes costs nothing.
 */
#ifndef GL_ZSTD_H
#define GL_ZSTD_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

/*
 * Appends data compressed as one zstd frame (its content size in the frame
 * header; with checksum, zstd's own checksum of the content after it) to
 * out. Returns 0, GL_ENOENT when libzstd cannot be loaded (err says why), or
 * GL_EIO.
 */
int gl_zstd_compress(const char *data, size_t len, int level, bool checksum,
                     struct gl_buf *out, char *err, size_t errlen);

/*
 * Appends the content of one zstd frame to out, which must be exactly
 * `expect` bytes (as the frame header says too). Returns 0, GL_EPARSE when
 * the frame is corrupt, truncated, carries a wrong checksum or another
 * size, or GL_ENOENT when libzstd cannot be loaded (err says why).
 */
int gl_zstd_decompress(const char *data, size_t len, size_t expect, struct gl_buf *out,
                       char *err, size_t errlen);

/* Frees the contexts (at exit, so that leak checkers see nothing). */
void gl_zstd_release(void);

#endif
