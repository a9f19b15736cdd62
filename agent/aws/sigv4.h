/*
 * AWS Signature Version 4, shared by every AWS call (CloudWatch Logs, STS,
 * Amazon OpenSearch, Amazon Managed Prometheus). Pure computation: the
 * caller builds the request, this module returns the headers to add.
 * OpenSSL provides SHA-256 and HMAC. The derived signing key is cached per
 * (secret, date, region, service), so a busy output signs with one HMAC and
 * three SHA-256 (payload, canonical request, secret's cache identity).
 */
#ifndef GL_AWS_SIGV4_H
#define GL_AWS_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/buf.h"

struct gl_aws_creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;    /* NULL for long-term keys */
    int64_t expiration;     /* Unix seconds; 0 when they do not expire */
};

struct gl_sigv4_header {
    const char *name;
    const char *value;
};

/*
 * What is signed. Strings are borrowed.
 *
 * path is the raw path, NOT percent-encoded ("/my index/_bulk"); NULL or ""
 * mean "/", anything else must start with '/'. The path to put in the URL is
 * gl_sigv4_uri_path()'s output, never path itself: the signature covers that
 * exact form. query is the query string exactly as it goes in the URL after
 * '?' (already percent-encoded; '+' is a literal plus, write spaces as %20).
 * A URL for libcurl is therefore
 *   "https://" host  gl_sigv4_uri_path(path)  ["?" query]
 * The output has no dot segments left for curl to squash, except with
 * s3_path_rules, where the caller sets CURLOPT_PATH_AS_IS.
 *
 * headers are the other headers sent and signed, names in any case. As in
 * botocore, Authorization, Expect, User-Agent, X-Amzn-Trace-Id and X-Amz-Date
 * are not signed (the last is always the result's amz_date), a given
 * X-Amz-Security-Token is replaced by the credentials' token when they have
 * one, a Host header overrides host, and a given X-Amz-Content-SHA256 value
 * (say "UNSIGNED-PAYLOAD") is used as the payload hash. A Date header is
 * refused (GL_EINVAL): botocore would sign it instead of X-Amz-Date.
 */
struct gl_sigv4_request {
    const char *method;          /* "POST" (upper-cased when signed) */
    const char *host;            /* "logs.us-east-1.amazonaws.com" (with :port when not default) */
    const char *path;            /* raw, not encoded: "/" or "/my index/_bulk" (see above) */
    const char *query;           /* as sent, without '?', or NULL */
    const struct gl_sigv4_header *headers;  /* Content-Type, X-Amz-Target... (see above) */
    size_t n_headers;
    const char *payload;
    size_t payload_len;
    const char *payload_sha256;  /* or, for a body streamed later, its hash (gl_sha256_hex) */
    const char *region;          /* "us-east-1" */
    const char *service;         /* "logs", "sts", "es", "aps" */
    time_t now;                  /* signing time (Unix seconds) */
    int s3_path_rules;           /* 1: no double encoding or path normalisation (S3 only) */
};

/* The headers the caller must add to the request, NUL-terminated values. */
struct gl_sigv4_result {
    char authorization[512];
    char amz_date[17];           /* X-Amz-Date: 20240501T120000Z */
    char content_sha256[65];     /* hex SHA-256 of the payload (X-Amz-Content-Sha256 for es/aps) */
    const char *security_token;  /* X-Amz-Security-Token, or NULL */
};

/*
 * Signs a request as botocore's SigV4Auth does: canonical URI (the path as
 * gl_sigv4_uri_path() sends it, percent-encoded once more for services other
 * than S3), canonical query (split on '&', each piece at its first '=', both
 * halves %XX-decoded and re-encoded with RFC 3986 unreserved characters
 * kept, sorted by name then value), canonical headers (host, x-amz-date,
 * x-amz-security-token when the credentials have a non-empty token, and the
 * given ones; names lower-cased, values trimmed with inner runs of
 * whitespace folded to one space, repeated names joined with ',', sorted),
 * signed headers, payload hash, string to sign, signing key (cached per
 * secret, day, region and service), signature. out->content_sha256 is
 * always the payload's hash; callers add it as X-Amz-Content-Sha256 where
 * the service wants it (es, aps, s3), listing it in headers so it is signed.
 * Returns 0, GL_EINVAL when an argument is missing or invalid (or a Date
 * header is given), GL_ELIMIT when the Authorization header would not fit
 * in out->authorization, GL_EIO when OpenSSL fails; out is zeroed on error.
 */
int gl_sigv4_sign(const struct gl_sigv4_request *req, const struct gl_aws_creds *creds,
                  struct gl_sigv4_result *out);

/*
 * The canonical request and string to sign gl_sigv4_sign() uses for req,
 * appended to the two buffers (for tests and debugging). Same returns.
 */
int gl_sigv4_canonical(const struct gl_sigv4_request *req, const struct gl_aws_creds *creds,
                       struct gl_buf *canonical, struct gl_buf *string_to_sign);

/*
 * Appends to b the path to send for a raw path: every byte but RFC 3986
 * unreserved ones and '/' percent-encoded (UTF-8 bytes as they are), then,
 * unless s3_path_rules, "." and ".." segments resolved and empty segments
 * dropped (a trailing '/' kept). NULL or "" is "/". "/my index/../a b//c/"
 * gives "/a%20b/c/".
 */
void gl_sigv4_uri_path(struct gl_buf *b, const char *path, int s3_path_rules);

/*
 * SHA-256 over pieces, for a body that is hashed as it is produced and never
 * held whole. gl_sha256_begin() returns 0 or GL_EIO (libcrypto missing);
 * gl_sha256_hex() writes the hex digest (65 bytes with the NUL), frees the
 * state and returns 0 or GL_EIO; after a failed begin it only fails.
 */
struct gl_sha256 {
    void *ctx;
    int failed;
};
int gl_sha256_begin(struct gl_sha256 *h);
void gl_sha256_add(struct gl_sha256 *h, const void *p, size_t n);
int gl_sha256_hex(struct gl_sha256 *h, char out[65]);

/* Wipes every cached signing key (at exit, or after credentials were revoked). */
void gl_sigv4_forget(void);

/*
 * Frees and zeroes c, wiping the strings first; c may be NULL. copy makes
 * dst a deep copy of src; dst must be zeroed or hold credentials, which are
 * cleared first (copying onto itself does nothing).
 */
void gl_aws_creds_clear(struct gl_aws_creds *c);
void gl_aws_creds_copy(struct gl_aws_creds *dst, const struct gl_aws_creds *src);

#endif
