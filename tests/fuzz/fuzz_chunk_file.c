/*
 * Fuzzes the filesystem buffer's chunk file reader (agent/core/chunk_file.c):
 * arbitrary bytes are checked and decoded without reading or writing out of
 * bounds, and what is accepted is exactly the size the header declares
 * (never more: a zstd bomb costs at most that bound). Inputs whose byte 7
 * has its high bit set are first given a consistent length and crc32, so
 * that the fuzzer gets past the checksum into the zstd frame and the
 * records behind it. Accepted log records must all come out of the chunk
 * iterator (the reader checks them without unpacking).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/chunk.h"
#include "core/chunk_file.h"
#include "util/error.h"

const struct gl_plugin *const gl_plugins[] = { NULL };

static void seal(uint8_t *f, size_t len)
{
    size_t tag_len = f[20] | (size_t)f[21] << 8;
    if (GL_CHUNK_FILE_HEADER + tag_len > len) {
        return;
    }
    uint32_t comp = (uint32_t)(len - GL_CHUNK_FILE_HEADER - tag_len);
    for (int i = 0; i < 4; i++) {
        f[16 + i] = (uint8_t)(comp >> (8 * i));
    }
    uLong crc = crc32(crc32(0L, Z_NULL, 0), f, 24);
    crc = crc32(crc, f + GL_CHUNK_FILE_HEADER, (uInt)(len - GL_CHUNK_FILE_HEADER));
    for (int i = 0; i < 4; i++) {
        f[24 + i] = (uint8_t)(crc >> (8 * i));
    }
}

/* Whether the iterator filters and outputs use reads raw as exactly `records` records. */
static int records_iterate(const struct gl_buf *raw, uint32_t records)
{
    struct gl_chunk *c = gl_chunk_new(NULL, "fuzz", 4);
    struct gl_chunk_iter it;
    struct gl_record rec;
    uint32_t n = 0;
    int rc;
    gl_buf_append(&c->data, raw->data, raw->len);
    gl_chunk_iter_init(&it, c);
    while ((rc = gl_chunk_next(&it, &rec)) == 0) {
        n++;
    }
    gl_chunk_iter_close(&it);
    gl_chunk_free(c);
    return rc == GL_ENOENT && n == records;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    if (size >= GL_CHUNK_FILE_HEADER && (copy[7] & 0x80)) {
        seal(copy, size);
    }
    struct gl_buf raw;
    struct gl_chunk_file_info info;
    char err[256];
    gl_buf_init(&raw);
    if (gl_chunk_file_decode((const char *)copy, size, &info, &raw, err, sizeof(err)) == 0 &&
        (raw.len != info.raw_len || raw.len > GL_CHUNK_FILE_RAW_MAX)) {
        abort();
    }
    if (raw.len != 0 && raw.len != info.raw_len) {
        abort();
    }
    if (raw.len != 0 && info.type == GL_LOGS && !records_iterate(&raw, info.records)) {
        abort();
    }
    gl_buf_close(&raw);
    free(copy);
    return 0;
}
