/*
 * Fuzzes the filesystem buffer's chunk file reader (agent/core/chunk_file.c):
 * arbitrary bytes are checked and decoded without reading or writing out of
 * bounds, and what is accepted is exactly the size the header declares
 * (never more: a zstd bomb costs at most that bound). Inputs whose byte 7
 * has its high bit set are first given a consistent length and crc32, so
 * that the fuzzer gets past the checksum into the shared values, the zstd
 * frame (or the data stored as it is, flag 0x02 of byte 6) and the records
 * behind it. Accepted log records must all come out
 * of the chunk iterator (the reader checks them without unpacking), every
 * reference in them naming a value the reader made; a refused file makes
 * none.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "codec/shared.h"
#include "core/chunk.h"
#include "core/chunk_file.h"
#include "util/error.h"

const struct gl_plugin *const gl_plugins[] = { NULL };

static void seal(uint8_t *f, size_t len)
{
    size_t header = f[4] == 1 ? 28 : GL_CHUNK_FILE_HEADER;
    size_t tag_len = f[20] | (size_t)f[21] << 8;
    size_t shared = header == 28 ? 0 : f[28] | (size_t)f[29] << 8 | (size_t)f[30] << 16;
    if (header + tag_len + shared > len) {
        return;
    }
    uint32_t comp = (uint32_t)(len - header - tag_len - shared);
    for (int i = 0; i < 4; i++) {
        f[16 + i] = (uint8_t)(comp >> (8 * i));
    }
    if (header != 28) {
        f[31] = 0;
    }
    uLong crc = crc32(crc32(0L, Z_NULL, 0), f, 24);
    crc = crc32(crc, f + 28, (uInt)(len - 28));
    for (int i = 0; i < 4; i++) {
        f[24 + i] = (uint8_t)(crc >> (8 * i));
    }
}

/* Whether every reference in o names a live value. */
static int refs_live(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_EXT && o->via.ext.type == GL_EXT_SHARED &&
        o->via.ext.size == 8) {
        return gl_shared_of(o) != NULL;
    }
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (!refs_live(&o->via.array.ptr[i])) {
                return 0;
            }
        }
    }
    if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (!refs_live(&o->via.map.ptr[i].key) || !refs_live(&o->via.map.ptr[i].val)) {
                return 0;
            }
        }
    }
    return 1;
}

/*
 * Whether the iterator filters and outputs use reads raw as exactly
 * `records` records, their references all live. Takes the values.
 */
static int records_iterate(const struct gl_buf *raw, uint32_t records,
                           struct gl_shared_set *shared)
{
    struct gl_chunk *c = gl_chunk_new(NULL, "fuzz", 4);
    struct gl_chunk_iter it;
    struct gl_record rec;
    uint32_t n = 0;
    int rc;
    gl_buf_append(&c->data, raw->data, raw->len);
    gl_shared_set_take(&c->shared, shared);
    gl_chunk_iter_init(&it, c);
    while ((rc = gl_chunk_next(&it, &rec)) == 0) {
        if (!refs_live(rec.meta) || !refs_live(rec.body)) {
            abort();
        }
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
    struct gl_shared_set shared = { 0 };
    char err[256];
    gl_buf_init(&raw);
    int rc = gl_chunk_file_decode((const char *)copy, size, &info, &raw, &shared, err,
                                  sizeof(err));
    if (rc == 0 && (raw.len != info.raw_len || raw.len > GL_CHUNK_FILE_RAW_MAX)) {
        abort();
    }
    if ((raw.len != 0 && raw.len != info.raw_len) || (rc < 0 && shared.n != 0)) {
        abort();
    }
    if (raw.len != 0 && info.type == GL_LOGS && !records_iterate(&raw, info.records, &shared)) {
        abort();
    }
    gl_shared_set_clear(&shared);
    if (gl_shared_count() != 0) {
        abort(); /* every value made went with its chunk */
    }
    gl_buf_close(&raw);
    free(copy);
    return 0;
}
