/*
 * The agent's read-only HTTP server: /metrics, /healthz, /readyz and
 * /api/v1/status are routed here by exact path to handlers that fill a body.
 *
 * libmicrohttpd runs without threads of its own (MHD_USE_EPOLL, no internal
 * polling thread). Its epoll descriptor is watched by a uv_poll_t, and after
 * every MHD_run() a uv_timer_t is re-armed from MHD_get_timeout(), so idle
 * connections time out and work MHD left pending is picked up. Handlers thus
 * run on the loop thread and may read the pipeline's state directly.
 * libmicrohttpd is loaded when the first server starts (dl.h), so an agent
 * with http_server off never maps it; it is called through gl_mhd.
 *
 * The server owns the daemon, both handles and the route table. Invariant:
 * the struct is freed only from the last of the two close callbacks, after
 * the poll handle stopped watching the epoll descriptor and the daemon (which
 * closes that descriptor) was stopped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/dl.h"
#include "net/http_server.h"
#include "util/error.h"
#include "util/mem.h"

#define CONN_LIMIT 64
#define PER_IP_LIMIT 32
#define CONN_TIMEOUT_S 10
#define CONN_MEMORY (32 * 1024)

struct route {
    char *path;
    gl_http_handler_cb cb;
    void *data;
};

struct gl_http_server {
    uv_loop_t *loop;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    int open_handles; /* handles not yet through their close callback */
    int port;
    struct route *routes;
    size_t nroutes;
};

union addr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
};

/* ---- responses ---- */

/*
 * Queues a response whose body is a static string. `allow`, when not NULL,
 * becomes the Allow header (for 405).
 */
static enum MHD_Result reply_static(struct MHD_Connection *c, unsigned int status,
                                    const char *text, const char *allow)
{
    struct MHD_Response *r =
        gl_mhd->create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        return MHD_NO;
    }
    gl_mhd->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow != NULL) {
        gl_mhd->add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    enum MHD_Result rc = gl_mhd->queue_response(c, status, r);
    gl_mhd->destroy_response(r);
    return rc;
}

/*
 * Appends `s` to b percent-encoded, keeping RFC 3986 unreserved characters,
 * so a query rebuilt from parsed arguments reads like the one sent.
 */
static void put_encoded(struct gl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            gl_buf_putc(b, (char)*p);
        } else {
            gl_buf_putc(b, '%');
            gl_buf_putc(b, hex[*p >> 4]);
            gl_buf_putc(b, hex[*p & 15]);
        }
    }
}

/* MHD_KeyValueIterator: appends one GET argument as key[=value] to the query buffer. */
static enum MHD_Result put_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct gl_buf *q = cls;
    (void)kind;
    if (q->len > 0) {
        gl_buf_putc(q, '&');
    }
    put_encoded(q, key);
    if (value != NULL) {
        gl_buf_putc(q, '=');
        put_encoded(q, value);
    }
    return MHD_YES;
}

/*
 * Runs the route's handler and queues what it built. The body memory is
 * taken from the gl_buf and handed to MHD, which free()s it (gl_malloc is
 * malloc). Handler statuses outside 100..599 become 500.
 */
static const char *header(struct MHD_Connection *c, const char *name)
{
    const char *v = gl_mhd->lookup_connection_value(c, MHD_HEADER_KIND, name);
    return v != NULL ? v : "";
}

static enum MHD_Result reply_routed(struct MHD_Connection *c, const struct route *rt)
{
    struct gl_buf query;
    struct gl_http_reply reply = { .content_type = "text/plain; charset=utf-8" };
    gl_buf_init(&query);
    gl_buf_init(&reply.body);
    gl_mhd->get_connection_values(c, MHD_GET_ARGUMENT_KIND, put_arg, &query);
    struct gl_http_request req = {
        .path = rt->path, .query = query.len > 0 ? query.data : "",
        .accept = header(c, MHD_HTTP_HEADER_ACCEPT),
        .accept_encoding = header(c, MHD_HTTP_HEADER_ACCEPT_ENCODING),
    };
    int status = rt->cb(rt->data, &req, &reply);
    gl_buf_close(&query);
    if (status < 100 || status > 599) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    size_t len = reply.body.len;
    struct MHD_Response *r = gl_mhd->create_response_from_buffer(len, gl_buf_take(&reply.body),
                                                                 MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        return MHD_NO;
    }
    if (reply.content_type != NULL) {
        gl_mhd->add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, reply.content_type);
    }
    if (reply.content_encoding != NULL) {
        gl_mhd->add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, reply.content_encoding);
        gl_mhd->add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    }
    enum MHD_Result rc = gl_mhd->queue_response(c, (unsigned int)status, r);
    gl_mhd->destroy_response(r);
    return rc;
}

