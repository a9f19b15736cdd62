/*
 * The filesystem buffer, core-only: for an input with `storage.type
 * filesystem`, every chunk it closes is written to a file of its own under
 * <storage.path>/<alias>.buffer/ before it goes on, and the file is removed
 * once every output took the chunk. A chunk the pipeline has no room for
 * (an output full, the input at mem_buf_limit, storage.max_chunks_up
 * reached) leaves memory once written: it waits on disk, in the backlog,
 * and is read back in order when there is room. At start-up the files left
 * by the last run are that backlog, so they go before new data.
 *
 * Files are named by a sequence number (<16 hex digits>.chunk): the backlog
 * is the range [head, done) of it, which is why memory does not grow with
 * the length of an outage.
 *
 * A chunk is written on libuv's thread pool, at most GL_STORAGE_WRITES_MAX
 * per input at once; writes finish in the order they were asked for, each
 * told to the input with gl__input_stored(). A chunk that is to wait on
 * disk is compressed with zstd first; one that goes on from memory is
 * written as it is, since its file is removed within a flush or so: zstd
 * costs more than everything else such a chunk goes through, for disk
 * space it would hold for that long only. Files as they are stay bounded
 * by the chunks in memory (and the few whose place changed between the
 * write and its end).
 */
#ifndef GL_STORAGE_H
#define GL_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "util/buf.h"

struct gl_instance;
struct gl_chunk;
struct gl_zstd_cctx;
struct storage_write;

/*
 * Chunk writes of one input in flight at once; past it the input pauses.
 * Such an input closes its chunks at GL_STORAGE_CHUNK_SIZE, half the usual
 * size: three writes and the chunk being filled then fit in tail's default
 * mem_buf_limit (4 MiB), so that compression keeps both cores busy while the
 * input reads on (with two chunks of 2 MiB, a chunk had to be compressed
 * before the next could start: 15% slower, 2 MiB more resident, measured).
 */
#define GL_STORAGE_WRITES_MAX 3
#define GL_STORAGE_CHUNK_SIZE (1u << 20)

struct gl_storage {
    struct gl_instance *ins;
    char *dir;
    int dirfd;
    uint64_t head;          /* oldest sequence number that may be in the backlog */
    uint64_t done;          /* every write below this number has finished */
    uint64_t next;          /* the next file's sequence number */
    uint64_t backlog;       /* files in [head, done) waiting on disk only */
    unsigned pending;       /* writes asked for and not yet told to the input */
    struct storage_write *writes;       /* those, oldest first */
    struct storage_write **writes_tail;
    struct gl_zstd_cctx *cx[GL_STORAGE_WRITES_MAX]; /* idle compression contexts */
    struct gl_buf files[GL_STORAGE_WRITES_MAX];     /* and the file buffers beside them */
    size_t limit;           /* storage.total_limit_size of its outputs (0: none) */
    bool sync_full;
    bool content_sum;
    bool failed;            /* the last write failed: the input waits for the next tick */
    struct gl_buf io;       /* a file being read */
    uint64_t *m_written;
    uint64_t *m_compressed;
    uint64_t *m_replayed;
    uint64_t *m_corrupt;
    uint64_t *m_write_errors;
    uint64_t *m_disk_bytes;
    uint64_t *m_backlog;
};


/*
 * Opens an input's buffer directory (creating it), removes files a crash
 * left half written and finds the backlog of the last run. Returns the
 * store, or NULL with the reason logged.
 */
struct gl_storage *gl__storage_open(struct gl_instance *ins);
void gl__storage_free(struct gl_storage *st);

/*
 * Has chunk c written to its file (compressed with compress, checked,
 * synced as storage.sync says, renamed into place) off the loop; the chunk
 * is the store's until gl__input_stored(ins, c, written) hands it back, in
 * the order of the calls. A failed write is logged and counted first.
 */
void gl__storage_write(struct gl_storage *st, struct gl_chunk *c, bool compress);

/*
 * The input decided where a written chunk goes: down, it waits in the
 * backlog (the caller frees it from memory); else it goes on from memory
 * and its file stays until delivered. Past storage.total_limit_size the
 * oldest backlog files are then removed, their records counted as dropped.
 */
void gl__storage_place(struct gl_storage *st, struct gl_chunk *c, bool down);

/* Writes still pending in every input of an engine (its stop waits for none). */
unsigned gl__storage_pending(const struct gl_storage *st);

/*
 * Reads the oldest backlog file back as a chunk of the store's input.
 * Files that cannot be read are moved to corrupt/ (logged, counted) and
 * passed over. Returns NULL when the backlog is empty.
 */
struct gl_chunk *gl__storage_load(struct gl_storage *st);

/* The chunk was delivered: its file goes. */
void gl__storage_remove(struct gl_storage *st, const struct gl_chunk *c);

#endif
