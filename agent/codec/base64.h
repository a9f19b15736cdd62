/*
 * Base64 (RFC 4648, with padding): for HTTP basic authentication headers.
 */
#ifndef GL_BASE64_H
#define GL_BASE64_H

#include <stddef.h>

#include "util/buf.h"

/* Appends the base64 of data to out. */
void gl_base64_encode(const char *data, size_t len, struct gl_buf *out);

#endif
