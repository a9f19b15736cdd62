/*
 * gzip (RFC 1952) with zlib: for HTTP bodies sent compressed (Content-
 * Encoding: gzip) and bodies received so. One place that knows zlib's
 * window-bits convention.
 */
#ifndef GL_GZIP_H
#define GL_GZIP_H

#include <stddef.h>

#include "util/buf.h"

/* Appends data compressed as one gzip member to out. Returns 0 or GL_EIO. */
int gl_gzip_compress(const char *data, size_t len, int level, struct gl_buf *out);

/*
 * Appends the decompressed gzip (or zlib) data to out, refusing to grow it
 * past max bytes (a gzip bomb): returns 0, GL_ELIMIT past max, or GL_EPARSE
 * on corrupt or truncated input.
 */
int gl_gzip_decompress(const char *data, size_t len, size_t max, struct gl_buf *out);

#endif
