/*
 * The HTTP client: libcurl's multi interface driven by the agent's libuv loop.
 *
 * One process-wide CURLM (struct global below) owns the connection cache, so
 * keep-alive connections are shared by every plugin. libcurl tells us which
 * sockets to watch (on_socket: one heap-allocated uv_poll_t per socket, freed
 * from its close callback) and when to wake it (on_timer: one uv_timer_t);
 * events go back through curl_multi_socket_action() and finished transfers are
 * collected with curl_multi_info_read(). Proxy variables (http_proxy,
 * HTTPS_PROXY, NO_PROXY, any case) are read by libcurl, except HTTP_PROXY in
 * upper case, which libcurl ignores for CGI's sake; proxy_from_env adds it.
 * libcurl itself is loaded with the first client (dl.h) and called through
 * gl_curl. A refusal's Retry-After is read here (gl_http_retry_after) for
 * whoever backs off with util/retry.h.
 *
 * Invariant: a request sent with gl_http_send() is on its client's list and
 * on the global list until finish() runs, which calls its callback exactly
 * once and then frees it; nothing iterates a list across a callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "codec/timefmt.h"
#include "core/log.h"
#include "net/dl.h"
#include "net/http_client.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

#define HEADERS_MAX (64 * 1024)
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_RESPONSE_MAX (4 * 1024 * 1024)
#define MAX_CONNECTS 64

const char gl_http_err_timeout[] = "timeout";
const char gl_http_err_connect[] = "connect failed";
const char gl_http_err_tls[] = "tls failed";
const char gl_http_err_toobig[] = "response too big";
const char gl_http_err_closed[] = "connection closed";
const char gl_http_err_canceled[] = "canceled";
const char gl_http_err_other[] = "http error";

struct gl_http_request {
    struct gl_http_client *client;
    struct gl_http_request *prev, *next;   /* the client's in-flight list */
    struct gl_http_request *gprev, *gnext; /* every in-flight request, for shutdown */
    CURL *easy;
    struct curl_slist *headers;
    enum gl_http_method method;
    char *body_owned;
    const char *body;
    size_t body_len;
    bool has_body;
    gl_http_read_cb read;        /* a streamed body: its producer and where it is */
    void *read_arg;
    size_t read_off;
    bool in_multi;
    const char *err;             /* decided before libcurl reports: toobig, canceled */
    struct gl_buf resp;          /* the response body, at most client->response_max */
    struct gl_buf hdrs;          /* "name\0value\0" pairs of the final response */
    gl_http_done_cb cb;
    void *data;
    gl_http_data_cb on_data;     /* streaming: body pieces go here, not to resp */
    void *on_data_arg;
    uint64_t start_ns;
    char detail[96];             /* our own message for err, preferred over errbuf */
    char errbuf[CURL_ERROR_SIZE];
};

/* A socket libcurl asked us to watch; the poll handle is first for the casts. */
struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    int events;                  /* what libcurl last asked to watch */
    struct sock *prev, *next;
};

static struct global {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* libcurl's timeout */
    uv_timer_t later; /* completes requests libcurl refused to start */
    struct sock *socks;
    struct gl_http_request *requests;
    bool curl_ready;
    bool load_failed; /* libcurl is missing: said once */
} G;

static void check_done(void);

/* ---- lists ---- */

static void link_request(struct gl_http_request *r)
{
    struct gl_http_client *c = r->client;
    r->prev = NULL;
    r->next = c->requests;
    if (c->requests != NULL) {
        c->requests->prev = r;
    }
    c->requests = r;
    c->inflight++;
    r->gprev = NULL;
    r->gnext = G.requests;
    if (G.requests != NULL) {
        G.requests->gprev = r;
    }
    G.requests = r;
}

static void unlink_request(struct gl_http_request *r)
{
    struct gl_http_client *c = r->client;
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        c->requests = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    c->inflight--;
    if (r->gprev != NULL) {
        r->gprev->gnext = r->gnext;
    } else {
        G.requests = r->gnext;
    }
    if (r->gnext != NULL) {
        r->gnext->gprev = r->gprev;
    }
}

/* ---- completion ---- */

/* Maps a libcurl result to one of the static transport errors. */
static const char *map_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return gl_http_err_timeout;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return gl_http_err_connect;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return gl_http_err_tls;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return gl_http_err_closed;
    default:
        return gl_http_err_other;
    }
}

