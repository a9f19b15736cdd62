/*
 * The AWS credential provider: picks the first configured link of the chain
 * (environment, web identity, Pod Identity, shared files, IMDS), assumes
 * role_arn on top when set, caches the result and refreshes it ahead of its
 * Expiration. The links themselves live in credentials_sts.c,
 * credentials_file.c and credentials_metadata.c.
 *
 * The provider owns its two HTTP clients, one timer and the callers waiting
 * for a refresh. Invariant: at most one refresh is in flight (`refreshing`),
 * every waiter is called exactly once, and no secret is ever formatted into
 * a log line or an error message.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "aws/credentials_private.h"
#include "core/log.h"
#include "core/metrics.h"
#include "net/dl.h"
#include "util/error.h"
#include "util/mem.h"
#include "util/retry.h"

#define REFRESH_MARGIN_MAX 300 /* seconds before Expiration, or a quarter of the life */
#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS (5 * 60 * 1000)
#define INVALIDATE_EVERY_MS (60 * 1000)
#define IMDS_CONNECT_MS 1000
#define IMDS_TIMEOUT_MS 3000
#define IMDS_RESPONSE_MAX (64 * 1024)

struct gl_aws_waiter {
    gl_aws_creds_cb cb;
    void *data;
    struct gl_aws_waiter *next;
};

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? gl_strdup(s) : NULL;
}

