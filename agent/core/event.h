/*
 * The record encoder: the one way records are written. A record is the
 * msgpack array [timestamp_ns (uint64), metadata map, body map].
 *
 * Inputs: gl_event_begin(&ev, ins, ts) opens a record in the chunk for the
 * instance's tag (or gl_event_begin_tag for per-source tags), gl_event_kv_*()
 * add body keys, gl_event_commit() appends it. Filters get an `out` event
 * already begun with the record's time and write the replacement body into it.
 * The body's key count is patched at commit, so keys are added one by one.
 */
#ifndef GL_EVENT_H
#define GL_EVENT_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct gl_instance;
struct gl_slot;
struct gl_shared;
struct gl_shared_set;

#define GL_EVENT_DEPTH 8

struct gl_event {
    struct gl_buf *buf;     /* where the record is written */
    size_t start;           /* offset of the record in buf */
    size_t ts_at;           /* offset of the 8 timestamp bytes */
    unsigned depth;         /* open maps: 1 is the body */
    size_t map_at[GL_EVENT_DEPTH];   /* offsets of map32 headers to patch */
    uint32_t map_n[GL_EVENT_DEPTH];  /* keys written in each open map */
    msgpack_packer pk;      /* packs into buf, for callers that write values themselves */
    struct gl_instance *ins;
    struct gl_slot *slot;   /* inputs: the tag's open chunk */
    uint64_t source;        /* inputs: gl_event_position() */
    uint64_t pos_start;
    uint64_t pos_end;
    int has_pos;
    struct gl_shared_set *shared; /* filters: where references to shared values are kept */
};

void gl_event_begin(struct gl_event *ev, struct gl_instance *ins, uint64_t ts_ns);
void gl_event_begin_tag(struct gl_event *ev, struct gl_instance *ins, const char *tag,
                        size_t tag_len, uint64_t ts_ns);

/* Records that this event covers bytes [start, end) of source (for acknowledgements). */
void gl_event_position(struct gl_event *ev, uint64_t source, uint64_t start, uint64_t end);

/*
 * Metadata. The metadata map is empty unless an input says where the record
 * came from, as a key stable across restarts: gl_event_origin() writes
 * GL_META_ORIGIN: [source key, offset] (two uints), where the source key
 * names what was read (for tail, a hash of the file's device, inode and
 * first bytes) and offset is where the record starts in it. The same line
 * read again after a crash gets the same pair, so an output can give it the
 * same identity (es: a deterministic _id). Must come before the first body
 * key; later calls are ignored. Filters that rewrite a record keep its
 * metadata (the core copies it into `out` with gl__event_meta()).
 */
#define GL_META_ORIGIN "origin"
void gl_event_origin(struct gl_event *ev, uint64_t source, uint64_t offset);

void gl_event_set_time(struct gl_event *ev, uint64_t ts_ns);
void gl_event_kv_str(struct gl_event *ev, const char *key, const char *val, size_t len);
void gl_event_kv_strn(struct gl_event *ev, const char *key, size_t klen, const char *val,
                      size_t len);
void gl_event_kv_int(struct gl_event *ev, const char *key, int64_t v);
void gl_event_kv_uint(struct gl_event *ev, const char *key, uint64_t v);
void gl_event_kv_double(struct gl_event *ev, const char *key, double v);
void gl_event_kv_bool(struct gl_event *ev, const char *key, int v);
void gl_event_kv_nil(struct gl_event *ev, const char *key);
/* Copies a msgpack value under key (klen bytes). */
void gl_event_kv_obj(struct gl_event *ev, const char *key, size_t klen,
                     const msgpack_object *val);
/* Writes key then leaves the caller to pack exactly one value with ev->pk (counted as one key). */
void gl_event_key(struct gl_event *ev, const char *key, size_t klen);
/* Writes key then one value already encoded as msgpack (len bytes, exactly one object). */
void gl_event_kv_raw(struct gl_event *ev, const char *key, size_t klen, const char *msgpack,
                     size_t len);
/*
 * Writes key then a reference to a shared value (agent/codec/shared.h), kept alive
 * by ev->shared (the open chunk's set for an input, the filter's for a filter);
 * without one (an input with the filesystem buffer) the value is copied instead.
 */
void gl_event_kv_shared(struct gl_event *ev, const char *key, size_t klen, struct gl_shared *s);
/* Appends n key/value pairs already encoded as msgpack (e.g. a map's body without its header). */
void gl_event_raw_pairs(struct gl_event *ev, const char *pairs, size_t len, uint32_t n);
/* Opens a nested map under key; keys go into it until gl_event_map_end(). */
void gl_event_map_begin(struct gl_event *ev, const char *key, size_t klen);
void gl_event_map_end(struct gl_event *ev);

/*
 * Appends the record to its chunk. Returns 0, or GL_EPAUSED when the pipeline
 * wants the input to pause (the record was still accepted).
 */
int gl_event_commit(struct gl_event *ev);
/* Forgets a record that was begun. */
void gl_event_abort(struct gl_event *ev);

/* Core: begins a record into a buffer that is not an input's chunk (filters, tests). */
void gl__event_begin_buf(struct gl_event *ev, struct gl_buf *buf, uint64_t ts_ns);
/* Core: gives a record just begun the metadata map meta (copied); ignored after a body key. */
void gl__event_meta(struct gl_event *ev, const msgpack_object *meta);
/* Core: closes the open maps of a record begun with gl__event_begin_buf(). */
void gl__event_finish(struct gl_event *ev);

#endif
