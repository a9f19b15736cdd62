/*
 * One attempt-series at delivering one chunk to one output. The core creates
 * a gl_flush, calls the output's flush callback, and the output finishes it,
 * at once or later from a libuv/HTTP callback, with exactly one
 * gl_flush_done(). GL_RETRY is retried after the back-off of retry.c (the
 * same gl_flush is flushed again); GL_DROP gives the chunk up (counted with
 * the reason). Records the backend rejected one by one are reported with
 * gl_flush_drop() before gl_flush_done(f, GL_OK).
 */
#ifndef GL_FLUSH_H
#define GL_FLUSH_H

#include <stdint.h>
#include <uv.h>

#include "util/buf.h"

struct gl_chunk;
struct gl_instance;

enum gl_flush_result { GL_OK = 0, GL_RETRY = 1, GL_DROP = 2 };

#define GL_FLUSH_CHUNKS_MAX 32

struct gl_flush {
    struct gl_instance *out;
    const struct gl_chunk *chunk;  /* the first chunk, borrowed until gl_flush_done() */
    /*
     * All the chunks of this flush, in buffer order: one, unless the output
     * declares flush_max_bytes (then several queued chunks go together, so
     * that a batching output can fill its requests). A record's index for
     * gl_flush_drop() counts across them.
     */
    const struct gl_chunk *chunks[GL_FLUSH_CHUNKS_MAX];
    unsigned n_chunks;
    uint32_t records;              /* over all chunks */
    size_t bytes;
    unsigned attempts;             /* 0 on the first try */
    void *data;                    /* the output's own per-flush pointer */
    struct gl_buf scratch;         /* the output's per-flush buffer, freed at done */
    /* private */
    size_t hold[GL_FLUSH_CHUNKS_MAX]; /* gl_flush_hold() bytes charged to each chunk's input */
    const char *reason;
    uint32_t dropped;
    uint64_t started_ns;
    uv_timer_t timer;
    struct gl_flush *next;
};

void gl_flush_done(struct gl_flush *f, enum gl_flush_result result);
/* Why a GL_DROP (static string, e.g. "http_400"); default "rejected". */
void gl_flush_reason(struct gl_flush *f, const char *reason);
/* Counts one record (by its index in the chunk) as dropped for reason; the rest were accepted. */
void gl_flush_drop(struct gl_flush *f, uint32_t index, const char *reason);
/*
 * The output holds `bytes` of its own memory for this flush (events, an
 * arena of encoded records): they count against the mem_buf_limit of the
 * inputs that made its chunks, shared by chunk size, until the flush ends.
 * A later call replaces the amount (a retry that rebuilt it). So an input's
 * limit bounds what its records cost on the output side too, not only their
 * chunks.
 */
void gl_flush_hold(struct gl_flush *f, size_t bytes);

#endif
