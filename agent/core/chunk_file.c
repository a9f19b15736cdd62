/*
 * The chunk file's encoding (see chunk_file.h for the layout). The writer
 * is the filesystem buffer; the reader also sees whatever a crash, a full
 * disk or a bad sector left on disk, so it trusts nothing: the length is
 * checked against the header, a crc32 covers header, tag and frame, the
 * frame must declare and produce exactly the data length the header gives
 * (bounded by GL_CHUNK_FILE_RAW_MAX), and the data must be whole msgpack
 * values (log records of the right shape and count). Invariant: a chunk
 * built from what gl_chunk_file_decode() accepted holds only whole records.
 */
#include <msgpack/unpack_define.h> /* MSGPACK_EMBED_STACK_SIZE */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "codec/msgpack_scan.h"
#include "codec/zstd.h"
#include "core/chunk.h"
#include "core/chunk_file.h"
#include "util/error.h"

static const char magic[4] = { 'G', 'L', 'C', 'K' };

static void put_le32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (char)(v >> (8 * i));
    }
}

static uint32_t get_le32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* crc32 of the first 24 header bytes and everything after the header. */
static uint32_t file_crc(const char *file, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, (const Bytef *)file, 24);
    const char *p = file + GL_CHUNK_FILE_HEADER;
    size_t left = len - GL_CHUNK_FILE_HEADER;
    while (left > 0) {
        uInt n = left > (1u << 30) ? 1u << 30 : (uInt)left;
        crc = crc32(crc, (const Bytef *)p, n);
        p += n;
        left -= n;
    }
    return (uint32_t)crc;
}

int gl_chunk_file_encode(struct gl_zstd_cctx *cx, const struct gl_chunk *c, int level,
                         bool content_sum, struct gl_buf *out, char *err, size_t errlen)
{
    size_t start = out->len;
    size_t tag_len = c->tag_len > UINT16_MAX ? UINT16_MAX : c->tag_len;
    char head[GL_CHUNK_FILE_HEADER] = { 0 };
    memcpy(head, magic, 4);
    head[4] = 1;
    head[5] = (char)c->type;
    head[6] = content_sum ? GL_CHUNK_FILE_CONTENT_SUM : 0;
    put_le32(head + 8, c->records);
    put_le32(head + 12, (uint32_t)c->data.len);
    head[20] = (char)(tag_len & 0xff);
    head[21] = (char)(tag_len >> 8);
    gl_buf_append(out, head, sizeof(head));
    gl_buf_append(out, c->tag, tag_len);
    size_t frame = out->len;
    int rc =
        gl_zstd_compress(cx, c->data.data, c->data.len, level, content_sum, out, err, errlen);
    if (rc < 0) {
        out->len = start;
        return rc;
    }
    char *h = out->data + start;
    put_le32(h + 16, (uint32_t)(out->len - frame));
    put_le32(h + 24, file_crc(h, out->len - start));
    return 0;
}

int gl_chunk_file_check(const char *data, size_t len, struct gl_chunk_file_info *info,
                        char *err, size_t errlen)
{
    if (len < GL_CHUNK_FILE_HEADER || memcmp(data, magic, 4) != 0 || data[4] != 1) {
        snprintf(err, errlen, "not a chunk file (%zu bytes, no header)", len);
        return GL_EPARSE;
    }
    info->type = (unsigned char)data[5];
    info->records = get_le32(data + 8);
    info->raw_len = get_le32(data + 12);
    info->comp_len = get_le32(data + 16);
    info->tag_len = (unsigned char)data[20] | (size_t)(unsigned char)data[21] << 8;
    info->tag = data + GL_CHUNK_FILE_HEADER;
    size_t want = GL_CHUNK_FILE_HEADER + info->tag_len + (size_t)info->comp_len;
    if (len != want) {
        snprintf(err, errlen, "%s: %zu bytes, the header says %zu",
                 len < want ? "truncated" : "trailing bytes", len, want);
        return GL_EPARSE;
    }
    if (file_crc(data, len) != get_le32(data + 24)) {
        snprintf(err, errlen, "checksum mismatch");
        return GL_EPARSE;
    }
    if ((info->type != GL_LOGS && info->type != GL_METRICS) || info->tag_len == 0 ||
        info->raw_len > GL_CHUNK_FILE_RAW_MAX) {
        snprintf(err, errlen, "bad header (type %u, tag of %zu bytes, %u bytes of data)",
                 info->type, info->tag_len, info->raw_len);
        return GL_EPARSE;
    }
    return 0;
}

/*
 * Whether the whole value at p (len bytes) is a log record as
 * gl_record_read() takes it: an array of 3, a positive integer (msgpack-c
 * reads a signed encoding of one as such), a map, a map.
 */
static bool is_record(const char *p, size_t len)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t off = 0;
    if (u[0] == 0x93) {
        off = 1;
    } else if (len > 3 && memcmp(p, "\xdc\x00\x03", 3) == 0) {
        off = 3;
    } else if (len > 5 && memcmp(p, "\xdd\x00\x00\x00\x03", 5) == 0) {
        off = 5;
    }
    if (off == 0 || off >= len) {
        return false;
    }
    unsigned char t = u[off];
    bool positive = t <= 0x7f || (t >= 0xcc && t <= 0xcf) ||
                    (t >= 0xd0 && t <= 0xd3 && u[off + 1] < 0x80);
    if (!positive) {
        return false;
    }
    uint32_t pairs;
    off += gl_msgpack_skip(p + off, len - off);
    if (gl_msgpack_map_header(p + off, len - off, &pairs) == 0) {
        return false;
    }
    off += gl_msgpack_skip(p + off, len - off);
    return gl_msgpack_map_header(p + off, len - off, &pairs) != 0;
}

/*
 * Whether data holds whole msgpack values, for logs `records` records of
 * the right shape: what msgpack_unpack_next() and gl_record_read() will
 * read later, checked without unpacking (which costs as much as the zstd
 * decompression before it).
 */
static bool whole_values(const char *data, size_t len, unsigned type, uint32_t records)
{
    size_t off = 0;
    uint32_t n = 0;
    while (off < len) {
        size_t m = gl_msgpack_skip_nested(data + off, len - off, MSGPACK_EMBED_STACK_SIZE);
        if (m == 0 || (type == GL_LOGS && !is_record(data + off, m))) {
            return false;
        }
        off += m;
        n++;
    }
    return type != GL_LOGS || n == records;
}

int gl_chunk_file_decode(const char *data, size_t len, struct gl_chunk_file_info *info,
                         struct gl_buf *raw, char *err, size_t errlen)
{
    int rc = gl_chunk_file_check(data, len, info, err, errlen);
    if (rc < 0) {
        return rc;
    }
    size_t start = raw->len;
    const char *frame = data + GL_CHUNK_FILE_HEADER + info->tag_len;
    rc = gl_zstd_decompress(frame, info->comp_len, info->raw_len, raw, err, errlen);
    if (rc < 0) {
        raw->len = start;
        return rc;
    }
    if (!whole_values(raw->data + start, info->raw_len, info->type, info->records)) {
        snprintf(err, errlen, "the data is not whole %s",
                 info->type == GL_LOGS ? "records" : "metrics batches");
        raw->len = start;
        return GL_EPARSE;
    }
    return 0;
}
