/*
 * AWS Signature Version 4: turns a request the caller has built into the
 * headers that authenticate it (Authorization, X-Amz-Date, the payload hash,
 * the session token). Every AWS output and the STS calls of the credential
 * chain sign through here; the module does no I/O.
 *
 * It owns one thing: a small cache of derived signing keys, one per
 * (secret, day, region, service), so a busy output derives a key once a day
 * instead of four HMACs per request. Entries are told apart by the secret's
 * SHA-256, never the secret itself, and a key leaving the cache is wiped
 * with explicit_bzero. libcrypto does the hashing; it is loaded with the
 * first signature (dl.h), from whichever thread signs first.
 *
 * Invariant: the canonical request is byte for byte the one botocore's
 * SigV4Auth builds for the same request (its path, query, header and payload
 * rules, quirks included); the unit test checks it against botocore.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/sigv4.h"
#include "net/dl.h"
#include "util/error.h"
#include "util/mem.h"

#define KEY_SLOTS 4
#define SCOPE_PART_MAX 32 /* longest region or service name the cache holds */

struct key_slot {
    uint64_t used;               /* last use (tick); 0 when the slot is empty */
    unsigned char secret_id[32]; /* SHA-256 of the secret access key */
    char date[9];                /* yyyymmdd */
    char region[SCOPE_PART_MAX];
    char service[SCOPE_PART_MAX];
    unsigned char key[32]; /* kSigning */
};

static struct key_slot key_cache[KEY_SLOTS];
static uint64_t key_tick;
static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;

/* One header of the canonical list: lower-cased name, trimmed value, given order. */
struct canon_header {
    char *name;
    char *value;
    size_t order;
};

/* One query parameter, both halves percent-encoded the canonical way. */
struct canon_param {
    char *key;
    char *value;
};

/* Everything the string to sign and the Authorization header are made of. */
struct signing {
    char amz_date[17];
    char date[9];
    char payload_hash[65];
    const char *token; /* the session token, or NULL */
    struct gl_buf signed_headers;
};

/* ---- hashing ---------------------------------------------------------- */

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/*
 * SHA-256 of data into md (32 bytes). Returns 0, or GL_EIO when OpenSSL
 * fails or libcrypto cannot be loaded (gl_aws_provider_new() has said why).
 */
static int sha256(const void *data, size_t n, unsigned char md[32])
{
    unsigned int len = 0;
    if (gl_dl_crypto(NULL, 0) < 0 ||
        gl_crypto->evp_digest(data, n, md, &len, gl_crypto->evp_sha256(), NULL) != 1 || len != 32) {
        return GL_EIO;
    }
    return 0;
}

static int sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[32];
    int rc = sha256(data, n, md);
    if (rc == 0) {
        to_hex(md, sizeof(md), out);
    }
    return rc;
}

int gl_sha256_begin(struct gl_sha256 *h)
{
    h->ctx = NULL;
    h->failed = 1;
    if (gl_dl_crypto(NULL, 0) < 0) {
        return GL_EIO;
    }
    EVP_MD_CTX *ctx = gl_crypto->evp_md_ctx_new();
    if (ctx == NULL || gl_crypto->evp_digest_init_ex(ctx, gl_crypto->evp_sha256(), NULL) != 1) {
        if (ctx != NULL) {
            gl_crypto->evp_md_ctx_free(ctx);
        }
        return GL_EIO;
    }
    h->ctx = ctx;
    h->failed = 0;
    return 0;
}

void gl_sha256_add(struct gl_sha256 *h, const void *p, size_t n)
{
    if (!h->failed && n > 0 && gl_crypto->evp_digest_update(h->ctx, p, n) != 1) {
        h->failed = 1;
    }
}

int gl_sha256_hex(struct gl_sha256 *h, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    int rc = GL_EIO;
    if (!h->failed && gl_crypto->evp_digest_final_ex(h->ctx, md, &len) == 1 && len == 32) {
        to_hex(md, sizeof(md), out);
        rc = 0;
    }
    if (h->ctx != NULL) {
        gl_crypto->evp_md_ctx_free(h->ctx);
        h->ctx = NULL;
    }
    h->failed = 1;
    return rc;
}

