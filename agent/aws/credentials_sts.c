/*
 * The STS links of the credential chain: AssumeRoleWithWebIdentity (IRSA,
 * unsigned, with the token file read afresh each time) and AssumeRole
 * (role_arn on top of the chain, signed with SigV4 by the chain's
 * credentials), both as form POSTs to the regional endpoint.
 *
 * STS answers in XML of two known shapes; a small strict reader extracts
 * them (elements, attributes skipped, comments, the five named entities and
 * character references; no DTD, no CDATA). It takes outside input and is
 * fuzzed: it reads nothing past len and nests at most MAX_DEPTH deep.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/credentials_private.h"
#include "codec/timefmt.h"
#include "core/log.h"
#include "util/error.h"
#include "util/mem.h"

#define MAX_DEPTH 8
#define TOKEN_FILE_MAX (64 * 1024)
#define FORM_TYPE "application/x-www-form-urlencoded; charset=utf-8"

/* ---- XML extraction ---- */

struct xml {
    const char *p, *end;
    const char *name[MAX_DEPTH];
    size_t name_len[MAX_DEPTH];
    int depth;
    bool leaf; /* no child element since the innermost one opened */
    bool root_seen;
    struct gl_buf text; /* decoded text of the innermost element */
    const char *what;   /* the reason of a GL_EPARSE */
};

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':' || c == '.' || c == '-';
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t read_name(struct xml *x)
{
    const char *s = x->p;
    while (x->p < x->end && name_char(*x->p)) {
        x->p++;
    }
    return (size_t)(x->p - s);
}

/* Skips past the first occurrence of tail; false when it never comes. */
static bool skip_past(struct xml *x, const char *tail)
{
    size_t n = strlen(tail);
    while ((size_t)(x->end - x->p) >= n) {
        if (memcmp(x->p, tail, n) == 0) {
            x->p += n;
            return true;
        }
        x->p++;
    }
    return false;
}

static void put_utf8(struct gl_buf *b, unsigned long cp)
{
    if (cp < 0x80) {
        gl_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        gl_buf_putc(b, (char)(0xc0 | (cp >> 6)));
        gl_buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        gl_buf_putc(b, (char)(0xe0 | (cp >> 12)));
        gl_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        gl_buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        gl_buf_putc(b, (char)(0xf0 | (cp >> 18)));
        gl_buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        gl_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        gl_buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    }
}

/* The value of a digit in base 10 or 16, or -1. */
static int digit_value(char c, int base)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (base == 16 && c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (base == 16 && c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes a character reference body ("#38", "#x26"); false when invalid. */
static bool char_ref(const char *s, size_t n, struct gl_buf *b)
{
    int base = 10;
    unsigned long cp = 0;

    s++, n--;
    if (n > 0 && (*s == 'x' || *s == 'X')) {
        base = 16;
        s++, n--;
    }
    if (n == 0 || n > 8) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        int v = digit_value(s[i], base);
        if (v < 0) {
            return false;
        }
        cp = cp * (unsigned long)base + (unsigned long)v;
    }
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return false;
    }
    put_utf8(b, cp);
    return true;
}

/* Decodes the entity at x->p ('&') into the text; false when unknown. */
static bool entity(struct xml *x)
{
    static const char *const names[] = {"amp", "lt", "gt", "quot", "apos"};
    static const char chars[] = "&<>\"'";
    const char *s = x->p + 1;
    const char *semi = memchr(s, ';', (size_t)(x->end - s) < 12 ? (size_t)(x->end - s) : 12);

    if (semi == NULL) {
        return false;
    }
    size_t n = (size_t)(semi - s);
    x->p = semi + 1;
    for (size_t i = 0; i < 5; i++) {
        if (strlen(names[i]) == n && memcmp(s, names[i], n) == 0) {
            gl_buf_putc(&x->text, chars[i]);
            return true;
        }
    }
    return n > 0 && *s == '#' && char_ref(s, n, &x->text);
}

/* Reads character data up to the next '<'; text outside the root must be blank. */
static int text(struct xml *x)
{
    while (x->p < x->end && *x->p != '<') {
        if (x->depth == 0 && !is_ws(*x->p)) {
            x->what = "text outside the root element";
            return GL_EPARSE;
        }
        if (*x->p == '&') {
            if (!entity(x)) {
                x->what = "unknown or malformed entity";
                return GL_EPARSE;
            }
            continue;
        }
        gl_buf_putc(&x->text, *x->p++);
    }
    return 0;
}

