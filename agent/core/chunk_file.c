/*
 * The chunk file's encoding (see chunk_file.h for the layout). The writer
 * is the filesystem buffer; the reader also sees whatever a crash, a full
 * disk or a bad sector left on disk, so it trusts nothing: the length is
 * checked against the header, a crc32 covers header, tag, shared values
 * and frame, the frame must declare and produce exactly the data length the
 * header gives (bounded by GL_CHUNK_FILE_RAW_MAX), the data must be whole
 * msgpack values (log records of the right shape and count), and every
 * shared value a map. Invariant: a chunk built from what
 * gl_chunk_file_decode() accepted holds only whole records, whose
 * references all name values the chunk holds.
 */
#include <msgpack/unpack_define.h> /* MSGPACK_EMBED_STACK_SIZE */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "codec/msgpack_scan.h"
#include "codec/shared.h"
#include "codec/zstd.h"
#include "core/chunk.h"
#include "core/chunk_file.h"
#include "util/error.h"
#include "util/mem.h"

static const char magic[4] = { 'G', 'L', 'C', 'K' };
#define VERSION 2
#define V1_HEADER 28 /* version 1: no shared values, the tag at 28 */
#define ID_LEN 8     /* a reference's payload: slot and generation */

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

/*
 * crc32 of a file given as its first part (head, at least the header) and
 * the rest (tail, maybe empty): the first 24 header bytes and everything
 * after the crc32 itself (byte 28 on).
 */
static uint32_t file_crc(const char *head, size_t head_len, const char *tail, size_t tail_len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, (const Bytef *)head, 24);
    const char *parts[2] = { head + V1_HEADER, tail };
    size_t lens[2] = { head_len - V1_HEADER, tail_len };
    for (int i = 0; i < 2; i++) {
        const char *p = parts[i];
        size_t left = lens[i];
        while (left > 0) {
            uInt n = left > (1u << 30) ? 1u << 30 : (uInt)left;
            crc = crc32(crc, (const Bytef *)p, n);
            p += n;
            left -= n;
        }
    }
    return (uint32_t)crc;
}

/*
 * Appends the header (lengths and crc32 left to seal()), tag and shared
 * values of c's file; returns where the shared values start in the file.
 */
static size_t put_head(const struct gl_chunk *c, unsigned flags, struct gl_buf *out)
{
    size_t tag_len = c->tag_len > UINT16_MAX ? UINT16_MAX : c->tag_len;
    char head[GL_CHUNK_FILE_HEADER] = { 0 };
    memcpy(head, magic, 4);
    head[4] = VERSION;
    head[5] = (char)c->type;
    head[6] = (char)flags;
    put_le32(head + 8, c->records);
    put_le32(head + 12, (uint32_t)c->data.len);
    head[20] = (char)(tag_len & 0xff);
    head[21] = (char)(tag_len >> 8);
    gl_buf_append(out, head, sizeof(head));
    gl_buf_append(out, c->tag, tag_len);
    for (uint32_t i = 0; i < c->shared.n; i++) {
        char ref[GL_SHARED_REF_SIZE];
        gl_shared_ref_bytes(c->shared.v[i], ref);
        gl_buf_append(out, ref + GL_SHARED_REF_SIZE - ID_LEN, ID_LEN);
        gl_buf_append(out, c->shared.v[i]->data, c->shared.v[i]->len);
    }
    return sizeof(head) + tag_len;
}

/*
 * Fills in the lengths and the crc32 of the file at h: head_len bytes from
 * h (header, tag, shared values from `shared` on, then whatever of the data
 * is there) followed by tail_len bytes at tail, data_len bytes of data in all.
 */
static void seal(char *h, size_t shared, size_t head_len, const char *tail, size_t tail_len,
                 size_t data_len)
{
    size_t data = head_len + tail_len - data_len;
    put_le32(h + 16, (uint32_t)data_len);
    put_le32(h + 28, (uint32_t)(data - shared));
    put_le32(h + 24, file_crc(h, head_len, tail, tail_len));
}

int gl_chunk_file_encode(struct gl_zstd_cctx *cx, const struct gl_chunk *c, int level,
                         bool content_sum, struct gl_buf *out, char *err, size_t errlen)
{
    size_t start = out->len;
    size_t shared = put_head(c, content_sum ? GL_CHUNK_FILE_CONTENT_SUM : 0, out);
    size_t frame = out->len;
    int rc =
        gl_zstd_compress(cx, c->data.data, c->data.len, level, content_sum, out, err, errlen);
    if (rc < 0) {
        out->len = start;
        return rc;
    }
    seal(out->data + start, shared, out->len - start, NULL, 0, out->len - frame);
    return 0;
}

