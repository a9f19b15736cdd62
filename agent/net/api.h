/*
 * The agent's HTTP endpoints: /metrics, /healthz, /livez, /readyz,
 * /api/v1/health and /api/v1/status, served by http_server.c and reading
 * the running engine.
 */
#ifndef GL_API_H
#define GL_API_H

#include <stdbool.h>
#include <uv.h>

struct gl_engine;
struct gl_http_server;

struct gl_api {
    struct gl_http_server *server;
    struct gl_engine *engine;   /* the running pipeline; swapped on reload */
    const char *config_name;
    bool started;               /* the first pipeline started */
    bool ready;                 /* started, and no stop begun */
    uint64_t reloads;
    uint64_t reload_failures;
};

/* Starts the server on addr:port; returns 0 or GL_EIO with the reason logged. */
int gl_api_start(struct gl_api *api, uv_loop_t *loop, const char *addr, int port);
void gl_api_stop(struct gl_api *api);

#endif