/* Skips the attributes of a start tag up to '>' or "/>"; sets *empty for the latter. */
static int attributes(struct xml *x, bool *empty)
{
    for (;;) {
        bool spaced = false;
        while (x->p < x->end && is_ws(*x->p)) {
            x->p++;
            spaced = true;
        }
        if (x->p < x->end && *x->p == '>') {
            x->p++;
            *empty = false;
            return 0;
        }
        if (x->end - x->p >= 2 && x->p[0] == '/' && x->p[1] == '>') {
            x->p += 2;
            *empty = true;
            return 0;
        }
        if (!spaced || read_name(x) == 0 || x->p >= x->end || *x->p++ != '=' || x->p >= x->end ||
            (*x->p != '"' && *x->p != '\'')) {
            x->what = "malformed attribute";
            return GL_EPARSE;
        }
        char q = *x->p++;
        while (x->p < x->end && *x->p != q && *x->p != '<') {
            x->p++;
        }
        if (x->p >= x->end || *x->p != q) {
            x->what = "unterminated attribute value";
            return GL_EPARSE;
        }
        x->p++;
    }
}

typedef void (*leaf_cb)(struct xml *x, void *data);

/* Closes the innermost element, reporting it to cb when it had no children. */
static void close_element(struct xml *x, leaf_cb cb, void *data)
{
    if (x->leaf) {
        cb(x, data);
    }
    x->leaf = false;
    x->depth--;
    gl_buf_reset(&x->text);
}

/* Reads a start tag (x->p just past '<'). */
static int start_tag(struct xml *x, leaf_cb cb, void *data)
{
    const char *name = x->p;
    size_t n = read_name(x);
    bool empty = false;

    if (n == 0) {
        x->what = "malformed start tag";
        return GL_EPARSE;
    }
    if (x->depth == MAX_DEPTH || (x->depth == 0 && x->root_seen)) {
        x->what = x->depth == 0 ? "more than one root element" : "nested too deep";
        return GL_EPARSE;
    }
    int rc = attributes(x, &empty);
    if (rc < 0) {
        return rc;
    }
    x->root_seen = true;
    x->name[x->depth] = name;
    x->name_len[x->depth] = n;
    x->depth++;
    x->leaf = true;
    gl_buf_reset(&x->text);
    if (empty) {
        close_element(x, cb, data);
    }
    return 0;
}

/* Reads an end tag (x->p just past "</"); it must close the innermost element. */
static int end_tag(struct xml *x, leaf_cb cb, void *data)
{
    const char *name = x->p;
    size_t n = read_name(x);

    while (x->p < x->end && is_ws(*x->p)) {
        x->p++;
    }
    if (x->p >= x->end || *x->p != '>' || x->depth == 0 || n != x->name_len[x->depth - 1] ||
        memcmp(name, x->name[x->depth - 1], n) != 0) {
        x->what = "mismatched end tag";
        return GL_EPARSE;
    }
    x->p++;
    close_element(x, cb, data);
    return 0;
}

/* Walks the whole document, calling cb at the end of each leaf element. */
static int walk(struct xml *x, leaf_cb cb, void *data)
{
    while (x->p < x->end) {
        int rc = 0;
        if (*x->p != '<') {
            rc = text(x);
        } else if (x->end - x->p >= 4 && memcmp(x->p, "<!--", 4) == 0) {
            x->p += 4;
            rc = skip_past(x, "-->") ? 0 : GL_EPARSE;
            x->what = "unterminated comment";
        } else if (x->end - x->p >= 2 && x->p[1] == '?' && !x->root_seen) {
            rc = skip_past(x, "?>") ? 0 : GL_EPARSE;
            x->what = "unterminated declaration";
        } else if (x->end - x->p >= 2 && x->p[1] == '/') {
            x->p += 2;
            rc = end_tag(x, cb, data);
        } else {
            x->p++;
            rc = start_tag(x, cb, data);
        }
        if (rc < 0) {
            return rc;
        }
    }
    if (x->depth != 0 || !x->root_seen) {
        x->what = x->root_seen ? "truncated document" : "no root element";
        return GL_EPARSE;
    }
    return 0;
}

/* ---- STS answers ---- */

struct answer {
    const char *action;
    struct gl_aws_creds *creds;
    char *expiration;
    char *code;
    char *message;
    bool is_error;
    bool duplicate;
};

