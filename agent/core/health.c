/*
 * Health: the evidence /healthz weighs, and the verdict. It sits beside the
 * pipeline and only watches it: flush.c reports every send accepted or
 * failed and every chunk given up, input.c when an input pauses and resumes,
 * buffer.c when an idle output gets data, plugins what they lost for good.
 * The engine's flush tick asks for a verdict, logs when it changes and counts
 * each reason's start (gleaner_unhealthy_total); the HTTP endpoints ask too.
 *
 * Invariant: checking never changes what it checks; it is a function of the
 * recorded times, the thresholds and `now`, so that /healthz, the tick and
 * the tests all see the same verdict for the same instant.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/engine.h"
#include "core/health.h"
#include "core/log.h"
#include "util/mem.h"

static const char *const reason_names[GL_HEALTH_REASONS] = {
    [GL_HEALTH_FLUSH_ERRORS] = "flush_errors",
    [GL_HEALTH_RETRY_FAILURES] = "retry_failures",
    [GL_HEALTH_INPUT_PAUSED] = "input_paused",
    [GL_HEALTH_OUTPUT_STALLED] = "output_stalled",
    [GL_HEALTH_DATA_LOST] = "data_lost",
};

const char *gl_health_reason_name(enum gl_health_reason r)
{
    return reason_names[r];
}

uint64_t gl_health_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- event rings --------------------------------------------------------- */

static void ring_init(struct gl_health_ring *r, int64_t threshold)
{
    r->cap = (size_t)(threshold < 0 ? 0 : threshold) + 1;
    r->at = gl_calloc(r->cap, sizeof(*r->at));
    r->next = 0;
    r->n = 0;
}

void gl__health_note(struct gl_health_ring *r, uint64_t now_ms)
{
    if (r->cap == 0) {
        return;
    }
    r->at[r->next] = now_ms;
    r->next = (r->next + 1) % r->cap;
    if (r->n < r->cap) {
        r->n++;
    }
}

/*
 * How many of the kept events fell within period_ms before now_ms. The
 * ring keeps threshold + 1 events, so a count over the threshold within the
 * period is always seen, and that is all the verdict needs.
 */
static size_t ring_count(const struct gl_health_ring *r, uint64_t now_ms, uint64_t period_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (now_ms - r->at[i] < period_ms) {
            n++;
        }
    }
    return n;
}

void gl__health_init(struct gl_engine *e)
{
    ring_init(&e->health.errors, e->svc.hc_errors_count);
    ring_init(&e->health.retry_failures, e->svc.hc_retry_failure_count);
}

void gl__health_close(struct gl_engine *e)
{
    gl_free(e->health.errors.at);
    gl_free(e->health.retry_failures.at);
    e->health.errors.at = e->health.retry_failures.at = NULL;
}

/* ---- what the pipeline reports ------------------------------------------- */

/* The output_* reports accept an instance outside an engine (a plugin's part tested alone). */
void gl_health_output_sent(struct gl_instance *out)
{
    if (out == NULL || out->core == NULL) {
        return;
    }
    uint64_t now = gl_health_now_ms();
    out->core->sent_ms = now;
    out->core->progress_ms = now;
}

void gl_health_output_failed(struct gl_instance *out, const char *why)
{
    if (out == NULL || out->core == NULL) {
        return;
    }
    out->core->last_error = why;
    gl__health_note(&out->engine->health.errors, gl_health_now_ms());
}

void gl_health_output_gave_up(struct gl_instance *out)
{
    if (out == NULL || out->core == NULL) {
        return;
    }
    gl__health_note(&out->engine->health.retry_failures, gl_health_now_ms());
}

void gl__health_output_busy(struct gl_instance *out)
{
    struct gl_instance_core *core = out->core;
    if (core->q_count == 0 && core->inflight == 0) {
        core->progress_ms = gl_health_now_ms();
    }
}

void gl_health_lost(struct gl_instance *ins, const char *fmt, ...)
{
    if (ins->engine == NULL) {
        return;
    }
    struct gl_health *h = &ins->engine->health;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->lost, sizeof(h->lost), fmt, ap);
    va_end(ap);
    h->lost_by = ins;
    h->lost_ms = gl_health_now_ms();
}

/* ---- the verdict ---------------------------------------------------------- */

static unsigned check_counts(const struct gl_engine *e, uint64_t now, struct gl_buf *why)
{
    const struct gl_service *s = &e->svc;
    unsigned bad = 0;
    if (!s->health_check) {
        return 0;
    }
    size_t errors = ring_count(&e->health.errors, now, s->hc_period_ms);
    if (errors > (size_t)s->hc_errors_count) {
        bad |= 1u << GL_HEALTH_FLUSH_ERRORS;
        if (why != NULL) {
            gl_buf_printf(why, "flush_errors: more than hc_errors_count %lld failed flush "
                          "attempts in the last hc_period %llu ms\n",
                          (long long)s->hc_errors_count, (unsigned long long)s->hc_period_ms);
        }
    }
    size_t failures = ring_count(&e->health.retry_failures, now, s->hc_period_ms);
    if (failures > (size_t)s->hc_retry_failure_count) {
        bad |= 1u << GL_HEALTH_RETRY_FAILURES;
        if (why != NULL) {
            gl_buf_printf(why, "retry_failures: more than hc_retry_failure_count %lld chunks "
                          "given up after their retries in the last hc_period %llu ms\n",
                          (long long)s->hc_retry_failure_count,
                          (unsigned long long)s->hc_period_ms);
        }
    }
    return bad;
}

