/*
 * Fuzzes agent/codec/snappy.c: arbitrary bytes are decompressed (bounded at
 * 1 MiB) without reading or writing out of bounds, and compressed then
 * decompressed back to themselves.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/snappy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gl_buf out, c, back;
    gl_buf_init(&out);
    gl_buf_init(&c);
    gl_buf_init(&back);
    gl_snappy_decompress((const char *)data, size, 1 << 20, &out);
    gl_snappy_compress((const char *)data, size, &c);
    if (gl_snappy_decompress(c.data, c.len, size, &back) != 0 || back.len != size ||
        (size > 0 && memcmp(back.data, data, size) != 0)) {
        abort();
    }
    gl_buf_close(&out);
    gl_buf_close(&c);
    gl_buf_close(&back);
    return 0;
}
