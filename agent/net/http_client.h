/*
 * The one HTTP client: every output and API call (CloudWatch, STS, IMDS,
 * Elasticsearch, the Kubernetes API, remote-write) goes through here.
 *
 * libcurl's multi interface is driven by the agent's libuv loop (socket and
 * timer callbacks), so requests never block the loop. One multi handle per
 * process means one connection pool: keep-alive connections are reused across
 * requests and plugins. TLS verification is on unless a plugin's tls.verify is
 * off. HTTP_PROXY, HTTPS_PROXY and NO_PROXY are honoured (libcurl reads them).
 * Response bodies are bounded: a larger one fails with gl_http_err_toobig;
 * a request can instead stream its body to a callback as it arrives
 * (gl_http_on_data), for long responses such as a Kubernetes watch.
 */
#ifndef GL_HTTP_CLIENT_H
#define GL_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum gl_http_method { GL_GET, GL_POST, GL_PUT, GL_DELETE, GL_HEAD };

/*
 * Transport errors are static strings compared by address and printed as is.
 * They are NULL-or-one-of-these in a response; an HTTP status of 4xx/5xx is
 * not a transport error (err is NULL, status says it).
 */
extern const char gl_http_err_timeout[];  /* connect or total timeout */
extern const char gl_http_err_connect[];  /* refused, unreachable, DNS */
extern const char gl_http_err_tls[];      /* handshake or verification failed */
extern const char gl_http_err_toobig[];   /* response body over response_max */
extern const char gl_http_err_closed[];   /* connection closed mid-exchange */
extern const char gl_http_err_canceled[]; /* client closed while in flight */
extern const char gl_http_err_other[];    /* anything else libcurl reports */

/*
 * Per-plugin client settings, embedded in the plugin's state and filled from
 * its option table (GL_HTTP_OPTIONS below), then gl_http_client_init().
 */
struct gl_http_client {
    bool tls_verify;
    char *tls_ca_file;
    char *tls_crt_file;
    char *tls_key_file;
    uint64_t connect_timeout_ms;
    uint64_t timeout_ms;
    size_t response_max;
    /* private */
    unsigned inflight;
    struct gl_http_request *requests; /* in flight, for cancel on close */
};

/* Option table entries for the client settings of a plugin whose state type is T, field F. */
#define GL_HTTP_OPTIONS(T, F)                                                                 \
    { .name = "tls.verify", .type = GL_OPT_BOOL, .def = "on",                                 \
      .offset = offsetof(T, F.tls_verify), .help = "Verify the server's TLS certificate." },  \
    { .name = "tls.ca_file", .type = GL_OPT_STR, .offset = offsetof(T, F.tls_ca_file),        \
      .help = "CA bundle to verify the server with instead of the system's." },              \
    { .name = "tls.crt_file", .type = GL_OPT_STR, .offset = offsetof(T, F.tls_crt_file),      \
      .help = "Client certificate (PEM) for mutual TLS." },                                   \
    { .name = "tls.key_file", .type = GL_OPT_STR, .offset = offsetof(T, F.tls_key_file),      \
      .help = "Private key (PEM) of the client certificate." },                               \
    { .name = "net.connect_timeout", .type = GL_OPT_DURATION, .def = "10s",                   \
      .offset = offsetof(T, F.connect_timeout_ms), .help = "Time allowed to connect." },      \
    { .name = "net.timeout", .type = GL_OPT_DURATION, .def = "30s",                           \
      .offset = offsetof(T, F.timeout_ms), .help = "Time allowed for a whole request." },     \
    { .name = "net.response_max", .type = GL_OPT_SIZE, .def = "4MiB",                         \
      .offset = offsetof(T, F.response_max),                                                  \
      .help = "Largest response body accepted; larger ones fail the request." }

struct gl_http_request;

struct gl_http_response {
    long status;        /* 0 when err is set */
    const char *err;    /* NULL or one of gl_http_err_* */
    const char *detail; /* libcurl's message for err, for the log line; may be NULL */
    const char *body;   /* NUL-terminated, borrowed until the callback returns */
    size_t body_len;
    uint64_t elapsed_ns;
    const struct gl_http_request *req; /* for gl_http_response_header() */
};

typedef void (*gl_http_done_cb)(void *data, const struct gl_http_response *resp);

