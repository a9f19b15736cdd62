/*
 * Tests for agent/net/http_client.c against a real peer: a small python3 HTTP
 * server (PEER_PY below) on 127.0.0.1 with an ephemeral port, started once by
 * the group setup and killed by the group teardown. Each test gets a fresh
 * loop and multi handle, runs the loop until its callbacks have run (bounded
 * by a guard timer), shuts the client down and asserts uv_loop_close() == 0.
 * Retry-After's reading needs no peer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/http_client.h"
#include "util/buf.h"
#include "util/mem.h"

/*
 * The peer. /conns counts accepted TCP connections; /close answers nothing;
 * /echo returns method, lower-cased headers and body as compact JSON. It
 * exits on its own after two minutes in case nobody kills it.
 */
static const char PEER_PY[] =
    "import http.server, json, os, threading, time\n"
    "class Server(http.server.ThreadingHTTPServer):\n"
    "    daemon_threads = True\n"
    "    request_queue_size = 128\n"
    "    conns = 0\n"
    "    def process_request(self, request, addr):\n"
    "        self.conns += 1\n"
    "        super().process_request(request, addr)\n"
    "    def handle_error(self, request, addr):\n"
    "        pass\n"
    "class Handler(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *args):\n"
    "        pass\n"
    "    def reply(self, code, body, extra=()):\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Type', 'text/plain')\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        for k, v in extra:\n"
    "            self.send_header(k, v)\n"
    "        self.end_headers()\n"
    "        if self.command != 'HEAD':\n"
    "            self.wfile.write(body)\n"
    "    def route(self):\n"
    "        n = int(self.headers.get('Content-Length') or 0)\n"
    "        body = self.rfile.read(n) if n else b''\n"
    "        p = self.path\n"
    "        if p == '/ok':\n"
    "            note = ('X-Peer-Note', '  spaced value  ')\n"
    "            self.reply(200, b'hello from the peer\\n', [note])\n"
    "        elif p == '/echo':\n"
    "            doc = {'method': self.command, 'body': body.decode('latin-1'),\n"
    "                   'headers': {k.lower(): v for k, v in self.headers.items()}}\n"
    "            self.reply(200, json.dumps(doc, separators=(',', ':')).encode())\n"
    "        elif p.startswith('/status/'):\n"
    "            code = int(p[8:])\n"
    "            self.reply(code, b'status %d\\n' % code)\n"
    "        elif p == '/slow':\n"
    "            time.sleep(3)\n"
    "            self.reply(200, b'slow\\n')\n"
    "        elif p == '/big':\n"
    "            self.send_response(200)\n"
    "            self.send_header('Content-Length', str(160 * 65536))\n"
    "            self.end_headers()\n"
    "            for _ in range(160):\n"
    "                self.wfile.write(b'x' * 65536)\n"
    "        elif p == '/stream':\n"
    "            self.send_response(200)\n"
    "            self.send_header('Transfer-Encoding', 'chunked')\n"
    "            self.end_headers()\n"
    "            for i in range(4):\n"
    "                piece = b'line %d\\n' % i\n"
    "                self.wfile.write(b'%x\\r\\n%s\\r\\n' % (len(piece), piece))\n"
    "                self.wfile.flush()\n"
    "                time.sleep(0.1)\n"
    "            self.wfile.write(b'0\\r\\n\\r\\n')\n"
    "        elif p == '/close':\n"
    "            self.close_connection = True\n"
    "        elif p == '/conns':\n"
    "            self.reply(200, str(self.server.conns).encode())\n"
    "        else:\n"
    "            self.reply(404, b'not found\\n')\n"
    "    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = route\n"
    "threading.Timer(120, lambda: os._exit(0)).start()\n"
    "srv = Server(('127.0.0.1', 0), Handler)\n"
    "print(srv.server_address[1], flush=True)\n"
    "srv.serve_forever()\n";

#define GUARD_MS 8000
#define MIB (1024 * 1024)

static pid_t peer_pid;
static int peer_port;

/* ---- peer process ---- */

static void peer_kill(void)
{
    if (peer_pid > 0) {
        kill(peer_pid, SIGKILL);
        waitpid(peer_pid, NULL, 0);
        peer_pid = 0;
    }
}

