/*
 * Snappy's block format (the framing-less one remote-write bodies use,
 * Content-Encoding: snappy): a varint of the uncompressed length, then
 * literals and back-references of up to 64 KiB. Written here from the
 * format's description; any conforming decoder reads what it writes.
 */
#ifndef GL_SNAPPY_H
#define GL_SNAPPY_H

#include <stddef.h>

#include "util/buf.h"

/* Appends data compressed in the block format to out. */
void gl_snappy_compress(const char *data, size_t len, struct gl_buf *out);

/*
 * Appends the decompressed block to out, refusing one that claims more than
 * max bytes. Returns 0, GL_ELIMIT, or GL_EPARSE on malformed input.
 */
int gl_snappy_decompress(const char *data, size_t len, size_t max, struct gl_buf *out);

#endif