/*
 * Starts and stops the process-wide multi handle on the loop. Init returns 0,
 * GL_ESTATE when already started, GL_EIO when libcurl cannot start. Shutdown
 * cancels every request left (callbacks run before it returns) and closes its
 * handles; the loop must run once more before uv_loop_close() or a new init.
 */
int gl_http_global_init(uv_loop_t *loop);
void gl_http_global_shutdown(void);

/*
 * Prepares a client whose settings were filled, loading and starting libcurl
 * with the first one. Returns 0, or GL_EIO when libcurl cannot be loaded
 * (logged once, with the package to install) or started. Zero timeouts and
 * response_max take the option table's defaults (10s, 30s, 4MiB); tls_verify
 * is taken as is, so a client filled by hand must set it.
 */
int gl_http_client_init(struct gl_http_client *c);
/*
 * Cancels the client's requests synchronously (each callback runs with
 * gl_http_err_canceled before this returns) and frees the tls_* strings.
 */
void gl_http_client_close(struct gl_http_client *c);

/*
 * Creates a request. The URL is copied. Headers are added with
 * gl_http_header(); a body is handed over with gl_http_body_take() (the
 * request frees it), lent with gl_http_body_ref() (must outlive the
 * request) or produced as it goes out (gl_http_body_stream()). gl_http_send() starts it; the callback runs exactly once, later,
 * on the loop, and the request is freed after it returns. A callback may send
 * new requests. Only a client whose gl_http_client_init() returned 0 makes
 * requests.
 */
struct gl_http_request *gl_http_new(struct gl_http_client *c, enum gl_http_method m,
                                    const char *url);
void gl_http_header(struct gl_http_request *r, const char *name, const char *value);
void gl_http_body_take(struct gl_http_request *r, char *body, size_t len);
void gl_http_body_ref(struct gl_http_request *r, const char *body, size_t len);
void gl_http_send(struct gl_http_request *r, gl_http_done_cb cb, void *data);

/*
 * A body of len bytes produced as it is sent, never held whole: read writes
 * up to cap bytes of it, from offset, into buf and returns how many (more
 * than 0 while offset < len). Offsets normally follow on; after a failed
 * send on a reused connection libcurl starts over from 0, so read must be
 * able to go back. The data read uses must stay valid until the callback has
 * run. Replaces a body given with gl_http_body_take/ref.
 */
typedef size_t (*gl_http_read_cb)(void *data, size_t offset, char *buf, size_t cap);
void gl_http_body_stream(struct gl_http_request *r, size_t len, gl_http_read_cb read,
                         void *data);

/*
 * Streams the response body: cb gets each piece as it arrives, with the
 * response status, instead of the bounded buffer (response_max does not
 * apply; the done callback gets an empty body). cb returns 0 to go on or
 * non-zero to stop the transfer, after which the done callback runs with
 * gl_http_err_canceled and the detail "stopped by the receiver". The done
 * callback still runs exactly once. cb runs inside libcurl: it must not close
 * the client or shut the HTTP client down (return non-zero and do it from the
 * done callback). Call before gl_http_send().
 */
typedef int (*gl_http_data_cb)(void *data, long status, const char *p, size_t len);
void gl_http_on_data(struct gl_http_request *r, gl_http_data_cb cb, void *data);

/* Sets this request's total time limit instead of the client's net.timeout; 0: no limit. */
void gl_http_timeout(struct gl_http_request *r, uint64_t ms);

/* A response header's value (case-insensitive name), borrowed; NULL when absent. */
const char *gl_http_response_header(const struct gl_http_response *resp, const char *name);

/* The longest Retry-After honoured: a wrong header cannot stop a client for hours. */
#define GL_HTTP_RETRY_AFTER_MAX_MS (10u * 60 * 1000)

/*
 * The wait a Retry-After value asks for, in milliseconds: delay-seconds
 * ("3") or an HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT", or the two
 * obsolete forms RFC 9110 still asks recipients to read), less now_s, the
 * wall clock in seconds since the epoch. Returns 0 for NULL, a date already
 * past, or a value that is neither (ignored, as RFC 9110 allows); at most
 * GL_HTTP_RETRY_AFTER_MAX_MS. The back-off it raises is util/retry.h's.
 */
uint64_t gl_http_retry_after(const char *value, int64_t now_s);

#endif