/* HMAC-SHA256 of msg under key into md (32 bytes; may alias key). Returns 0 or GL_EIO. */
static int hmac(const void *key, size_t key_len, const char *msg, size_t n, unsigned char md[32])
{
    unsigned char out[32];
    unsigned int len = 0;
    if (gl_dl_crypto(NULL, 0) < 0 ||
        gl_crypto->hmac(gl_crypto->evp_sha256(), key, (int)key_len, (const unsigned char *)msg, n,
                        out, &len) == NULL ||
        len != 32) {
        return GL_EIO;
    }
    memcpy(md, out, 32);
    explicit_bzero(out, sizeof(out));
    return 0;
}

/*
 * Derives kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region),
 * service), "aws4_request") into key. Intermediate keys are wiped.
 */
static int derive_key(const char *secret, const char *date, const char *region, const char *service,
                      unsigned char key[32])
{
    size_t n = strlen(secret) + 4;
    char *seed = gl_malloc(n + 1);
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, secret, n - 4);
    int rc = hmac(seed, n, date, strlen(date), key);
    explicit_bzero(seed, n);
    gl_free(seed);
    if (rc == 0) {
        rc = hmac(key, 32, region, strlen(region), key);
    }
    if (rc == 0) {
        rc = hmac(key, 32, service, strlen(service), key);
    }
    if (rc == 0) {
        rc = hmac(key, 32, "aws4_request", 12, key);
    }
    if (rc < 0) {
        explicit_bzero(key, 32);
    }
    return rc;
}

/* ---- signing key cache ------------------------------------------------ */

static struct key_slot *find_slot(const unsigned char id[32], const char *date, const char *region,
                                  const char *service)
{
    for (int i = 0; i < KEY_SLOTS; i++) {
        struct key_slot *s = &key_cache[i];
        if (s->used != 0 && memcmp(s->secret_id, id, 32) == 0 && strcmp(s->date, date) == 0 &&
            strcmp(s->region, region) == 0 && strcmp(s->service, service) == 0) {
            return s;
        }
    }
    return NULL;
}

/* The slot to fill: an empty one, or else the least recently used, wiped. */
static struct key_slot *free_slot(void)
{
    struct key_slot *victim = &key_cache[0];
    for (int i = 1; i < KEY_SLOTS && victim->used != 0; i++) {
        if (key_cache[i].used < victim->used) {
            victim = &key_cache[i];
        }
    }
    explicit_bzero(victim, sizeof(*victim));
    return victim;
}

/*
 * Copies the signing key for (the secret of creds, date, region, service)
 * into key, from the cache or derived and cached. Region and service names
 * too long for a slot are derived every time. Returns 0 or GL_EIO.
 */
static int signing_key(const struct gl_aws_creds *creds, const char *date, const char *region,
                       const char *service, unsigned char key[32])
{
    const char *secret = creds->secret_access_key;
    if (strlen(region) >= SCOPE_PART_MAX || strlen(service) >= SCOPE_PART_MAX) {
        return derive_key(secret, date, region, service, key);
    }
    unsigned char id[32];
    int rc = sha256(secret, strlen(secret), id);
    if (rc < 0) {
        return rc;
    }
    pthread_mutex_lock(&key_lock);
    struct key_slot *s = find_slot(id, date, region, service);
    if (s == NULL) {
        rc = derive_key(secret, date, region, service, key);
        if (rc == 0) {
            s = free_slot();
            memcpy(s->secret_id, id, 32);
            memcpy(s->date, date, sizeof(s->date));
            strcpy(s->region, region);
            strcpy(s->service, service);
            memcpy(s->key, key, 32);
        }
    } else {
        memcpy(key, s->key, 32);
    }
    if (s != NULL) {
        s->used = ++key_tick;
    }
    pthread_mutex_unlock(&key_lock);
    explicit_bzero(id, sizeof(id));
    return rc;
}

/* Wipes the whole cache; the next signature derives its key again. */
void gl_sigv4_forget(void)
{
    pthread_mutex_lock(&key_lock);
    explicit_bzero(key_cache, sizeof(key_cache));
    pthread_mutex_unlock(&key_lock);
}

