/*
 * Input side of the pipeline. Each input keeps a small hash of slots, one per
 * tag it emits, each with at most one open chunk and the route its tag takes
 * (computed once, when the slot is made). A commit appends the record to the
 * open chunk; a full chunk goes to the router at once, the others at every
 * flush tick.
 *
 * Back-pressure is a count of reasons to pause (each output whose buffer is
 * full, plus the input's own mem_buf_limit): the plugin's pause runs when the
 * count leaves zero and resume when it returns to zero.
 *
 * The memory account: every chunk an input produced counts against that
 * input alone, at its current size, from its first record until its last
 * reference is released, wherever it is (open, held or rewritten by a
 * filter, queued at an output, in flight). At mem_buf_limit the input pauses
 * and its open chunks go to the router, since only delivery frees memory; it
 * resumes on the release that takes it back under the limit. Open chunks are
 * also routed when together they pass half the limit (GL_OPEN_MAX at most),
 * so that an input following many tags never holds a chunk per tag waiting
 * for the flush tick. Invariant: held_bytes is the sum of c->held over the
 * input's live chunks, and open_bytes the part of it in open chunks.
 *
 * An input with storage.type filesystem (core/storage.h) writes each chunk
 * it closes to disk first. Back-pressure does not pause it: a reason to
 * pause becomes a reason to divert, and while one holds (or a backlog
 * waits, or storage.max_chunks_up are in memory) its chunks leave memory
 * once written and are read back, in order, when there is room. Only
 * writes pause it: more than GL_STORAGE_WRITES_MAX in flight, or a failed
 * one (until the next flush tick).
 */
#include <string.h>
#include <time.h>

#include "core/chunk.h"
#include "core/engine.h"
#include "core/event.h"
#include "core/input.h"
#include "core/log.h"
#include "core/storage.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mem.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t hash_tag(const char *tag, size_t len)
{
    return gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, tag, len);
}

/* Computes which filters and outputs a tag reaches. */
static void compute_route(struct gl_slot *s)
{
    struct gl_engine *e = s->ins->engine;
    s->filters = gl_calloc(e->n_filters + 1, sizeof(*s->filters));
    s->outputs = gl_calloc(e->n_outputs + 1, sizeof(*s->outputs));
    for (size_t i = 0; i < e->n_filters; i++) {
        if (gl__instance_matches(e->filters[i], s->tag, s->tag_len)) {
            s->filters[s->n_filters++] = e->filters[i];
        }
    }
    for (size_t i = 0; i < e->n_outputs; i++) {
        if (gl__instance_matches(e->outputs[i], s->tag, s->tag_len)) {
            s->outputs[s->n_outputs++] = e->outputs[i];
        }
    }
}

static void grow_slots(struct gl_instance_core *core)
{
    size_t n = core->slot_buckets ? core->slot_buckets * 2 : 16;
    struct gl_slot **b = gl_calloc(n, sizeof(*b));
    for (size_t i = 0; i < core->slot_buckets; i++) {
        struct gl_slot *s = core->slots[i];
        while (s != NULL) {
            struct gl_slot *next = s->next;
            size_t h = hash_tag(s->tag, s->tag_len) & (n - 1);
            s->next = b[h];
            b[h] = s;
            s = next;
        }
    }
    gl_free(core->slots);
    core->slots = b;
    core->slot_buckets = n;
}

/*
 * Returns the slot for a tag, creating it (and its route) on first use. The
 * last slot used is checked first: most inputs emit runs of one tag.
 */
struct gl_slot *gl__input_slot(struct gl_instance *ins, const char *tag, size_t tag_len)
{
    struct gl_instance_core *core = ins->core;
    struct gl_slot *s = core->last_slot;
    if (s != NULL && s->tag_len == tag_len && memcmp(s->tag, tag, tag_len) == 0) {
        return s;
    }
    if (core->slot_count >= core->slot_buckets) {
        grow_slots(core);
    }
    size_t h = hash_tag(tag, tag_len) & (core->slot_buckets - 1);
    for (s = core->slots[h]; s != NULL; s = s->next) {
        if (s->tag_len == tag_len && memcmp(s->tag, tag, tag_len) == 0) {
            core->last_slot = s;
            return s;
        }
    }
    s = gl_calloc(1, sizeof(*s));
    s->tag = gl_strndup(tag, tag_len);
    s->tag_len = tag_len;
    s->ins = ins;
    compute_route(s);
    s->next = core->slots[h];
    core->slots[h] = s;
    core->slot_count++;
    core->last_slot = s;
    return s;
}

struct gl_buf *gl__slot_buf(struct gl_slot *slot, enum gl_data type)
{
    if (slot->open != NULL && slot->open->type != type) {
        gl__router_route(slot);
    }
    if (slot->open == NULL) {
        slot->open = gl_chunk_new(slot->ins, slot->tag, slot->tag_len);
        slot->open->type = type;
    }
    return &slot->open->data;
}

