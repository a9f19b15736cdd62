/*
 * The cloudwatch_logs output's transport: one call is one CloudWatch Logs
 * request (PutLogEvents for a batch, or a create call for a stream).
 * Credentials are asked of the provider, the request is signed with SigV4
 * (service "logs") and sent through the agent's HTTP client; the answer is
 * read into a verdict and handed back to the queue. A PutLogEvents body is
 * never built whole: it is produced from the job's arena once to hash it
 * for the signature and once more as libcurl sends it, so a request in
 * flight costs no memory of its own however many are in flight.
 * Invariant: every call reports exactly one result to the queue, also when
 * the credentials cannot be had or the request is canceled.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "out_cloudwatch_logs.h"
#include "util/error.h"
#include "util/mem.h"

struct call {
    struct cwl *c;
    struct cwl_batch *b;       /* PutLogEvents */
    struct cwl_stream *st;
    enum cwl_action action;
    struct gl_buf body;        /* a create call's */
    struct cwl_body put;       /* a PutLogEvents body, produced as it is read */
};

static const char *const action_names[CWL_ACTIONS] = {
    "PutLogEvents", "CreateLogGroup", "CreateLogStream", "PutRetentionPolicy",
};

/* Hands the verdict to the queue (not when stopping: batches are gone) and frees the call. */
static void report(struct call *k, enum cwl_verdict v, const struct cwl_reply *r)
{
    if (k->c->stopping) {
        /* nothing: the queue ended its jobs */
    } else if (k->action == CWL_PUT_LOG_EVENTS) {
        cwl_put_result(k->c, k->b, v, r);
    } else {
        cwl_create_result(k->c, k->st, k->action, v);
    }
    gl_buf_close(&k->body);
    if (k->action == CWL_PUT_LOG_EVENTS) {
        cwl_body_close(&k->put);
    }
    gl_free(k);
}

static void log_failure(struct call *k, const struct gl_http_response *resp,
                        const struct cwl_reply *r, enum cwl_verdict v)
{
    const struct cwl *c = k->c;
    if (resp->err != NULL) {
        gl_log_warn(c->ins, "%s %s/%s: %s%s%s", action_names[k->action], k->st->group,
                    k->st->name, resp->err, resp->detail ? ": " : "",
                    resp->detail ? resp->detail : "");
        return;
    }
    int n = resp->body_len < 300 ? (int)resp->body_len : 300;
    if (v == CWL_V_DROP || v == CWL_V_BISECT) {
        gl_log_error(c->ins, "%s %s/%s: HTTP %ld %s: %.*s", action_names[k->action],
                     k->st->group, k->st->name, resp->status, r->type, n, resp->body);
    } else if (v != CWL_V_NOT_FOUND && v != CWL_V_EXISTS) {
        gl_log_warn(c->ins, "%s %s/%s: HTTP %ld %s", action_names[k->action], k->st->group,
                    k->st->name, resp->status, r->type);
    }
}

static void on_response(void *data, const struct gl_http_response *resp)
{
    struct call *k = data;
    struct cwl_reply r;
    cwl_reply_parse(resp->body, resp->body_len, &r);
    enum cwl_verdict v = cwl_verdict(resp->status, resp->err, &r);
    if (k->c->stopping) {
        report(k, CWL_V_RETRY, &r);
        return;
    }
    if (v != CWL_V_OK) {
        log_failure(k, resp, &r, v);
    }
    if (v == CWL_V_REAUTH) {
        gl_aws_provider_invalidate(k->c->provider);
    }
    report(k, v, &r);
}

static size_t read_put(void *data, size_t offset, char *buf, size_t cap)
{
    struct call *k = data;
    return cwl_body_read(&k->put, offset, buf, cap);
}

static void hash_piece(void *ctx, const char *p, size_t len)
{
    gl_sha256_add(ctx, p, len);
}

/* The hex SHA-256 of the PutLogEvents body, hashed where its pieces lie (no copy). */
static int hash_put(struct call *k, char out[65])
{
    struct gl_sha256 h;
    int rc = gl_sha256_begin(&h);
    if (rc == 0) {
        cwl_body_pieces(&k->put, hash_piece, &h);
    }
    return gl_sha256_hex(&h, out) == 0 && rc == 0 ? 0 : GL_EIO;
}