/* Reads the port line from fd within 10 seconds; returns it or -1. */
static int read_port(int fd)
{
    char line[32];
    size_t n = 0;

    while (n < sizeof(line) - 1) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, 10000) <= 0) {
            return -1;
        }
        ssize_t got = read(fd, line + n, 1);
        if (got <= 0) {
            return -1;
        }
        if (line[n] == '\n') {
            line[n] = '\0';
            return atoi(line);
        }
        n++;
    }
    return -1;
}

static int peer_start(void **state)
{
    int fds[2];

    (void)state;
    /* The peer is on 127.0.0.1: a proxy from the environment must not be used. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    if (pipe(fds) != 0) {
        return -1;
    }
    peer_pid = fork();
    if (peer_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", "-c", PEER_PY, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    peer_port = peer_pid > 0 ? read_port(fds[0]) : -1;
    close(fds[0]);
    if (peer_port <= 0) {
        fprintf(stderr, "test_http_client: the peer needs /usr/bin/python3 (package python3)\n");
        peer_kill();
        return -1;
    }
    return 0;
}

static int peer_stop(void **state)
{
    (void)state;
    peer_kill();
    return 0;
}

/* ---- fixture: a loop, the multi handle, one client ---- */

struct result {
    int calls;
    long status;
    const char *err;
    char *detail;
    char *body;
    size_t body_len;
    char *note;         /* X-Peer-Note, looked up with odd case */
    char *length;       /* Content-Length */
    bool absent_is_null;
    uint64_t elapsed_ns;
};

struct fixture {
    uv_loop_t loop;
    uv_timer_t guard;
    bool expired;
    int done;
    struct gl_http_client client;
    /* for the chained requests of test_callback_sends_next_request */
    int chain_left;
};

static struct fixture F;

static int fixture_setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof(F));
    assert_int_equal(uv_loop_init(&F.loop), 0);
    assert_int_equal(gl_http_global_init(&F.loop), 0);
    F.client.tls_verify = true;
    F.client.connect_timeout_ms = 2000;
    F.client.timeout_ms = 5000;
    F.client.response_max = 16 * MIB;
    assert_int_equal(gl_http_client_init(&F.client), 0);
    return 0;
}

static int fixture_teardown(void **state)
{
    (void)state;
    gl_http_client_close(&F.client);
    gl_http_global_shutdown();
    uv_run(&F.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&F.loop), 0);
    return 0;
}

static void result_free(struct result *res)
{
    gl_free(res->detail);
    gl_free(res->body);
    gl_free(res->note);
    gl_free(res->length);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? gl_strdup(s) : NULL;
}

/* Copies what the assertions need: the response is borrowed. */
static void on_done(void *data, const struct gl_http_response *resp)
{
    struct result *res = data;

    res->calls++;
    res->status = resp->status;
    res->err = resp->err;
    res->detail = dup_or_null(resp->detail);
    res->body = gl_strndup(resp->body, resp->body_len);
    res->body_len = resp->body_len;
    res->note = dup_or_null(gl_http_response_header(resp, "x-PEER-note"));
    res->length = dup_or_null(gl_http_response_header(resp, "CONTENT-LENGTH"));
    res->absent_is_null = gl_http_response_header(resp, "X-Absent") == NULL;
    res->elapsed_ns = resp->elapsed_ns;
    F.done++;
}

static void on_guard(uv_timer_t *t)
{
    (void)t;
    F.expired = true;
}

/* Turns the loop until want callbacks have run in all, or ms have passed. */
static void run_until(int want, uint64_t ms)
{
    F.expired = false;
    uv_timer_init(&F.loop, &F.guard);
    uv_timer_start(&F.guard, on_guard, ms, 0);
    while (F.done < want && !F.expired) {
        uv_run(&F.loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&F.guard, NULL);
    uv_run(&F.loop, UV_RUN_NOWAIT);
}

static struct gl_http_request *new_request(enum gl_http_method m, const char *path)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", peer_port, path);
    return gl_http_new(&F.client, m, url);
}

/* Sends one bodiless request and waits for its callback. */
static void fetch(enum gl_http_method m, const char *path, struct result *res)
{
    gl_http_send(new_request(m, path), on_done, res);
    run_until(F.done + 1, GUARD_MS);
    assert_int_equal(res->calls, 1);
}

