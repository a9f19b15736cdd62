/*
 * The agent's read-only HTTP server (/metrics, /healthz, /readyz,
 * /api/v1/status), built on libmicrohttpd driven by the libuv loop through
 * its epoll descriptor: no thread, handlers run on the loop and may read the
 * pipeline's state directly. Only GET and HEAD; connections, request sizes and
 * idle time are bounded.
 */
#ifndef GL_HTTP_SERVER_H
#define GL_HTTP_SERVER_H

#include <uv.h>

#include "util/buf.h"

struct gl_http_server;

/*
 * A GET (or HEAD). `query` is the query string without '?', or "" when
 * absent: it is rebuilt from the parsed arguments, percent-encoded again
 * ("a=1&b=x%20y"), so it equals the raw query for ordinary forms but not
 * byte for byte. The headers a handler may negotiate on are "" when absent.
 */
struct gl_http_request {
    const char *path;
    const char *query;
    const char *accept;
    const char *accept_encoding;
};

/* What a handler answers: content_type starts as "text/plain; charset=utf-8". */
struct gl_http_reply {
    struct gl_buf body;
    const char *content_type;
    const char *content_encoding; /* NULL, or the encoding the body is in ("gzip") */
};

/* Fills the reply for a request and returns the HTTP status. */
typedef int (*gl_http_handler_cb)(void *data, const struct gl_http_request *req,
                                  struct gl_http_reply *reply);

/*
 * Listens on addr:port (addr a numeric IPv4 or IPv6 address). Returns NULL on
 * failure with a message in err ("bind 127.0.0.1:2020: Address already in use").
 */
struct gl_http_server *gl_http_server_new(uv_loop_t *loop, const char *addr, int port,
                                          char *err, size_t errlen);
/* The bound port: the ephemeral one chosen when port 0 was asked for. */
int gl_http_server_port(const struct gl_http_server *s);
/* Routes an exact path to a handler. Unrouted paths answer 404. */
void gl_http_server_route(struct gl_http_server *s, const char *path, gl_http_handler_cb cb,
                          void *data);
/* Stops listening and closes its handles; memory is released from their close callbacks. */
void gl_http_server_free(struct gl_http_server *s);

#endif