void gl_chunk_file_encode_stored(const struct gl_chunk *c, struct gl_buf *out)
{
    size_t start = out->len;
    size_t shared = put_head(c, GL_CHUNK_FILE_STORED, out);
    seal(out->data + start, shared, out->len - start, c->data.data, c->data.len, c->data.len);
}

int gl_chunk_file_check(const char *data, size_t len, struct gl_chunk_file_info *info,
                        char *err, size_t errlen)
{
    size_t header = len >= 5 && data[4] == 1 ? V1_HEADER : GL_CHUNK_FILE_HEADER;
    if (len < header || memcmp(data, magic, 4) != 0 || (data[4] != 1 && data[4] != VERSION)) {
        snprintf(err, errlen, "not a chunk file (%zu bytes, no header)", len);
        return GL_EPARSE;
    }
    info->type = (unsigned char)data[5];
    info->stored = header != V1_HEADER && (data[6] & GL_CHUNK_FILE_STORED) != 0;
    info->records = get_le32(data + 8);
    info->raw_len = get_le32(data + 12);
    info->comp_len = get_le32(data + 16);
    info->tag_len = (unsigned char)data[20] | (size_t)(unsigned char)data[21] << 8;
    info->shared_len = header == V1_HEADER ? 0 : get_le32(data + 28);
    info->tag = data + header;
    info->shared = info->tag + info->tag_len;
    size_t want = header + info->tag_len + (size_t)info->shared_len + (size_t)info->comp_len;
    if (len != want) {
        snprintf(err, errlen, "%s: %zu bytes, the header says %zu",
                 len < want ? "truncated" : "trailing bytes", len, want);
        return GL_EPARSE;
    }
    if (file_crc(data, len, NULL, 0) != get_le32(data + 24)) {
        snprintf(err, errlen, "checksum mismatch");
        return GL_EPARSE;
    }
    if ((info->type != GL_LOGS && info->type != GL_METRICS) || info->tag_len == 0 ||
        info->raw_len > GL_CHUNK_FILE_RAW_MAX || info->shared_len > GL_CHUNK_FILE_SHARED_MAX ||
        (info->type != GL_LOGS && info->shared_len != 0)) {
        snprintf(err, errlen,
                 "bad header (type %u, tag of %zu bytes, %u bytes of data, %u of shared values)",
                 info->type, info->tag_len, info->raw_len, info->shared_len);
        return GL_EPARSE;
    }
    if (info->stored && info->comp_len != info->raw_len) {
        snprintf(err, errlen, "bad header (data stored as it is in %u bytes, %u declared)",
                 info->comp_len, info->raw_len);
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

/*
 * A file's shared values, made anew: the value that id i (ID_LEN bytes in
 * the file) named is made.v[i] now.
 */
struct relink {
    const char **ids;
    struct gl_shared_set made;
    uint32_t last; /* records come in runs of one value: the last hit first */
};

static size_t relink_value(char *p, size_t n, struct relink *r);

static void relink_close(struct relink *r)
{
    gl_shared_set_clear(&r->made);
    gl_free(r->ids);
}

/*
 * Makes the values of the file's shared section; false when one is not a
 * whole map, or holds a reference itself (a value's are plain data).
 */
static bool make_values(const struct gl_chunk_file_info *info, struct relink *r)
{
    const char *p = info->shared;
    size_t left = info->shared_len;
    while (left > 0) {
        size_t m = left > ID_LEN ? gl_msgpack_skip_nested(p + ID_LEN, left - ID_LEN,
                                                          MSGPACK_EMBED_STACK_SIZE) : 0;
        struct gl_shared *s = m > 0 ? gl_shared_new(p + ID_LEN, m) : NULL;
        if (s == NULL || relink_value(s->data, s->len, NULL) == 0) {
            gl_shared_unref(s);
            return false;
        }
        /* A new value is in no set: it goes in last, beside its id. */
        gl_shared_set_add(&r->made, s);
        gl_shared_unref(s);
        r->ids = gl_realloc(r->ids, r->made.cap * sizeof(*r->ids));
        r->ids[r->made.n - 1] = p;
        p += ID_LEN + m;
        left -= ID_LEN + m;
    }
    return true;
}

/* The value the file's id names now, or NULL. */
static struct gl_shared *value_of(struct relink *r, const char *id)
{
    for (uint32_t k = 0; k < r->made.n; k++) {
        uint32_t i = (r->last + k) % r->made.n;
        if (memcmp(r->ids[i], id, ID_LEN) == 0) {
            r->last = i;
            return r->made.v[i];
        }
    }
    return NULL;
}

/*
 * Rewrites the references in the whole value at p (n bytes, checked by
 * whole_values() or gl_shared_new()) to the values made anew. Returns its
 * length, or 0 when a reference names no value of the file (any reference,
 * when r is NULL: then nothing is written).
 */
static size_t relink_value(char *p, size_t n, struct relink *r)
{
    const unsigned char *u = (const unsigned char *)p;
    uint32_t items = 0;
    size_t head = 0, data = 0, size = 0;
    if ((u[0] & 0xf0) == 0x90 || (u[0] & 0xf0) == 0x80) {
        head = 1;
        items = (u[0] & 0x0fu) << ((u[0] & 0xf0) == 0x80);
    } else if (u[0] == 0xdc || u[0] == 0xde) {
        head = 3;
        items = gl_get_be16(u + 1) << (u[0] == 0xde);
    } else if (u[0] == 0xdd || u[0] == 0xdf) {
        head = 5;
        items = gl_get_be32(u + 1);
        if (u[0] == 0xdf) {
            items *= 2; /* whole_values() saw every pair: no overflow in a 64 MiB chunk */
        }
    } else if (u[0] >= 0xd4 && u[0] <= 0xd8) {
        data = 2;
        size = (size_t)1 << (u[0] - 0xd4);
    } else if (u[0] == 0xc7) {
        data = 3;
        size = u[1];
    } else if (u[0] == 0xc8) {
        data = 4;
        size = gl_get_be16(u + 1);
    } else if (u[0] == 0xc9) {
        data = 6;
        size = gl_get_be32(u + 1);
    }
    if (data > 0) {
        if (u[data - 1] == GL_EXT_SHARED && size == ID_LEN) {
            struct gl_shared *s = r != NULL ? value_of(r, p + data) : NULL;
            if (s == NULL) {
                return 0;
            }
            char ref[GL_SHARED_REF_SIZE];
            gl_shared_ref_bytes(s, ref);
            memcpy(p + data, ref + GL_SHARED_REF_SIZE - ID_LEN, ID_LEN);
        }
        return data + size;
    }
    if (head == 0) {
        return gl_msgpack_skip(p, n);
    }
    size_t off = head;
    for (uint32_t i = 0; i < items; i++) {
        size_t m = relink_value(p + off, n - off, r);
        if (m == 0) {
            return 0;
        }
        off += m;
    }
    return off;
}

/* Rewrites the references of every record in data (len bytes). */
static bool relink_records(char *data, size_t len, struct relink *r)
{
    size_t off = 0;
    while (off < len) {
        size_t m = relink_value(data + off, len - off, r);
        if (m == 0) {
            return false;
        }
        off += m;
    }
    return true;
}

int gl_chunk_file_decode(const char *data, size_t len, struct gl_chunk_file_info *info,
                         struct gl_buf *raw, struct gl_shared_set *shared, char *err,
                         size_t errlen)
{
    int rc = gl_chunk_file_check(data, len, info, err, errlen);
    if (rc < 0) {
        return rc;
    }
    size_t start = raw->len;
    const char *frame = info->shared + info->shared_len;
    if (info->stored) {
        gl_buf_append(raw, frame, info->raw_len);
    } else {
        rc = gl_zstd_decompress(frame, info->comp_len, info->raw_len, raw, err, errlen);
    }
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
    if (info->type != GL_LOGS) {
        return 0;
    }
    /*
     * Even without shared values every record is walked: a reference the
     * file does not explain (damage, or a file of another writer) could
     * name a live value of this process, another pod's metadata.
     */
    struct relink r = { 0 };
    if (!make_values(info, &r)) {
        snprintf(err, errlen, "a shared value is not a whole map");
        rc = GL_EPARSE;
    } else if (!relink_records(raw->data + start, info->raw_len, &r)) {
        snprintf(err, errlen, "a record refers to a shared value the file does not hold");
        rc = GL_EPARSE;
    } else {
        gl_shared_set_take(shared, &r.made);
    }
    if (rc < 0) {
        raw->len = start;
    }
    relink_close(&r);
    return rc;
}