/* ---- exchanges ---- */

static void test_get_returns_body_exactly(void **state)
{
    struct result res = { 0 };

    (void)state;
    fetch(GL_GET, "/ok", &res);
    assert_null(res.err);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "hello from the peer\n");
    assert_int_equal(res.body_len, 20);
    assert_true(res.elapsed_ns > 0);
    result_free(&res);
}

static void test_response_header_ignores_case_and_trims(void **state)
{
    struct result res = { 0 };

    (void)state;
    fetch(GL_GET, "/ok", &res);
    assert_string_equal(res.note, "spaced value");
    assert_string_equal(res.length, "20");
    assert_true(res.absent_is_null);
    result_free(&res);
}

static void test_head_returns_headers_without_body(void **state)
{
    struct result res = { 0 };

    (void)state;
    fetch(GL_HEAD, "/ok", &res);
    assert_null(res.err);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body_len, 0);
    assert_string_equal(res.length, "20");
    result_free(&res);
}

static void test_post_body_and_headers_are_echoed(void **state)
{
    struct result res = { 0 };

    (void)state;
    struct gl_http_request *r = new_request(GL_POST, "/echo");
    gl_http_header(r, "Content-Type", "text/plain");
    gl_http_header(r, "X-Two", "two words");
    gl_http_body_take(r, gl_strdup("a=1&b=two"), 9);
    gl_http_send(r, on_done, &res);
    run_until(1, GUARD_MS);
    assert_int_equal(res.calls, 1);
    assert_null(res.err);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.body, "\"method\":\"POST\""));
    assert_non_null(strstr(res.body, "\"body\":\"a=1&b=two\""));
    assert_non_null(strstr(res.body, "\"content-type\":\"text/plain\""));
    assert_non_null(strstr(res.body, "\"x-two\":\"two words\""));
    assert_non_null(strstr(res.body, "\"content-length\":\"9\""));
    result_free(&res);
}

static void test_post_echoes_one_mib_body_without_expect(void **state)
{
    struct result res = { 0 };
    struct gl_buf want;
    char *body = gl_malloc(MIB);

    (void)state;
    for (size_t i = 0; i < MIB; i++) {
        body[i] = (char)('a' + i % 26);
    }
    struct gl_http_request *r = new_request(GL_POST, "/echo");
    gl_http_body_ref(r, body, MIB);
    gl_http_send(r, on_done, &res);
    run_until(1, GUARD_MS);
    assert_int_equal(res.calls, 1);
    assert_null(res.err);
    gl_buf_init(&want);
    gl_buf_puts(&want, "\"body\":\"");
    gl_buf_append(&want, body, MIB);
    gl_buf_puts(&want, "\"");
    assert_non_null(strstr(res.body, want.data));
    assert_non_null(strstr(res.body, "\"content-length\":\"1048576\""));
    assert_null(strstr(res.body, "\"expect\""));
    gl_buf_close(&want);
    gl_free(body);
    result_free(&res);
}

/* A producer of 'a'..'z' repeated, at most 1000 bytes a call; `stop` bytes in all. */
struct letters {
    size_t stop;
    size_t calls;
};

static size_t read_letters(void *data, size_t offset, char *buf, size_t cap)
{
    struct letters *l = data;
    size_t n = cap < 1000 ? cap : 1000;
    l->calls++;
    if (offset >= l->stop) {
        return 0;
    }
    n = n < l->stop - offset ? n : l->stop - offset;
    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)('a' + (offset + i) % 26);
    }
    return n;
}

static void test_streamed_body_is_sent_as_produced(void **state)
{
    struct result res = { 0 };
    struct letters l = { .stop = MIB };
    struct gl_buf want;

    (void)state;
    struct gl_http_request *r = new_request(GL_POST, "/echo");
    gl_http_body_stream(r, MIB, read_letters, &l);
    gl_http_send(r, on_done, &res);
    run_until(1, GUARD_MS);
    assert_int_equal(res.calls, 1);
    assert_null(res.err);
    gl_buf_init(&want);
    gl_buf_puts(&want, "\"body\":\"");
    for (size_t i = 0; i < MIB; i++) {
        gl_buf_putc(&want, (char)('a' + i % 26));
    }
    gl_buf_puts(&want, "\"");
    assert_non_null(strstr(res.body, want.data));
    assert_non_null(strstr(res.body, "\"content-length\":\"1048576\""));
    assert_true(l.calls >= MIB / 1000);
    gl_buf_close(&want);
    result_free(&res);
}