struct gl_shared_set *gl__slot_shared(struct gl_slot *slot)
{
    return &slot->open->shared;
}

static void check_limit(struct gl_instance *ins, bool may_route);
static void pause_source(struct gl_instance *ins);

/* Whether a filesystem input's new chunk may stay in memory. */
static bool storage_room(const struct gl_instance *ins)
{
    const struct gl_engine *e = ins->engine;
    return ins->core->divert_reasons == 0 &&
           e->chunks_up < (size_t)e->svc.storage_max_chunks_up;
}

/*
 * Whether a filesystem input's written chunk may stay in memory: as for a
 * new chunk, except that the input's own mem_buf_limit is reached without
 * the chunk itself. A chunk only its own bytes put at the limit would be
 * read straight back once freed (the replay's test is this one, after the
 * free), so sending it through the disk would cost CPU and save no memory.
 */
static bool stored_room(const struct gl_instance *ins, const struct gl_chunk *c)
{
    const struct gl_instance_core *core = ins->core;
    const struct gl_engine *e = ins->engine;
    bool others = core->divert_reasons > (core->self_paused ? 1u : 0u); /* full outputs */
    size_t limit = core->opts.mem_buf_limit;
    return !others && e->chunks_up < (size_t)e->svc.storage_max_chunks_up &&
           (limit == 0 || core->held_bytes - c->held < limit);
}

/*
 * A written chunk is safe on disk: an input with positions (tail) may
 * commit them now, which lets it read on through an outage, and the
 * chunk's release later acknowledges nothing more.
 */
static void ack_stored(struct gl_instance *ins, struct gl_chunk *c)
{
    if (c->has_ack && ins->plugin->ack != NULL) {
        ins->plugin->ack(ins, &c->ack);
    }
    c->has_ack = false;
}

/*
 * A filesystem input's chunk is back from its write (storage.c calls this
 * in the order the chunks closed). Written, it stays in memory and goes on
 * when there is room for it (stored_room) and no backlog waits before it;
 * else it waits on disk and leaves memory. Not written, it goes on from
 * memory and the input pauses until the next flush tick.
 */
void gl__input_stored(struct gl_instance *ins, struct gl_chunk *c, bool written)
{
    struct gl_instance_core *core = ins->core;
    struct gl_storage *st = core->storage;
    if (core->writes_paused && st->pending < GL_STORAGE_WRITES_MAX) {
        core->writes_paused = false;
        gl__input_resume_source(ins);
    }
    if (!written) {
        if (!core->storage_paused) {
            core->storage_paused = true;
            pause_source(ins);
        }
        gl__router_dispatch(gl__input_slot(ins, c->tag, c->tag_len), c);
        return;
    }
    ack_stored(ins, c);
    bool down = !stored_room(ins, c) || st->backlog > 0;
    gl__storage_place(st, c, down);
    if (down) {
        core->held_bytes -= c->held;
        gl_chunk_free(c);
        check_limit(ins, false);
        gl__engine_kick(ins->engine); /* a stopping engine waits for it on disk too */
        return;
    }
    ins->engine->chunks_up++;
    gl__router_dispatch(gl__input_slot(ins, c->tag, c->tag_len), c);
}

/*
 * Hands a filesystem input's closed chunk to its buffer, compressed when it
 * is to wait on disk as things stand (gl__input_stored() decides once it is
 * written); past GL_STORAGE_WRITES_MAX, pauses.
 */
static void store(struct gl_instance *ins, struct gl_chunk *c)
{
    struct gl_instance_core *core = ins->core;
    gl__storage_write(core->storage, c, !stored_room(ins, c) || core->storage->backlog > 0);
    if (!core->writes_paused && core->storage->pending >= GL_STORAGE_WRITES_MAX) {
        core->writes_paused = true;
        pause_source(ins);
    }
}

/* Hands the slot's open chunk to the router (a filesystem input writes it first). */
void gl__router_route(struct gl_slot *slot)
{
    struct gl_chunk *c = slot->open;
    slot->open = NULL;
    if (c == NULL) {
        return;
    }
    struct gl_instance_core *core = slot->ins->core;
    core->open_bytes -= c->held;
    if (c->records == 0) {
        gl_chunk_free(c);
        return;
    }
    if (core->storage != NULL && !core->storage_paused) {
        store(slot->ins, c);
        return;
    }
    gl__router_dispatch(slot, c);
}

/*
 * Reads a filesystem input's backlog back into the pipeline, oldest first,
 * a few chunks per pass, while it has room: nothing diverts it, and the
 * chunks read back in memory stay under storage.backlog.mem_limit. The
 * pass after the next delivery goes on.
 */
