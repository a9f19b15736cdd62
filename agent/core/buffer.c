/*
 * Per-output buffer: the chunks an output has to send, oldest first, and the
 * bytes they hold (queued plus in flight). Over mem_buf_limit the output is
 * "full" and pauses every input that feeds it; once it drains below the limit
 * it resumes exactly the inputs it paused. Nothing is dropped here: the log
 * files (or the producer) are the buffer beyond this point.
 * Invariant: buffer_bytes equals the sum of the sizes of the chunks queued or
 * being flushed.
 */
#include "core/chunk.h"
#include "core/engine.h"
#include "core/flush.h"
#include "core/input.h"
#include "core/log.h"
#include "util/mem.h"

static void note_feeder(struct gl_instance_core *core, struct gl_instance *in)
{
    for (size_t i = 0; i < core->n_feeders; i++) {
        if (core->feeders[i] == in) {
            return;
        }
    }
    core->feeders = gl_realloc(core->feeders, (core->n_feeders + 1) * sizeof(*core->feeders));
    core->feeders[core->n_feeders++] = in;
}

static void set_full(struct gl_instance *out)
{
    struct gl_instance_core *core = out->core;
    core->full = true;
    core->paused = gl_realloc(core->paused, (core->n_feeders + 1) * sizeof(*core->paused));
    core->n_paused = 0;
    for (size_t i = 0; i < core->n_feeders; i++) {
        core->paused[core->n_paused++] = core->feeders[i];
        gl__input_pause(core->feeders[i]);
    }
    gl_log_debug(out, "buffer full (%zu bytes, mem_buf_limit %zu): pausing %zu input(s)",
                 core->buffer_bytes, core->opts.mem_buf_limit, core->n_paused);
}

static void clear_full(struct gl_instance *out)
{
    struct gl_instance_core *core = out->core;
    core->full = false;
    for (size_t i = 0; i < core->n_paused; i++) {
        gl__input_resume(core->paused[i]);
    }
    core->n_paused = 0;
    gl_log_debug(out, "buffer drained to %zu bytes: inputs resumed", core->buffer_bytes);
}

void gl__buffer_push(struct gl_instance *out, struct gl_chunk *c)
{
    struct gl_instance_core *core = out->core;
    if (core->q_count == core->q_cap) {
        size_t cap = core->q_cap ? core->q_cap * 2 : 16;
        struct gl_chunk **q = gl_malloc(cap * sizeof(*q));
        for (size_t i = 0; i < core->q_count; i++) {
            q[i] = core->queue[(core->q_head + i) % core->q_cap];
        }
        gl_free(core->queue);
        core->queue = q;
        core->q_head = 0;
        core->q_cap = cap;
    }
    gl__health_output_busy(out);
    core->queue[(core->q_head + core->q_count) % core->q_cap] = c;
    core->q_count++;
    core->buffer_bytes += c->data.len;
    note_feeder(core, c->input);
    if (!core->full && core->opts.mem_buf_limit && core->buffer_bytes > core->opts.mem_buf_limit) {
        set_full(out);
    }
    gl__engine_kick(out->engine);
}

static struct gl_chunk *pop(struct gl_instance_core *core)
{
    struct gl_chunk *c = core->queue[core->q_head];
    core->q_head = (core->q_head + 1) % core->q_cap;
    core->q_count--;
    return c;
}

/*
 * Whether the input that made c is at its mem_buf_limit. A flush makes the
 * output hold memory of its own on the records' behalf (gl_flush_hold), so
 * while the input is there a further flush waits for one in flight to end:
 * the chunks already queued are not all turned into requests at once.
 */
static bool input_at_limit(const struct gl_chunk *c)
{
    const struct gl_instance_core *in = c->input->core;
    return in->opts.mem_buf_limit != 0 && in->held_bytes >= in->opts.mem_buf_limit;
}

/*
 * Starts flushes while the output has room for more in flight (and, past
 * the first, while the input of the next chunk is under its limit). An
 * output with flush_max_bytes takes the queued chunks that fit together in
 * one flush (a batching output fills its requests better from more records).
 */
void gl__buffer_dispatch(struct gl_instance *out)
{
    struct gl_instance_core *core = out->core;
    size_t max = out->plugin->flush_max_bytes;
    while (core->q_count > 0 && core->inflight < (unsigned)core->opts.workers &&
           (core->inflight == 0 || !input_at_limit(core->queue[core->q_head]))) {
        struct gl_chunk *chunks[GL_FLUSH_CHUNKS_MAX];
        unsigned n = 0;
        size_t bytes = 0;
        do {
            chunks[n] = pop(core);
            bytes += chunks[n++]->data.len;
        } while (core->q_count > 0 && n < GL_FLUSH_CHUNKS_MAX &&
                 bytes + core->queue[core->q_head]->data.len <= max);
        gl__flush_start(out, chunks, n);
    }
}

void gl__buffer_release(struct gl_instance *out, size_t bytes)
{
    struct gl_instance_core *core = out->core;
    core->buffer_bytes -= bytes;
    if (core->full && core->buffer_bytes <= core->opts.mem_buf_limit) {
        clear_full(out);
    }
}

/* Shutdown ran out of grace: queued chunks are released without acknowledgement. */
void gl__buffer_abandon(struct gl_instance *out)
{
    struct gl_instance_core *core = out->core;
    while (core->q_count > 0) {
        struct gl_chunk *c = pop(core);
        core->buffer_bytes -= c->data.len;
        c->abandoned = true;
        gl__chunk_release(c);
    }
    gl_free(core->queue);
    core->queue = NULL;
    core->q_cap = 0;
    core->q_head = 0;
}