static void test_streamed_body_ending_short_fails_the_request(void **state)
{
    struct result res = { 0 };
    struct letters l = { .stop = 5000 };

    (void)state;
    struct gl_http_request *r = new_request(GL_POST, "/echo");
    gl_http_body_stream(r, 10000, read_letters, &l);
    gl_http_send(r, on_done, &res);
    run_until(1, GUARD_MS);
    assert_int_equal(res.calls, 1);
    assert_non_null(res.err);
    assert_int_equal(res.status, 0);
    result_free(&res);
}

static void test_put_and_delete_send_their_method(void **state)
{
    struct result put = { 0 };
    struct result del = { 0 };

    (void)state;
    struct gl_http_request *r = new_request(GL_PUT, "/echo");
    gl_http_body_take(r, gl_strdup("{\"k\":1}"), 7);
    gl_http_send(r, on_done, &put);
    gl_http_send(new_request(GL_DELETE, "/echo"), on_done, &del);
    run_until(2, GUARD_MS);
    assert_int_equal(put.calls, 1);
    assert_int_equal(del.calls, 1);
    assert_non_null(strstr(put.body, "\"method\":\"PUT\""));
    assert_non_null(strstr(put.body, "\"body\":\"{\\\"k\\\":1}\""));
    assert_non_null(strstr(del.body, "\"method\":\"DELETE\""));
    assert_non_null(strstr(del.body, "\"body\":\"\""));
    result_free(&put);
    result_free(&del);
}

static void test_status_503_is_not_a_transport_error(void **state)
{
    struct result res = { 0 };

    (void)state;
    fetch(GL_GET, "/status/503", &res);
    assert_null(res.err);
    assert_int_equal(res.status, 503);
    assert_string_equal(res.body, "status 503\n");
    result_free(&res);
}

/* ---- failures ---- */

static void test_total_timeout_reports_timeout(void **state)
{
    struct result res = { 0 };

    (void)state;
    F.client.timeout_ms = 500;
    fetch(GL_GET, "/slow", &res);
    assert_ptr_equal(res.err, gl_http_err_timeout);
    assert_int_equal(res.status, 0);
    assert_non_null(res.detail);
    assert_true(res.elapsed_ns >= 400 * 1000000ull);
    assert_true(res.elapsed_ns < 2500 * 1000000ull);
    result_free(&res);
}

/* Returns a 127.0.0.1 port nothing listens on: bound, then released. */
static int closed_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_refused_port_reports_connect(void **state)
{
    struct result res = { 0 };
    char url[64];

    (void)state;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ok", closed_port());
    gl_http_send(gl_http_new(&F.client, GL_GET, url), on_done, &res);
    run_until(1, GUARD_MS);
    assert_int_equal(res.calls, 1);
    assert_ptr_equal(res.err, gl_http_err_connect);
    assert_int_equal(res.status, 0);
    assert_true(strlen(res.detail) > 0);
    result_free(&res);
}

static void test_body_over_max_reports_toobig(void **state)
{
    struct result res = { 0 };

    (void)state;
    F.client.response_max = MIB;
    fetch(GL_GET, "/big", &res);
    assert_ptr_equal(res.err, gl_http_err_toobig);
    assert_string_equal(res.detail, "response body over 1048576 bytes");
    assert_int_equal(res.body_len, 0);
    result_free(&res);
}

static void test_body_at_max_is_accepted(void **state)
{
    struct result res = { 0 };

    (void)state;
    F.client.response_max = 20;
    fetch(GL_GET, "/ok", &res);
    assert_null(res.err);
    assert_int_equal(res.body_len, 20);
    result_free(&res);
}

static void test_peer_closing_reports_closed(void **state)
{
    struct result res = { 0 };

    (void)state;
    fetch(GL_GET, "/close", &res);
    assert_ptr_equal(res.err, gl_http_err_closed);
    assert_int_equal(res.status, 0);
    result_free(&res);
}

/* ---- connections and concurrency ---- */

