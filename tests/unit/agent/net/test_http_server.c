/*
 * Tests for agent/net/http_server.c. The server runs on the test's uv loop in the
 * main thread; each client exchange runs on a helper thread with plain
 * blocking sockets (the loop must keep turning while the client waits), and
 * the helper stops the loop through a uv_async_t when done. Only the main
 * thread asserts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "net/http_server.h"
#include "util/buf.h"

#define GET_HELLO "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

/* ---- fixture: a loop, an async to stop it, a server on 127.0.0.1:0 ---- */

struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    struct gl_http_server *srv;
    int port;
    int calls;
    char last_query[256];
    char last_accept[256];
};

static int on_hello(void *data, const struct gl_http_request *req, struct gl_http_reply *reply)
{
    struct fixture *f = data;
    f->calls++;
    snprintf(f->last_query, sizeof(f->last_query), "%s", req->query);
    snprintf(f->last_accept, sizeof(f->last_accept), "%s|%s", req->accept,
             req->accept_encoding);
    gl_buf_printf(&reply->body, "hello from %s\n", req->path);
    reply->content_type = "text/plain; version=0.0.4";
    if (strstr(req->accept_encoding, "x-test") != NULL) {
        reply->content_encoding = "x-test";
    }
    return 200;
}

static int on_unready(void *data, const struct gl_http_request *req, struct gl_http_reply *reply)
{
    (void)data;
    (void)req;
    gl_buf_puts(&reply->body, "{\"ready\":false}");
    reply->content_type = "application/json";
    return 503;
}

static void on_stop(uv_async_t *a)
{
    uv_stop(a->loop);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256] = "";
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_async_init(&f->loop, &f->stop, on_stop), 0);
    f->srv = gl_http_server_new(&f->loop, "127.0.0.1", 0, err, sizeof(err));
    assert_non_null(f->srv);
    assert_string_equal(err, "");
    f->port = gl_http_server_port(f->srv);
    assert_true(f->port > 0);
    gl_http_server_route(f->srv, "/hello", on_hello, f);
    gl_http_server_route(f->srv, "/readyz", on_unready, f);
    *state = f;
    return 0;
}