/* Formats a Unix time as ISO 8601 UTC for log lines. */
static void format_time(char *out, size_t len, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;

    gmtime_r(&tt, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- lifecycle ---- */

/*
 * Copies the settings and resolves the region (settings, AWS_REGION,
 * AWS_DEFAULT_REGION; failing those, instance metadata's, asked before the
 * first credentials). Returns NULL with a message when there is none and
 * instance metadata is disabled, or when libcrypto, which every signature
 * needs, cannot be loaded: loading it here says so at start rather than at
 * the first flush.
 */
struct gl_aws_provider *gl_aws_provider_new(const struct gl_aws_settings *s, uv_loop_t *loop,
                                            const struct gl_http_client *http,
                                            struct gl_instance *ins, char *err, size_t errlen)
{
    const char *region = s->region != NULL && s->region[0] != '\0' ? s->region : NULL;
    if (region == NULL) {
        region = gl__aws_getenv("AWS_REGION");
    }
    if (region == NULL) {
        region = gl__aws_getenv("AWS_DEFAULT_REGION");
    }
    if (region == NULL && gl__aws_imds_disabled()) {
        snprintf(err, errlen, "no AWS region: set region, AWS_REGION or AWS_DEFAULT_REGION "
                 "(instance metadata, which would tell it, is disabled)");
        return NULL;
    }
    if (gl_dl_crypto(err, errlen) < 0) {
        return NULL;
    }
    struct gl_aws_provider *p = gl_calloc(1, sizeof(*p));
    p->loop = loop;
    p->ins = ins;
    p->set.region = region != NULL ? gl_strdup(region) : NULL;
    p->set.role_arn = dup_or_null(s->role_arn);
    p->set.external_id = dup_or_null(s->external_id);
    p->set.sts_endpoint = dup_or_null(s->sts_endpoint);
    p->set.profile = dup_or_null(s->profile);
    p->set.imds_endpoint = dup_or_null(s->imds_endpoint);
    p->http.tls_verify = http->tls_verify;
    p->http.tls_ca_file = dup_or_null(http->tls_ca_file);
    p->http.tls_crt_file = dup_or_null(http->tls_crt_file);
    p->http.tls_key_file = dup_or_null(http->tls_key_file);
    p->http.connect_timeout_ms = http->connect_timeout_ms;
    p->http.timeout_ms = http->timeout_ms;
    p->http.response_max = http->response_max;
    p->imds.tls_verify = true;
    p->imds.connect_timeout_ms = IMDS_CONNECT_MS;
    p->imds.timeout_ms = IMDS_TIMEOUT_MS;
    p->imds.response_max = IMDS_RESPONSE_MAX;
    p->timer = gl_malloc(sizeof(*p->timer));
    uv_timer_init(loop, p->timer);
    p->timer->data = p;
    p->rnd = uv_hrtime() | 1;
    p->waiters_tail = &p->waiters;
    if (ins != NULL) {
        static const char *const source[] = { "source" };
        p->m_failures = gl_metric_counter_vec(
            ins, "gleaner_aws_credentials_refresh_failures_total",
            "Failed fetches of AWS credentials, by the link of the chain that failed.", source,
            1);
    }
    return p;
}

static void on_timer_closed(uv_handle_t *h)
{
    gl_free(h);
}

/* Detaches the waiters and calls each with creds or err. */
static void deliver(struct gl_aws_provider *p, const struct gl_aws_creds *creds, const char *err)
{
    struct gl_aws_waiter *w = p->waiters;

    p->waiters = NULL;
    p->waiters_tail = &p->waiters;
    while (w != NULL) {
        struct gl_aws_waiter *next = w->next;
        w->cb(w->data, creds, err);
        gl_free(w);
        w = next;
    }
}

void gl_aws_provider_free(struct gl_aws_provider *p)
{
    if (p == NULL) {
        return;
    }
    p->closing = true;
    /* Links see `closing` in their callbacks and only clean up. */
    gl_http_client_close(&p->http);
    gl_http_client_close(&p->imds);
    deliver(p, NULL, "credential provider closed");
    uv_close((uv_handle_t *)p->timer, on_timer_closed);
    gl_aws_creds_clear(&p->creds);
    gl_aws_creds_clear(&p->base);
    gl_free(p->imds_token);
    gl_free(p->set.region);
    gl_free(p->set.role_arn);
    gl_free(p->set.external_id);
    gl_free(p->set.sts_endpoint);
    gl_free(p->set.profile);
    gl_free(p->set.imds_endpoint);
    gl_free(p);
}

/* ---- refresh ---- */

static void on_timer(uv_timer_t *t);

/*
 * Starts the first configured link of the chain. Environment and shared
 * files finish before this returns; the others later, on the loop.
 */
static void start_link(struct gl_aws_provider *p)
{
    if (gl__aws_env_configured()) {
        p->link = "env";
        gl__aws_env_fetch(p);
        return;
    }
    if (gl__aws_web_identity_configured()) {
        p->link = "web_identity";
        gl__aws_web_identity_fetch(p);
        return;
    }
    if (gl__aws_container_configured()) {
        p->link = "container";
        gl__aws_container_fetch(p);
        return;
    }
    p->link = "shared_file";
    if (gl__aws_file_fetch(p)) {
        return;
    }
    if (!gl__aws_imds_disabled()) {
        p->link = "imds";
        gl__aws_imds_fetch(p);
        return;
    }
    p->link = "chain";
    gl__aws_link_done(p, NULL,
                      "no AWS credentials: none in the environment, no web identity, no "
                      "container credentials, no profile in the shared files, and IMDS is "
                      "disabled (AWS_EC2_METADATA_DISABLED)");
}

/*
 * The region's link ended: with instance metadata's region the chain goes
 * on to the credentials; without one the refresh fails (and is retried).
 */
void gl__aws_region_done(struct gl_aws_provider *p, const char *region, const char *err)
{
    if (p->closing) {
        return;
    }
    if (region == NULL) {
        gl__aws_link_done(p, NULL, err);
        return;
    }
    p->set.region = gl_strdup(region);
    gl_log_info(p->ins, "AWS region %s from instance metadata", region);
    start_link(p);
}

/* Starts a refresh (the caller checked that none is in flight). */
static void refresh_start(struct gl_aws_provider *p)
{
    uv_timer_stop(p->timer);
    p->refreshing = true;
    p->retry_at_ms = 0;
    gl_aws_creds_clear(&p->base);
    if (!p->clients_ready) {
        if (gl_http_client_init(&p->http) < 0 || gl_http_client_init(&p->imds) < 0) {
            p->link = "http";
            gl__aws_link_done(p, NULL, "the HTTP client cannot start");
            return;
        }
        p->clients_ready = true;
    }
    if (p->set.region == NULL) {
        p->link = "imds_region";
        gl__aws_imds_region_fetch(p);
        return;
    }
    start_link(p);
}

/* Arms the timer for the refresh ahead of expiry; none for credentials that never expire. */
static void schedule_refresh(struct gl_aws_provider *p, int64_t now)
{
    if (p->creds.expiration == 0) {
        p->refresh_at = 0;
        return;
    }
    int64_t life = p->creds.expiration - now;
    int64_t margin = life / 4 < REFRESH_MARGIN_MAX ? life / 4 : REFRESH_MARGIN_MAX;
    p->refresh_at = p->creds.expiration - margin;
    uv_timer_start(p->timer, on_timer, (uint64_t)(p->refresh_at - now) * 1000, 0);
}

/* Keeps new credentials, logs where they came from, and hands them to the waiters. */
static void refresh_ok(struct gl_aws_provider *p, struct gl_aws_creds *creds)
{
    int64_t now = time(NULL);
    char when[32];
    struct gl_aws_creds lent = {0};

    gl_aws_creds_clear(&p->creds);
    p->creds = *creds;
    memset(creds, 0, sizeof(*creds));
    p->have_creds = true;
    p->refreshing = false;
    p->failures = 0;
    snprintf(p->source, sizeof(p->source), "%s%s", p->link,
             p->set.role_arn != NULL ? "+assume_role" : "");
    schedule_refresh(p, now);
    if (p->creds.expiration != 0) {
        format_time(when, sizeof(when), p->creds.expiration);
        gl_log_info(p->ins, "AWS credentials from %s, expire at %s, refresh in %llds", p->source,
                    when, (long long)(p->refresh_at - now));
    } else {
        gl_log_info(p->ins, "AWS credentials from %s, without expiration", p->source);
    }
    /* A copy: a waiter may invalidate the provider's own before the others run. */
    gl_aws_creds_copy(&lent, &p->creds);
    deliver(p, &lent, NULL);
    gl_aws_creds_clear(&lent);
}

/*
 * Counts a failed refresh under its source: the link in flight, or
 * assume_role when the chain's credentials were there and AssumeRole failed.
 * A source's series is taken on its first failure and kept while the
 * provider lives (there are a handful of sources).
 */
static void count_failure(struct gl_aws_provider *p)
{
    const char *source = p->base.access_key_id != NULL ? "assume_role" : p->link;
    if (p->m_failures == NULL || source == NULL) {
        return;
    }
    size_t i = 0;
    while (i < GL_AWS_SOURCES_MAX && p->failed_source[i] != NULL &&
           strcmp(p->failed_source[i], source) != 0) {
        i++;
    }
    if (i == GL_AWS_SOURCES_MAX) {
        return;
    }
    if (p->failed_source[i] == NULL) {
        const char *const values[] = { source };
        p->failed_source[i] = source;
        p->failed[i] = gl_metric_series_get(p->m_failures, values);
    }
    (*p->failed[i])++;
}

/* Records the failure, schedules the next attempt with back-off and tells the waiters. */
static void refresh_failed(struct gl_aws_provider *p, const char *err)
{
    uint64_t delay =
        gl_retry_delay(RETRY_BASE_MS, RETRY_CAP_MS, p->failures, gl_retry_random(&p->rnd));

    count_failure(p);
    p->failures++;
    p->refreshing = false;
    p->retry_at_ms = uv_now(p->loop) + delay;
    snprintf(p->last_err, sizeof(p->last_err), "%s", err);
    gl_log_warn(p->ins, "AWS credentials from %s failed: %s; retrying in %.1fs", p->link, err,
                (double)delay / 1000.0);
    uv_timer_start(p->timer, on_timer, delay, 0);
    deliver(p, NULL, p->last_err);
}

/*
 * A link finished. The chain's credentials go through AssumeRole when
 * role_arn is set (the assume_role step ends here too, with p->base kept).
 */
void gl__aws_link_done(struct gl_aws_provider *p, struct gl_aws_creds *creds, const char *err)
{
    if (p->closing) {
        if (creds != NULL) {
            gl_aws_creds_clear(creds);
        }
        return;
    }
    if (creds == NULL) {
        refresh_failed(p, err);
        return;
    }
    if (creds->expiration != 0 && creds->expiration <= time(NULL)) {
        gl_aws_creds_clear(creds);
        refresh_failed(p, "the credentials received have already expired");
        return;
    }
    if (p->set.role_arn != NULL && p->base.access_key_id == NULL) {
        p->base = *creds;
        memset(creds, 0, sizeof(*creds));
        gl__aws_assume_role_fetch(p, &p->base);
        return;
    }
    gl_aws_creds_clear(&p->base);
    refresh_ok(p, creds);
}

/* The timer: a refresh ahead of expiry, or the retry after a failure. */
static void on_timer(uv_timer_t *t)
{
    struct gl_aws_provider *p = t->data;

    if (!p->refreshing) {
        refresh_start(p);
    }
}

/* ---- callers ---- */

/* Whether the cached credentials can still be used (even when a refresh is due). */
static bool usable(const struct gl_aws_provider *p, int64_t now)
{
    return p->have_creds && (p->creds.expiration == 0 || now < p->creds.expiration);
}

static void enqueue(struct gl_aws_provider *p, gl_aws_creds_cb cb, void *data)
{
    struct gl_aws_waiter *w = gl_calloc(1, sizeof(*w));
    w->cb = cb;
    w->data = data;
    *p->waiters_tail = w;
    p->waiters_tail = &w->next;
}

/*
 * Answers at once with usable credentials (starting the refresh when it is
 * due), at once with the last error while a back-off runs, or later when
 * the refresh in flight (started here if need be) completes.
 */
void gl_aws_provider_get(struct gl_aws_provider *p, gl_aws_creds_cb cb, void *data)
{
    int64_t now = time(NULL);

    if (p->closing) {
        cb(data, NULL, "credential provider closed");
        return;
    }
    if (usable(p, now)) {
        if (p->refresh_at != 0 && now >= p->refresh_at && !p->refreshing &&
            uv_now(p->loop) >= p->retry_at_ms) {
            refresh_start(p);
        }
        cb(data, &p->creds, NULL);
        return;
    }
    if (!p->refreshing && uv_now(p->loop) < p->retry_at_ms) {
        char err[GL_AWS_ERR_MAX + 64];
        snprintf(err, sizeof(err), "%s (next attempt in %.1fs)", p->last_err,
                 (double)(p->retry_at_ms - uv_now(p->loop)) / 1000.0);
        cb(data, NULL, err);
        return;
    }
    enqueue(p, cb, data);
    if (!p->refreshing) {
        refresh_start(p);
    }
}

/* Drops the credentials so that the next get refreshes them; once a minute at most. */
void gl_aws_provider_invalidate(struct gl_aws_provider *p)
{
    uint64_t now = uv_now(p->loop);

    if (p->invalidated_ms != 0 && now - p->invalidated_ms < INVALIDATE_EVERY_MS) {
        gl_log_debug(p->ins, "AWS credentials invalidated less than a minute ago: kept");
        return;
    }
    p->invalidated_ms = now;
    if (!p->have_creds) {
        return;
    }
    gl_log_info(p->ins, "AWS credentials from %s rejected: refreshing", p->source);
    gl_aws_creds_clear(&p->creds);
    p->have_creds = false;
    p->refresh_at = 0;
    p->retry_at_ms = 0;
    p->failures = 0;
    if (!p->refreshing) {
        uv_timer_stop(p->timer);
    }
}

const char *gl_aws_provider_source(const struct gl_aws_provider *p)
{
    return p->source;
}

const char *gl_aws_provider_region(const struct gl_aws_provider *p)
{
    return p->set.region;
}