/* ---- canonical URI ---------------------------------------------------- */

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Appends s percent-encoded: RFC 3986 unreserved bytes (and '/' when asked) kept. */
static void encode(struct gl_buf *b, const char *s, size_t n, int keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            gl_buf_putc(b, (char)c);
        } else {
            char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
            gl_buf_append(b, esc, 3);
        }
    }
}

/*
 * Appends path (n bytes) with "." and ".." segments resolved and empty
 * segments dropped, as botocore's remove_dot_segments: a leading '/' stays,
 * a trailing '/' stays unless nothing is left, and an empty path is "/".
 */
static void remove_dots(struct gl_buf *b, const char *path, size_t n)
{
    if (n == 0 || (n == 1 && path[0] == '/')) {
        gl_buf_putc(b, '/');
        return;
    }
    size_t base = b->len + (path[0] == '/');
    size_t segments = 0;
    if (path[0] == '/') {
        gl_buf_putc(b, '/');
    }
    for (size_t i = 0; i < n;) {
        const char *seg = path + i;
        const char *slash = memchr(seg, '/', n - i);
        size_t len = slash ? (size_t)(slash - seg) : n - i;
        i += len + 1;
        if (len == 0 || (len == 1 && seg[0] == '.')) {
            continue;
        }
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            if (segments > 0) {
                size_t cut = b->len;
                while (cut > base && b->data[cut - 1] != '/') {
                    cut--;
                }
                b->len = cut > base ? cut - 1 : base;
                b->data[b->len] = '\0';
                segments--;
            }
            continue;
        }
        if (segments++ > 0) {
            gl_buf_putc(b, '/');
        }
        gl_buf_append(b, seg, len);
    }
    if (path[n - 1] == '/' && segments > 0) {
        gl_buf_putc(b, '/');
    }
}

/*
 * The path as sent: encoded once, then (unless S3) normalised. Encoding
 * never touches '/' or '.', so normalising after it equals normalising the
 * raw path, as botocore does on the URL it is given.
 */
void gl_sigv4_uri_path(struct gl_buf *b, const char *path, int s3_path_rules)
{
    if (path == NULL || path[0] == '\0') {
        path = "/";
    }
    if (s3_path_rules) {
        encode(b, path, strlen(path), 1);
        return;
    }
    struct gl_buf wire;
    gl_buf_init(&wire);
    encode(&wire, path, strlen(path), 1);
    remove_dots(b, wire.data, wire.len);
    gl_buf_close(&wire);
}

/* The canonical URI: the path as sent, encoded once more unless S3 rules apply. */
static void canonical_uri(struct gl_buf *b, const struct gl_sigv4_request *req)
{
    if (req->s3_path_rules) {
        gl_sigv4_uri_path(b, req->path, 1);
        return;
    }
    struct gl_buf sent;
    gl_buf_init(&sent);
    gl_sigv4_uri_path(&sent, req->path, 0);
    encode(b, sent.data, sent.len, 1);
    gl_buf_close(&sent);
}

/* ---- canonical query -------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/*
 * Returns a query part decoded (%XX escapes only: '+' stays a plus, a bad
 * escape stays as written) and encoded again the canonical way; the caller
 * frees it.
 */
static char *canonical_part(const char *s, size_t n)
{
    struct gl_buf raw, out;
    gl_buf_init(&raw);
    gl_buf_init(&out);
    for (size_t i = 0; i < n; i++) {
        int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
        if (s[i] == '%' && hi >= 0 && lo >= 0) {
            gl_buf_putc(&raw, (char)(hi * 16 + lo));
            i += 2;
        } else {
            gl_buf_putc(&raw, s[i]);
        }
    }
    encode(&out, raw.data, raw.len, 0);
    gl_buf_close(&raw);
    return gl_buf_take(&out);
}

static int param_cmp(const void *a, const void *b)
{
    const struct canon_param *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->value, y->value);
}

/*
 * Appends the canonical query: query split on '&' (every piece counts, an
 * empty one too), each piece split at its first '=' (no '=' means an empty
 * value), both halves re-encoded, sorted by key then value, joined.
 */