static bool name_is(const struct xml *x, int i, const char *prefix, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    return x->name_len[i] == pl + sl && memcmp(x->name[i], prefix, pl) == 0 &&
           memcmp(x->name[i] + pl, suffix, sl) == 0;
}

static void keep(struct answer *a, char **slot, const struct gl_buf *t)
{
    if (*slot != NULL) {
        a->duplicate = true;
        return;
    }
    *slot = gl_strndup(t->data != NULL ? t->data : "", t->len);
}

/* The leaf callback: picks the credential or error fields by their path. */
static void on_leaf(struct xml *x, void *data)
{
    struct answer *a = data;
    int d = x->depth;

    a->is_error = name_is(x, 0, "ErrorResponse", "");
    if (d == 3 && a->is_error && name_is(x, 1, "Error", "")) {
        if (name_is(x, 2, "Code", "")) {
            keep(a, &a->code, &x->text);
        } else if (name_is(x, 2, "Message", "")) {
            keep(a, &a->message, &x->text);
        }
        return;
    }
    if (d != 4 || !name_is(x, 0, a->action, "Response") || !name_is(x, 1, a->action, "Result") ||
        !name_is(x, 2, "Credentials", "")) {
        return;
    }
    if (name_is(x, 3, "AccessKeyId", "")) {
        keep(a, &a->creds->access_key_id, &x->text);
    } else if (name_is(x, 3, "SecretAccessKey", "")) {
        keep(a, &a->creds->secret_access_key, &x->text);
    } else if (name_is(x, 3, "SessionToken", "")) {
        keep(a, &a->creds->session_token, &x->text);
    } else if (name_is(x, 3, "Expiration", "")) {
        keep(a, &a->expiration, &x->text);
    }
}

/* Turns what was collected into the outcome of gl__aws_sts_parse(). */
static int conclude(struct answer *a, char *err, size_t errlen)
{
    struct gl_aws_creds *c = a->creds;

    if (a->duplicate) {
        snprintf(err, errlen, "a field appears twice in the STS answer");
        return GL_EPARSE;
    }
    if (a->is_error) {
        if (a->code == NULL || a->code[0] == '\0') {
            snprintf(err, errlen, "STS error answer without a code");
            return GL_EPARSE;
        }
        snprintf(err, errlen, "%s: %s", a->code, a->message != NULL ? a->message : "");
        return GL_EINVAL;
    }
    if (c->access_key_id == NULL || c->access_key_id[0] == '\0' || c->secret_access_key == NULL ||
        c->secret_access_key[0] == '\0' || c->session_token == NULL ||
        c->session_token[0] == '\0' || a->expiration == NULL) {
        snprintf(err, errlen, "the STS answer lacks %sResult/Credentials fields", a->action);
        return GL_EPARSE;
    }
    if (gl_timefmt_parse_rfc3339_sec(a->expiration, strlen(a->expiration), &c->expiration) < 0) {
        snprintf(err, errlen, "the STS answer has an unreadable Expiration");
        return GL_EPARSE;
    }
    return 0;
}

int gl__aws_sts_parse(const char *xml, size_t len, const char *action, struct gl_aws_creds *out,
                      char *err, size_t errlen)
{
    struct xml x = {.p = xml, .end = xml + len};
    struct answer a = {.action = action, .creds = out};

    memset(out, 0, sizeof(*out));
    gl_buf_init(&x.text);
    int rc = walk(&x, on_leaf, &a);
    if (rc < 0) {
        snprintf(err, errlen, "unreadable STS answer: %s at byte %zu", x.what, (size_t)(x.p - xml));
    } else {
        a.is_error = x.name_len[0] == 13 && memcmp(x.name[0], "ErrorResponse", 13) == 0;
        rc = conclude(&a, err, errlen);
    }
    if (rc < 0) {
        gl_aws_creds_clear(out);
    }
    gl_buf_close(&x.text);
    gl_free(a.expiration);
    gl_free(a.code);
    gl_free(a.message);
    return rc;
}

/* ---- requests ---- */

