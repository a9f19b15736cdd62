/*
 * The metadata links of the credential chain: container credentials (EKS
 * Pod Identity, ECS: AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI
 * with an authorization token) and IMDSv2 (a session token PUT, then the
 * instance role's name and credentials), both answering JSON.
 *
 * IMDS requests go through the provider's short-timeout client so that a
 * machine outside EC2 fails fast. The IMDS session token lives in the
 * provider only for the refresh in flight. Plain-HTTP container URIs are
 * accepted only for loopback and the link-local agent addresses, so a token
 * is never sent in clear text elsewhere.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "aws/credentials_private.h"
#include "codec/json.h"
#include "codec/timefmt.h"
#include "util/error.h"
#include "util/mem.h"

#define CONTAINER_HOST "http://169.254.170.2"
#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_TTL "21600"
#define ROLE_PATH "/latest/meta-data/iam/security-credentials/"
#define TOKEN_FILE_MAX (16 * 1024)

/* ---- JSON answers ---- */

/* A string member of map as a new string, or NULL when absent or not a string. */
static char *member(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = gl_json_map_get(map, key);
    if (v == NULL || v->type != MSGPACK_OBJECT_STR) {
        return NULL;
    }
    return gl_strndup(v->via.str.ptr, v->via.str.size);
}

int gl__aws_json_creds(const char *body, size_t len, struct gl_aws_creds *out, char *err,
                       size_t errlen)
{
    struct gl_json_doc doc;
    int rc = GL_EPARSE;

    memset(out, 0, sizeof(*out));
    if (gl_json_doc_parse(&doc, body, len, NULL) < 0 || doc.root.type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "the answer is not a JSON object");
        gl_json_doc_free(&doc);
        return GL_EPARSE;
    }
    char *code = member(&doc.root, "Code");
    char *expiration = member(&doc.root, "Expiration");
    out->access_key_id = member(&doc.root, "AccessKeyId");
    out->secret_access_key = member(&doc.root, "SecretAccessKey");
    out->session_token = member(&doc.root, "Token");
    if (code != NULL && strcmp(code, "Success") != 0) {
        snprintf(err, errlen, "the answer's Code is %.64s", code);
    } else if (out->access_key_id == NULL || out->access_key_id[0] == '\0' ||
               out->secret_access_key == NULL || out->secret_access_key[0] == '\0') {
        snprintf(err, errlen, "the answer lacks AccessKeyId or SecretAccessKey");
    } else if (expiration != NULL &&
               gl_timefmt_parse_rfc3339_sec(expiration, strlen(expiration), &out->expiration) < 0) {
        snprintf(err, errlen, "the answer has an unreadable Expiration");
    } else {
        rc = 0;
    }
    if (rc < 0) {
        gl_aws_creds_clear(out);
    }
    gl_free(code);
    gl_free(expiration);
    gl_json_doc_free(&doc);
    return rc;
}

/* The code and message of a JSON error answer ({"code": .., "message": ..}), or "". */
static void error_message(const struct gl_http_response *resp, char *msg, size_t len)
{
    struct gl_json_doc doc;

    msg[0] = '\0';
    if (gl_json_doc_parse(&doc, resp->body, resp->body_len, NULL) == 0 &&
        doc.root.type == MSGPACK_OBJECT_MAP) {
        char *code = member(&doc.root, "code");
        char *message = member(&doc.root, "message");
        if (code != NULL) {
            snprintf(msg, len, "%.64s: %.160s", code, message != NULL ? message : "");
        }
        gl_free(code);
        gl_free(message);
    }
    gl_json_doc_free(&doc);
}

/*
 * Ends a metadata call whose answer is credentials: a message naming what
 * failed (with the answer's code and message when it has them) or the link done.
 */
static void creds_done(struct gl_aws_provider *p, const char *what,
                       const struct gl_http_response *resp)
{
    char err[GL_AWS_ERR_MAX];
    char msg[256] = "";
    struct gl_aws_creds c;

    if (resp->err != NULL) {
        snprintf(err, sizeof(err), "%s: %s%s%s", what, resp->err, resp->detail ? ": " : "",
                 resp->detail ? resp->detail : "");
        gl__aws_link_done(p, NULL, err);
        return;
    }
    if (resp->status == 200 &&
        gl__aws_json_creds(resp->body, resp->body_len, &c, msg, sizeof(msg)) == 0) {
        gl__aws_link_done(p, &c, NULL);
        return;
    }
    if (resp->status != 200) {
        error_message(resp, msg, sizeof(msg));
    }
    snprintf(err, sizeof(err), "%s: HTTP %ld%s%s", what, resp->status, msg[0] ? ", " : "", msg);
    gl__aws_link_done(p, NULL, err);
}