void gl__input_replay(struct gl_instance *ins)
{
    struct gl_instance_core *core = ins->core;
    struct gl_engine *e = ins->engine;
    struct gl_storage *st = core->storage;
    for (int n = 0; n < 4 && st->backlog > 0 && !st->failed && !core->storage_paused &&
                    storage_room(ins) && e->backlog_up_bytes < e->svc.storage_backlog_mem_limit;
         n++) {
        struct gl_chunk *c = gl__storage_load(st);
        if (c == NULL) {
            return;
        }
        c->held = c->data.len;
        core->held_bytes += c->held;
        c->replayed = c->data.len;
        e->backlog_up_bytes += c->replayed;
        e->chunks_up++;
        gl__router_dispatch(gl__input_slot(ins, c->tag, c->tag_len), c);
        check_limit(ins, false);
    }
}

/* The flush tick: a filesystem input paused by a failed write tries again. */
void gl__input_storage_retry(struct gl_instance *ins)
{
    struct gl_instance_core *core = ins->core;
    if (core->storage == NULL) {
        return;
    }
    core->storage->failed = false;
    if (core->storage_paused) {
        core->storage_paused = false;
        gl__input_resume_source(ins);
    }
}

/*
 * A record from another source than the open chunk's must start a new chunk:
 * an acknowledgement covers one contiguous range of one source. The record,
 * already written at the end of the open chunk, moves over.
 */
static void split_source(struct gl_slot *slot, struct gl_event *ev)
{
    struct gl_chunk *old = slot->open;
    size_t n = old->data.len - ev->start;
    struct gl_chunk *c = gl_chunk_new(slot->ins, slot->tag, slot->tag_len);
    gl_buf_append(&c->data, old->data.data + ev->start, n);
    old->data.len = ev->start;
    /* The record may refer to any value the old chunk holds (a few per chunk). */
    for (uint32_t i = 0; i < old->shared.n; i++) {
        gl_shared_set_add(&c->shared, old->shared.v[i]);
    }
    gl__router_route(slot);
    slot->open = c;
    /* The record being committed now starts the new chunk. */
    ev->start = 0;
}

/* Bytes an input keeps in open chunks before it routes them all. */
static size_t open_max(const struct gl_instance_core *core)
{
    size_t limit = core->opts.mem_buf_limit;
    return limit != 0 && limit / 2 < GL_OPEN_MAX ? limit / 2 : GL_OPEN_MAX;
}

/*
 * Pauses the input when its account reached mem_buf_limit, resumes it when
 * it went back under. Pausing from a commit routes the open chunks: held
 * bytes are only freed by delivery, so none may wait for the flush tick.
 * Elsewhere (a filter grew a chunk, inside the router) routing now could
 * pass a chunk of the same tag still in the filters, so the open chunks
 * wait: what the filters hold drains first and the input resumes.
 */
static void check_limit(struct gl_instance *ins, bool may_route)
{
    struct gl_instance_core *core = ins->core;
    size_t limit = core->opts.mem_buf_limit;
    if (limit == 0) {
        return;
    }
    if (!core->self_paused && core->held_bytes >= limit) {
        core->self_paused = true;
        gl_log_debug(ins, "mem_buf_limit %zu reached (%zu bytes held), pausing", limit,
                     core->held_bytes);
        gl__input_pause(ins);
        if (may_route) {
            gl__input_flush_open(ins);
        }
    } else if (core->self_paused && core->held_bytes < limit) {
        core->self_paused = false;
        gl__input_resume(ins);
    }
}

void gl__input_replace(struct gl_chunk *old, struct gl_chunk *c)
{
    struct gl_instance_core *core = old->input->core;
    c->held = c->data.len;
    core->held_bytes = core->held_bytes - old->held + c->held;
    old->held = 0;
    check_limit(old->input, false);
}

void gl__input_charge(struct gl_chunk *c, long delta)
{
    struct gl_instance_core *core = c->input->core;
    c->held = (size_t)((long)c->held + delta);
    core->held_bytes = (size_t)((long)core->held_bytes + delta);
    check_limit(c->input, false);
}

/*
 * n bytes holding `records` records (or series) were appended to the open
 * chunk: count them, route the chunk when full, keep the open chunks under
 * their bound and the input under its limit.
 */
static int taken(struct gl_slot *slot, size_t n, uint32_t records)
{
    struct gl_instance *ins = slot->ins;
    struct gl_chunk *c = slot->open;
    c->records += records;
    c->held += n;
    ins->stats.records_in += records;
    ins->stats.bytes_in += n;
    struct gl_instance_core *core = ins->core;
    core->held_bytes += n;
    core->open_bytes += n;
    slot->last_used_ms = 0;
    if (c->data.len >= (core->storage != NULL ? GL_STORAGE_CHUNK_SIZE : GL_CHUNK_SIZE)) {
        gl__router_route(slot);
    }
    if (core->open_bytes > open_max(core)) {
        gl__input_flush_open(ins);
    }
    check_limit(ins, true);
    return core->pause_reasons ? GL_EPAUSED : 0;
}