static void test_sequential_requests_reuse_one_connection(void **state)
{
    struct result before = { 0 };
    struct result after = { 0 };

    (void)state;
    fetch(GL_GET, "/conns", &before);
    for (int i = 0; i < 20; i++) {
        struct result res = { 0 };
        fetch(GL_GET, "/ok", &res);
        assert_int_equal(res.status, 200);
        result_free(&res);
    }
    fetch(GL_GET, "/conns", &after);
    assert_int_equal(after.status, 200);
    assert_string_equal(after.body, before.body);
    result_free(&before);
    result_free(&after);
}

static void test_fifty_concurrent_requests_complete(void **state)
{
    struct result res[50];

    (void)state;
    memset(res, 0, sizeof(res));
    for (int i = 0; i < 50; i++) {
        gl_http_send(new_request(GL_GET, "/ok"), on_done, &res[i]);
    }
    assert_int_equal(F.client.inflight, 50);
    run_until(50, GUARD_MS);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_null(res[i].err);
        assert_int_equal(res[i].status, 200);
        assert_string_equal(res[i].body, "hello from the peer\n");
        result_free(&res[i]);
    }
    assert_int_equal(F.client.inflight, 0);
}

static void on_chain(void *data, const struct gl_http_response *resp)
{
    struct result *res = data;

    assert_int_equal(resp->status, 200);
    res->calls++;
    if (--F.chain_left > 0) {
        gl_http_send(new_request(GL_GET, "/ok"), on_chain, res);
    } else {
        F.done++;
    }
}

static void test_callback_sends_next_request(void **state)
{
    struct result res = { 0 };

    (void)state;
    F.chain_left = 3;
    gl_http_send(new_request(GL_GET, "/ok"), on_chain, &res);
    run_until(1, GUARD_MS);
    assert_int_equal(res.calls, 3);
    assert_int_equal(F.client.inflight, 0);
}

/* ---- streaming ---- */

struct stream {
    int pieces;
    long status;
    struct gl_buf got;
    int stop_after;     /* refuse the piece after this many; 0: never */
};

static int on_piece(void *data, long status, const char *p, size_t len)
{
    struct stream *s = data;

    s->pieces++;
    s->status = status;
    gl_buf_append(&s->got, p, len);
    return s->stop_after > 0 && s->pieces > s->stop_after ? -1 : 0;
}

static void test_stream_delivers_pieces_as_they_arrive(void **state)
{
    struct result res = { 0 };
    struct stream s = { 0 };

    (void)state;
    gl_buf_init(&s.got);
    F.client.response_max = 8; /* streaming is not bounded by response_max */
    struct gl_http_request *r = new_request(GL_GET, "/stream");
    gl_http_on_data(r, on_piece, &s);
    gl_http_send(r, on_done, &res);
    run_until(1, GUARD_MS);
    assert_int_equal(res.calls, 1);
    assert_null(res.err);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body_len, 0);
    assert_int_equal(s.status, 200);
    assert_true(s.pieces >= 2);
    gl_buf_putc(&s.got, '\0');
    assert_string_equal(s.got.data, "line 0\nline 1\nline 2\nline 3\n");
    gl_buf_close(&s.got);
    result_free(&res);
}

static void test_stream_stopped_by_receiver_reports_canceled(void **state)
{
    struct result res = { 0 };
    struct stream s = { .stop_after = 1 };

    (void)state;
    gl_buf_init(&s.got);
    struct gl_http_request *r = new_request(GL_GET, "/stream");
    gl_http_on_data(r, on_piece, &s);
    gl_http_send(r, on_done, &res);
    run_until(1, GUARD_MS);
    assert_int_equal(res.calls, 1);
    assert_ptr_equal(res.err, gl_http_err_canceled);
    assert_string_equal(res.detail, "stopped by the receiver");
    assert_int_equal(s.pieces, 2);
    gl_buf_close(&s.got);
    result_free(&res);
}

static void test_request_timeout_overrides_client_timeout(void **state)
{
    struct result res = { 0 };

    (void)state;
    F.client.timeout_ms = 5000;
    struct gl_http_request *r = new_request(GL_GET, "/slow");
    gl_http_timeout(r, 300);
    gl_http_send(r, on_done, &res);
    run_until(1, GUARD_MS);
    assert_int_equal(res.calls, 1);
    assert_ptr_equal(res.err, gl_http_err_timeout);
    assert_true(res.elapsed_ns < 2000 * 1000000ull);
    result_free(&res);
}