/* ---- container credentials ---- */

bool gl__aws_container_configured(void)
{
    return gl__aws_getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != NULL ||
           gl__aws_getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != NULL;
}

/* Whether a full URI may be used: HTTPS anywhere, plain HTTP to loopback or the agent's address. */
static bool allowed_uri(const char *uri)
{
    static const char *const hosts[] = {"localhost", "[::1]", "169.254.170.2", "169.254.170.23",
                                        "[fd00:ec2::23]"};
    char host[128];

    if (strncmp(uri, "https://", 8) == 0) {
        return true;
    }
    if (strncmp(uri, "http://", 7) != 0) {
        return false;
    }
    const char *h = uri + 7;
    size_t n = strcspn(h, "/?#");
    snprintf(host, sizeof(host), "%.*s", (int)n, h);
    char *colon = strrchr(host, ':');
    if (colon != NULL && strchr(colon, ']') == NULL) {
        *colon = '\0';
    }
    if (strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == strlen(host)) {
        return true;
    }
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        if (strcmp(host, hosts[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The Authorization value: the token file read afresh, else the variable; NULL when none. */
static char *container_token(char *err, size_t errlen)
{
    const char *path = gl__aws_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *env = gl__aws_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    char *token = NULL;
    size_t len = 0;

    if (path != NULL) {
        int rc = gl__aws_read_file(path, TOKEN_FILE_MAX, &token, &len);
        if (rc < 0) {
            snprintf(err, errlen, "container authorization token file %s: %s", path,
                     gl_strerror(rc));
            return NULL;
        }
    } else if (env != NULL) {
        token = gl_strdup(env);
    } else {
        return gl_strdup("");
    }
    if (strpbrk(token, "\r\n") != NULL) {
        snprintf(err, errlen, "the container authorization token has a line break");
        gl_free(token);
        return NULL;
    }
    return token;
}

static void on_container(void *data, const struct gl_http_response *resp)
{
    creds_done(data, "container credentials", resp);
}

/* GETs the container credentials with the authorization token. */
void gl__aws_container_fetch(struct gl_aws_provider *p)
{
    const char *full = gl__aws_getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    char err[GL_AWS_ERR_MAX];
    struct gl_buf url;

    gl_buf_init(&url);
    if (full != NULL) {
        gl_buf_puts(&url, full);
    } else {
        gl_buf_printf(&url, "%s%s", CONTAINER_HOST,
                      gl__aws_getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
    }
    if (!allowed_uri(url.data)) {
        snprintf(err, sizeof(err),
                 "container credentials URI %.200s: plain HTTP only to "
                 "loopback or the EKS/ECS agent addresses",
                 url.data);
        gl_buf_close(&url);
        gl__aws_link_done(p, NULL, err);
        return;
    }
    char *token = container_token(err, sizeof(err));
    if (token == NULL) {
        gl_buf_close(&url);
        gl__aws_link_done(p, NULL, err);
        return;
    }
    struct gl_http_request *r = gl_http_new(&p->http, GL_GET, url.data);
    if (token[0] != '\0') {
        gl_http_header(r, "Authorization", token);
    }
    memset(token, 0, strlen(token));
    gl_free(token);
    gl_buf_close(&url);
    gl_http_send(r, on_container, p);
}

/* ---- IMDSv2 ---- */

bool gl__aws_imds_disabled(void)
{
    const char *v = gl__aws_getenv("AWS_EC2_METADATA_DISABLED");
    return v != NULL && strcasecmp(v, "true") == 0;
}

/* A request to path on the IMDS endpoint, with the session token when there is one. */
static struct gl_http_request *imds_request(struct gl_aws_provider *p, enum gl_http_method m,
                                            const char *path, const char *leaf)
{
    const char *base = p->set.imds_endpoint;
    struct gl_buf url;

    if (base == NULL) {
        base = gl__aws_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    }
    if (base == NULL) {
        base = IMDS_DEFAULT;
    }
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    gl_buf_init(&url);
    gl_buf_printf(&url, "%.*s%s%s", (int)n, base, path, leaf != NULL ? leaf : "");
    struct gl_http_request *r = gl_http_new(&p->imds, m, url.data);
    gl_buf_close(&url);
    if (p->imds_token != NULL) {
        gl_http_header(r, "X-aws-ec2-metadata-token", p->imds_token);
    }
    return r;
}

/* Fails the IMDS link at step what, dropping the session token. */
static void imds_failed(struct gl_aws_provider *p, const char *what,
                        const struct gl_http_response *resp)
{
    char err[GL_AWS_ERR_MAX];

    gl_free(p->imds_token);
    p->imds_token = NULL;
    if (resp->err != NULL) {
        snprintf(err, sizeof(err), "IMDS %s: %s%s%s", what, resp->err, resp->detail ? ": " : "",
                 resp->detail ? resp->detail : "");
    } else {
        snprintf(err, sizeof(err), "IMDS %s: HTTP %ld", what, resp->status);
    }
    gl__aws_link_done(p, NULL, err);
}

static void on_imds_creds(void *data, const struct gl_http_response *resp)
{
    struct gl_aws_provider *p = data;

    gl_free(p->imds_token);
    p->imds_token = NULL;
    creds_done(p, "IMDS instance role credentials", resp);
}

/* The role list answered: its first line names the role whose credentials are fetched. */
static void on_imds_role(void *data, const struct gl_http_response *resp)
{
    struct gl_aws_provider *p = data;

    if (p->closing || resp->err != NULL || resp->status != 200) {
        imds_failed(p, "instance role", resp);
        return;
    }
    size_t n = strcspn(resp->body, "\r\n");
    if (n == 0 || n > 128 || memchr(resp->body, '/', n) != NULL) {
        struct gl_http_response none = {.status = resp->status};
        imds_failed(p, "instance role (no role attached to the instance)", &none);
        return;
    }
    struct gl_buf role;
    char *name = gl_strndup(resp->body, n);
    gl_buf_init(&role);
    gl__aws_urlencode(&role, name);
    gl_free(name);
    gl_http_send(imds_request(p, GL_GET, ROLE_PATH, role.data), on_imds_creds, p);
    gl_buf_close(&role);
}

/* The session token answered: ask for the instance role's name with it. */
static void on_imds_token(void *data, const struct gl_http_response *resp)
{
    struct gl_aws_provider *p = data;

    if (p->closing || resp->err != NULL || resp->status != 200 || resp->body_len == 0) {
        imds_failed(p, "session token", resp);
        return;
    }
    size_t n = strcspn(resp->body, "\r\n");
    p->imds_token = gl_strndup(resp->body, n);
    gl_http_send(imds_request(p, GL_GET, ROLE_PATH, NULL), on_imds_role, p);
}

/* ---- the region ---- */

static void on_imds_region(void *data, const struct gl_http_response *resp)
{
    struct gl_aws_provider *p = data;
    char err[GL_AWS_ERR_MAX];
    size_t n = resp->err == NULL ? strcspn(resp->body, "\r\n") : 0;
    gl_free(p->imds_token);
    p->imds_token = NULL;
    if (p->closing) {
        return;
    }
    if (resp->err != NULL || resp->status != 200 || n == 0 || n > 32) {
        if (resp->err != NULL) {
            snprintf(err, sizeof(err), "IMDS region: %s", resp->err);
        } else {
            snprintf(err, sizeof(err), "IMDS region: HTTP %ld", resp->status);
        }
        gl__aws_region_done(p, NULL, err);
        return;
    }
    char *region = gl_strndup(resp->body, n);
    gl__aws_region_done(p, region, NULL);
    gl_free(region);
}

static void on_region_token(void *data, const struct gl_http_response *resp)
{
    struct gl_aws_provider *p = data;
    if (p->closing) {
        return;
    }
    if (resp->err != NULL || resp->status != 200 || resp->body_len == 0) {
        imds_failed(p, "session token for the region", resp);
        return;
    }
    p->imds_token = gl_strndup(resp->body, strcspn(resp->body, "\r\n"));
    gl_http_send(imds_request(p, GL_GET, "/latest/meta-data/placement/region", NULL),
                 on_imds_region, p);
}

void gl__aws_imds_region_fetch(struct gl_aws_provider *p)
{
    gl_free(p->imds_token);
    p->imds_token = NULL;
    struct gl_http_request *r = imds_request(p, GL_PUT, "/latest/api/token", NULL);
    gl_http_header(r, "X-aws-ec2-metadata-token-ttl-seconds", IMDS_TTL);
    gl_http_send(r, on_region_token, p);
}

/* PUTs for an IMDSv2 session token; the two GETs follow from the callbacks. */
void gl__aws_imds_fetch(struct gl_aws_provider *p)
{
    gl_free(p->imds_token);
    p->imds_token = NULL;
    struct gl_http_request *r = imds_request(p, GL_PUT, "/latest/api/token", NULL);
    gl_http_header(r, "X-aws-ec2-metadata-token-ttl-seconds", IMDS_TTL);
    gl_http_send(r, on_imds_token, p);
}