int gl__input_commit(struct gl_slot *slot, struct gl_event *ev)
{
    struct gl_chunk *c = slot->open;
    if (ev->has_pos) {
        if (c->has_ack && c->ack.source != ev->source) {
            split_source(slot, ev);
            c = slot->open;
        }
        if (!c->has_ack) {
            c->has_ack = true;
            c->ack.source = ev->source;
            c->ack.start = ev->pos_start;
        }
        c->ack.end = ev->pos_end;
        c->ack.records++;
    }
    return taken(slot, c->data.len - ev->start, 1);
}

int gl__input_commit_batch(struct gl_slot *slot, size_t start, uint32_t series)
{
    return taken(slot, slot->open->data.len - start, series);
}

void gl__input_flush_open(struct gl_instance *ins)
{
    struct gl_instance_core *core = ins->core;
    for (size_t i = 0; i < core->slot_buckets; i++) {
        for (struct gl_slot *s = core->slots[i]; s != NULL; s = s->next) {
            if (s->open != NULL) {
                gl__router_route(s);
            }
        }
    }
}

static void slot_free(struct gl_slot *s)
{
    gl_chunk_free(s->open);
    gl_free(s->filters);
    gl_free(s->outputs);
    gl_free(s->tag);
    gl_free(s);
}

/*
 * Tail-like inputs make a tag per file; slots of files gone for a while are
 * freed here so that pod churn does not grow memory. idle_ms 0 frees all.
 */
void gl__input_slots_gc(struct gl_instance *ins, uint64_t idle_ms)
{
    struct gl_instance_core *core = ins->core;
    uint64_t now = now_ms();
    core->last_slot = NULL;
    for (size_t i = 0; i < core->slot_buckets; i++) {
        struct gl_slot **pp = &core->slots[i];
        while (*pp != NULL) {
            struct gl_slot *s = *pp;
            if (s->last_used_ms == 0) {
                s->last_used_ms = now;
            }
            if (idle_ms == 0 ||
                (s->open == NULL && s->held == NULL && now - s->last_used_ms > idle_ms)) {
                *pp = s->next;
                slot_free(s);
                core->slot_count--;
                continue;
            }
            pp = &s->next;
        }
    }
}

static void pause_source(struct gl_instance *ins)
{
    struct gl_instance_core *core = ins->core;
    if (core->pause_reasons == 0) {
        core->paused_since_ms = gl_health_now_ms();
    }
    if (core->pause_reasons++ == 0 && ins->plugin->pause != NULL && !core->stopped) {
        ins->plugin->pause(ins);
    }
}

void gl__input_resume_source(struct gl_instance *ins)
{
    struct gl_instance_core *core = ins->core;
    if (core->pause_reasons == 0) {
        return;
    }
    if (--core->pause_reasons == 0) {
        core->paused_since_ms = 0;
    }
    if (core->pause_reasons == 0 && ins->plugin->resume != NULL && !core->stopped) {
        ins->plugin->resume(ins);
    }
}

/* A filesystem input is not paused by back-pressure: its new chunks wait on disk instead. */
void gl__input_pause(struct gl_instance *ins)
{
    struct gl_instance_core *core = ins->core;
    if (core->storage != NULL) {
        core->divert_reasons++;
        return;
    }
    pause_source(ins);
}

void gl__input_resume(struct gl_instance *ins)
{
    struct gl_instance_core *core = ins->core;
    if (core->storage != NULL) {
        if (core->divert_reasons > 0 && --core->divert_reasons == 0) {
            gl__engine_kick(ins->engine);
        }
        return;
    }
    gl__input_resume_source(ins);
}

int gl__input_paused(const struct gl_instance *ins)
{
    return ins->core->pause_reasons != 0;
}

void gl__input_ack(struct gl_chunk *c)
{
    struct gl_instance *ins = c->input;
    struct gl_instance_core *core = ins->core;
    core->held_bytes -= c->held;
    if (!c->abandoned && c->has_ack && ins->plugin->ack != NULL) {
        ins->plugin->ack(ins, &c->ack);
    }
    if (c->file_bytes != 0) {
        /* An abandoned chunk's file stays: the next run sends it. */
        ins->engine->chunks_up--;
        ins->engine->backlog_up_bytes -= c->replayed;
        if (!c->abandoned) {
            gl__storage_remove(core->storage, c);
        }
    }
    gl_chunk_free(c);
    check_limit(ins, false);
    if (ins->engine->state == GL_ENGINE_STOPPING) {
        /* The last chunk may be acknowledged by no flush (filtered out, matched by none). */
        gl__engine_kick(ins->engine);
    }
}
