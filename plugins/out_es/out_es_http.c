/*
 * The es output's transport: one call is one request, a batch's POST _bulk
 * or the version probe's GET /. The body is the batch's items (borrowed from
 * the job's arena when they lie there in one piece, else copied), gzipped
 * with compress gzip; it is signed with SigV4 (aws_auth, services es and
 * aoss) or carries the Basic or ApiKey Authorization built at init, and is
 * sent through the agent's HTTP client. The answer is read (out_es_bulk.c)
 * and handed to the queue. Secrets never reach a log line; trace_output
 * prints bodies, never headers.
 * Invariant: every call reports exactly one result to the queue, also when
 * credentials cannot be had or the request is canceled.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec/gzip.h"
#include "core/log.h"
#include "out_es.h"
#include "util/error.h"
#include "util/mem.h"

struct call {
    struct es *e;
    struct es_batch *b;            /* NULL: the version probe */
    void (*probe_done)(struct es *e, bool answered);
    struct gl_buf body;            /* the body when it is not borrowed */
    const char *payload;
    size_t payload_len;
};

static void call_free(struct call *k)
{
    gl_buf_close(&k->body);
    gl_free(k);
}

/* ---- bodies ---- */

/* Whether the batch's items lie one after the other in the job's (final) arena. */
static bool contiguous(const struct es_batch *b)
{
    const struct es_item *items = b->job->items;
    for (uint32_t k = 0; k < b->n; k++) {
        const struct es_item *it = &items[b->items[k]];
        if ((it->flags & ES_ITEM_DEAD) ||
            (k > 0 && items[b->items[k - 1]].off + items[b->items[k - 1]].len != it->off)) {
            return false;
        }
    }
    return true;
}

/* Sets the call's payload: the items as NDJSON, gzipped with compress gzip. */
static int build_body(struct call *k)
{
    struct es *e = k->e;
    struct es_batch *b = k->b;
    struct es_job *j = b->job;
    struct gl_buf copy;
    const char *raw;
    gl_buf_init(&copy);
    if (contiguous(b)) {
        raw = j->arena.data + j->items[b->items[0]].off;
    } else {
        gl_buf_reserve(&copy, b->bytes);
        for (uint32_t i = 0; i < b->n; i++) {
            const struct es_item *it = &j->items[b->items[i]];
            gl_buf_append(&copy, es_item_data(j, it), it->len);
        }
        raw = copy.data;
    }
    if (e->trace_output) {
        fwrite(raw, 1, b->bytes, stdout);
        fflush(stdout);
    }
    int rc = 0;
    if (e->compress != NULL) {
        rc = gl_gzip_compress(raw, b->bytes, 1, &k->body);
        gl_buf_close(&copy);
        k->payload = k->body.data;
        k->payload_len = k->body.len;
    } else if (copy.data != NULL) {
        k->body = copy;
        k->payload = k->body.data;
        k->payload_len = k->body.len;
    } else {
        k->payload = raw;
        k->payload_len = b->bytes;
    }
    return rc;
}

/* ---- answers ---- */

static void report(struct call *k, const struct es_answer *a)
{
    struct es *e = k->e;
    if (k->b != NULL) {
        es_batch_result(e, k->b, a);
    }
    call_free(k);
}

static void on_bulk(void *data, const struct gl_http_response *resp)
{
    struct call *k = data;
    struct es *e = k->e;
    struct es_reply reply;
    struct es_answer a = { .status = resp->status, .err = resp->err };
    a.retry_after_ms = gl_http_retry_after(gl_http_response_header(resp, "Retry-After"),
                                           (int64_t)time(NULL));
    bool readable = resp->err == NULL && es_reply_parse(&reply, resp->body, resp->body_len) == 0;
    if (resp->err == NULL) {
        a.reply = readable || reply.parsed ? &reply : NULL;
    }
    if (resp->err == NULL && resp->status >= 200 && resp->status < 300) {
        *e->m.bytes += k->payload_len;
    }
    if ((resp->status == 401 || resp->status == 403) && e->provider != NULL && !e->stopping) {
        gl_aws_provider_invalidate(e->provider);
    }
    report(k, &a);
    if (resp->err == NULL) {
        es_reply_free(&reply);
    }
}

/* ---- SigV4 ---- */

/* The hex SHA-256 of the payload, for X-Amz-Content-Sha256 (aoss wants it signed). */
static int payload_hash(const char *p, size_t n, char out[65])
{
    struct gl_sha256 h;
    int rc = gl_sha256_begin(&h);
    gl_sha256_add(&h, p, n);
    return gl_sha256_hex(&h, out) == 0 && rc == 0 ? 0 : GL_EIO;
}

/* What SigV4 adds to a request. */
struct signature {
    char sha[65];
    struct gl_sigv4_result sig;
};

