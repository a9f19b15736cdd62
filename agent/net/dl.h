/*
 * Optional libraries, loaded on first use: libcurl (the HTTP client),
 * libmicrohttpd (the HTTP server), libcrypto (SigV4 hashing),
 * libsystemd (the journal, for the systemd input), libzstd (the
 * filesystem buffer's chunk files) and ISA-L (gzip request bodies).
 *
 * The agent does not link them: each is dlopen()ed by soname the first time
 * a feature needs it, so a pipeline that sends nothing over HTTP and serves
 * no /metrics never maps them (with their own dependencies, GnuTLS, Kerberos,
 * LDAP..., about 5 MiB of resident memory). gl_dl_curl() and its siblings
 * load the library once, from any thread, and fill its table of function
 * pointers; every later call only reports the outcome of that one attempt.
 *
 * The tables are typed from the libraries' own headers and are read-only to
 * callers: call through them (gl_curl->easy_init()) only after the loader
 * returned 0. A missing library or symbol is an error message naming the
 * Debian package to install, never a crash.
 */
#ifndef GL_DL_H
#define GL_DL_H

#include <stddef.h>

#include <curl/curl.h>
#include <isa-l/igzip_lib.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <systemd/sd-journal.h>
#include <zstd.h>

/* libcurl.so.4 (package libcurl4): what agent/net/http_client.c calls. */
struct gl_curl_api {
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_getinfo) *easy_getinfo;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_slist_append) *slist_append;
    __typeof__(curl_slist_free_all) *slist_free_all;
    __typeof__(curl_multi_init) *multi_init;
    __typeof__(curl_multi_setopt) *multi_setopt;
    __typeof__(curl_multi_add_handle) *multi_add_handle;
    __typeof__(curl_multi_remove_handle) *multi_remove_handle;
    __typeof__(curl_multi_socket_action) *multi_socket_action;
    __typeof__(curl_multi_assign) *multi_assign;
    __typeof__(curl_multi_info_read) *multi_info_read;
    __typeof__(curl_multi_strerror) *multi_strerror;
    __typeof__(curl_multi_cleanup) *multi_cleanup;
};

/* libmicrohttpd.so.12 (package libmicrohttpd12): what agent/net/http_server.c calls. */
struct gl_mhd_api {
    __typeof__(MHD_start_daemon) *start_daemon;
    __typeof__(MHD_stop_daemon) *stop_daemon;
    __typeof__(MHD_run) *run;
    __typeof__(MHD_get_timeout) *get_timeout;
    __typeof__(MHD_get_daemon_info) *get_daemon_info;
    __typeof__(MHD_get_connection_values) *get_connection_values;
    __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
    __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__(MHD_add_response_header) *add_response_header;
    __typeof__(MHD_queue_response) *queue_response;
    __typeof__(MHD_destroy_response) *destroy_response;
};

/* libcrypto.so.3 (package libssl3): what agent/aws/sigv4.c and hashmod relabelling call. */
struct gl_crypto_api {
    __typeof__(EVP_sha256) *evp_sha256;
    __typeof__(EVP_md5) *evp_md5;
    __typeof__(EVP_Digest) *evp_digest;
    __typeof__(EVP_MD_CTX_new) *evp_md_ctx_new;
    __typeof__(EVP_MD_CTX_free) *evp_md_ctx_free;
    __typeof__(EVP_DigestInit_ex) *evp_digest_init_ex;
    __typeof__(EVP_DigestUpdate) *evp_digest_update;
    __typeof__(EVP_DigestFinal_ex) *evp_digest_final_ex;
    __typeof__(HMAC) *hmac;
};

/* libsystemd.so.0 (package libsystemd0): what plugins/in_systemd calls. */
struct gl_sd_api {
    __typeof__(sd_journal_open) *open;
    __typeof__(sd_journal_open_directory) *open_directory;
    __typeof__(sd_journal_open_files) *open_files;
    __typeof__(sd_journal_close) *close;
    __typeof__(sd_journal_add_match) *add_match;
    __typeof__(sd_journal_add_disjunction) *add_disjunction;
    __typeof__(sd_journal_add_conjunction) *add_conjunction;
    __typeof__(sd_journal_seek_head) *seek_head;
    __typeof__(sd_journal_seek_tail) *seek_tail;
    __typeof__(sd_journal_seek_cursor) *seek_cursor;
    __typeof__(sd_journal_test_cursor) *test_cursor;
    __typeof__(sd_journal_next) *next;
    __typeof__(sd_journal_previous) *previous;
    __typeof__(sd_journal_get_cursor) *get_cursor;
    __typeof__(sd_journal_get_realtime_usec) *get_realtime_usec;
    __typeof__(sd_journal_get_data) *get_data;
    __typeof__(sd_journal_restart_data) *restart_data;
    __typeof__(sd_journal_enumerate_data) *enumerate_data;
    __typeof__(sd_journal_set_data_threshold) *set_data_threshold;
    __typeof__(sd_journal_get_fd) *get_fd;
    __typeof__(sd_journal_process) *process;
};

/* libzstd.so.1 (package libzstd1): what agent/codec/zstd.c calls. */
struct gl_zstd_api {
    __typeof__(ZSTD_createCCtx) *create_cctx;
    __typeof__(ZSTD_freeCCtx) *free_cctx;
    __typeof__(ZSTD_CCtx_setParameter) *cctx_set_parameter;
    __typeof__(ZSTD_compress2) *compress2;
    __typeof__(ZSTD_compressBound) *compress_bound;
    __typeof__(ZSTD_createDCtx) *create_dctx;
    __typeof__(ZSTD_freeDCtx) *free_dctx;
    __typeof__(ZSTD_DCtx_setParameter) *dctx_set_parameter;
    __typeof__(ZSTD_decompressDCtx) *decompress_dctx;
    __typeof__(ZSTD_getFrameContentSize) *get_frame_content_size;
    __typeof__(ZSTD_isError) *is_error;
    __typeof__(ZSTD_getErrorName) *get_error_name;
};

/* libisal.so.2 (package libisal2): what agent/codec/gzip.c calls to compress. */
struct gl_isal_api {
    __typeof__(isal_deflate_stateless_init) *deflate_stateless_init;
    __typeof__(isal_deflate_stateless) *deflate_stateless;
};

extern const struct gl_curl_api *const gl_curl;
extern const struct gl_mhd_api *const gl_mhd;
extern const struct gl_crypto_api *const gl_crypto;
extern const struct gl_sd_api *const gl_sd;
extern const struct gl_zstd_api *const gl_zstd;
extern const struct gl_isal_api *const gl_isal;

/*
 * Load the library and fill its table, once per process; safe from any
 * thread. Return 0, or GL_ENOENT with a message naming the library and its
 * Debian package in err: "cannot load libcurl.so.4 (Debian package
 * libcurl4): libcurl.so.4: cannot open shared object file: No such file or
 * directory".
 */
int gl_dl_curl(char *err, size_t errlen);
int gl_dl_mhd(char *err, size_t errlen);
int gl_dl_crypto(char *err, size_t errlen);
int gl_dl_sd(char *err, size_t errlen);
int gl_dl_zstd(char *err, size_t errlen);
int gl_dl_isal(char *err, size_t errlen);

#endif
