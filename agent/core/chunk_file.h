/*
 * The chunk file: how the filesystem buffer (core/storage.h) writes one
 * chunk to disk and reads it back. Pure encoding, no I/O, so that the
 * reader can be fuzzed on bytes.
 *
 * Layout (integers little-endian):
 *   0  "GLCK"         magic
 *   4  u8  version    1
 *   5  u8  type       GL_LOGS or GL_METRICS
 *   6  u8  flags      GL_CHUNK_FILE_CONTENT_SUM: the zstd frame checks its content
 *   7  u8  0
 *   8  u32 records    log records, or series
 *   12 u32 raw_len    bytes of the chunk's data
 *   16 u32 comp_len   bytes of the zstd frame
 *   20 u16 tag_len
 *   22 u16 0
 *   24 u32 crc32      of bytes 0..23, the tag and the frame
 *   28 tag, then the zstd frame of the chunk's data
 * The file is exactly that long: anything shorter or longer is refused.
 */
#ifndef GL_CHUNK_FILE_H
#define GL_CHUNK_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct gl_chunk;
struct gl_zstd_cctx;

#define GL_CHUNK_FILE_HEADER 28
#define GL_CHUNK_FILE_CONTENT_SUM 0x01
/* The largest chunk data a file may declare: a chunk closes past 2 MiB, plus one record. */
#define GL_CHUNK_FILE_RAW_MAX (64u << 20)

/* What a chunk file says of itself. The tag points into the bytes read. */
struct gl_chunk_file_info {
    unsigned type;
    uint32_t records;
    uint32_t raw_len;
    uint32_t comp_len;
    const char *tag;
    size_t tag_len;
};

/*
 * Appends the file for chunk c to out: header, tag, data compressed with
 * zstd at `level` with context cx (with content_sum, zstd's checksum of the
 * data too). Any thread, with a context of its own. Returns 0, or the
 * codec's error with err set.
 */
int gl_chunk_file_encode(struct gl_zstd_cctx *cx, const struct gl_chunk *c, int level,
                         bool content_sum, struct gl_buf *out, char *err, size_t errlen);

/*
 * Reads the header of a file of len bytes and checks its length and crc32.
 * Returns 0 with info filled, or GL_EPARSE with err saying what is wrong.
 */
int gl_chunk_file_check(const char *data, size_t len, struct gl_chunk_file_info *info,
                        char *err, size_t errlen);

/*
 * Checks a whole file and appends the chunk's data to raw: exactly
 * info->raw_len bytes holding whole msgpack values, for logs exactly
 * info->records records. Returns 0, GL_EPARSE (err says why) or GL_ENOENT
 * when libzstd cannot be loaded.
 */
int gl_chunk_file_decode(const char *data, size_t len, struct gl_chunk_file_info *info,
                         struct gl_buf *raw, char *err, size_t errlen);

#endif