static void request_free(struct gl_http_request *r)
{
    gl_curl->easy_cleanup(r->easy);
    gl_curl->slist_free_all(r->headers);
    gl_free(r->body_owned);
    gl_buf_close(&r->resp);
    gl_buf_close(&r->hdrs);
    gl_free(r);
}

/*
 * Takes the request off the multi handle and the lists, runs its callback
 * with the outcome (r->err when already decided, else libcurl's rc), then
 * frees it. The callback may send new requests or close clients: nothing
 * here looks at a list after it returns.
 */
static void finish(struct gl_http_request *r, CURLcode rc)
{
    struct gl_http_response resp = { .req = r, .body = "" };

    if (r->in_multi) {
        gl_curl->multi_remove_handle(G.multi, r->easy);
        r->in_multi = false;
    }
    unlink_request(r);
    resp.elapsed_ns = uv_hrtime() - r->start_ns;
    if (r->err == NULL && rc != CURLE_OK) {
        r->err = map_error(rc);
        if (r->errbuf[0] == '\0') {
            snprintf(r->errbuf, sizeof(r->errbuf), "%s", gl_curl->easy_strerror(rc));
        }
    }
    if (r->err != NULL) {
        resp.err = r->err;
        resp.detail = r->detail[0] != '\0' ? r->detail : r->errbuf;
    } else {
        gl_curl->easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        if (r->resp.data != NULL) {
            resp.body = r->resp.data;
            resp.body_len = r->resp.len;
        }
    }
    r->cb(r->data, &resp);
    request_free(r);
}

/* Completes a request that is still in flight with gl_http_err_canceled. */
static void cancel(struct gl_http_request *r, const char *why)
{
    if (r->err == NULL) {
        r->err = gl_http_err_canceled;
        snprintf(r->detail, sizeof(r->detail), "%s", why);
    }
    finish(r, CURLE_OK);
}

