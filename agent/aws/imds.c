/*
 * The IMDS client of imds.h. A GET first makes sure of a session token
 * (IMDSv2), then asks for the path with it; a 401 means the token expired or
 * was revoked early, so the token is dropped and the GET tried once more
 * with a new one. The client owns its token and the path of the GET in
 * flight; the caller's callback runs exactly once per gl_imds_get().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/imds.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

#define IMDS_DEFAULT "http://169.254.169.254"
#define TOKEN_TTL_S 21600
#define CONNECT_MS 1000
#define TIMEOUT_MS 2000
#define RESPONSE_MAX (64 * 1024)

bool gl_imds_disabled(void)
{
    const char *v = getenv("AWS_EC2_METADATA_DISABLED");
    return v != NULL && strcasecmp(v, "true") == 0;
}

int gl_imds_init(struct gl_imds *m, uv_loop_t *loop, const char *endpoint, bool v1)
{
    memset(m, 0, sizeof(*m));
    m->loop = loop;
    m->v1 = v1;
    m->ttl_s = TOKEN_TTL_S;
    const char *base = endpoint ? endpoint : getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    base = base && *base ? base : IMDS_DEFAULT;
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    m->base = gl_strndup(base, n);
    m->http.tls_verify = true;
    m->http.connect_timeout_ms = CONNECT_MS;
    m->http.timeout_ms = TIMEOUT_MS;
    m->http.response_max = RESPONSE_MAX;
    return gl_http_client_init(&m->http);
}

/* Ends the GET in flight with its outcome. */
static void finish(struct gl_imds *m, long status, const char *body, size_t len, const char *err)
{
    gl_imds_cb cb = m->cb;
    void *data = m->data;
    gl_free(m->path);
    m->path = NULL;
    m->cb = NULL;
    cb(data, status, body, len, err);
}

/* A transport error or unexpected status as "IMDS STEP: why". */
static void fail(struct gl_imds *m, const char *step, const struct gl_http_response *resp)
{
    char err[256];
    if (resp->err != NULL) {
        snprintf(err, sizeof(err), "IMDS %s: %s%s%s", step, resp->err, resp->detail ? ": " : "",
                 resp->detail ? resp->detail : "");
    } else {
        snprintf(err, sizeof(err), "IMDS %s: HTTP %ld", step, resp->status);
    }
    finish(m, 0, NULL, 0, err);
}

static void send_get(struct gl_imds *m);

static void on_value(void *data, const struct gl_http_response *resp)
{
    struct gl_imds *m = data;
    if (resp->err == NULL && resp->status == 401 && !m->v1 && !m->retried) {
        m->retried = true;
        gl_free(m->token);
        m->token = NULL;
        send_get(m);
        return;
    }
    if (resp->err != NULL || (resp->status != 200 && resp->status != 404)) {
        fail(m, m->path, resp);
        return;
    }
    finish(m, resp->status, resp->body, resp->body_len, NULL);
}

static void on_token(void *data, const struct gl_http_response *resp)
{
    struct gl_imds *m = data;
    size_t n = resp->err == NULL ? strcspn(resp->body, "\r\n") : 0;
    if (resp->err != NULL || resp->status != 200 || n == 0) {
        fail(m, "session token", resp);
        return;
    }
    m->token = gl_strndup(resp->body, n);
    /* Fetched again a minute early, so that no GET carries a token about to lapse. */
    uint64_t ttl_ms = m->ttl_s * 1000;
    m->token_until = uv_now(m->loop) + (ttl_ms > 60000 ? ttl_ms - 60000 : ttl_ms / 2);
    send_get(m);
}

/* Sends the GET in flight, fetching a session token first when there is none. */
static void send_get(struct gl_imds *m)
{
    struct gl_buf url;
    gl_buf_init(&url);
    if (!m->v1 && (m->token == NULL || uv_now(m->loop) >= m->token_until)) {
        gl_free(m->token);
        m->token = NULL;
        char ttl[24];
        snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)m->ttl_s);
        gl_buf_printf(&url, "%s/latest/api/token", m->base);
        struct gl_http_request *r = gl_http_new(&m->http, GL_PUT, url.data);
        gl_http_header(r, "X-aws-ec2-metadata-token-ttl-seconds", ttl);
        gl_buf_close(&url);
        gl_http_send(r, on_token, m);
        return;
    }
    gl_buf_printf(&url, "%s%s", m->base, m->path);
    struct gl_http_request *r = gl_http_new(&m->http, GL_GET, url.data);
    gl_buf_close(&url);
    if (m->token != NULL) {
        gl_http_header(r, "X-aws-ec2-metadata-token", m->token);
    }
    gl_http_send(r, on_value, m);
}

void gl_imds_get(struct gl_imds *m, const char *path, gl_imds_cb cb, void *data)
{
    m->path = gl_strdup(path);
    m->cb = cb;
    m->data = data;
    m->retried = false;
    send_get(m);
}

void gl_imds_close(struct gl_imds *m)
{
    gl_http_client_close(&m->http);
    gl_free(m->token);
    gl_free(m->base);
    gl_free(m->path);
    m->token = m->base = m->path = NULL;
}
