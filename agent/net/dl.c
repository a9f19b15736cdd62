/*
 * Optional libraries, loaded on first use (see dl.h for why).
 *
 * Each library is a struct lib: its soname, the Debian package that ships
 * it, the names of the symbols the agent calls with where each goes in the
 * library's table, and the outcome of the one attempt to load it. The
 * attempt runs under pthread_once, since SigV4 may sign off the loop thread;
 * it opens the library RTLD_NOW | RTLD_LOCAL, so nothing of it leaks into
 * the global namespace and a missing symbol fails here rather than at the
 * first call.
 *
 * Invariant: a table is written only inside its pthread_once, and only in
 * full: on any failure it stays zeroed and the library is closed again.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "net/dl.h"
#include "util/error.h"

/* One symbol: its name in the library and the offset of its slot in the table. */
struct sym {
    const char *name;
    size_t offset;
};

struct lib {
    const char *soname;
    const char *package;
    const struct sym *syms;
    void *table;
    size_t table_size;
    int rc;
    char err[256];
};

static struct gl_curl_api curl_api;
static struct gl_mhd_api mhd_api;
static struct gl_crypto_api crypto_api;
static struct gl_sd_api sd_api;
static struct gl_zstd_api zstd_api;
static struct gl_isal_api isal_api;

const struct gl_curl_api *const gl_curl = &curl_api;
const struct gl_mhd_api *const gl_mhd = &mhd_api;
const struct gl_crypto_api *const gl_crypto = &crypto_api;
const struct gl_sd_api *const gl_sd = &sd_api;
const struct gl_zstd_api *const gl_zstd = &zstd_api;
const struct gl_isal_api *const gl_isal = &isal_api;

/* ---- symbol lists ---- */

#define CURL_SYM(field, name) { name, offsetof(struct gl_curl_api, field) }
static const struct sym curl_syms[] = {
    CURL_SYM(global_init, "curl_global_init"),
    CURL_SYM(easy_init, "curl_easy_init"),
    CURL_SYM(easy_setopt, "curl_easy_setopt"),
    CURL_SYM(easy_getinfo, "curl_easy_getinfo"),
    CURL_SYM(easy_strerror, "curl_easy_strerror"),
    CURL_SYM(easy_cleanup, "curl_easy_cleanup"),
    CURL_SYM(slist_append, "curl_slist_append"),
    CURL_SYM(slist_free_all, "curl_slist_free_all"),
    CURL_SYM(multi_init, "curl_multi_init"),
    CURL_SYM(multi_setopt, "curl_multi_setopt"),
    CURL_SYM(multi_add_handle, "curl_multi_add_handle"),
    CURL_SYM(multi_remove_handle, "curl_multi_remove_handle"),
    CURL_SYM(multi_socket_action, "curl_multi_socket_action"),
    CURL_SYM(multi_assign, "curl_multi_assign"),
    CURL_SYM(multi_info_read, "curl_multi_info_read"),
    CURL_SYM(multi_strerror, "curl_multi_strerror"),
    CURL_SYM(multi_cleanup, "curl_multi_cleanup"),
    { NULL, 0 },
};

#define MHD_SYM(field, name) { name, offsetof(struct gl_mhd_api, field) }
static const struct sym mhd_syms[] = {
    MHD_SYM(start_daemon, "MHD_start_daemon"),
    MHD_SYM(stop_daemon, "MHD_stop_daemon"),
    MHD_SYM(run, "MHD_run"),
    MHD_SYM(get_timeout, "MHD_get_timeout"),
    MHD_SYM(get_daemon_info, "MHD_get_daemon_info"),
    MHD_SYM(get_connection_values, "MHD_get_connection_values"),
    MHD_SYM(lookup_connection_value, "MHD_lookup_connection_value"),
    MHD_SYM(create_response_from_buffer, "MHD_create_response_from_buffer"),
    MHD_SYM(add_response_header, "MHD_add_response_header"),
    MHD_SYM(queue_response, "MHD_queue_response"),
    MHD_SYM(destroy_response, "MHD_destroy_response"),
    { NULL, 0 },
};

#define CRYPTO_SYM(field, name) { name, offsetof(struct gl_crypto_api, field) }
static const struct sym crypto_syms[] = {
    CRYPTO_SYM(evp_sha256, "EVP_sha256"),
    CRYPTO_SYM(evp_md5, "EVP_md5"),
    CRYPTO_SYM(evp_digest, "EVP_Digest"),
    CRYPTO_SYM(evp_md_ctx_new, "EVP_MD_CTX_new"),
    CRYPTO_SYM(evp_md_ctx_free, "EVP_MD_CTX_free"),
    CRYPTO_SYM(evp_digest_init_ex, "EVP_DigestInit_ex"),
    CRYPTO_SYM(evp_digest_update, "EVP_DigestUpdate"),
    CRYPTO_SYM(evp_digest_final_ex, "EVP_DigestFinal_ex"),
    CRYPTO_SYM(hmac, "HMAC"),
    { NULL, 0 },
};

#define SD_SYM(field) { "sd_journal_" #field, offsetof(struct gl_sd_api, field) }
static const struct sym sd_syms[] = {
    SD_SYM(open), SD_SYM(open_directory), SD_SYM(open_files), SD_SYM(close),
    SD_SYM(add_match), SD_SYM(add_disjunction), SD_SYM(add_conjunction),
    SD_SYM(seek_head), SD_SYM(seek_tail), SD_SYM(seek_cursor), SD_SYM(test_cursor),
    SD_SYM(next), SD_SYM(previous), SD_SYM(get_cursor), SD_SYM(get_realtime_usec),
    SD_SYM(get_data), SD_SYM(restart_data), SD_SYM(enumerate_data), SD_SYM(set_data_threshold),
    SD_SYM(get_fd), SD_SYM(process),
    { NULL, 0 },
};

