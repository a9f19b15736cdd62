/*
 * zstd for the filesystem buffer: one frame per chunk file, compressed and
 * decompressed in one call each with contexts kept between calls (a fresh
 * context costs more than compressing a small chunk); the caller owns the
 * compression contexts, so that it can compress on other threads. The library is
 * dlopen()ed on first use, so an agent without a filesystem buffer never
 * maps it. Decompression is bounded twice: the frame must declare the size
 * the caller expects, and the output buffer is exactly that size; the
 * window a frame may ask for is capped as well.
 */
#include <stdio.h>

#include "codec/zstd.h"
#include "net/dl.h"
#include "util/error.h"

/* Chunks are at most a few MiB: no frame of ours needs a window over 16 MiB. */
#define WINDOW_LOG_MAX 24

static ZSTD_DCtx *dctx;

static int load(char *err, size_t errlen)
{
    return gl_dl_zstd(err, errlen);
}

struct gl_zstd_cctx *gl_zstd_cctx_new(char *err, size_t errlen)
{
    if (load(err, errlen) < 0) {
        return NULL;
    }
    ZSTD_CCtx *cx = gl_zstd->create_cctx();
    if (cx == NULL) {
        snprintf(err, errlen, "ZSTD_createCCtx failed");
    }
    return (struct gl_zstd_cctx *)cx;
}

void gl_zstd_cctx_free(struct gl_zstd_cctx *cx)
{
    if (cx != NULL) {
        gl_zstd->free_cctx((ZSTD_CCtx *)cx);
    }
}

int gl_zstd_compress(struct gl_zstd_cctx *cx, const char *data, size_t len, int level,
                     bool checksum, struct gl_buf *out, char *err, size_t errlen)
{
    ZSTD_CCtx *cctx = (ZSTD_CCtx *)cx;
    gl_zstd->cctx_set_parameter(cctx, ZSTD_c_compressionLevel, level);
    gl_zstd->cctx_set_parameter(cctx, ZSTD_c_checksumFlag, checksum ? 1 : 0);
    gl_zstd->cctx_set_parameter(cctx, ZSTD_c_contentSizeFlag, 1);
    size_t bound = gl_zstd->compress_bound(len);
    gl_buf_reserve(out, bound);
    size_t n = gl_zstd->compress2(cctx, out->data + out->len, bound, data, len);
    if (gl_zstd->is_error(n)) {
        snprintf(err, errlen, "zstd: %s", gl_zstd->get_error_name(n));
        return GL_EIO;
    }
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
}

int gl_zstd_decompress(const char *data, size_t len, size_t expect, struct gl_buf *out,
                       char *err, size_t errlen)
{
    int rc = load(err, errlen);
    if (rc < 0) {
        return rc;
    }
    unsigned long long declared = gl_zstd->get_frame_content_size(data, len);
    if (declared != (unsigned long long)expect) {
        snprintf(err, errlen, "zstd frame declares %lld bytes, %zu expected",
                 (long long)declared, expect);
        return GL_EPARSE;
    }
    if (dctx == NULL) {
        if ((dctx = gl_zstd->create_dctx()) == NULL) {
            snprintf(err, errlen, "ZSTD_createDCtx failed");
            return GL_EIO;
        }
        gl_zstd->dctx_set_parameter(dctx, ZSTD_d_windowLogMax, WINDOW_LOG_MAX);
    }
    gl_buf_reserve(out, expect);
    size_t n = gl_zstd->decompress_dctx(dctx, out->data + out->len, expect, data, len);
    if (gl_zstd->is_error(n) || n != expect) {
        snprintf(err, errlen, "zstd: %s",
                 gl_zstd->is_error(n) ? gl_zstd->get_error_name(n) : "short content");
        return GL_EPARSE;
    }
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
}

void gl_zstd_release(void)
{
    if (dctx != NULL) {
        gl_zstd->free_dctx(dctx);
        dctx = NULL;
    }
}