static void canonical_query(struct gl_buf *b, const char *query)
{
    if (query == NULL || query[0] == '\0') {
        return;
    }
    size_t n = 1;
    for (const char *p = query; *p; p++) {
        n += *p == '&';
    }
    struct canon_param *params = gl_calloc(n, sizeof(*params));
    const char *piece = query;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(piece, "&");
        const char *eq = memchr(piece, '=', len);
        size_t klen = eq ? (size_t)(eq - piece) : len;
        params[i].key = canonical_part(piece, klen);
        params[i].value = eq ? canonical_part(eq + 1, len - klen - 1) : gl_strdup("");
        piece += len + 1;
    }
    qsort(params, n, sizeof(*params), param_cmp);
    for (size_t i = 0; i < n; i++) {
        gl_buf_printf(b, "%s%s=%s", i ? "&" : "", params[i].key, params[i].value);
        gl_free(params[i].key);
        gl_free(params[i].value);
    }
    gl_free(params);
}

/* ---- canonical headers ------------------------------------------------ */

/*
 * Length of the whitespace character at p (0 when there is none): what
 * Python's str.split() splits on, ASCII and the Unicode spaces in UTF-8.
 */
static size_t space_at(const unsigned char *p, size_t left)
{
    if ((p[0] >= 0x09 && p[0] <= 0x0d) || (p[0] >= 0x1c && p[0] <= 0x20)) {
        return 1;
    }
    if (left >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) {
        return 2;
    }
    if (left < 3) {
        return 0;
    }
    if ((p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) ||
        (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) ||
        (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)) {
        return 3;
    }
    if (p[0] == 0xe2 && p[1] == 0x80 &&
        ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf)) {
        return 3;
    }
    return 0;
}

/* Returns value trimmed, with every inner run of whitespace folded to one space. */
static char *trim_value(const char *value)
{
    const unsigned char *p = (const unsigned char *)value;
    size_t n = strlen(value);
    struct gl_buf b;
    gl_buf_init(&b);
    int gap = 0;
    for (size_t i = 0; i < n;) {
        size_t w = space_at(p + i, n - i);
        if (w > 0) {
            gap = b.len > 0;
            i += w;
            continue;
        }
        if (gap) {
            gl_buf_putc(&b, ' ');
            gap = 0;
        }
        gl_buf_putc(&b, (char)p[i++]);
    }
    return gl_buf_take(&b);
}

static char *lower_dup(const char *s)
{
    char *d = gl_strdup(s);
    for (char *p = d; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') {
            *p = (char)(*p - 'A' + 'a');
        }
    }
    return d;
}

static int header_cmp(const void *a, const void *b)
{
    const struct canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0) {
        return c;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Whether a given header is left out, as botocore leaves it: Authorization
 * (removed before signing), its unsigned list (Expect, User-Agent,
 * X-Amzn-Trace-Id), X-Amz-Date (replaced), X-Amz-Security-Token when the
 * credentials carry a token (replaced).
 */
static int left_out(const char *lname, const char *token)
{
    static const char *const never[] = {
        "authorization", "expect", "user-agent", "x-amzn-trace-id", "x-amz-date",
    };
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        if (strcmp(lname, never[i]) == 0) {
            return 1;
        }
    }
    return token != NULL && strcmp(lname, "x-amz-security-token") == 0;
}

static void add_header(struct canon_header *h, size_t *n, char *lname, const char *value)
{
    h[*n].name = lname;
    h[*n].value = trim_value(value);
    h[*n].order = *n;
    (*n)++;
}

/*
 * Collects the headers to sign into h (room for n_headers + 3): the given
 * ones but those left out, host unless given, x-amz-date, and the session
 * token. Returns how many, or GL_EINVAL (with nothing held) when a Date
 * header is given: botocore would then sign Date instead of X-Amz-Date.
 */
static long collect_headers(struct canon_header *h, const struct gl_sigv4_request *req,
                            const struct signing *sg)
{
    size_t n = 0;
    int have_host = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        char *lname = lower_dup(req->headers[i].name);
        if (strcmp(lname, "date") == 0) {
            gl_free(lname);
            for (size_t j = 0; j < n; j++) {
                gl_free(h[j].name);
                gl_free(h[j].value);
            }
            return GL_EINVAL;
        }
        if (left_out(lname, sg->token)) {
            gl_free(lname);
            continue;
        }
        have_host |= strcmp(lname, "host") == 0;
        add_header(h, &n, lname, req->headers[i].value);
    }
    if (!have_host) {
        char *host = lower_dup(req->host);
        add_header(h, &n, gl_strdup("host"), host);
        gl_free(host);
    }
    add_header(h, &n, gl_strdup("x-amz-date"), sg->amz_date);
    if (sg->token != NULL) {
        add_header(h, &n, gl_strdup("x-amz-security-token"), sg->token);
    }
    return (long)n;
}