/* Regions whose STS endpoint is the global one under AWS_STS_REGIONAL_ENDPOINTS=legacy. */
static bool legacy_global(const char *region)
{
    static const char *const regions[] = {
        "ap-northeast-1", "ap-south-1",   "ap-southeast-1", "ap-southeast-2",
        "aws-global",     "ca-central-1", "eu-central-1",   "eu-north-1",
        "eu-west-1",      "eu-west-2",    "eu-west-3",      "sa-east-1",
        "us-east-1",      "us-east-2",    "us-west-1",      "us-west-2",
    };
    for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
        if (strcmp(region, regions[i]) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * The STS URL: sts_endpoint, AWS_ENDPOINT_URL_STS, the global endpoint under
 * AWS_STS_REGIONAL_ENDPOINTS=legacy, else https://sts.<region>.amazonaws.com
 * (.com.cn in China). Sets *sign_region to the region requests are signed for.
 */
static char *sts_url(const struct gl_aws_provider *p, const char **sign_region)
{
    const char *mode = gl__aws_getenv("AWS_STS_REGIONAL_ENDPOINTS");
    const char *url = p->set.sts_endpoint;
    struct gl_buf b;

    gl_buf_init(&b);
    *sign_region = p->set.region;
    if (url == NULL) {
        url = gl__aws_getenv("AWS_ENDPOINT_URL_STS");
    }
    if (url != NULL) {
        gl_buf_puts(&b, url);
    } else if (mode != NULL && strcmp(mode, "legacy") == 0 && legacy_global(p->set.region)) {
        gl_buf_puts(&b, "https://sts.amazonaws.com");
        *sign_region = "us-east-1";
    } else {
        gl_buf_printf(&b, "https://sts.%s.amazonaws.com%s", p->set.region,
                      strncmp(p->set.region, "cn-", 3) == 0 ? ".cn" : "");
    }
    const char *scheme = strstr(b.data, "://");
    if (scheme == NULL || strchr(scheme + 3, '/') == NULL) {
        gl_buf_putc(&b, '/');
    }
    return gl_buf_take(&b);
}

/* "gleaner-<hostname>" (or AWS_ROLE_SESSION_NAME), limited to STS's characters and 64 bytes. */
static void session_name(struct gl_buf *b)
{
    const char *env = gl__aws_getenv("AWS_ROLE_SESSION_NAME");
    char host[64] = "host";
    char name[65];

    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "host");
    }
    host[sizeof(host) - 1] = '\0';
    snprintf(name, sizeof(name), env != NULL ? "%s" : "gleaner-%s", env != NULL ? env : host);
    for (char *c = name; *c != '\0'; c++) {
        if ((!name_char(*c) || *c == ':') && strchr("+=,@", *c) == NULL) {
            *c = '-';
        }
    }
    gl__aws_urlencode(b, name);
}

/*
 * Ends an STS call: parses a 200 answer for action, or turns anything else
 * into a message naming the action, the STS code and the HTTP status.
 */
static void sts_done(struct gl_aws_provider *p, const char *action,
                     const struct gl_http_response *resp)
{
    char msg[GL_AWS_ERR_MAX - 64];
    char err[GL_AWS_ERR_MAX];
    struct gl_aws_creds c;

    if (resp->err != NULL) {
        snprintf(err, sizeof(err), "STS %s: %s%s%s", action, resp->err,
                 resp->detail != NULL ? ": " : "", resp->detail != NULL ? resp->detail : "");
        gl__aws_link_done(p, NULL, err);
        return;
    }
    int rc = gl__aws_sts_parse(resp->body, resp->body_len, action, &c, msg, sizeof(msg));
    if (rc == 0 && resp->status == 200) {
        gl__aws_link_done(p, &c, NULL);
        return;
    }
    gl_aws_creds_clear(&c);
    if (resp->status == 200 || rc == GL_EINVAL) {
        snprintf(err, sizeof(err), "STS %s: %s (HTTP %ld)", action, msg, resp->status);
    } else {
        snprintf(err, sizeof(err), "STS %s: HTTP %ld", action, resp->status);
    }
    gl__aws_link_done(p, NULL, err);
}

static void on_web_identity(void *data, const struct gl_http_response *resp)
{
    sts_done(data, "AssumeRoleWithWebIdentity", resp);
}

static void on_assume_role(void *data, const struct gl_http_response *resp)
{
    sts_done(data, "AssumeRole", resp);
}

bool gl__aws_web_identity_configured(void)
{
    return gl__aws_getenv("AWS_ROLE_ARN") != NULL &&
           gl__aws_getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != NULL;
}

