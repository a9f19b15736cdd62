/*
 * HTTP endpoints. /metrics renders the agent's own metrics (metrics/self.c)
 * as Prometheus text; /healthz is health.c's verdict with its reasons;
 * /livez answers while the loop turns; /readyz is 200 from the first
 * pipeline's start until a stop; /api/v1/health is Fluent Bit's (its
 * health_check counts only); /api/v1/status is JSON (written with the one
 * JSON writer) listing each instance and its counters.
 * Nothing secret is ever part of a response: options are not echoed.
 */
#include <string.h>

#include "codec/json.h"
#include "core/engine.h"
#include "core/health.h"
#include "core/log.h"
#include "metrics/batch.h"
#include "metrics/prom_text.h"
#include "metrics/self.h"
#include "net/api.h"
#include "net/http_server.h"
#include "util/error.h"

static int get_metrics(void *data, const struct gl_http_request *req,
                       struct gl_http_reply *reply)
{
    struct gl_api *api = data;
    struct gl_buf *body = &reply->body;
    (void)req;
    reply->content_type = gl_prom_content_type(GL_PROM_TEXT);
    if (api->engine == NULL) {
        gl_buf_puts(body, "# pipeline not running\n");
        return 503;
    }
    struct gl_buf batch;
    struct gl_batch b;
    gl_buf_init(&batch);
    gl_batch_begin_buf(&b, &batch, 0);
    gl_self_metrics(api->engine, &b);
    gl_batch_commit(&b);
    gl_prom_write(body, batch.data, batch.len, GL_PROM_TEXT);
    gl_buf_close(&batch);
    return 200;
}

/*
 * /healthz: 200 "ok", or 503 with one line per problem (health.c). Before the
 * first pipeline runs and between two pipelines of a reload there is no
 * evidence either way: it answers ok.
 */
static int get_healthz(void *data, const struct gl_http_request *req,
                       struct gl_http_reply *reply)
{
    struct gl_api *api = data;
    struct gl_buf *body = &reply->body;
    (void)req;
    reply->content_type = "text/plain";
    if (api->engine != NULL && gl_health_check(api->engine, gl_health_now_ms(), false, body)) {
        return 503;
    }
    gl_buf_puts(body, "ok\n");
    return 200;
}

/* Fluent Bit's /api/v1/health: only health_check's counts, 500 "error" as it answers. */
static int get_fluent_bit_health(void *data, const struct gl_http_request *req,
                                 struct gl_http_reply *reply)
{
    struct gl_api *api = data;
    (void)req;
    reply->content_type = "text/plain";
    if (api->engine != NULL && gl_health_check(api->engine, gl_health_now_ms(), true, NULL)) {
        gl_buf_puts(&reply->body, "error\n");
        return 500;
    }
    gl_buf_puts(&reply->body, "ok\n");
    return 200;
}

/*
 * /livez: answered by the loop thread, so an answer proves the loop turns;
 * what only a restart can fix (a loop that no longer turns) fails it, by
 * not answering. A stalled output or paused input does not: a restart would
 * not bring the destination back.
 */
static int get_livez(void *data, const struct gl_http_request *req, struct gl_http_reply *reply)
{
    (void)data;
    (void)req;
    reply->content_type = "text/plain";
    gl_buf_puts(&reply->body, "ok\n");
    return 200;
}

/* /readyz: 200 from the first pipeline's start until a stop begins, reloads included. */
static int get_readyz(void *data, const struct gl_http_request *req,
                      struct gl_http_reply *reply)
{
    struct gl_api *api = data;
    struct gl_buf *body = &reply->body;
    (void)req;
    reply->content_type = "text/plain";
    if (api->ready) {
        gl_buf_puts(body, "ready\n");
        return 200;
    }
    gl_buf_puts(body, api->started ? "stopping\n" : "not ready: the configuration is not running "
                                                     "yet\n");
    return 503;
}

static void status_instance(struct gl_buf *b, const struct gl_instance *ins)
{
    gl_buf_puts(b, "{\"name\":");
    gl_json_write_str(b, ins->alias, strlen(ins->alias));
    gl_buf_puts(b, ",\"plugin\":");
    gl_json_write_str(b, ins->plugin->name, strlen(ins->plugin->name));
    gl_buf_printf(b, ",\"records_in\":%llu,\"records_out\":%llu,\"errors\":%llu",
                  (unsigned long long)ins->stats.records_in,
                  (unsigned long long)ins->stats.records_out,
                  (unsigned long long)ins->stats.errors);
    if (ins->plugin->kind == GL_INPUT) {
        gl_buf_printf(b, ",\"paused\":%s", ins->core->pause_reasons ? "true" : "false");
    }
    if (ins->plugin->kind == GL_OUTPUT) {
        gl_buf_printf(b, ",\"buffer_bytes\":%zu,\"retries\":%llu", ins->core->buffer_bytes,
                      (unsigned long long)ins->stats.retries);
    }
    gl_buf_putc(b, '}');
}

static void status_list(struct gl_buf *b, const char *key, struct gl_instance *const *list,
                        size_t n)
{
    gl_buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            gl_buf_putc(b, ',');
        }
        status_instance(b, list[i]);
    }
    gl_buf_putc(b, ']');
}

static int get_status(void *data, const struct gl_http_request *req,
                      struct gl_http_reply *reply)
{
    struct gl_api *api = data;
    const struct gl_engine *e = api->engine;
    struct gl_buf *body = &reply->body;
    (void)req;
    reply->content_type = "application/json";
    static const char *const states[] = { "starting", "running", "stopping", "stopped" };
    gl_buf_printf(body, "{\"version\":\"%s\",\"state\":\"%s\"", GL_VERSION,
                  e ? states[e->state] : "reloading");
    gl_buf_puts(body, ",\"config\":");
    gl_json_write_str(body, api->config_name, strlen(api->config_name));
    gl_buf_printf(body, ",\"reloads\":%llu,\"reload_failures\":%llu",
                  (unsigned long long)api->reloads, (unsigned long long)api->reload_failures);
    if (e != NULL) {
        gl_buf_printf(body, ",\"uptime_seconds\":%.3f",
                      (double)(uv_hrtime() - e->started_ns) / 1e9);
        status_list(body, "inputs", e->inputs, e->n_inputs);
        status_list(body, "filters", e->filters, e->n_filters);
        status_list(body, "outputs", e->outputs, e->n_outputs);
    }
    gl_buf_puts(body, "}\n");
    return 200;
}

int gl_api_start(struct gl_api *api, uv_loop_t *loop, const char *addr, int port)
{
    char err[256];
    api->server = gl_http_server_new(loop, addr, port, err, sizeof(err));
    if (api->server == NULL) {
        gl_log_error(NULL, "HTTP server: %s", err);
        return GL_EIO;
    }
    gl_http_server_route(api->server, "/metrics", get_metrics, api);
    gl_http_server_route(api->server, "/healthz", get_healthz, api);
    gl_http_server_route(api->server, "/livez", get_livez, api);
    gl_http_server_route(api->server, "/readyz", get_readyz, api);
    gl_http_server_route(api->server, "/api/v1/health", get_fluent_bit_health, api);
    gl_http_server_route(api->server, "/api/v1/status", get_status, api);
    gl_log_info(NULL, "HTTP server listening on %s:%d", addr, port);
    return 0;
}

void gl_api_stop(struct gl_api *api)
{
    if (api->server != NULL) {
        gl_http_server_free(api->server);
        api->server = NULL;
    }
}
