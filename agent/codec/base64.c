/*
 * Base64 encoding, three bytes to four characters, '=' padding the last
 * group.
 */
#include "codec/base64.h"

void gl_base64_encode(const char *data, size_t len, struct gl_buf *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)data;
    gl_buf_reserve(out, (len + 2) / 3 * 4);
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        v |= i + 1 < len ? (unsigned)p[i + 1] << 8 : 0;
        v |= i + 2 < len ? p[i + 2] : 0;
        gl_buf_putc(out, abc[v >> 18 & 63]);
        gl_buf_putc(out, abc[v >> 12 & 63]);
        gl_buf_putc(out, i + 1 < len ? abc[v >> 6 & 63] : '=');
        gl_buf_putc(out, i + 2 < len ? abc[v & 63] : '=');
    }
}