/* Signs the body with creds and sends it; false when signing failed. */
static bool sign_and_send(struct call *k, const struct gl_aws_creds *creds)
{
    struct cwl *c = k->c;
    bool put = k->action == CWL_PUT_LOG_EVENTS;
    char hash[65];
    if (put && hash_put(k, hash) < 0) {
        return false;
    }
    const char *target = cwl_action_target(k->action);
    cwl_endpoint(c);
    const struct gl_sigv4_header headers[] = {
        { "Content-Type", "application/x-amz-json-1.1" },
        { "X-Amz-Target", target },
    };
    struct gl_sigv4_request req = {
        .method = "POST", .host = c->host, .path = "/", .headers = headers, .n_headers = 2,
        .payload = k->body.data, .payload_len = k->body.len,
        .payload_sha256 = put ? hash : NULL,
        .region = gl_aws_provider_region(c->provider), .service = "logs", .now = time(NULL),
    };
    struct gl_sigv4_result sig;
    if (gl_sigv4_sign(&req, creds, &sig) < 0) {
        return false;
    }
    struct gl_http_request *r = gl_http_new(&c->http, GL_POST, c->url);
    gl_http_header(r, "Content-Type", headers[0].value);
    gl_http_header(r, "X-Amz-Target", target);
    gl_http_header(r, "X-Amz-Date", sig.amz_date);
    gl_http_header(r, "Authorization", sig.authorization);
    if (sig.security_token != NULL) {
        gl_http_header(r, "X-Amz-Security-Token", sig.security_token);
    }
    char agent[256];
    snprintf(agent, sizeof(agent), "gleaner/%s%s%s", GL_VERSION, c->extra_user_agent ? " " : "",
             c->extra_user_agent ? c->extra_user_agent : "");
    gl_http_header(r, "User-Agent", agent);
    if (put) {
        gl_http_body_stream(r, k->put.len, read_put, k);
    } else {
        size_t len = k->body.len;
        gl_http_body_take(r, gl_buf_take(&k->body), len);
    }
    gl_http_send(r, on_response, k);
    return true;
}

static void on_creds(void *data, const struct gl_aws_creds *creds, const char *err)
{
    struct call *k = data;
    struct cwl_reply none = { .too_new_start = -1, .too_old_end = -1, .expired_end = -1 };
    if (k->c->stopping) {
        report(k, CWL_V_RETRY, &none);
        return;
    }
    if (creds == NULL) {
        gl_log_warn(k->c->ins, "no AWS credentials for %s: %s", action_names[k->action],
                    err ? err : "unknown error");
        report(k, CWL_V_RETRY, &none);
        return;
    }
    if (!sign_and_send(k, creds)) {
        gl_log_error(k->c->ins, "could not sign %s", action_names[k->action]);
        report(k, CWL_V_RETRY, &none);
    }
}

static void start_call(struct cwl *c, struct cwl_batch *b, struct cwl_stream *st,
                       enum cwl_action a)
{
    struct call *k = gl_calloc(1, sizeof(*k));
    k->c = c;
    k->b = b;
    k->st = st;
    k->action = a;
    gl_buf_init(&k->body);
    if (a == CWL_PUT_LOG_EVENTS) {
        cwl_body_init(&k->put, st->group, st->name, &b->job->events[b->start], b->n,
                      b->job->arena.data);
    } else {
        cwl_body_create(&k->body, a, st->group, st->name, c->group_class, c->retention_days,
                        &c->group_tags);
    }
    gl_aws_provider_get(c->provider, on_creds, k);
}

void cwl_transport_put(struct cwl *c, struct cwl_batch *b)
{
    start_call(c, b, b->st, CWL_PUT_LOG_EVENTS);
}

void cwl_transport_create(struct cwl *c, struct cwl_stream *st, enum cwl_action a)
{
    start_call(c, NULL, st, a);
}
