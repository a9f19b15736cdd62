/*
 * One scrape of one target: the request as Prometheus 2.42 sends it (its
 * Accept header, gzip, the timeout in X-Prometheus-Scrape-Timeout-Seconds),
 * the body bounded by body_size_limit before and after inflating, and one
 * metrics batch per scrape: the samples, staleness markers for the series
 * that went, and the report series up, scrape_duration_seconds,
 * scrape_samples_scraped, scrape_samples_post_metric_relabeling and
 * scrape_series_added with the target's labels, all at the scrape's time.
 *
 * A failed scrape (no answer within scrape_timeout, a status other than
 * 200, a body too big, unreadable or over a limit) sends none of its
 * samples: only up 0, the other report series, and staleness markers for
 * every series of the last good scrape, so receivers end them at once.
 * Its reason is logged when it begins (not at every scrape) and counted.
 *
 * Invariant: a target is freed only when its timer is closed and no
 * request of its is in flight; a request answered after its target went
 * frees the target and reads nothing.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec/gzip.h"
#include "core/log.h"
#include "in_prometheus_scrape.h"
#include "util/error.h"
#include "util/mem.h"

#define BODY_KEEP (4u << 20) /* an inflated body buffer larger than this is let go after use */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- target lifetime ------------------------------------------------------ */

static void target_free(struct target *t)
{
    seen_close(&t->prev);
    gl_free(t->url);
    gl_free(t->labels);
    gl_free(t->labels_text);
    gl_free(t);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct target *t = h->data;
    struct scrape *s = t->s;
    t->timer_open = false;
    s->handles_open--;
    if (t->req == NULL) {
        target_free(t);
    }
}

/* ---- report series ---------------------------------------------------- */

static void report_one(struct gl_batch *b, const struct target *t, const char *name,
                       const char *help, double v)
{
    gl_batch_family(b, name, strlen(name), GL_METRIC_GAUGE, help, strlen(help), NULL, 0);
    gl_batch_sample(b, t->labels, t->n_labels, 0, v);
}

/* The five series Prometheus writes for every scrape; all stale when stale is set. */
static void report(struct gl_batch *b, struct target *t, bool up, double seconds,
                   const struct append_result *r, bool stale)
{
    double x = gl_metric_stale();
    report_one(b, t, "up", "1 if the target was scraped, 0 if the scrape failed.",
               stale ? x : up);
    report_one(b, t, "scrape_duration_seconds", "How long the scrape took.",
               stale ? x : seconds);
    report_one(b, t, "scrape_samples_scraped", "Samples the target exposed.",
               stale ? x : (double)r->total);
    report_one(b, t, "scrape_samples_post_metric_relabeling",
               "Samples left after metric_relabel_configs.", stale ? x : (double)r->added);
    report_one(b, t, "scrape_series_added", "Series not in the target's previous scrape.",
               stale ? x : (double)r->series_added);
    t->reported = !stale;
}

/* ---- outcomes ------------------------------------------------------------- */

static const char *reason(const struct failure *f)
{
    return f->why != NULL ? f->why : f->detail;
}

/*
 * Counts a failure, and says once that a target went down: again only when
 * the kind of failure changes (timeout, refused, a limit...), not at every
 * scrape.
 */
static void note_failure(struct target *t, const struct failure *f, uint64_t *counter)
{
    struct scrape *s = t->s;
    (*s->m.failed)++;
    (*counter)++;
    if (t->down != counter) {
        gl_log_warn(s->ins, "target %s (%s) is down: %s", t->instance, t->url, reason(f));
    }
    t->down = counter;
}

static void failed(struct target *t, const struct failure *f, const struct append_result *r,
                   uint64_t *counter)
{
    struct scrape *s = t->s;
    struct gl_batch b;
    gl_batch_begin(&b, s->ins, t->ts_ms);
    family_begin(s, &b);
    if (t->prev_live) {
        append_stale(s, t, NULL, 0);
        t->prev_live = false;
    }
    double secs = (double)(uv_hrtime() - t->start_ns) / 1e9;
    report(&b, t, false, secs, r, false);
    gl_batch_commit(&b); /* a pause it asks for comes through the pause callback */
    note_failure(t, f, counter);
}

/* Reads a good body into one batch; a body that fails goes to failed(). */
static void succeeded(struct target *t, const char *body, size_t len, enum gl_prom_format fmt)
{
    struct scrape *s = t->s;
    struct gl_batch b;
    struct append_result r;
    struct failure f = { 0 };
    gl_batch_begin(&b, s->ins, t->ts_ms);
    family_begin(s, &b);
    seen_clear(&s->cur);
    int rc = append_body(s, t, body, len, fmt, &r, &f);
    if (rc < 0) {
        gl_batch_abort(&b);
        failed(t, &f, &r, rc == GL_EPARSE ? s->m.failed_parse : s->m.failed_limits);
        /*
         * As Prometheus' scrape cache, the series read before the body failed
         * count as known: not added again by the next scrape.
         */
        seen_merge(&t->prev, &s->cur);
        return;
    }
    family_end(s);
    if (t->prev_live) {
        append_stale(s, t, &s->cur, 0);
    }
    report(&b, t, true, (double)(uv_hrtime() - t->start_ns) / 1e9, &r, false);
    gl_batch_commit(&b);
    struct seen spare = t->prev;
    t->prev = s->cur;
    s->cur = spare;
    t->prev_live = true;
    if (t->down != NULL) {
        gl_log_info(s->ins, "target %s (%s) is up again", t->instance, t->url);
        t->down = NULL;
    }
}

