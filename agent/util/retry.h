/*
 * The one retry policy: exponential back-off with full jitter, capped.
 * Attempt n (0-based) waits a uniformly random time in
 * [base, min(cap, base * 2^n)], so retries of many chunks spread out instead
 * of hitting a recovering backend together.
 */
#ifndef GL_RETRY_H
#define GL_RETRY_H

#include <stdint.h>

/* Returns the delay in milliseconds for attempt n; rnd is any 64-bit random value. */
uint64_t gl_retry_delay(uint64_t base_ms, uint64_t cap_ms, unsigned attempt, uint64_t rnd);

/* Whether an HTTP exchange is worth retrying: transport errors, 408, 429 and 5xx. */
int gl_retry_http_status(long status);

/*
 * gl_retry_delay() with a server's Retry-After (after_ms, 0 when none; see
 * gl_http_retry_after() in net/http_client.h): the
 * wait is full jitter between max(base, after) and max(cap, after), so a
 * crowd of clients told the same Retry-After does not come back together
 * once their attempts grow.
 */
uint64_t gl_retry_delay_after(uint64_t base_ms, uint64_t cap_ms, unsigned attempt, uint64_t rnd,
                              uint64_t after_ms);

/* A small fast PRNG (xorshift64*) for jitter; state must be non-zero. */
uint64_t gl_retry_random(uint64_t *state);

#endif
