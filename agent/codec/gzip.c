/*
 * gzip for HTTP bodies. Compression goes through ISA-L's igzip, loaded on
 * first use: a body is always whole in memory when it is compressed, and
 * igzip's one-shot compressor at level 1 runs at about 2.7 times the speed
 * of libdeflate's level 1 on bulk NDJSON, for output about 8% larger (bulk
 * requests are compressed on the hot path of the es output). Decompression
 * stays with zlib's inflate stream, written into a gl_buf a slice at a
 * time, so that it stops at the caller's bound: a small body that inflates
 * to gigabytes costs at most that bound.
 */
#include <stdatomic.h>
#include <zlib.h>

#include "codec/gzip.h"
#include "net/dl.h"
#include "util/error.h"
#include "util/mem.h"

#define AUTO_WINDOW (15 + 32) /* inflate: gzip or zlib, detected */
#define SLICE (64 * 1024)

int gl_gzip_load(char *err, size_t errlen)
{
    return gl_dl_isal(err, errlen);
}

/*
 * A compressor: igzip's stream state (about 80 KiB) and its level's work
 * buffer (about 280 KiB at level 1), kept between calls per level, as
 * fresh ones cost their page faults on every request. Any thread may call:
 * a call takes the kept one if it is there (atomically), else makes its
 * own, and puts it back if the place is empty. Made zeroed: igzip reads
 * entries of its hash table before it has written them (the output does not
 * depend on them; valgrind would say it does).
 */
#define LEVELS (ISAL_DEF_MAX_LEVEL + 1)
static const uint32_t level_buf_size[LEVELS] = {
    ISAL_DEF_LVL0_DEFAULT, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT,
};

struct compressor {
    struct isal_zstream s;
    unsigned char level_buf[];
};

static _Atomic(struct compressor *) kept[LEVELS];

static struct compressor *take(int level)
{
    struct compressor *c = atomic_exchange(&kept[level], NULL);
    return c != NULL ? c : gl_calloc(1, sizeof(*c) + level_buf_size[level]);
}

static void give(struct compressor *c, int level)
{
    struct compressor *none = NULL;
    if (!atomic_compare_exchange_strong(&kept[level], &none, c)) {
        gl_free(c);
    }
}

void gl_gzip_release(void)
{
    for (int i = 0; i < LEVELS; i++) {
        gl_free(atomic_exchange(&kept[i], NULL));
    }
}

/*
 * Room for any output: igzip falls back to stored blocks (5 bytes of
 * header per 65,535 of data) when compressing would grow the data, plus
 * the gzip header and trailer.
 */
static size_t bound(size_t len)
{
    return len + 5 * (len / 65535 + 1) + 64;
}

/* One gzip member of data into room bytes at out; its length, or 0 when it did not fit. */
static size_t deflate_once(struct compressor *c, int level, const char *data, size_t len,
                           char *out, size_t room)
{
    struct isal_zstream *s = &c->s;
    gl_isal->deflate_stateless_init(s);
    s->level = (uint32_t)level;
    s->level_buf = level_buf_size[level] > 0 ? c->level_buf : NULL;
    s->level_buf_size = level_buf_size[level];
    s->gzip_flag = IGZIP_GZIP;
    s->end_of_stream = 1;
    s->flush = NO_FLUSH;
    s->next_in = (uint8_t *)data;
    s->avail_in = (uint32_t)len;
    s->next_out = (uint8_t *)out;
    s->avail_out = room > UINT32_MAX ? UINT32_MAX : (uint32_t)room;
    if (gl_isal->deflate_stateless(s) != COMP_OK) {
        return 0;
    }
    return s->total_out;
}

int gl_gzip_compress(const char *data, size_t len, int level, struct gl_buf *out)
{
    char err[256];
    if (gl_dl_isal(err, sizeof(err)) < 0) {
        return GL_ENOENT;
    }
    /* igzip counts in 32 bits; our bodies are bounded far below. */
    if (level < 0 || level >= LEVELS || len > UINT32_MAX / 2) {
        return GL_EIO;
    }
    struct compressor *c = take(level);
    size_t room = bound(len);
    gl_buf_reserve(out, room);
    size_t n = deflate_once(c, level, data, len, out->data + out->len, room);
    if (n == 0) { /* never seen (bound() holds stored blocks); room for anything */
        room = 2 * len + 1024;
        gl_buf_reserve(out, room);
        n = deflate_once(c, level, data, len, out->data + out->len, room);
    }
    give(c, level);
    if (n == 0) {
        return GL_EIO;
    }
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
}

int gl_gzip_decompress(const char *data, size_t len, size_t max, struct gl_buf *out)
{
    z_stream z = {0};
    if (inflateInit2(&z, AUTO_WINDOW) != Z_OK) {
        return GL_EIO;
    }
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    size_t start = out->len;
    int rc = Z_OK;
    while (rc == Z_OK) {
        if (out->len - start >= max) {
            inflateEnd(&z);
            return GL_ELIMIT;
        }
        size_t room = max - (out->len - start);
        gl_buf_reserve(out, room < SLICE ? room : SLICE);
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)(out->cap - out->len - 1);
        if (z.avail_out > room) {
            z.avail_out = (uInt)room;
        }
        uInt before = z.avail_out;
        rc = inflate(&z, Z_NO_FLUSH);
        out->len += before - z.avail_out;
        if (rc == Z_BUF_ERROR && z.avail_in == 0) {
            break; /* truncated: no more input */
        }
    }
    out->data[out->len] = '\0';
    inflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : GL_EPARSE;
}
