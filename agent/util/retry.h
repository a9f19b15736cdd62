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

/* A small fast PRNG (xorshift64*) for jitter; state must be non-zero. */
uint64_t gl_retry_random(uint64_t *state);

#endif