#define ZSTD_SYM(field, name) { name, offsetof(struct gl_zstd_api, field) }
static const struct sym zstd_syms[] = {
    ZSTD_SYM(create_cctx, "ZSTD_createCCtx"),
    ZSTD_SYM(free_cctx, "ZSTD_freeCCtx"),
    ZSTD_SYM(cctx_set_parameter, "ZSTD_CCtx_setParameter"),
    ZSTD_SYM(compress2, "ZSTD_compress2"),
    ZSTD_SYM(compress_bound, "ZSTD_compressBound"),
    ZSTD_SYM(create_dctx, "ZSTD_createDCtx"),
    ZSTD_SYM(free_dctx, "ZSTD_freeDCtx"),
    ZSTD_SYM(dctx_set_parameter, "ZSTD_DCtx_setParameter"),
    ZSTD_SYM(decompress_dctx, "ZSTD_decompressDCtx"),
    ZSTD_SYM(get_frame_content_size, "ZSTD_getFrameContentSize"),
    ZSTD_SYM(is_error, "ZSTD_isError"),
    ZSTD_SYM(get_error_name, "ZSTD_getErrorName"),
    { NULL, 0 },
};

#define ISAL_SYM(field, name) { name, offsetof(struct gl_isal_api, field) }
static const struct sym isal_syms[] = {
    ISAL_SYM(deflate_stateless_init, "isal_deflate_stateless_init"),
    ISAL_SYM(deflate_stateless, "isal_deflate_stateless"),
    { NULL, 0 },
};

static struct lib curl_lib = { "libcurl.so.4", "libcurl4", curl_syms, &curl_api,
                               sizeof(curl_api) };
static struct lib mhd_lib = { "libmicrohttpd.so.12", "libmicrohttpd12", mhd_syms, &mhd_api,
                              sizeof(mhd_api) };
static struct lib crypto_lib = { "libcrypto.so.3", "libssl3", crypto_syms, &crypto_api,
                                 sizeof(crypto_api) };
static struct lib sd_lib = { "libsystemd.so.0", "libsystemd0", sd_syms, &sd_api,
                             sizeof(sd_api) };
static struct lib zstd_lib = { "libzstd.so.1", "libzstd1", zstd_syms, &zstd_api,
                               sizeof(zstd_api) };
static struct lib isal_lib = { "libisal.so.2", "libisal2", isal_syms, &isal_api,
                               sizeof(isal_api) };

/* ---- loading ---- */

/*
 * Records the failure dlerror() describes. The message names the library and
 * its package first: dlerror() may be about a dependency of the library.
 */
static void record_failure(struct lib *l)
{
    const char *why = dlerror();
    snprintf(l->err, sizeof(l->err), "cannot load %s (Debian package %s): %s", l->soname,
             l->package, why != NULL ? why : "unknown error");
    l->rc = GL_ENOENT;
}

/* load() builds every table in a scratch buffer sized for the largest. */
union any_api {
    struct gl_curl_api curl;
    struct gl_mhd_api mhd;
    struct gl_crypto_api crypto;
    struct gl_sd_api sd;
    struct gl_zstd_api zstd;
    struct gl_isal_api isal;
};

/*
 * Opens the library and resolves every symbol into a scratch copy of its
 * table, which becomes the table only when all were found. A function
 * pointer is copied from dlsym()'s void * bytewise, as POSIX allows. The
 * library stays open for the life of the process.
 */
static void load(struct lib *l)
{
    unsigned char table[sizeof(union any_api)];
    void *handle = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);

    if (handle == NULL) {
        record_failure(l);
        return;
    }
    memset(table, 0, sizeof(table));
    for (const struct sym *s = l->syms; s->name != NULL; s++) {
        dlerror();
        void *p = dlsym(handle, s->name);
        if (p == NULL) {
            record_failure(l);
            dlclose(handle);
            return;
        }
        memcpy(table + s->offset, &p, sizeof(p));
    }
    memcpy(l->table, table, l->table_size);
    l->rc = 0;
}

static void load_curl(void)
{
    load(&curl_lib);
}

static void load_mhd(void)
{
    load(&mhd_lib);
}

static void load_crypto(void)
{
    load(&crypto_lib);
}

static void load_sd(void)
{
    load(&sd_lib);
}

static void load_zstd(void)
{
    load(&zstd_lib);
}

static void load_isal(void)
{
    load(&isal_lib);
}

/* The outcome of the one attempt, copied out for the caller. */
static int outcome(const struct lib *l, char *err, size_t errlen)
{
    if (l->rc < 0 && errlen > 0) {
        snprintf(err, errlen, "%s", l->err);
    }
    return l->rc;
}

int gl_dl_curl(char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, load_curl);
    return outcome(&curl_lib, err, errlen);
}

int gl_dl_mhd(char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, load_mhd);
    return outcome(&mhd_lib, err, errlen);
}

int gl_dl_crypto(char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, load_crypto);
    return outcome(&crypto_lib, err, errlen);
}

int gl_dl_sd(char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, load_sd);
    return outcome(&sd_lib, err, errlen);
}

int gl_dl_zstd(char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, load_zstd);
    return outcome(&zstd_lib, err, errlen);
}

int gl_dl_isal(char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, load_isal);
    return outcome(&isal_lib, err, errlen);
}