/* True when the request announces a body, by length or by chunked encoding. */
static int has_body(struct MHD_Connection *c)
{
    const char *len = gl_mhd->lookup_connection_value(c, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = gl_mhd->lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    return te != NULL || (len != NULL && strspn(len, "0") != strlen(len));
}

/*
 * MHD_AccessHandlerCallback, called once when the headers are in and again
 * when the (empty) body is complete. A wrong method (405) or an announced
 * body (413) is refused on the first call, and MHD then closes the connection
 * rather than read the body. A routed answer waits for the second call, as
 * answering early would also make MHD close a keep-alive connection. MHD
 * passes the path already unescaped and without its query.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    static int headers_seen;
    struct gl_http_server *s = cls;
    (void)version;
    (void)upload_data;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return reply_static(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
                            "GET, HEAD");
    }
    if (*upload_data_size > 0 || has_body(c)) {
        return reply_static(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body not allowed\n", NULL);
    }
    if (*con_cls == NULL) {
        *con_cls = &headers_seen;
        return MHD_YES;
    }
    for (size_t i = 0; i < s->nroutes; i++) {
        if (strcmp(s->routes[i].path, url) == 0) {
            return reply_routed(c, &s->routes[i]);
        }
    }
    return reply_static(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
}

/* ---- loop integration ---- */

static void on_timer(uv_timer_t *t);

/*
 * Lets MHD do what is ready, then re-arms the timer for what it wants next:
 * 0 ms when it left work pending, the nearest idle timeout otherwise, none
 * when it has no connection. (MHD_get_timeout64 would do, but 0.9.75 does
 * not have it; milliseconds in an unsigned long long are as good.)
 */
static void drive(struct gl_http_server *s)
{
    MHD_UNSIGNED_LONG_LONG ms;
    gl_mhd->run(s->mhd);
    if (gl_mhd->get_timeout(s->mhd, &ms) == MHD_YES) {
        uv_timer_start(&s->timer, on_timer, (uint64_t)ms, 0);
    } else {
        uv_timer_stop(&s->timer);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    drive(p->data);
}

static void on_timer(uv_timer_t *t)
{
    drive(t->data);
}

/* ---- lifecycle ---- */

/*
 * Parses a numeric IPv4 or IPv6 address and a port into `a` and writes the
 * printable "addr:port" ("[::1]:2020" for IPv6) into name. Returns 0 or
 * GL_EINVAL.
 */
static int parse_addr(const char *addr, int port, union addr *a, char *name, size_t namelen)
{
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, addr, &a->in4.sin_addr) == 1) {
        a->in4.sin_family = AF_INET;
        a->in4.sin_port = htons((uint16_t)port);
        snprintf(name, namelen, "%s:%d", addr, port);
    } else if (inet_pton(AF_INET6, addr, &a->in6.sin6_addr) == 1) {
        a->in6.sin6_family = AF_INET6;
        a->in6.sin6_port = htons((uint16_t)port);
        snprintf(name, namelen, "[%s]:%d", addr, port);
    } else {
        snprintf(name, namelen, "%s:%d", addr, port);
        return GL_EINVAL;
    }
    return port < 0 || port > 65535 ? GL_EINVAL : 0;
}

/*
 * Binds a throwaway socket to the address, with the options MHD uses, so a
 * failure is reported with its real errno before MHD tries (MHD does not
 * say why it failed). Returns 0 or the errno of the failing call.
 */
static int probe_bind(const union addr *a)
{
    int one = 1;
    int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->sa.sa_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    socklen_t len = a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in4);
    int rc = bind(fd, &a->sa, len) < 0 ? errno : 0;
    close(fd);
    return rc;
}

