/*
 * Chunks: records of one tag (and one source) appended together, about
 * 2 MiB at most. Chunks are what filters see in bulk, what output buffers
 * hold and what outputs flush. A chunk is reference-counted, one reference
 * per output that matched it; the last release acknowledges the input.
 *
 * Readers go through the iterator: gl_chunk_iter_init(), then
 * while (gl_chunk_next(&it, &rec) == 0) { ... rec.body ... }, then
 * gl_chunk_iter_close(). Records are borrowed until the next call.
 */
#ifndef GL_CHUNK_H
#define GL_CHUNK_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/shared.h"
#include "core/plugin.h"
#include "util/buf.h"

#define GL_CHUNK_SIZE (2u << 20)

struct gl_chunk {
    struct gl_buf data;         /* concatenated msgpack records, or metrics batches */
    enum gl_data type;          /* GL_LOGS or GL_METRICS */
    uint32_t records;           /* log records, or series */
    int refs;
    char *tag;
    size_t tag_len;
    struct gl_instance *input;  /* who produced it, for the acknowledgement */
    struct gl_ack ack;
    bool has_ack;
    bool abandoned;             /* an output gave up at shutdown: never acknowledge */
    size_t held;                /* bytes counted in its input's memory account (input.c) */
    uint64_t created_ms;
    /* The filesystem buffer (core/storage.h): its file while file_bytes != 0. */
    uint64_t file_seq;
    size_t file_bytes;
    size_t replayed;            /* bytes counted against storage.backlog.mem_limit */
    struct gl_shared_set shared; /* the shared values its records refer to */
};

/* One record, borrowed from a chunk. */
struct gl_record {
    uint64_t ts;                 /* nanoseconds since the epoch */
    const msgpack_object *meta;  /* a map */
    const msgpack_object *body;  /* a map */
    const char *raw;             /* the record's msgpack bytes */
    size_t raw_len;
    const char *tag;
    size_t tag_len;
    uint32_t index;              /* position in the chunk, for gl_flush_drop() */
};

struct gl_chunk_iter {
    const struct gl_chunk *chunk;
    size_t off;
    uint32_t index;
    msgpack_unpacked up;
};

struct gl_chunk *gl_chunk_new(struct gl_instance *input, const char *tag, size_t tag_len);
void gl_chunk_free(struct gl_chunk *c);

void gl_chunk_iter_init(struct gl_chunk_iter *it, const struct gl_chunk *c);
/*
 * Returns 0 with rec filled, GL_ENOENT at the end, or GL_EPARSE when a record
 * is malformed (the rest of the chunk is skipped; cannot happen for chunks the
 * encoder wrote).
 */
int gl_chunk_next(struct gl_chunk_iter *it, struct gl_record *rec);
void gl_chunk_iter_close(struct gl_chunk_iter *it);

/* Appends every record of a chunk to b as JSON lines (body plus @timestamp). */
void gl_chunk_write_json(struct gl_buf *b, const struct gl_chunk *c);

/*
 * Where the record came from, as its input wrote it with gl_event_origin()
 * (core/event.h): 0 with *source and *offset set, or GL_ENOENT when its
 * metadata says nothing.
 */
int gl_record_origin(const struct gl_record *rec, uint64_t *source, uint64_t *offset);

/* Reads a record from raw msgpack bytes (unpacked with up, which the caller owns). */
int gl_record_read(msgpack_unpacked *up, const char *data, size_t len, size_t *off,
                   struct gl_record *rec);

#endif
