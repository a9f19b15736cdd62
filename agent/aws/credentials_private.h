/*
 * Shared between the files of the credential chain: credentials.c (the
 * provider: cache, refresh, waiters), credentials_sts.c (STS calls and their
 * XML answers), credentials_file.c (environment, shared files, small file
 * reads) and credentials_metadata.c (Pod Identity and IMDS). Expiration
 * times are read with gl_timefmt_parse_rfc3339_sec() (agent/codec/timefmt.c).
 * Each link reports its outcome once with gl__aws_link_done().
 */
#ifndef GL_AWS_CREDENTIALS_PRIVATE_H
#define GL_AWS_CREDENTIALS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/credentials.h"

#define GL_AWS_ERR_MAX 512

struct gl_aws_waiter;
struct gl_metric;

/* Sources a failure can be counted under: the links, imds_region, assume_role, chain, http. */
#define GL_AWS_SOURCES_MAX 10

struct gl_aws_provider {
    uv_loop_t *loop;
    struct gl_instance *ins;
    struct gl_aws_settings set; /* copied; region resolved at creation */
    struct gl_http_client http; /* STS and Pod Identity */
    struct gl_http_client imds; /* short timeouts */
    bool clients_ready;
    bool closing;
    uv_timer_t *timer; /* refresh ahead of expiry, or retry after a failure */

    struct gl_aws_creds creds; /* the current ones when have_creds */
    bool have_creds;
    char source[48];
    int64_t refresh_at; /* Unix seconds; 0 when they never expire */

    bool refreshing;          /* single flight */
    const char *link;         /* the link of the refresh in flight */
    struct gl_aws_creds base; /* the chain's credentials while role_arn is assumed */
    char *imds_token;         /* IMDSv2 session token of the refresh in flight */
    unsigned failures;        /* consecutive, for the back-off */
    uint64_t retry_at_ms;     /* uv_now() before which no new attempt starts */
    uint64_t invalidated_ms;  /* last honoured gl_aws_provider_invalidate() */
    uint64_t rnd;
    char last_err[GL_AWS_ERR_MAX];
    /* gleaner_aws_credentials_refresh_failures_total{source} of ins (none without ins) */
    struct gl_metric *m_failures;
    const char *failed_source[GL_AWS_SOURCES_MAX];
    uint64_t *failed[GL_AWS_SOURCES_MAX];

    struct gl_aws_waiter *waiters;
    struct gl_aws_waiter **waiters_tail;
};

/*
 * Ends the current link: creds (moved from, then cleared) on success, or
 * NULL and a message without secrets. Called once per link started.
 */
void gl__aws_link_done(struct gl_aws_provider *p, struct gl_aws_creds *creds, const char *err);

/* ---- links (each ends with gl__aws_link_done) ---- */

/* The region from IMDSv2's placement/region, before the chain; ends with gl__aws_region_done. */
void gl__aws_imds_region_fetch(struct gl_aws_provider *p);
void gl__aws_region_done(struct gl_aws_provider *p, const char *region, const char *err);

/* Environment and shared files: synchronous; return false when not configured. */
bool gl__aws_env_configured(void);
void gl__aws_env_fetch(struct gl_aws_provider *p);
bool gl__aws_file_fetch(struct gl_aws_provider *p);

bool gl__aws_web_identity_configured(void);
void gl__aws_web_identity_fetch(struct gl_aws_provider *p);
void gl__aws_assume_role_fetch(struct gl_aws_provider *p, const struct gl_aws_creds *base);

bool gl__aws_container_configured(void);
void gl__aws_container_fetch(struct gl_aws_provider *p);
bool gl__aws_imds_disabled(void);
void gl__aws_imds_fetch(struct gl_aws_provider *p);

/* ---- parsers of outside input (fuzzed in tests/fuzz/fuzz_aws_sts.c) ---- */

/*
 * Reads an STS answer: <ACTIONResponse><ACTIONResult><Credentials> with
 * AccessKeyId, SecretAccessKey, SessionToken and Expiration into out (0), or
 * <ErrorResponse><Error> with Code and Message into err ("Code: Message",
 * GL_EINVAL). GL_EPARSE with the reason in err for anything else.
 */
int gl__aws_sts_parse(const char *xml, size_t len, const char *action, struct gl_aws_creds *out,
                      char *err, size_t errlen);

/*
 * Finds profile in a shared credentials file (config false: [name]) or
 * config file (config true: [profile name], or [default]) and copies its
 * aws_access_key_id, aws_secret_access_key and aws_session_token into out.
 * Returns 0, or GL_ENOENT when the profile or one of the two keys is missing.
 */
int gl__aws_ini_profile(const char *text, size_t len, const char *profile, bool config,
                        struct gl_aws_creds *out);

/*
 * Reads a JSON credentials answer (Pod Identity, IMDS): AccessKeyId,
 * SecretAccessKey, Token, Expiration, and Code when present must be
 * "Success". Returns 0, or GL_EPARSE with the reason in err.
 */
int gl__aws_json_creds(const char *body, size_t len, struct gl_aws_creds *out, char *err,
                       size_t errlen);

/* ---- helpers ---- */

/* Reads a file of at most max bytes, trailing white space cut; GL_ENOENT, GL_ELIMIT, GL_EIO. */
int gl__aws_read_file(const char *path, size_t max, char **out, size_t *len);

/* Appends s to b percent-encoded (RFC 3986 unreserved characters kept). */
void gl__aws_urlencode(struct gl_buf *b, const char *s);

/* Whether an environment variable is set to a non-empty value. */
const char *gl__aws_getenv(const char *name);

#endif