/*
 * Appends the canonical headers (one "name:value\n" a name, the values of a
 * repeated name joined with ',' in the order given) and fills the signed
 * header list. Returns 0 or GL_EINVAL (see collect_headers).
 */
static int canonical_headers(struct gl_buf *b, const struct gl_sigv4_request *req,
                             struct signing *sg)
{
    struct canon_header *h = gl_calloc(req->n_headers + 3, sizeof(*h));
    long n = collect_headers(h, req, sg);
    if (n < 0) {
        gl_free(h);
        return (int)n;
    }
    qsort(h, (size_t)n, sizeof(*h), header_cmp);
    for (long i = 0; i < n; i++) {
        if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0) {
            gl_buf_printf(b, ",%s", h[i].value);
            continue;
        }
        gl_buf_printf(b, "%s%s:%s", i > 0 ? "\n" : "", h[i].name, h[i].value);
        if (i > 0) {
            gl_buf_putc(&sg->signed_headers, ';');
        }
        gl_buf_puts(&sg->signed_headers, h[i].name);
    }
    gl_buf_putc(b, '\n');
    for (long i = 0; i < n; i++) {
        gl_free(h[i].name);
        gl_free(h[i].value);
    }
    gl_free(h);
    return 0;
}

/* ---- canonical request and string to sign ----------------------------- */

/* Whether every required field is there and the path, if any, is absolute. */
static int valid(const struct gl_sigv4_request *req, const struct gl_aws_creds *creds)
{
    if (req == NULL || creds == NULL || req->method == NULL || req->host == NULL ||
        req->region == NULL || req->service == NULL || creds->access_key_id == NULL ||
        creds->secret_access_key == NULL || (req->payload == NULL && req->payload_len > 0) ||
        (req->headers == NULL && req->n_headers > 0) ||
        (req->payload_sha256 != NULL && strlen(req->payload_sha256) != 64) ||
        (req->path != NULL && req->path[0] != '\0' && req->path[0] != '/')) {
        return 0;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        if (req->headers[i].name == NULL || req->headers[i].value == NULL) {
            return 0;
        }
    }
    return 1;
}

/*
 * The payload line of the canonical request: the value of a given
 * X-Amz-Content-SHA256 header (the first, as is) when there is one, else
 * the payload's hash.
 */
static const char *payload_line(const struct gl_sigv4_request *req, const struct signing *sg)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, "x-amz-content-sha256") == 0) {
            return req->headers[i].value;
        }
    }
    return sg->payload_hash;
}

/*
 * Builds the canonical request and the string to sign into the (empty)
 * buffers and fills sg. Returns 0, GL_EINVAL or GL_EIO; sg->signed_headers
 * is initialised in every case and the caller closes it.
 */
