/*
 * The AWS credential chain EKS uses, in order, each overridable by config:
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   2. web identity (IRSA): AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE -> STS
 *      AssumeRoleWithWebIdentity on the regional endpoint (token re-read each refresh;
 *      sts_endpoint, else AWS_ENDPOINT_URL_STS, else https://sts.<region>.amazonaws.com,
 *      or the global one under AWS_STS_REGIONAL_ENDPOINTS=legacy)
 *   3. container credentials (EKS Pod Identity): AWS_CONTAINER_CREDENTIALS_FULL_URI
 *      + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (or _TOKEN)
 *   4. shared credentials/config files with AWS_PROFILE
 *   5. IMDSv2: token PUT with TTL, then the instance role's credentials
 * plus an optional role_arn (+ external_id) assumed on top with STS AssumeRole.
 *
 * A provider is asynchronous (HTTP through agent/net/http_client.c): callers ask
 * with gl_aws_provider_get() and get the current credentials at once when
 * they are fresh, or a callback when a refresh completes. Credentials are
 * refreshed well before Expiration (5 minutes, or 1/4 of their life);
 * gl_aws_provider_invalidate() forces one refresh after an ExpiredToken or
 * UnrecognizedClient answer. The first link that is configured is used
 * (IMDS when none is, unless AWS_EC2_METADATA_DISABLED=true); when it fails,
 * the waiting callers get the message, the chain does not fall through, and
 * a retry follows with back-off. Secrets never appear in log lines.
 */
#ifndef GL_AWS_CREDENTIALS_H
#define GL_AWS_CREDENTIALS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "aws/sigv4.h"
#include "net/http_client.h"

struct gl_instance;

/* Settings, usually filled from a plugin's option table (GL_AWS_OPTIONS below). */
struct gl_aws_settings {
    char *region;
    char *role_arn;           /* assumed on top of the chain's credentials */
    char *external_id;
    char *sts_endpoint;       /* override, e.g. https://sts.us-east-1.amazonaws.com or a test URL */
    char *profile;            /* default: AWS_PROFILE or "default" */
    char *imds_endpoint;      /* default AWS_EC2_METADATA_SERVICE_ENDPOINT or 169.254.169.254 */
};

#define GL_AWS_OPTIONS(T, F)                                                                  \
    { .name = "region", .type = GL_OPT_STR, .offset = offsetof(T, F.region),                   \
      .help = "AWS region (default AWS_REGION, AWS_DEFAULT_REGION, else instance metadata's)." }, \
    { .name = "role_arn", .type = GL_OPT_STR, .offset = offsetof(T, F.role_arn),               \
      .help = "A role to assume (STS AssumeRole) with the credentials found." },              \
    { .name = "external_id", .type = GL_OPT_STR, .offset = offsetof(T, F.external_id),         \
      .help = "External ID for role_arn." },                                                   \
    { .name = "sts_endpoint", .type = GL_OPT_STR, .offset = offsetof(T, F.sts_endpoint),       \
      .help = "STS endpoint (default the regional one)." },                                     \
    { .name = "profile", .type = GL_OPT_STR, .offset = offsetof(T, F.profile),                 \
      .help = "Profile of the shared credentials file (default AWS_PROFILE)." },                 \
    { .name = "imds_endpoint", .type = GL_OPT_STR, .offset = offsetof(T, F.imds_endpoint),     \
      .help = "Instance metadata endpoint (default AWS_EC2_METADATA_SERVICE_ENDPOINT)." }

/* The same settings under Fluent Bit's aws_-prefixed names (es, prometheus_remote_write). */
#define GL_AWS_PREFIXED_OPTIONS(T, F)                                                         \
    { .name = "aws_region", .type = GL_OPT_STR, .offset = offsetof(T, F.region),               \
      .help = "AWS region for SigV4 (default AWS_REGION, AWS_DEFAULT_REGION, else IMDS's)." }, \
    { .name = "aws_role_arn", .type = GL_OPT_STR, .offset = offsetof(T, F.role_arn),           \
      .help = "A role to assume (STS AssumeRole) with the credentials found." },              \
    { .name = "aws_external_id", .type = GL_OPT_STR, .offset = offsetof(T, F.external_id),     \
      .help = "External ID for aws_role_arn." },                                               \
    { .name = "aws_sts_endpoint", .type = GL_OPT_STR, .offset = offsetof(T, F.sts_endpoint),   \
      .help = "STS endpoint (default the regional one)." },                                     \
    { .name = "aws_profile", .type = GL_OPT_STR, .offset = offsetof(T, F.profile),             \
      .help = "Profile of the shared credentials file (default AWS_PROFILE)." }

struct gl_aws_provider;

/* Called once with the credentials (borrowed until return), or NULL and an error message. */
typedef void (*gl_aws_creds_cb)(void *data, const struct gl_aws_creds *creds, const char *err);

/*
 * Creates a provider for settings (copied) whose timers run on loop. The
 * settings of `http` (TLS, timeouts, response_max) are copied into the
 * provider's own client for STS and Pod Identity calls; IMDS calls use a
 * second one with a 1 s connect timeout. Neither starts libcurl before the
 * first gl_aws_provider_get(). Log lines are about ins (may be NULL).
 * Without a region in the settings or the environment, instance metadata
 * (IMDSv2, placement/region) is asked before the first credentials.
 * Returns NULL with a message in err when the settings are unusable (no
 * region and instance metadata disabled).
 */
struct gl_aws_provider *gl_aws_provider_new(const struct gl_aws_settings *s, uv_loop_t *loop,
                                            const struct gl_http_client *http,
                                            struct gl_instance *ins, char *err, size_t errlen);
/*
 * Cancels the refresh in flight, runs the callbacks still waiting with an
 * error, closes the timer (freed by its close callback on the next loop
 * turn) and frees everything else. Not to be called from a gl_aws_creds_cb.
 */
void gl_aws_provider_free(struct gl_aws_provider *p);

/*
 * Gets credentials. When they are fresh, cb runs before this returns;
 * otherwise after the refresh (callers waiting on one refresh share it).
 */
void gl_aws_provider_get(struct gl_aws_provider *p, gl_aws_creds_cb cb, void *data);

/*
 * The backend rejected the credentials: they are dropped and the next get
 * refreshes them. At most once a minute; calls in between are ignored.
 */
void gl_aws_provider_invalidate(struct gl_aws_provider *p);

/*
 * Which link of the chain the current credentials came from: "env",
 * "web_identity", "container", "shared_file", "imds", each followed by
 * "+assume_role" when role_arn is set; "" before the first success.
 */
const char *gl_aws_provider_source(const struct gl_aws_provider *p);

/*
 * The region in use: the settings', AWS_REGION, AWS_DEFAULT_REGION, or
 * instance metadata's. NULL while instance metadata has not answered yet:
 * it is known once credentials were delivered.
 */
const char *gl_aws_provider_region(const struct gl_aws_provider *p);

#endif
