/*
 * Retry timing. Used by the flush scheduler for whole chunks, by plugins
 * that retry parts of a request themselves and by the pod cache's API
 * requests, so every back-off in the agent has the same shape (see
 * retry.h). A server's Retry-After (read by net/http_client.c) raises the
 * shortest wait; it never shortens one.
 */
#include "util/retry.h"

uint64_t gl_retry_delay(uint64_t base_ms, uint64_t cap_ms, unsigned attempt, uint64_t rnd)
{
    if (base_ms == 0) {
        base_ms = 1;
    }
    if (cap_ms < base_ms) {
        cap_ms = base_ms;
    }
    uint64_t ceiling = base_ms;
    for (unsigned i = 0; i < attempt && ceiling < cap_ms; i++) {
        ceiling *= 2;
    }
    if (ceiling > cap_ms) {
        ceiling = cap_ms;
    }
    return base_ms + rnd % (ceiling - base_ms + 1);
}

int gl_retry_http_status(long status)
{
    return status == 0 || status == 408 || status == 429 || status >= 500;
}

uint64_t gl_retry_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ull;
}

uint64_t gl_retry_delay_after(uint64_t base_ms, uint64_t cap_ms, unsigned attempt, uint64_t rnd,
                              uint64_t after_ms)
{
    if (after_ms > base_ms) {
        base_ms = after_ms;
    }
    return gl_retry_delay(base_ms, cap_ms > base_ms ? cap_ms : base_ms, attempt, rnd);
}