static int build(const struct gl_sigv4_request *req, const struct gl_aws_creds *creds,
                 struct gl_buf *canonical, struct gl_buf *sts, struct signing *sg)
{
    gl_buf_init(&sg->signed_headers);
    struct tm tm;
    if (!valid(req, creds) || gmtime_r(&req->now, &tm) == NULL ||
        strftime(sg->amz_date, sizeof(sg->amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16) {
        return GL_EINVAL;
    }
    memcpy(sg->date, sg->amz_date, 8);
    sg->date[8] = '\0';
    const char *token = creds->session_token;
    sg->token = token != NULL && token[0] != '\0' ? token : NULL;
    int rc = 0;
    if (req->payload_sha256 != NULL) {
        snprintf(sg->payload_hash, sizeof(sg->payload_hash), "%s", req->payload_sha256);
    } else {
        rc = sha256_hex(req->payload_len > 0 ? req->payload : "", req->payload_len,
                        sg->payload_hash);
    }
    if (rc < 0) {
        return rc;
    }
    for (const char *m = req->method; *m; m++) {
        gl_buf_putc(canonical, (char)(*m >= 'a' && *m <= 'z' ? *m - 'a' + 'A' : *m));
    }
    gl_buf_putc(canonical, '\n');
    canonical_uri(canonical, req);
    gl_buf_putc(canonical, '\n');
    canonical_query(canonical, req->query);
    gl_buf_putc(canonical, '\n');
    rc = canonical_headers(canonical, req, sg);
    if (rc < 0) {
        return rc;
    }
    gl_buf_printf(canonical, "\n%s\n%s", sg->signed_headers.data, payload_line(req, sg));
    char digest[65];
    rc = sha256_hex(canonical->data, canonical->len, digest);
    if (rc < 0) {
        return rc;
    }
    gl_buf_printf(sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", sg->amz_date, sg->date,
                  req->region, req->service, digest);
    return 0;
}

/* The two texts gl_sigv4_sign() hashes, for tests and debug output. */
int gl_sigv4_canonical(const struct gl_sigv4_request *req, const struct gl_aws_creds *creds,
                       struct gl_buf *canonical, struct gl_buf *string_to_sign)
{
    struct signing sg;
    int rc = build(req, creds, canonical, string_to_sign, &sg);
    gl_buf_close(&sg.signed_headers);
    return rc;
}

/* ---- signing ---------------------------------------------------------- */

/*
 * Builds the string to sign, signs it with the (cached) signing key and
 * formats the result. The copy of the signing key is wiped before returning;
 * out holds only what goes on the wire.
 */
int gl_sigv4_sign(const struct gl_sigv4_request *req, const struct gl_aws_creds *creds,
                  struct gl_sigv4_result *out)
{
    struct gl_buf canonical, sts;
    struct signing sg;
    unsigned char key[32], sig[32];
    char sig_hex[65];
    memset(out, 0, sizeof(*out));
    gl_buf_init(&canonical);
    gl_buf_init(&sts);
    int rc = build(req, creds, &canonical, &sts, &sg);
    if (rc == 0) {
        rc = signing_key(creds, sg.date, req->region, req->service, key);
    }
    if (rc == 0) {
        rc = hmac(key, sizeof(key), sts.data, sts.len, sig);
        explicit_bzero(key, sizeof(key));
    }
    if (rc == 0) {
        to_hex(sig, sizeof(sig), sig_hex);
        int n = snprintf(out->authorization, sizeof(out->authorization),
                         "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
                         "SignedHeaders=%s, Signature=%s",
                         creds->access_key_id, sg.date, req->region, req->service,
                         sg.signed_headers.data, sig_hex);
        rc = n > 0 && (size_t)n < sizeof(out->authorization) ? 0 : GL_ELIMIT;
    }
    if (rc == 0) {
        memcpy(out->amz_date, sg.amz_date, sizeof(out->amz_date));
        memcpy(out->content_sha256, sg.payload_hash, sizeof(out->content_sha256));
        out->security_token = sg.token;
    } else {
        memset(out, 0, sizeof(*out));
    }
    gl_buf_close(&sg.signed_headers);
    gl_buf_close(&canonical);
    gl_buf_close(&sts);
    return rc;
}

/* ---- credentials ------------------------------------------------------ */

static void wipe_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        gl_free(s);
    }
}

/* Wipes and frees the three strings; zeroes the rest. */
void gl_aws_creds_clear(struct gl_aws_creds *c)
{
    if (c == NULL) {
        return;
    }
    wipe_free(c->access_key_id);
    wipe_free(c->secret_access_key);
    wipe_free(c->session_token);
    memset(c, 0, sizeof(*c));
}

/* Copies first, clears dst after: dst may share nothing with src but itself. */
void gl_aws_creds_copy(struct gl_aws_creds *dst, const struct gl_aws_creds *src)
{
    if (dst == src) {
        return;
    }
    struct gl_aws_creds copy = {
        .access_key_id = src->access_key_id ? gl_strdup(src->access_key_id) : NULL,
        .secret_access_key = src->secret_access_key ? gl_strdup(src->secret_access_key) : NULL,
        .session_token = src->session_token ? gl_strdup(src->session_token) : NULL,
        .expiration = src->expiration,
    };
    gl_aws_creds_clear(dst);
    *dst = copy;
}