/* The transport's error as the reason, and the counter it goes to. */
static uint64_t *transport_failure(struct scrape *s, const struct gl_http_response *resp,
                                   struct failure *f)
{
    if (resp->err == gl_http_err_timeout) {
        snprintf(f->detail, sizeof(f->detail), "no answer within scrape_timeout (%.3gs)",
                 (double)s->timeout_ms / 1000);
        return s->m.failed_timeout;
    }
    if (resp->err == gl_http_err_toobig) {
        f->why = "body size limit exceeded";
        return s->m.failed_body_limit;
    }
    snprintf(f->detail, sizeof(f->detail), "%s: %s", resp->err,
             resp->detail != NULL ? resp->detail : "");
    return s->m.failed_connect;
}

/* Inflates a gzip body into s->body; returns 0 or a failure's counter. */
static uint64_t *inflate(struct scrape *s, const char **body, size_t *len, struct failure *f)
{
    gl_buf_reset(&s->body);
    int rc = gl_gzip_decompress(*body, *len, s->body_size_limit, &s->body);
    if (rc == GL_ELIMIT) {
        f->why = "body size limit exceeded";
        return s->m.failed_body_limit;
    }
    if (rc < 0) {
        f->why = "gzip: invalid or truncated body";
        return s->m.failed_parse;
    }
    *body = s->body.data != NULL ? s->body.data : "";
    *len = s->body.len;
    return NULL;
}

static void on_response(void *data, const struct gl_http_response *resp)
{
    struct target *t = data;
    struct scrape *s = t->s;
    struct failure f = { 0 };
    struct append_result r = { 0 };
    uint64_t *counter = NULL;
    t->req = NULL;
    if (t->gone) {
        if (!t->timer_open) {
            target_free(t); /* it went while this scrape was in flight */
        }
        return;
    }
    if (s->stopping) {
        return;
    }
    const char *body = resp->body;
    size_t len = resp->body_len;
    if (resp->err != NULL) {
        counter = transport_failure(s, resp, &f);
    } else if (resp->status != 200) {
        snprintf(f.detail, sizeof(f.detail), "server returned HTTP status %ld", resp->status);
        counter = s->m.failed_status;
        if (resp->status == 401) {
            scrape_authorization(s, t->group, true);
        }
    } else {
        const char *enc = gl_http_response_header(resp, "Content-Encoding");
        if (enc != NULL && strcmp(enc, "gzip") == 0) {
            counter = inflate(s, &body, &len, &f);
        }
        if (counter == NULL && s->body_size_limit > 0 && len >= s->body_size_limit) {
            f.why = "body size limit exceeded";
            counter = s->m.failed_body_limit;
        }
    }
    if (counter != NULL) {
        failed(t, &f, &r, counter);
    } else {
        succeeded(t, body, len,
                  gl_prom_content_format(gl_http_response_header(resp, "Content-Type")));
    }
    if (s->body.cap > BODY_KEEP) {
        gl_buf_close(&s->body);
        gl_buf_init(&s->body);
    }
}

void scrape_now(struct target *t)
{
    struct scrape *s = t->s;
    char secs[32];
    if (s->paused || s->stopping || t->req != NULL || !t->group->ready) {
        return;
    }
    (*s->m.scrapes)++;
    t->ts_ms = wall_ms();
    t->start_ns = uv_hrtime();
    struct gl_http_request *r = gl_http_new(&t->group->http, GL_GET, t->url);
    gl_http_header(r, "Accept", SCRAPE_ACCEPT);
    gl_http_header(r, "Accept-Encoding", "gzip");
    gl_http_header(r, "User-Agent", "gleaner/" GL_VERSION);
    snprintf(secs, sizeof(secs), "%g", (double)s->timeout_ms / 1000);
    gl_http_header(r, "X-Prometheus-Scrape-Timeout-Seconds", secs);
    const char *auth = scrape_authorization(s, t->group, false);
    if (auth != NULL) {
        gl_http_header(r, "Authorization", auth);
    }
    gl_http_timeout(r, s->timeout_ms);
    t->req = r;
    gl_http_send(r, on_response, t);
}

void scrape_end(struct target *t, bool stale)
{
    struct scrape *s = t->s;
    t->gone = true;
    if (stale && (t->prev_live || t->reported)) {
        struct gl_batch b;
        struct append_result r = { 0 };
        int64_t now = wall_ms();
        gl_batch_begin(&b, s->ins, now > t->ts_ms ? now : t->ts_ms + 1);
        family_begin(s, &b);
        if (t->prev_live) {
            append_stale(s, t, NULL, 0);
            t->prev_live = false;
        }
        if (t->reported) {
            report(&b, t, false, 0, &r, true);
        }
        gl_batch_commit(&b);
    }
    (*s->m.targets)--;
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}
