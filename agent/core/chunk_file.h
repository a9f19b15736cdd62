/*
 * The chunk file: how the filesystem buffer (core/storage.h) writes one
 * chunk to disk and reads it back. Pure encoding, no I/O, so that the
 * reader can be fuzzed on bytes.
 *
 * Layout (integers little-endian):
 *   0  "GLCK"         magic
 *   4  u8  version    2 (version 1, of earlier releases, has no shared
 *                     values and no field at 28: its tag starts at 28)
 *   5  u8  type       GL_LOGS or GL_METRICS
 *   6  u8  flags      GL_CHUNK_FILE_CONTENT_SUM: the zstd frame checks its content;
 *                     GL_CHUNK_FILE_STORED: the data is as it is, not in a
 *                     zstd frame (comp_len then equals raw_len)
 *   7  u8  0
 *   8  u32 records    log records, or series
 *   12 u32 raw_len    bytes of the chunk's data
 *   16 u32 comp_len   bytes of the zstd frame (or of the stored data)
 *   20 u16 tag_len
 *   22 u16 0
 *   24 u32 crc32      of bytes 0..23 and of everything from byte 28 on
 *   28 u32 shared_len bytes of shared values
 *   32 tag, shared values, then the zstd frame of the chunk's data (or the
 *      data itself)
 * The file is exactly that long: anything shorter or longer is refused.
 *
 * Shared values (codec/shared.h) are the maps the records refer to (the
 * kubernetes map tail takes from a container log's path): each is written
 * once, as the 8 bytes the records' references carry then the map's
 * msgpack, instead of a copy in every record. A reference names a value of
 * this process only, so the reader makes each value anew and rewrites the
 * references to it; a reference to a value the file does not hold is
 * damage, and the file is refused.
 */
#ifndef GL_CHUNK_FILE_H
#define GL_CHUNK_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct gl_chunk;
struct gl_shared_set;
struct gl_zstd_cctx;

#define GL_CHUNK_FILE_HEADER 32
#define GL_CHUNK_FILE_CONTENT_SUM 0x01
#define GL_CHUNK_FILE_STORED 0x02
/* The largest chunk data a file may declare: a chunk closes past 2 MiB, plus one record. */
#define GL_CHUNK_FILE_RAW_MAX (64u << 20)
/* The most bytes of shared values a file may declare. */
#define GL_CHUNK_FILE_SHARED_MAX (16u << 20)

/* What a chunk file says of itself. The tag points into the bytes read. */
struct gl_chunk_file_info {
    unsigned type;
    uint32_t records;
    uint32_t raw_len;
    uint32_t comp_len;
    uint32_t shared_len;
    bool stored;         /* the data is not compressed */
    const char *tag;
    size_t tag_len;
    const char *shared;  /* the shared values' bytes, after the tag */
};

/*
 * Appends the file for chunk c to out: header, tag, the shared values the
 * chunk holds, data compressed with zstd at `level` with context cx (with
 * content_sum, zstd's checksum of the data too). Any thread, with a context
 * of its own, while the chunk is closed (its records and values fixed).
 * Returns 0, or the codec's error with err set.
 */
int gl_chunk_file_encode(struct gl_zstd_cctx *cx, const struct gl_chunk *c, int level,
                         bool content_sum, struct gl_buf *out, char *err, size_t errlen);

/*
 * Appends to out all of chunk c's file but its data, which the file holds
 * as it is, without compression (GL_CHUNK_FILE_STORED): the file is out's
 * new bytes then c->data, written one after the other with no copy. The
 * crc32 covers the data as for a compressed file. Any thread, as above.
 */
void gl_chunk_file_encode_stored(const struct gl_chunk *c, struct gl_buf *out);

/*
 * Reads the header of a file of len bytes and checks its length and crc32.
 * Returns 0 with info filled, or GL_EPARSE with err saying what is wrong.
 */
int gl_chunk_file_check(const char *data, size_t len, struct gl_chunk_file_info *info,
                        char *err, size_t errlen);

/*
 * Checks a whole file and appends the chunk's data to raw: exactly
 * info->raw_len bytes holding whole msgpack values, for logs exactly
 * info->records records. The file's shared values are made anew into
 * `shared` and the records' references rewritten to them. Returns 0,
 * GL_EPARSE (err says why) or GL_ENOENT when libzstd cannot be loaded
 * (for a compressed file);
 * on an error raw and shared are as they were. The loop thread (values
 * live in its table).
 */
int gl_chunk_file_decode(const char *data, size_t len, struct gl_chunk_file_info *info,
                         struct gl_buf *raw, struct gl_shared_set *shared, char *err,
                         size_t errlen);

#endif