/* Starts the daemon on `a`, without threads and with the bounds above. */
static struct MHD_Daemon *start_daemon(struct gl_http_server *s, const union addr *a, int port)
{
    unsigned int flags = MHD_USE_EPOLL;
    if (a->sa.sa_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    return gl_mhd->start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
                            MHD_OPTION_SOCK_ADDR, &a->sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONN_LIMIT,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)PER_IP_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONN_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
                            MHD_OPTION_END);
}

/*
 * Creates the server listening on addr:port and arms its handles on `loop`.
 * Returns NULL with a message in err when the address is not numeric, the
 * bind fails, libmicrohttpd cannot be loaded or the daemon cannot start.
 */
struct gl_http_server *gl_http_server_new(uv_loop_t *loop, const char *addr, int port,
                                          char *err, size_t errlen)
{
    union addr a;
    char name[INET6_ADDRSTRLEN + 16];
    if (parse_addr(addr, port, &a, name, sizeof(name)) < 0) {
        snprintf(err, errlen, "listen %s: not a numeric IPv4 or IPv6 address and port", name);
        return NULL;
    }
    int e = probe_bind(&a);
    if (e != 0) {
        snprintf(err, errlen, "bind %s: %s", name, strerror(e));
        return NULL;
    }
    if (gl_dl_mhd(err, errlen) < 0) {
        return NULL;
    }
    struct gl_http_server *s = gl_calloc(1, sizeof(*s));
    s->loop = loop;
    errno = 0;
    s->mhd = start_daemon(s, &a, port);
    if (s->mhd == NULL) {
        e = errno;
        snprintf(err, errlen, "start HTTP server on %s: %s", name,
                 e != 0 ? strerror(e) : "libmicrohttpd refused to start");
        gl_free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *fd = gl_mhd->get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *bound = gl_mhd->get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = bound != NULL ? bound->port : port;
    int rc = fd != NULL ? uv_poll_init(loop, &s->poll, fd->epoll_fd) : UV_EINVAL;
    if (rc < 0) {
        snprintf(err, errlen, "watch HTTP server on %s: %s", name, uv_strerror(rc));
        gl_mhd->stop_daemon(s->mhd);
        gl_free(s);
        return NULL;
    }
    uv_timer_init(loop, &s->timer);
    s->poll.data = s;
    s->timer.data = s;
    s->open_handles = 2;
    rc = uv_poll_start(&s->poll, UV_READABLE, on_poll);
    if (rc < 0) {
        snprintf(err, errlen, "watch HTTP server on %s: %s", name, uv_strerror(rc));
        gl_http_server_free(s);
        return NULL;
    }
    return s;
}

int gl_http_server_port(const struct gl_http_server *s)
{
    return s->port;
}

/* Adds a route; a path routed twice keeps its first handler. */
void gl_http_server_route(struct gl_http_server *s, const char *path, gl_http_handler_cb cb,
                          void *data)
{
    s->routes = gl_realloc(s->routes, (s->nroutes + 1) * sizeof(*s->routes));
    s->routes[s->nroutes].path = gl_strdup(path);
    s->routes[s->nroutes].cb = cb;
    s->routes[s->nroutes].data = data;
    s->nroutes++;
}

/* Close callback of both handles: the last one frees the server. */
static void on_close(uv_handle_t *h)
{
    struct gl_http_server *s = h->data;
    if (--s->open_handles > 0) {
        return;
    }
    for (size_t i = 0; i < s->nroutes; i++) {
        gl_free(s->routes[i].path);
    }
    gl_free(s->routes);
    gl_free(s);
}

/*
 * Closes the handles, then stops the daemon: the poll handle must stop
 * watching the epoll descriptor before MHD closes it. Open connections are
 * closed without a response. Memory goes in the close callbacks.
 */
void gl_http_server_free(struct gl_http_server *s)
{
    if (s == NULL) {
        return;
    }
    uv_close((uv_handle_t *)&s->poll, on_close);
    uv_close((uv_handle_t *)&s->timer, on_close);
    gl_mhd->stop_daemon(s->mhd);
    s->mhd = NULL;
}