static unsigned check_inputs(const struct gl_engine *e, uint64_t now, struct gl_buf *why)
{
    uint64_t max = e->svc.health_input_paused_ms;
    unsigned bad = 0;
    for (size_t i = 0; i < e->n_inputs && max > 0; i++) {
        const struct gl_instance *in = e->inputs[i];
        const struct gl_instance_core *c = in->core;
        if (c->pause_reasons == 0 || c->paused_since_ms == 0 || now - c->paused_since_ms <= max) {
            continue;
        }
        bad |= 1u << GL_HEALTH_INPUT_PAUSED;
        if (why != NULL) {
            gl_buf_printf(why, "input_paused: input %s paused for %llu ms (health.input_paused "
                          "%llu ms): %s\n", in->alias,
                          (unsigned long long)(now - c->paused_since_ms), (unsigned long long)max,
                          c->self_paused ? "its mem_buf_limit is reached and nothing is "
                                           "delivered"
                                         : "an output it feeds has a full buffer");
        }
    }
    return bad;
}

static unsigned check_outputs(const struct gl_engine *e, uint64_t now, struct gl_buf *why)
{
    uint64_t max = e->svc.health_output_stalled_ms;
    unsigned bad = 0;
    for (size_t i = 0; i < e->n_outputs && max > 0; i++) {
        const struct gl_instance *out = e->outputs[i];
        const struct gl_instance_core *c = out->core;
        if ((c->q_count == 0 && c->inflight == 0) || now - c->progress_ms <= max) {
            continue;
        }
        bad |= 1u << GL_HEALTH_OUTPUT_STALLED;
        if (why == NULL) {
            continue;
        }
        gl_buf_printf(why, "output_stalled: output %s has %zu bytes in %zu chunks to send and ",
                      out->alias, c->buffer_bytes, c->q_count + c->inflight);
        if (c->sent_ms == 0) {
            gl_buf_printf(why, "has sent nothing");
        } else {
            gl_buf_printf(why, "sent nothing for %llu ms", (unsigned long long)(now - c->sent_ms));
        }
        gl_buf_printf(why, " (health.output_stalled %llu ms); last error: %s\n",
                      (unsigned long long)max, c->last_error ? c->last_error : "none");
    }
    return bad;
}

static unsigned check_lost(const struct gl_engine *e, uint64_t now, struct gl_buf *why)
{
    const struct gl_health *h = &e->health;
    uint64_t window = e->svc.health_data_lost_ms;
    if (h->lost_ms == 0 || window == 0 || now - h->lost_ms > window) {
        return 0;
    }
    if (why != NULL) {
        gl_buf_printf(why, "data_lost: %s %llu ms ago: %s (health.data_lost %llu ms)\n",
                      h->lost_by ? h->lost_by->alias : "the pipeline",
                      (unsigned long long)(now - h->lost_ms), h->lost,
                      (unsigned long long)window);
    }
    return 1u << GL_HEALTH_DATA_LOST;
}

unsigned gl_health_check(const struct gl_engine *e, uint64_t now_ms, bool fluent_bit_only,
                         struct gl_buf *why)
{
    unsigned bad = check_counts(e, now_ms, why);
    if (fluent_bit_only || e->state != GL_ENGINE_RUNNING) {
        return bad;
    }
    bad |= check_inputs(e, now_ms, why);
    bad |= check_outputs(e, now_ms, why);
    bad |= check_lost(e, now_ms, why);
    return bad;
}

/* ---- the tick ------------------------------------------------------------ */

/* Logs the lines of `why` (one per problem, as /healthz shows them) whose reason just started. */
static void log_started(const struct gl_buf *why, unsigned started)
{
    const char *p = why->data, *end = why->data + why->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        for (int r = 0; r < GL_HEALTH_REASONS; r++) {
            size_t n = strlen(reason_names[r]);
            if ((started & (1u << r)) && len > n && strncmp(p, reason_names[r], n) == 0 &&
                p[n] == ':') {
                gl_log_error(NULL, "unhealthy: %.*s", (int)len, p);
            }
        }
        p += len + 1;
    }
}

void gl__health_tick(struct gl_engine *e)
{
    struct gl_health *h = &e->health;
    uint64_t now = gl_health_now_ms();
    struct gl_buf why;
    gl_buf_init(&why);
    unsigned bad = gl_health_check(e, now, false, &why);
    unsigned started = bad & ~h->failing;
    for (int r = 0; r < GL_HEALTH_REASONS; r++) {
        if (started & (1u << r)) {
            h->became_unhealthy[r]++;
        }
    }
    if (bad != 0 && h->failing == 0) {
        h->failing_since_ms = now;
    }
    if (started != 0) {
        log_started(&why, started);
    } else if (bad == 0 && h->failing != 0) {
        gl_log_info(NULL, "healthy again after %llu ms",
                    (unsigned long long)(now - h->failing_since_ms));
    }
    h->failing = bad;
    gl_buf_close(&why);
}
