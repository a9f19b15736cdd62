/*
 * The agent's own metrics (every instance's counters, drops, flush latency,
 * plugin metrics, the process) written as one metrics batch: what /metrics
 * shows and what the internal_metrics input emits.
 */
#ifndef GL_METRICS_SELF_H
#define GL_METRICS_SELF_H

struct gl_engine;
struct gl_batch;

/* Writes the engine's metrics as families into the begun batch b. */
void gl_self_metrics(const struct gl_engine *e, struct gl_batch *b);

#endif