/* Signs the call's request with creds into out; false when signing failed. */
static bool sign(struct call *k, const struct gl_aws_creds *creds, bool post,
                 struct signature *out)
{
    struct es *e = k->e;
    if (payload_hash(k->payload, k->payload_len, out->sha) < 0) {
        return false;
    }
    struct gl_sigv4_header h[3] = { { "X-Amz-Content-Sha256", out->sha } };
    size_t n = 1;
    if (post) {
        h[n++] = (struct gl_sigv4_header){ "Content-Type", "application/x-ndjson" };
        if (e->compress != NULL) {
            h[n++] = (struct gl_sigv4_header){ "Content-Encoding", "gzip" };
        }
    }
    struct gl_sigv4_request req = {
        .method = post ? "POST" : "GET", .host = e->host_port,
        .path = post ? e->bulk_path : e->root_path, .query = post ? e->bulk_query : NULL,
        .headers = h, .n_headers = n, .payload = k->payload, .payload_len = k->payload_len,
        .payload_sha256 = out->sha, .region = gl_aws_provider_region(e->provider),
        .service = e->aws_service_name, .now = time(NULL),
    };
    return gl_sigv4_sign(&req, creds, &out->sig) == 0;
}

/* ---- requests ---- */

static void on_root(void *data, const struct gl_http_response *resp);

/* Makes the call's request (headers, body) and sends it; sg only with aws_auth. */
static void send_call(struct call *k, const struct signature *sg)
{
    struct es *e = k->e;
    bool post = k->b != NULL;
    struct gl_http_request *r = gl_http_new(&e->http, post ? GL_POST : GL_GET,
                                            post ? e->url : e->root_url);
    if (post) {
        gl_http_header(r, "Content-Type", "application/x-ndjson");
        if (e->compress != NULL) {
            gl_http_header(r, "Content-Encoding", "gzip");
        }
    }
    if (sg != NULL) {
        gl_http_header(r, "X-Amz-Content-Sha256", sg->sha);
        gl_http_header(r, "X-Amz-Date", sg->sig.amz_date);
        gl_http_header(r, "Authorization", sg->sig.authorization);
        if (sg->sig.security_token != NULL) {
            gl_http_header(r, "X-Amz-Security-Token", sg->sig.security_token);
        }
    } else if (e->authorization != NULL) {
        gl_http_header(r, "Authorization", e->authorization);
    }
    if (post) {
        gl_http_body_ref(r, k->payload, k->payload_len);
    }
    gl_http_send(r, post ? on_bulk : on_root, k);
}

static void on_creds(void *data, const struct gl_aws_creds *creds, const char *err)
{
    struct call *k = data;
    struct es *e = k->e;
    struct es_answer failed = { .err = gl_http_err_other };
    if (e->stopping) {
        if (k->b == NULL) {
            call_free(k);
        } else {
            report(k, &failed);
        }
        return;
    }
    struct signature sg;
    if (creds != NULL && sign(k, creds, k->b != NULL, &sg)) {
        send_call(k, &sg);
        return;
    }
    gl_log_warn(e->ins, "%s", creds == NULL ? (err ? err : "no AWS credentials")
                                             : "could not sign the request");
    if (k->b == NULL) {
        e->probe = ES_PROBE_NONE;
        k->probe_done(e, false);
        call_free(k);
    } else {
        report(k, &failed);
    }
}

/* Sends the call now (no AWS) or once credentials are had. */
static void start_call(struct call *k)
{
    struct es *e = k->e;
    if (e->provider != NULL) {
        gl_aws_provider_get(e->provider, on_creds, k);
    } else {
        send_call(k, NULL);
    }
}

void es_transport_send(struct es *e, struct es_batch *b)
{
    struct call *k = gl_calloc(1, sizeof(*k));
    k->e = e;
    k->b = b;
    gl_buf_init(&k->body);
    if (build_body(k) < 0) {
        struct es_answer failed = { .err = gl_http_err_other };
        gl_log_error(e->ins, "could not compress a bulk request");
        report(k, &failed);
        return;
    }
    start_call(k);
}

/* ---- the version probe ---- */

static void on_root(void *data, const struct gl_http_response *resp)
{
    struct call *k = data;
    struct es *e = k->e;
    if (e->stopping) {
        call_free(k);
        return;
    }
    bool answered = resp->err == NULL && resp->status != 0 && resp->status < 500 &&
                    resp->status != 429;
    if (resp->status >= 200 && resp->status < 300 &&
        es_version_parse_root(resp->body, resp->body_len, &e->version) == 0) {
        gl_log_info(e->ins, "%s %s at %s", es_version_name(&e->version), e->version.number,
                    e->root_url);
    } else if (answered) {
        gl_log_warn(e->ins, "GET / answered HTTP %ld: the server's version is unknown, so no "
                    "_type is sent (set server_version to say it)%s", resp->status,
                    resp->status == 401 || resp->status == 403
                        ? "; check the credentials (http_user, http_passwd, http_api_key, "
                          "aws_auth)" : "");
    } else {
        gl_log_warn(e->ins, "GET %s: %s%s%s", e->root_url,
                    resp->err ? resp->err : "the server is unavailable",
                    resp->detail ? ": " : "", resp->detail ? resp->detail : "");
    }
    e->probe = answered ? ES_PROBE_DONE : ES_PROBE_NONE;
    k->probe_done(e, answered);
    call_free(k);
}

bool es_probe_start(struct es *e, void (*done)(struct es *e, bool answered))
{
    if (e->probe == ES_PROBE_RUNNING) {
        return false;
    }
    e->probe = ES_PROBE_RUNNING;
    struct call *k = gl_calloc(1, sizeof(*k));
    k->e = e;
    k->probe_done = done;
    gl_buf_init(&k->body);
    k->payload = "";
    start_call(k);
    return true;
}