/* Reads the token file afresh and posts AssumeRoleWithWebIdentity (unsigned). */
void gl__aws_web_identity_fetch(struct gl_aws_provider *p)
{
    const char *path = gl__aws_getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *region = NULL;
    char *token = NULL;
    size_t len = 0;
    struct gl_buf body;

    int rc = gl__aws_read_file(path, TOKEN_FILE_MAX, &token, &len);
    if (rc < 0 || len == 0) {
        char err[GL_AWS_ERR_MAX];
        snprintf(err, sizeof(err), "web identity token file %s: %s", path,
                 rc < 0 ? gl_strerror(rc) : "empty");
        gl_free(token);
        gl__aws_link_done(p, NULL, err);
        return;
    }
    gl_buf_init(&body);
    gl_buf_puts(&body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=");
    gl__aws_urlencode(&body, gl__aws_getenv("AWS_ROLE_ARN"));
    gl_buf_puts(&body, "&RoleSessionName=");
    session_name(&body);
    gl_buf_puts(&body, "&WebIdentityToken=");
    gl__aws_urlencode(&body, token);
    memset(token, 0, len);
    gl_free(token);
    char *url = sts_url(p, &region);
    struct gl_http_request *r = gl_http_new(&p->http, GL_POST, url);
    gl_free(url);
    gl_http_header(r, "Content-Type", FORM_TYPE);
    size_t n = body.len;
    gl_http_body_take(r, gl_buf_take(&body), n);
    gl_http_send(r, on_web_identity, p);
}

/*
 * Splits url into the host (with a port that is not the scheme's default)
 * and the path signed; both are borrowed views copied into the buffers.
 */
static void split_url(const char *url, char *host, size_t hostlen, const char **path)
{
    const char *h = strstr(url, "://");
    h = h != NULL ? h + 3 : url;
    const char *slash = strchr(h, '/');
    size_t n = slash != NULL ? (size_t)(slash - h) : strlen(h);
    *path = slash != NULL ? slash : "/";
    snprintf(host, hostlen, "%.*s", (int)n, h);
    size_t hl = strlen(host);
    bool https = strncmp(url, "https://", 8) == 0;
    const char *dflt = https ? ":443" : ":80";
    if (hl > strlen(dflt) && strcmp(host + hl - strlen(dflt), dflt) == 0) {
        host[hl - strlen(dflt)] = '\0';
    }
}

/* Posts AssumeRole for role_arn (and external_id), signed with the chain's credentials. */
void gl__aws_assume_role_fetch(struct gl_aws_provider *p, const struct gl_aws_creds *base)
{
    const char *region = NULL;
    const char *path = NULL;
    char host[256];
    struct gl_buf body;
    struct gl_sigv4_result sig;

    gl_buf_init(&body);
    gl_buf_puts(&body, "Action=AssumeRole&Version=2011-06-15&RoleArn=");
    gl__aws_urlencode(&body, p->set.role_arn);
    gl_buf_puts(&body, "&RoleSessionName=");
    session_name(&body);
    if (p->set.external_id != NULL) {
        gl_buf_puts(&body, "&ExternalId=");
        gl__aws_urlencode(&body, p->set.external_id);
    }
    char *url = sts_url(p, &region);
    split_url(url, host, sizeof(host), &path);
    struct gl_sigv4_header type = {.name = "Content-Type", .value = FORM_TYPE};
    struct gl_sigv4_request req = {
        .method = "POST",
        .host = host,
        .path = path,
        .headers = &type,
        .n_headers = 1,
        .payload = body.data,
        .payload_len = body.len,
        .region = region,
        .service = "sts",
        .now = time(NULL),
    };
    if (gl_sigv4_sign(&req, base, &sig) < 0) {
        gl_free(url);
        gl_buf_close(&body);
        gl__aws_link_done(p, NULL, "STS AssumeRole: the request cannot be signed");
        return;
    }
    struct gl_http_request *r = gl_http_new(&p->http, GL_POST, url);
    gl_free(url);
    gl_http_header(r, "Content-Type", FORM_TYPE);
    gl_http_header(r, "X-Amz-Date", sig.amz_date);
    gl_http_header(r, "Authorization", sig.authorization);
    if (sig.security_token != NULL) {
        gl_http_header(r, "X-Amz-Security-Token", sig.security_token);
    }
    size_t n = body.len;
    gl_http_body_take(r, gl_buf_take(&body), n);
    gl_http_send(r, on_assume_role, p);
}