/* ---- cancel ---- */

static void test_client_close_cancels_synchronously(void **state)
{
    struct result res = { 0 };

    (void)state;
    gl_http_send(new_request(GL_GET, "/slow"), on_done, &res);
    run_until(1, 200);
    assert_int_equal(res.calls, 0);
    gl_http_client_close(&F.client);
    assert_int_equal(res.calls, 1);
    assert_ptr_equal(res.err, gl_http_err_canceled);
    assert_int_equal(F.client.inflight, 0);
    result_free(&res);
}

static void test_shutdown_cancels_remaining(void **state)
{
    struct result res = { 0 };

    (void)state;
    gl_http_send(new_request(GL_GET, "/slow"), on_done, &res);
    run_until(1, 200);
    gl_http_global_shutdown();
    assert_int_equal(res.calls, 1);
    assert_ptr_equal(res.err, gl_http_err_canceled);
    result_free(&res);
}

/* ---- Retry-After ---- */

/* 1994-11-06T08:49:37Z, the date RFC 9110 writes in its three forms. */
#define NOV6 784111777

static void test_retry_after_seconds(void **state)
{
    (void)state;
    assert_int_equal(gl_http_retry_after("3", NOV6), 3000);
    assert_int_equal(gl_http_retry_after("0", NOV6), 0);
    assert_int_equal(gl_http_retry_after("120", 0), 120000);
    assert_int_equal(gl_http_retry_after("86400", 0), GL_HTTP_RETRY_AFTER_MAX_MS);
    assert_int_equal(gl_http_retry_after("99999999999999999999", 0), 0);
}

static void test_retry_after_http_date_in_three_forms(void **state)
{
    (void)state;
    assert_int_equal(gl_http_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOV6 - 5), 5000);
    assert_int_equal(gl_http_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", NOV6 - 2), 2000);
    assert_int_equal(gl_http_retry_after("Sun Nov  6 08:49:37 1994", NOV6 - 1), 1000);
    assert_int_equal(gl_http_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOV6 - 3600),
                     GL_HTTP_RETRY_AFTER_MAX_MS);
}

static void test_retry_after_past_or_unreadable_is_zero(void **state)
{
    (void)state;
    assert_int_equal(gl_http_retry_after(NULL, NOV6), 0);
    assert_int_equal(gl_http_retry_after("", NOV6), 0);
    assert_int_equal(gl_http_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOV6), 0);
    assert_int_equal(gl_http_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOV6 + 60), 0);
    assert_int_equal(gl_http_retry_after("-1", NOV6), 0);
    assert_int_equal(gl_http_retry_after("1.5", NOV6), 0);
    assert_int_equal(gl_http_retry_after("soon", NOV6), 0);
    assert_int_equal(gl_http_retry_after("Sun, 31 Feb 1994 08:49:37 GMT", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)
        T(test_get_returns_body_exactly),
        T(test_response_header_ignores_case_and_trims),
        T(test_head_returns_headers_without_body),
        T(test_post_body_and_headers_are_echoed),
        T(test_post_echoes_one_mib_body_without_expect),
        T(test_streamed_body_is_sent_as_produced),
        T(test_streamed_body_ending_short_fails_the_request),
        T(test_put_and_delete_send_their_method),
        T(test_status_503_is_not_a_transport_error),
        T(test_total_timeout_reports_timeout),
        T(test_refused_port_reports_connect),
        T(test_body_over_max_reports_toobig),
        T(test_body_at_max_is_accepted),
        T(test_peer_closing_reports_closed),
        T(test_sequential_requests_reuse_one_connection),
        T(test_fifty_concurrent_requests_complete),
        T(test_callback_sends_next_request),
        T(test_stream_delivers_pieces_as_they_arrive),
        T(test_stream_stopped_by_receiver_reports_canceled),
        T(test_request_timeout_overrides_client_timeout),
        T(test_client_close_cancels_synchronously),
        T(test_shutdown_cancels_remaining),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_http_date_in_three_forms),
        cmocka_unit_test(test_retry_after_past_or_unreadable_is_zero),
#undef T
    };
    return cmocka_run_group_tests(tests, peer_start, peer_stop);
}
