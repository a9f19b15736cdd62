/*
 * The input side of the pipeline, core-only: per-tag open chunks ("slots"),
 * back-pressure (pause/resume with a count of reasons) and the
 * acknowledgement that returns to the input once every output that matched a
 * chunk accepted or finally dropped it.
 */
#ifndef GL_INPUT_H
#define GL_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/plugin.h"
#include "util/buf.h"

struct gl_instance;
struct gl_chunk;
struct gl_event;
struct gl_shared_set;

/* An open chunk for one tag of one input, with the route that tag takes. */
struct gl_slot {
    char *tag;
    size_t tag_len;
    struct gl_instance *ins;
    struct gl_chunk *open;
    struct gl_instance **filters;  /* matching filters, in config order */
    size_t n_filters;
    struct gl_instance **outputs;  /* matching outputs */
    size_t n_outputs;
    uint64_t last_used_ms;
    struct gl_hold *held;          /* a filter holds a chunk of this tag (router.c) */
    bool warned_unrouted;          /* its records reached no output, and that was logged */
    struct gl_slot *next;          /* hash bucket chain */
};

struct gl_slot *gl__input_slot(struct gl_instance *ins, const char *tag, size_t tag_len);
/* The slot's open chunk for this kind of data (a chunk of the other kind is routed first). */
struct gl_buf *gl__slot_buf(struct gl_slot *slot, enum gl_data type);
/*
 * Where the open chunk keeps the shared values its records refer to. A
 * filesystem input's chunk files carry each value once (core/chunk_file.h).
 */
struct gl_shared_set *gl__slot_shared(struct gl_slot *slot);
/* A record written at the end of the open chunk is taken: 0, or GL_EPAUSED. */
int gl__input_commit(struct gl_slot *slot, struct gl_event *ev);
/* The same for a metrics batch of `series` series written from offset start. */
int gl__input_commit_batch(struct gl_slot *slot, size_t start, uint32_t series);

/* Closes every open chunk of an input and hands it to the router. */
void gl__input_flush_open(struct gl_instance *ins);
/* Frees slots idle for longer than idle_ms (and all of them with idle_ms 0). */
void gl__input_slots_gc(struct gl_instance *ins, uint64_t idle_ms);

/* Back-pressure: pauses the input, or for a filesystem input keeps its new chunks on disk. */
void gl__input_pause(struct gl_instance *ins);
void gl__input_resume(struct gl_instance *ins);
/* Takes back one reason to pause the source itself. */
void gl__input_resume_source(struct gl_instance *ins);

/* Filesystem inputs: a chunk is back from its write (core/storage.h). */
void gl__input_stored(struct gl_instance *ins, struct gl_chunk *c, bool written);
/* Filesystem inputs: read the backlog back while there is room; retry after a failed write. */
void gl__input_replay(struct gl_instance *ins);
void gl__input_storage_retry(struct gl_instance *ins);
int gl__input_paused(const struct gl_instance *ins);

/* Open chunks of an input together stay under this (or half its mem_buf_limit). */
#define GL_OPEN_MAX (8u << 20)

/*
 * A filter wrote c in place of old (which it frees): c takes old's place in
 * the input's memory account, at its own size.
 */
void gl__input_replace(struct gl_chunk *old, struct gl_chunk *c);

/*
 * Memory held elsewhere on the chunk's behalf (an output's encoding of it)
 * joins or (negative) leaves its input's account; the input pauses or
 * resumes as the account crosses mem_buf_limit.
 */
void gl__input_charge(struct gl_chunk *c, long delta);

/* The last reference to a chunk is gone: account, acknowledge (unless abandoned), free it. */
void gl__input_ack(struct gl_chunk *c);

#endif
