/*
 * A small EC2 instance metadata (IMDS) client for values other than
 * credentials: the aws filter's availability zone, instance id, tags...
 * IMDSv2 by default (a session token PUT, kept until shortly before its TTL
 * runs out and fetched again after a 401), or IMDSv1 (plain GETs).
 *
 * The endpoint is the one given, else AWS_EC2_METADATA_SERVICE_ENDPOINT,
 * else http://169.254.169.254; requests have short timeouts so a machine
 * outside EC2 fails fast. One GET at a time: callers chain them.
 */
#ifndef GL_AWS_IMDS_H
#define GL_AWS_IMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/http_client.h"

/*
 * The answer of one GET: status 200 with the body (borrowed until return),
 * another status (404: no such value, e.g. tags not exposed), or status 0
 * and err, a message saying which step failed and why.
 */
typedef void (*gl_imds_cb)(void *data, long status, const char *body, size_t len,
                           const char *err);

struct gl_imds {
    uv_loop_t *loop;
    struct gl_http_client http;
    char *base;            /* endpoint without its trailing slash */
    bool v1;               /* no session token */
    char *token;
    uint64_t token_until;  /* uv_now() after which the token is fetched again */
    uint64_t ttl_s;
    /* the GET in flight */
    char *path;
    bool retried;          /* a 401 already fetched a new token for this GET */
    gl_imds_cb cb;
    void *data;
};

/* Prepares the client; endpoint may be NULL. Returns 0 or GL_EIO (no libcurl). */
int gl_imds_init(struct gl_imds *m, uv_loop_t *loop, const char *endpoint, bool v1);

/* GETs path ("/latest/meta-data/instance-id"); cb runs once, later. One at a time. */
void gl_imds_get(struct gl_imds *m, const char *path, gl_imds_cb cb, void *data);

/* Cancels what is in flight (its callback runs with an error) and frees the client. */
void gl_imds_close(struct gl_imds *m);

/* True when AWS_EC2_METADATA_DISABLED is "true": no request is made. */
bool gl_imds_disabled(void);

#endif