/* Frees the server and checks every handle was closed: uv_loop_close() returns 0. */
static int teardown(void **state)
{
    struct fixture *f = *state;
    gl_http_server_free(f->srv);
    uv_close((uv_handle_t *)&f->stop, NULL);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

/* ---- client side: runs on the helper thread, never asserts ---- */

struct client {
    uv_async_t *stop;
    void (*work)(void *arg);
    void *arg;
};

static void *client_main(void *p)
{
    struct client *c = p;
    c->work(c->arg);
    uv_async_send(c->stop);
    return NULL;
}

/* Runs work(arg) on a helper thread while the loop turns; returns when it is done. */
static void run_client(struct fixture *f, void (*work)(void *), void *arg)
{
    pthread_t t;
    struct client c = { .stop = &f->stop, .work = work, .arg = arg };
    assert_int_equal(pthread_create(&t, NULL, client_main, &c), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(pthread_join(t, NULL), 0);
}

/*
 * Opens a blocking TCP connection to addr:port, from source address `src`
 * when not NULL. Reads and writes time out after 20 s so no test hangs.
 * Returns the descriptor or -1.
 */
static int dial(const char *addr, int port, const char *src)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        len = sizeof(*in6);
    } else {
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct timeval tv = { .tv_sec = 20 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (src != NULL) {
        struct sockaddr_in from = { .sin_family = AF_INET };
        inet_pton(AF_INET, src, &from.sin_addr);
        if (bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0) {
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

struct exchange {
    const char *addr; /* server address, "127.0.0.1" when NULL */
    const char *src;  /* client source address or NULL */
    int port;
    const char *request;
    size_t request_len; /* strlen(request) when 0 */
    char *response;     /* malloc'ed, NUL-terminated; NULL when nothing came back */
    size_t response_len;
};

/*
 * Sends the request and reads until the server closes. A failed send (the
 * server may close while a huge request is still going out) is not fatal:
 * whatever the server answered is still read.
 */
static void exchange_once(struct exchange *x)
{
    struct gl_buf in;
    char tmp[4096];
    gl_buf_init(&in);
    x->response = NULL;
    x->response_len = 0;
    int fd = dial(x->addr ? x->addr : "127.0.0.1", x->port, x->src);
    if (fd < 0) {
        return;
    }
    size_t len = x->request_len ? x->request_len : strlen(x->request);
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, x->request + off, len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    for (;;) {
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) {
            break;
        }
        gl_buf_append(&in, tmp, (size_t)n);
    }
    close(fd);
    x->response_len = in.len;
    x->response = in.len > 0 ? gl_buf_take(&in) : NULL;
    gl_buf_close(&in);
}

static void exchange_work(void *arg)
{
    exchange_once(arg);
}

/* ---- response parsing (main thread) ---- */

static int status_of(const char *resp)
{
    int status = 0;
    if (resp == NULL || sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
        return 0;
    }
    return status;
}

/* Copies the value of header `name` into out; returns 0, or -1 when absent. */
static int header_of(const char *resp, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    const char *end = strstr(resp, "\r\n\r\n");
    for (const char *p = strstr(resp, "\r\n"); p != NULL && p < end; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n;
            v += strspn(v, " ");
            size_t vlen = strcspn(v, "\r");
            snprintf(out, outlen, "%.*s", (int)vlen, v);
            return 0;
        }
    }
    return -1;
}

static const char *body_of(const char *resp)
{
    const char *p = strstr(resp, "\r\n\r\n");
    return p != NULL ? p + 4 : NULL;
}

/* Does one exchange of `request` with the fixture's server; the caller frees x->response. */
static void request(struct fixture *f, struct exchange *x, const char *req)
{
    memset(x, 0, sizeof(*x));
    x->port = f->port;
    x->request = req;
    run_client(f, exchange_work, x);
}

/* ---- routing and methods ---- */

static void test_http_server_get_returns_handler_body(void **state)
{
    struct fixture *f = *state;
    struct exchange x;
    char v[128];
    request(f, &x, GET_HELLO);
    assert_non_null(x.response);
    assert_int_equal(status_of(x.response), 200);
    assert_int_equal(header_of(x.response, "Content-Type", v, sizeof(v)), 0);
    assert_string_equal(v, "text/plain; version=0.0.4");
    assert_int_equal(header_of(x.response, "Content-Length", v, sizeof(v)), 0);
    assert_string_equal(v, "18");
    assert_string_equal(body_of(x.response), "hello from /hello\n");
    assert_int_equal(f->calls, 1);
    assert_string_equal(f->last_query, "");
    free(x.response);
}

static void test_http_server_gives_negotiation_headers_and_encoding(void **state)
{
    struct fixture *f = *state;
    struct exchange x;
    char v[128];
    request(f, &x, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                   "Accept: application/openmetrics-text\r\nAccept-Encoding: gzip, x-test\r\n\r\n");
    assert_int_equal(status_of(x.response), 200);
    assert_string_equal(f->last_accept, "application/openmetrics-text|gzip, x-test");
    assert_int_equal(header_of(x.response, "Content-Encoding", v, sizeof(v)), 0);
    assert_string_equal(v, "x-test");
    assert_int_equal(header_of(x.response, "Vary", v, sizeof(v)), 0);
    assert_string_equal(v, "Accept-Encoding");
    free(x.response);
    request(f, &x, GET_HELLO);
    assert_string_equal(f->last_accept, "|");
    assert_int_equal(header_of(x.response, "Content-Encoding", v, sizeof(v)), -1);
    free(x.response);
}

static void test_http_server_passes_handler_status(void **state)
{
    struct fixture *f = *state;
    struct exchange x;
    char v[128];
    request(f, &x, "GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_int_equal(status_of(x.response), 503);
    assert_int_equal(header_of(x.response, "Content-Type", v, sizeof(v)), 0);
    assert_string_equal(v, "application/json");
    assert_string_equal(body_of(x.response), "{\"ready\":false}");
    free(x.response);
}

static void test_http_server_routes_path_without_query(void **state)
{
    struct fixture *f = *state;
    struct exchange x;
    request(f, &x, "GET /hello?a=1&b=x%20y&flag HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_int_equal(status_of(x.response), 200);
    assert_string_equal(body_of(x.response), "hello from /hello\n");
    assert_string_equal(f->last_query, "a=1&b=x%20y&flag");
    free(x.response);
}

static void test_http_server_unknown_path_is_404(void **state)
{
    struct fixture *f = *state;
    struct exchange x;
    request(f, &x, "GET /hello/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_int_equal(status_of(x.response), 404);
    assert_string_equal(body_of(x.response), "not found\n");
    assert_int_equal(f->calls, 0);
    free(x.response);
}

static void test_http_server_post_is_405_with_allow(void **state)
{
    struct fixture *f = *state;
    struct exchange x;
    char v[128];
    request(f, &x,
            "POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
    assert_int_equal(status_of(x.response), 405);
    assert_int_equal(header_of(x.response, "Allow", v, sizeof(v)), 0);
    assert_string_equal(v, "GET, HEAD");
    assert_int_equal(f->calls, 0);
    free(x.response);
}

static void test_http_server_get_with_body_is_413(void **state)
{
    struct fixture *f = *state;
    struct exchange x;
    request(f, &x,
            "GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
            "Connection: close\r\n\r\nhello");
    assert_int_equal(status_of(x.response), 413);
    assert_int_equal(f->calls, 0);
    free(x.response);
}

static void test_http_server_head_has_no_body(void **state)
{
    struct fixture *f = *state;
    struct exchange x;
    char v[128];
    request(f, &x, "HEAD /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_int_equal(status_of(x.response), 200);
    assert_int_equal(header_of(x.response, "Content-Type", v, sizeof(v)), 0);
    assert_string_equal(v, "text/plain; version=0.0.4");
    assert_int_equal(header_of(x.response, "Content-Length", v, sizeof(v)), 0);
    assert_string_equal(v, "18");
    assert_string_equal(body_of(x.response), "");
    assert_int_equal(f->calls, 1);
    free(x.response);
}

/* ---- bounds ---- */

/*
 * A 100 KiB header cannot fit the 32 KiB connection memory: MHD answers 431
 * or closes the connection. Either way the server keeps serving.
 */
static void test_http_server_huge_header_is_rejected(void **state)
{
    struct fixture *f = *state;
    struct exchange x;
    struct gl_buf req;
    gl_buf_init(&req);
    gl_buf_puts(&req, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ");
    for (int i = 0; i < 100 * 1024; i++) {
        gl_buf_putc(&req, 'a');
    }
    gl_buf_puts(&req, "\r\nConnection: close\r\n\r\n");
    request(f, &x, req.data);
    int status = status_of(x.response);
    print_message("100 KiB header: %s\n", status ? "431" : "connection closed, no response");
    assert_true(status == 431 || status == 0);
    assert_int_equal(f->calls, 0);
    free(x.response);
    gl_buf_close(&req);
    request(f, &x, GET_HELLO);
    assert_int_equal(status_of(x.response), 200);
    free(x.response);
}

struct sequence {
    int port;
    int ok;
};

static void sequence_work(void *arg)
{
    struct sequence *q = arg;
    for (int i = 0; i < 100; i++) {
        struct exchange x = { .port = q->port, .request = GET_HELLO };
        exchange_once(&x);
        const char *body = x.response != NULL ? body_of(x.response) : NULL;
        if (status_of(x.response) == 200 && body != NULL &&
            strcmp(body, "hello from /hello\n") == 0) {
            q->ok++;
        }
        free(x.response);
    }
}

static void test_http_server_serves_100_sequential_requests(void **state)
{
    struct fixture *f = *state;
    struct sequence q = { .port = f->port };
    run_client(f, sequence_work, &q);
    assert_int_equal(q.ok, 100);
    assert_int_equal(f->calls, 100);
}

/* Two requests on one kept-alive connection both get answers; the first leaves it open. */
static void test_http_server_keeps_connection_alive(void **state)
{
    struct fixture *f = *state;
    char v[128];
    struct exchange x = { .port = f->port,
                          .request = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                                     GET_HELLO };
    run_client(f, exchange_work, &x);
    assert_non_null(x.response);
    const char *second = strstr(x.response + 1, "HTTP/1.1 200");
    assert_non_null(second);
    assert_int_equal(header_of(x.response, "Connection", v, sizeof(v)), -1);
    assert_int_equal(status_of(x.response), 200);
    assert_int_equal(f->calls, 2);
    free(x.response);
}

#define IDLE_CONNS 70

struct idle {
    int port;
    int fds[IDLE_CONNS];
    int opened;
    int closed_by_server;
    int other_ip_status;
    double other_ip_seconds;
    int same_ip_status;
    int same_ip_attempts;
    double same_ip_seconds;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts idle connections the server has already closed (EOF or reset). */
static int count_closed(const struct idle *d)
{
    int closed = 0;
    char c;
    for (int i = 0; i < d->opened; i++) {
        ssize_t n = recv(d->fds[i], &c, 1, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            closed++;
        }
    }
    return closed;
}

/*
 * Opens 70 idle connections from 127.0.0.1, then asks from 127.0.0.2 (its
 * own per-IP budget) and from 127.0.0.1 again, retrying until answered.
 */
static void idle_work(void *arg)
{
    struct idle *d = arg;
    for (int i = 0; i < IDLE_CONNS; i++) {
        d->fds[i] = dial("127.0.0.1", d->port, NULL);
        if (d->fds[i] < 0) {
            break;
        }
        d->opened++;
    }
    /* The server accepts them as the loop turns: wait until the excess is closed, up to 5 s. */
    for (int i = 0; i < 50 && d->closed_by_server < IDLE_CONNS - 32; i++) {
        usleep(100 * 1000);
        d->closed_by_server = count_closed(d);
    }
    double t0 = now_s();
    struct exchange x = { .port = d->port, .src = "127.0.0.2", .request = GET_HELLO };
    exchange_once(&x);
    d->other_ip_status = status_of(x.response);
    d->other_ip_seconds = now_s() - t0;
    free(x.response);
    t0 = now_s();
    while (d->same_ip_status != 200 && now_s() - t0 < 30) {
        struct exchange y = { .port = d->port, .request = GET_HELLO };
        exchange_once(&y);
        d->same_ip_status = status_of(y.response);
        d->same_ip_attempts++;
        free(y.response);
        if (d->same_ip_status != 200) {
            usleep(200 * 1000);
        }
    }
    d->same_ip_seconds = now_s() - t0;
    for (int i = 0; i < d->opened; i++) {
        close(d->fds[i]);
    }
}

/*
 * What happens: the server holds at most 32 connections per client address,
 * so 38 of the 70 idle ones are accepted and closed at once. A client from
 * another address is served immediately (32 < the limit of 64). A new
 * request from the crowded address is refused until the idle connections
 * reach the 10 s timeout, then served: never blocked forever.
 */
static void test_http_server_idle_connections_do_not_block_forever(void **state)
{
    struct fixture *f = *state;
    struct idle d = { .port = f->port };
    run_client(f, idle_work, &d);
    print_message("idle: %d opened, %d closed by server; other ip %d in %.2fs; "
                  "same ip %d after %d attempts in %.2fs\n",
                  d.opened, d.closed_by_server, d.other_ip_status, d.other_ip_seconds,
                  d.same_ip_status, d.same_ip_attempts, d.same_ip_seconds);
    assert_int_equal(d.opened, IDLE_CONNS);
    assert_int_equal(d.closed_by_server, IDLE_CONNS - 32);
    assert_int_equal(d.other_ip_status, 200);
    assert_true(d.other_ip_seconds < 2.0);
    assert_int_equal(d.same_ip_status, 200);
    assert_true(d.same_ip_seconds < 15.0);
}

/* ---- lifecycle ---- */

static void test_http_server_port_in_use_fails_with_message(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    char want[128];
    struct gl_http_server *s = gl_http_server_new(&f->loop, "127.0.0.1", f->port, err,
                                                  sizeof(err));
    assert_null(s);
    snprintf(want, sizeof(want), "bind 127.0.0.1:%d: %s", f->port, strerror(EADDRINUSE));
    assert_string_equal(err, want);
}

static void test_http_server_rejects_non_numeric_address(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_null(gl_http_server_new(&f->loop, "localhost", 0, err, sizeof(err)));
    assert_string_equal(err, "listen localhost:0: not a numeric IPv4 or IPv6 address and port");
    assert_null(gl_http_server_new(&f->loop, "127.0.0.1", 70000, err, sizeof(err)));
    assert_string_equal(err, "listen 127.0.0.1:70000: not a numeric IPv4 or IPv6 address and port");
}

static int have_ipv6_loopback(void)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static void test_http_server_serves_ipv6_loopback(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    if (!have_ipv6_loopback()) {
        print_message("skipped: this kernel has no IPv6 loopback\n");
        skip();
    }
    struct gl_http_server *s = gl_http_server_new(&f->loop, "::1", 0, err, sizeof(err));
    assert_non_null(s);
    gl_http_server_route(s, "/hello", on_hello, f);
    struct exchange x = { .addr = "::1", .port = gl_http_server_port(s),
                          .request = GET_HELLO };
    run_client(f, exchange_work, &x);
    assert_int_equal(status_of(x.response), 200);
    assert_string_equal(body_of(x.response), "hello from /hello\n");
    free(x.response);
    gl_http_server_free(s);
}

struct half {
    int port;
    int fd;
};

/* Leaves a connection open mid-request, giving the server time to accept it. */
static void half_work(void *arg)
{
    struct half *h = arg;
    h->fd = dial("127.0.0.1", h->port, NULL);
    if (h->fd >= 0) {
        send(h->fd, "GET /hello HTTP/1.1\r\n", 21, MSG_NOSIGNAL);
    }
    usleep(200 * 1000);
}

/*
 * Freeing with a client mid-request closes its connection (the client reads
 * EOF or a reset) and every handle: the loop then closes cleanly.
 */
static void test_http_server_free_with_open_connection_lets_loop_close(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_async_t stop;
    char err[256] = "";
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_async_init(&loop, &stop, on_stop), 0);
    struct gl_http_server *s = gl_http_server_new(&loop, "127.0.0.1", 0, err, sizeof(err));
    assert_non_null(s);
    struct half h = { .port = gl_http_server_port(s), .fd = -1 };
    pthread_t t;
    struct client c = { .stop = &stop, .work = half_work, .arg = &h };
    assert_int_equal(pthread_create(&t, NULL, client_main, &c), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(h.fd >= 0);
    gl_http_server_free(s);
    uv_close((uv_handle_t *)&stop, NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    char buf[16];
    assert_true(recv(h.fd, buf, sizeof(buf), 0) <= 0);
    close(h.fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_server_get_returns_handler_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_server_gives_negotiation_headers_and_encoding,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_passes_handler_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_routes_path_without_query, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_server_unknown_path_is_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_post_is_405_with_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_get_with_body_is_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_head_has_no_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_huge_header_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_serves_100_sequential_requests, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_server_keeps_connection_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_idle_connections_do_not_block_forever,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_port_in_use_fails_with_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_server_rejects_non_numeric_address, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_http_server_serves_ipv6_loopback, setup, teardown),
        cmocka_unit_test(test_http_server_free_with_open_connection_lets_loop_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
