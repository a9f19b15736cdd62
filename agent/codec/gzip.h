/*
 * gzip (RFC 1952): for HTTP bodies sent compressed (Content-Encoding: gzip)
 * and bodies received so. Compression uses ISA-L's igzip, loaded on first use;
 * decompression uses zlib. One place that knows either library.
 */
#ifndef GL_GZIP_H
#define GL_GZIP_H

#include <stddef.h>

#include "util/buf.h"

/*
 * Loads the compressor's library (once per process). Returns 0, or
 * GL_ENOENT with a message naming the Debian package to install in err.
 * An output that compresses calls it when it starts, so a missing library
 * is a start-up error rather than failed requests.
 */
int gl_gzip_load(char *err, size_t errlen);

/*
 * Appends data compressed as one gzip member to out. Returns 0, GL_ENOENT
 * when the library cannot be loaded, or GL_EIO.
 */
int gl_gzip_compress(const char *data, size_t len, int level, struct gl_buf *out);

/* Frees the compressors kept between calls (at exit). */
void gl_gzip_release(void);

/*
 * Appends the decompressed gzip (or zlib) data to out, refusing to grow it
 * past max bytes (a gzip bomb): returns 0, GL_ELIMIT past max, or GL_EPARSE
 * on corrupt or truncated input.
 */
int gl_gzip_decompress(const char *data, size_t len, size_t max, struct gl_buf *out);

#endif
