/*
 * Health: whether the pipeline does its job, as /healthz tells it. Two kinds
 * of evidence: Fluent Bit's counts (failed flush attempts and chunks given up
 * within hc_period, when health_check is on) and stalls (an input paused, an
 * output with data and no successful send, for longer than their thresholds;
 * data a plugin reports lost, for a while after). The state lives in the
 * engine and in each instance's core; checking it is a pure function of that
 * state and the time, so that tests can ask it at any instant.
 */
#ifndef GL_HEALTH_H
#define GL_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct gl_engine;
struct gl_instance;

enum gl_health_reason {
    GL_HEALTH_FLUSH_ERRORS,
    GL_HEALTH_RETRY_FAILURES,
    GL_HEALTH_INPUT_PAUSED,
    GL_HEALTH_OUTPUT_STALLED,
    GL_HEALTH_DATA_LOST,
    GL_HEALTH_REASONS
};

/* The times of the last `cap` events, to tell whether more than cap - 1 fell in a period. */
struct gl_health_ring {
    uint64_t *at;
    size_t cap;
    size_t next;
    size_t n;
};

struct gl_health {
    struct gl_health_ring errors;          /* failed attempts: hc_errors_count + 1 kept */
    struct gl_health_ring retry_failures;  /* chunks given up: hc_retry_failure_count + 1 */
    uint64_t lost_ms;                      /* when data was last reported lost; 0: never */
    char lost[256];                        /* what was lost, as the plugin said it */
    const struct gl_instance *lost_by;
    unsigned failing;                      /* bits of enum gl_health_reason at the last tick */
    uint64_t failing_since_ms;
    uint64_t became_unhealthy[GL_HEALTH_REASONS]; /* times each reason started failing */
};

/* The name of a reason in metrics labels ("output_stalled"). */
const char *gl_health_reason_name(enum gl_health_reason r);

/* Monotonic milliseconds, the clock every health time is on. */
uint64_t gl_health_now_ms(void);

/*
 * Writes why the pipeline is unhealthy at `now_ms`, one line per problem,
 * into why (which may be NULL); returns a bit per failing enum
 * gl_health_reason, 0 when healthy. With fluent_bit_only, only the
 * health_check counts are looked at (Fluent Bit's /api/v1/health).
 */
unsigned gl_health_check(const struct gl_engine *e, uint64_t now_ms, bool fluent_bit_only,
                         struct gl_buf *why);

/*
 * A plugin reports data it lost for good (a rotated file given up unread):
 * /healthz fails for health.data_lost after it, saying this. Also logged as
 * an error by the caller; printf-style.
 */
void gl_health_lost(struct gl_instance *ins, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Outputs that retry inside themselves (several requests per flush) report
 * each request's outcome, so that health sees their progress and failures
 * as it sees the core's: a request accepted, an attempt failed (why: a
 * static string), a batch given up after retry_limit.
 */
void gl_health_output_sent(struct gl_instance *out);
void gl_health_output_failed(struct gl_instance *out, const char *why);
void gl_health_output_gave_up(struct gl_instance *out);

/* Core-only. */
void gl__health_init(struct gl_engine *e);
void gl__health_close(struct gl_engine *e);
void gl__health_note(struct gl_health_ring *r, uint64_t now_ms);
/* Checks once per flush tick: logs and counts a change of verdict. */
void gl__health_tick(struct gl_engine *e);
/* An output got data while it had none: its stall clock starts now. */
void gl__health_output_busy(struct gl_instance *out);

#endif