/* Runs the callbacks of every transfer libcurl has finished. */
static void check_done(void)
{
    CURLMsg *msg;
    int left;

    while (G.multi != NULL && (msg = gl_curl->multi_info_read(G.multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        char *priv = NULL;
        CURLcode rc = msg->data.result;
        gl_curl->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        finish((struct gl_http_request *)priv, rc);
    }
}

/*
 * Completes requests that never reached the multi handle (their err is set
 * by gl_http_send()). The list is searched afresh after each callback.
 */
static void on_later(uv_timer_t *t)
{
    (void)t;
    for (;;) {
        struct gl_http_request *r = G.requests;
        while (r != NULL && r->in_multi) {
            r = r->gnext;
        }
        if (r == NULL) {
            return;
        }
        finish(r, CURLE_OK);
    }
}

/* ---- libcurl <-> libuv ---- */

static void on_sock_closed(uv_handle_t *h)
{
    gl_free((struct sock *)h);
}

static void sock_close(struct sock *k)
{
    if (k->prev != NULL) {
        k->prev->next = k->next;
    } else {
        G.socks = k->next;
    }
    if (k->next != NULL) {
        k->next->prev = k->prev;
    }
    uv_close((uv_handle_t *)&k->poll, on_sock_closed);
}

/* A watched socket is ready (or failed): let libcurl act on it. */
static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock *k = (struct sock *)h;
    int flags = 0;
    int running;

    if (status < 0) {
        /*
         * Let libcurl read or write and meet the socket's own error (a TLS
         * alert, a reset): CURL_CSELECT_ERR would only say "poll failed".
         */
        events = k->events;
    }
    flags |= (events & UV_READABLE) ? CURL_CSELECT_IN : 0;
    flags |= (events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0;
    gl_curl->multi_socket_action(G.multi, k->fd, flags, &running);
    check_done();
}

/*
 * CURLMOPT_SOCKETFUNCTION: starts, changes or stops watching socket s. The
 * struct sock is attached to the socket with curl_multi_assign() and freed
 * from its close callback after CURL_POLL_REMOVE.
 */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct sock *k = socketp;
    int events = 0;

    (void)easy;
    (void)userp;
    if (what == CURL_POLL_REMOVE) {
        if (k != NULL) {
            gl_curl->multi_assign(G.multi, s, NULL);
            sock_close(k);
        }
        return 0;
    }
    if (k == NULL) {
        k = gl_calloc(1, sizeof(*k));
        if (uv_poll_init_socket(G.loop, &k->poll, s) != 0) {
            gl_free(k);
            return -1;
        }
        k->fd = s;
        k->next = G.socks;
        if (G.socks != NULL) {
            G.socks->prev = k;
        }
        G.socks = k;
        gl_curl->multi_assign(G.multi, s, k);
    }
    events |= (what & CURL_POLL_IN) ? UV_READABLE : 0;
    events |= (what & CURL_POLL_OUT) ? UV_WRITABLE : 0;
    k->events = events;
    uv_poll_start(&k->poll, events, on_poll);
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    int running;

    (void)t;
    gl_curl->multi_socket_action(G.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done();
}

/* CURLMOPT_TIMERFUNCTION: (re)arms or stops the one timer; libcurl acts from on_tick. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    (void)userp;
    if (timeout_ms < 0) {
        uv_timer_stop(&G.timer);
    } else {
        uv_timer_start(&G.timer, on_tick, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

/* ---- global ---- */

/*
 * Loads and starts libcurl and the process-wide multi handle on the loop
 * given to gl_http_global_init(). Deferred to the first client so that a
 * pipeline without HTTP outputs never maps libcurl and OpenSSL (about 5 MiB
 * of resident memory). Returns 0, or GL_EIO when libcurl cannot be loaded or
 * started; the first such failure is logged with its cause, which is the
 * same for every later client.
 */
static int start_multi(void)
{
    char err[256];

    if (G.multi != NULL) {
        return 0;
    }
    if (gl_dl_curl(err, sizeof(err)) < 0) {
        if (!G.load_failed) {
            gl_log_error(NULL, "HTTP client unavailable: %s", err);
            G.load_failed = true;
        }
        return GL_EIO;
    }
    if (!G.curl_ready) {
        if (gl_curl->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            return GL_EIO;
        }
        G.curl_ready = true;
    }
    G.multi = gl_curl->multi_init();
    if (G.multi == NULL) {
        return GL_EIO;
    }
    gl_curl->multi_setopt(G.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    gl_curl->multi_setopt(G.multi, CURLMOPT_TIMERFUNCTION, on_timer);
    gl_curl->multi_setopt(G.multi, CURLMOPT_MAXCONNECTS, (long)MAX_CONNECTS);
    uv_timer_init(G.loop, &G.timer);
    uv_timer_init(G.loop, &G.later);
    return 0;
}

/*
 * Names the loop HTTP runs on; libcurl itself starts with the first client
 * (start_multi). Returns GL_ESTATE when a loop is already set.
 */
int gl_http_global_init(uv_loop_t *loop)
{
    if (G.loop != NULL) {
        return GL_ESTATE;
    }
    G.loop = loop;
    return 0;
}

/*
 * Cancels every request still in flight (callbacks run now, with
 * gl_http_err_canceled), closes the sockets and timers, and frees the multi
 * handle with its connection cache. The loop must run once more to finish
 * the handles' close callbacks before uv_loop_close() or a new init.
 */
void gl_http_global_shutdown(void)
{
    if (G.multi == NULL) {
        G.loop = NULL;
        return;
    }
    while (G.requests != NULL) {
        cancel(G.requests, "agent shutting down");
    }
    /* From here libcurl closes its sockets on its own; the polls go first. */
    gl_curl->multi_setopt(G.multi, CURLMOPT_SOCKETFUNCTION, NULL);
    gl_curl->multi_setopt(G.multi, CURLMOPT_TIMERFUNCTION, NULL);
    while (G.socks != NULL) {
        sock_close(G.socks);
    }
    uv_close((uv_handle_t *)&G.timer, NULL);
    uv_close((uv_handle_t *)&G.later, NULL);
    gl_curl->multi_cleanup(G.multi);
    G.multi = NULL;
    G.loop = NULL;
}

/* ---- client ---- */

/*
 * Fills zero timeouts and limit with the option table's defaults and starts
 * libcurl on first use. Returns 0, or GL_EIO when libcurl cannot be loaded
 * or started: the client must not be used then.
 */
int gl_http_client_init(struct gl_http_client *c)
{
    if (G.loop == NULL) {
        fprintf(stderr, "gleaner: gl_http_client_init() before gl_http_global_init()\n");
        abort();
    }
    int rc = start_multi();
    if (rc < 0) {
        return rc;
    }
    if (c->connect_timeout_ms == 0) {
        c->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    }
    if (c->timeout_ms == 0) {
        c->timeout_ms = DEFAULT_TIMEOUT_MS;
    }
    if (c->response_max == 0) {
        c->response_max = DEFAULT_RESPONSE_MAX;
    }
    c->inflight = 0;
    c->requests = NULL;
    return 0;
}

/*
 * Cancels the client's in-flight requests synchronously: each callback runs
 * with gl_http_err_canceled before this returns, so the plugin state they
 * point at may be freed right after. A request such a callback sends on this
 * client is canceled as well. Then frees the TLS settings.
 */
void gl_http_client_close(struct gl_http_client *c)
{
    while (c->requests != NULL) {
        cancel(c->requests, "client closed");
    }
    gl_free(c->tls_ca_file);
    gl_free(c->tls_crt_file);
    gl_free(c->tls_key_file);
    c->tls_ca_file = NULL;
    c->tls_crt_file = NULL;
    c->tls_key_file = NULL;
}

/* ---- request ---- */

/* A streaming request's piece of body: handed on, or the transfer stopped when refused. */
static size_t on_stream(struct gl_http_request *r, const char *p, size_t len)
{
    long status = 0;

    gl_curl->easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (r->on_data(r->on_data_arg, status, p, len) != 0) {
        r->err = gl_http_err_canceled;
        snprintf(r->detail, sizeof(r->detail), "stopped by the receiver");
        return 0;
    }
    return len;
}

/*
 * CURLOPT_WRITEFUNCTION: appends to the body, or aborts the transfer past
 * response_max; a streaming request's pieces go to its data callback.
 */
static size_t on_body(char *p, size_t size, size_t n, void *userp)
{
    struct gl_http_request *r = userp;
    size_t len = size * n;
    size_t max = r->client->response_max;

    if (r->on_data != NULL) {
        return on_stream(r, p, len);
    }
    if (len > max - r->resp.len) {
        r->err = gl_http_err_toobig;
        snprintf(r->detail, sizeof(r->detail), "response body over %zu bytes", max);
        return 0;
    }
    gl_buf_append(&r->resp, p, len);
    return len;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/*
 * CURLOPT_HEADERFUNCTION: keeps "Name: value" lines of the final response as
 * trimmed "name\0value\0" pairs. A status line starts a new response (after
 * 1xx or a proxy's CONNECT reply), so the pairs collected so far are dropped.
 * Lines past HEADERS_MAX, or with a NUL inside, are skipped, not fatal.
 */
static size_t on_header(char *p, size_t size, size_t n, void *userp)
{
    struct gl_http_request *r = userp;
    size_t len = size * n;

    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        gl_buf_reset(&r->hdrs);
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (colon == NULL || colon == p || memchr(p, '\0', len) != NULL) {
        return len;
    }
    const char *name_end = colon;
    while (name_end > p && is_space(name_end[-1])) {
        name_end--;
    }
    const char *v = colon + 1;
    const char *end = p + len;
    while (v < end && is_space(*v)) {
        v++;
    }
    while (end > v && is_space(end[-1])) {
        end--;
    }
    size_t name_len = (size_t)(name_end - p);
    size_t value_len = (size_t)(end - v);
    if (r->hdrs.len + name_len + value_len + 2 > HEADERS_MAX) {
        return len;
    }
    gl_buf_append(&r->hdrs, p, name_len);
    gl_buf_putc(&r->hdrs, '\0');
    gl_buf_append(&r->hdrs, v, value_len);
    gl_buf_putc(&r->hdrs, '\0');
    return len;
}

/* Sets the options that come from the client's settings and the method. */
static void configure(struct gl_http_request *r)
{
    struct gl_http_client *c = r->client;
    CURL *e = r->easy;
    gl_curl->easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    gl_curl->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    gl_curl->easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    gl_curl->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    gl_curl->easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    gl_curl->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    gl_curl->easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    gl_curl->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
    gl_curl->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
    if (c->tls_ca_file != NULL) {
        gl_curl->easy_setopt(e, CURLOPT_CAINFO, c->tls_ca_file);
    }
    if (c->tls_crt_file != NULL) {
        gl_curl->easy_setopt(e, CURLOPT_SSLCERT, c->tls_crt_file);
    }
    if (c->tls_key_file != NULL) {
        gl_curl->easy_setopt(e, CURLOPT_SSLKEY, c->tls_key_file);
    }
    gl_curl->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    gl_curl->easy_setopt(e, CURLOPT_WRITEDATA, r);
    gl_curl->easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    gl_curl->easy_setopt(e, CURLOPT_HEADERDATA, r);
    /* Redirects are not followed (libcurl's default): a 3xx is the caller's answer. */
    if (r->method == GL_HEAD) {
        gl_curl->easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (r->method == GL_PUT) {
        gl_curl->easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (r->method == GL_DELETE) {
        gl_curl->easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
}


/*
 * HTTP_PROXY in upper case, for http:// URLs when http_proxy is not set:
 * libcurl reads only the lower-case name (a CGI server sets HTTP_PROXY from
 * a request header), but the agent is no CGI and SREs set HTTP_PROXY.
 * NO_PROXY still applies: libcurl checks it for a proxy set this way too.
 */
static void proxy_from_env(CURL *e, const char *url)
{
    const char *p = getenv("HTTP_PROXY");
    if (strncasecmp(url, "http://", 7) == 0 && getenv("http_proxy") == NULL && p != NULL &&
        p[0] != '\0') {
        gl_curl->easy_setopt(e, CURLOPT_PROXY, p);
    }
}
/*
 * Creates a request on client c; the URL is copied by libcurl. Aborts when
 * libcurl cannot allocate a handle, as gl_malloc does, or when no client has
 * started (a caller that went on after gl_http_client_init() failed).
 */
struct gl_http_request *gl_http_new(struct gl_http_client *c, enum gl_http_method m,
                                    const char *url)
{
    if (G.multi == NULL) {
        fprintf(stderr, "gleaner: gl_http_new() without a started HTTP client\n");
        abort();
    }
    struct gl_http_request *r = gl_calloc(1, sizeof(*r));

    r->client = c;
    r->method = m;
    r->easy = gl_curl->easy_init();
    if (r->easy == NULL) {
        fprintf(stderr, "gleaner: out of memory creating an HTTP request\n");
        abort();
    }
    gl_buf_init(&r->resp);
    gl_buf_init(&r->hdrs);
    gl_curl->easy_setopt(r->easy, CURLOPT_URL, url);
    proxy_from_env(r->easy, url);
    configure(r);
    /* An empty Expect: stops libcurl from waiting on 100-continue for large bodies. */
    gl_http_header(r, "Expect", "");
    return r;
}

/* Adds a request header; name and value are copied. An empty value is sent empty. */
void gl_http_header(struct gl_http_request *r, const char *name, const char *value)
{
    struct gl_buf line;
    struct curl_slist *l;

    gl_buf_init(&line);
    if (value[0] == '\0' && strcasecmp(name, "Expect") != 0) {
        /* libcurl's spelling of "send this header with an empty value" */
        gl_buf_printf(&line, "%s;", name);
    } else {
        gl_buf_printf(&line, "%s:%s%s", name, value[0] ? " " : "", value);
    }
    l = gl_curl->slist_append(r->headers, line.data);
    gl_buf_close(&line);
    if (l == NULL) {
        fprintf(stderr, "gleaner: out of memory adding an HTTP header\n");
        abort();
    }
    r->headers = l;
}

/* Hands body over to the request, which frees it with gl_free(). */
void gl_http_body_take(struct gl_http_request *r, char *body, size_t len)
{
    gl_free(r->body_owned);
    r->body_owned = body;
    r->body = body;
    r->body_len = len;
    r->has_body = true;
}

/* CURLOPT_READFUNCTION: the next piece of a streamed body. */
static size_t on_read(char *buf, size_t size, size_t n, void *userp)
{
    struct gl_http_request *r = userp;
    size_t cap = size * n, left = r->body_len - r->read_off;
    if (left == 0) {
        return 0;
    }
    size_t got = r->read(r->read_arg, r->read_off, buf, cap < left ? cap : left);
    if (got == 0) {
        /* the producer came short of the length it announced */
        snprintf(r->detail, sizeof(r->detail), "request body ended at %zu of %zu bytes",
                 r->read_off, r->body_len);
        return CURL_READFUNC_ABORT;
    }
    r->read_off += got;
    return got;
}

/* CURLOPT_SEEKFUNCTION: libcurl sends the body again (a reused connection had closed). */
static int on_seek(void *userp, curl_off_t offset, int origin)
{
    struct gl_http_request *r = userp;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > r->body_len) {
        return CURL_SEEKFUNC_CANTSEEK;
    }
    r->read_off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

void gl_http_body_stream(struct gl_http_request *r, size_t len, gl_http_read_cb read,
                         void *data)
{
    gl_free(r->body_owned);
    r->body_owned = NULL;
    r->body = NULL;
    r->body_len = len;
    r->has_body = true;
    r->read = read;
    r->read_arg = data;
    r->read_off = 0;
}

/* Lends body to the request; it must stay valid until the callback has run. */
void gl_http_body_ref(struct gl_http_request *r, const char *body, size_t len)
{
    gl_free(r->body_owned);
    r->body_owned = NULL;
    r->body = body;
    r->body_len = len;
    r->has_body = true;
    r->read = NULL;
}

/*
 * Starts the request. POST and PUT always send a body (empty when none was
 * given, so Content-Length is 0); GET and DELETE send one only when given,
 * HEAD never. If the
 * multi handle refuses it, the callback still runs once, from the next loop
 * turn, with gl_http_err_other.
 */
void gl_http_send(struct gl_http_request *r, gl_http_done_cb cb, void *data)
{
    if (G.multi == NULL) {
        fprintf(stderr, "gleaner: gl_http_send() before gl_http_global_init()\n");
        abort();
    }
    r->cb = cb;
    r->data = data;
    if (r->method != GL_HEAD && (r->has_body || r->method == GL_POST || r->method == GL_PUT)) {
        gl_curl->easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        if (r->read != NULL) {
            gl_curl->easy_setopt(r->easy, CURLOPT_POST, 1L);
            gl_curl->easy_setopt(r->easy, CURLOPT_READFUNCTION, on_read);
            gl_curl->easy_setopt(r->easy, CURLOPT_READDATA, r);
            gl_curl->easy_setopt(r->easy, CURLOPT_SEEKFUNCTION, on_seek);
            gl_curl->easy_setopt(r->easy, CURLOPT_SEEKDATA, r);
        } else {
            gl_curl->easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->has_body ? r->body : "");
        }
        if (r->method == GL_GET) {
            /* POSTFIELDS alone would turn the request into a POST */
            gl_curl->easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, "GET");
        }
    }
    gl_curl->easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    link_request(r);
    r->start_ns = uv_hrtime();
    CURLMcode mc = gl_curl->multi_add_handle(G.multi, r->easy);
    if (mc != CURLM_OK) {
        r->err = gl_http_err_other;
        snprintf(r->detail, sizeof(r->detail), "%s", gl_curl->multi_strerror(mc));
        uv_timer_start(&G.later, on_later, 0, 0);
        return;
    }
    r->in_multi = true;
}

/* Sends the body to cb piece by piece instead of buffering it (see the header). */
void gl_http_on_data(struct gl_http_request *r, gl_http_data_cb cb, void *data)
{
    r->on_data = cb;
    r->on_data_arg = data;
}

/* Replaces the client's total timeout for this request; 0 lets it run as long as it lasts. */
void gl_http_timeout(struct gl_http_request *r, uint64_t ms)
{
    gl_curl->easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)ms);
}

/* Looks name up among the final response's headers; the value is trimmed and borrowed. */
const char *gl_http_response_header(const struct gl_http_response *resp, const char *name)
{
    const struct gl_buf *h = &resp->req->hdrs;
    const char *p = h->data;

    if (p == NULL) {
        return NULL;
    }
    const char *end = p + h->len;
    while (p < end) {
        const char *value = p + strlen(p) + 1;
        if (strcasecmp(p, name) == 0) {
            return value;
        }
        p = value + strlen(value) + 1;
    }
    return NULL;
}

/* HTTP-date's three forms (RFC 9110 5.6.7): IMF-fixdate, then the obsolete RFC 850 and asctime. */
static const char *const http_dates[] = {
    "%a, %d %b %Y %T %Z",
    "%A, %d-%b-%y %T %Z",
    "%a %b %e %T %Y",
};

uint64_t gl_http_retry_after(const char *value, int64_t now_s)
{
    if (value == NULL) {
        return 0;
    }
    size_t n = strlen(value);
    if (n > 0 && n <= 10 && strspn(value, "0123456789") == n) {
        uint64_t s = strtoull(value, NULL, 10);
        return s >= GL_HTTP_RETRY_AFTER_MAX_MS / 1000 ? GL_HTTP_RETRY_AFTER_MAX_MS : s * 1000;
    }
    for (size_t i = 0; i < sizeof(http_dates) / sizeof(http_dates[0]); i++) {
        uint64_t ns;
        if (gl_timefmt_parse(http_dates[i], value, n, &ns) == 0) {
            int64_t at = (int64_t)(ns / 1000000000u);
            if (at <= now_s) {
                return 0;
            }
            uint64_t ms = (uint64_t)(at - now_s) * 1000;
            return ms > GL_HTTP_RETRY_AFTER_MAX_MS ? GL_HTTP_RETRY_AFTER_MAX_MS : ms;
        }
    }
    return 0;
}
