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
 * is the range [head, next) of it, which is why memory does not grow with
 * the length of an outage.
 */
#ifndef GL_STORAGE_H
#define GL_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct gl_instance;
struct gl_chunk;

struct gl_storage {
    struct gl_instance *ins;
    char *dir;
    int dirfd;
    uint64_t head;          /* oldest sequence number that may be in the backlog */
    uint64_t next;          /* the next file's sequence number */
    uint64_t backlog;       /* files in [head, next) waiting on disk only */
    size_t limit;           /* storage.total_limit_size of its outputs (0: none) */
    bool sync_full;
    bool content_sum;
    bool failed;            /* the last write failed: the input waits for the next tick */
    struct gl_buf io;       /* a file being written or read */
    uint64_t *m_written;
    uint64_t *m_replayed;
    uint64_t *m_corrupt;
    uint64_t *m_write_errors;
    uint64_t *m_disk_bytes;
    uint64_t *m_backlog;
};

/* What became of a chunk given to gl__storage_write(). */
enum gl_storage_fate {
    GL_STORAGE_UP,     /* written; it goes on from memory, its file kept until delivered */
    GL_STORAGE_DOWN,   /* written to the backlog; the caller frees it from memory */
    GL_STORAGE_FAILED, /* not written (logged and counted): it goes on from memory */
};

/*
 * Opens an input's buffer directory (creating it), removes files a crash
 * left half written and finds the backlog of the last run. Returns the
 * store, or NULL with the reason logged.
 */
struct gl_storage *gl__storage_open(struct gl_instance *ins);
void gl__storage_free(struct gl_storage *st);

/*
 * Writes chunk c to its file (compressed, checked, synced as storage.sync
 * says, renamed into place) and decides whether it stays in memory: down
 * when `room` is false or when a backlog is waiting (order is kept). Past
 * storage.total_limit_size the oldest backlog files are removed, their
 * records counted as dropped.
 */
enum gl_storage_fate gl__storage_write(struct gl_storage *st, struct gl_chunk *c, bool room);

/*
 * Reads the oldest backlog file back as a chunk of the store's input.
 * Files that cannot be read are moved to corrupt/ (logged, counted) and
 * passed over. Returns NULL when the backlog is empty.
 */
struct gl_chunk *gl__storage_load(struct gl_storage *st);

/* The chunk was delivered: its file goes. */
void gl__storage_remove(struct gl_storage *st, const struct gl_chunk *c);

#endif
