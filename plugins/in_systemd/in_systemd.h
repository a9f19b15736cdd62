/*
 * The systemd input's private header: the plugin state (in_systemd.c) and
 * the journal cursor's bookkeeping (in_systemd_cursor.c): the entries read
 * but not yet delivered, and the append-only file the cursor of the last
 * delivered one is committed to.
 */
#ifndef GL_IN_SYSTEMD_H
#define GL_IN_SYSTEMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One entry read and emitted, waiting for every output to take it. */
struct systemd_entry {
    uint64_t source; /* the tag's source id */
    uint64_t seq;    /* its position within that source, from 1 */
    char *cursor;
    bool acked;
};

/* Entries in the order read: a ring that grows. */
struct systemd_pending {
    struct systemd_entry *e;
    size_t head;
    size_t count;
    size_t cap;
};

/*
 * Adds an entry, taking the cursor (allocated with gl_malloc). Acks mark
 * entries of one source with seq in (start, end]; systemd_pending_ack()
 * returns the cursor of the newest entry before which every entry is
 * acknowledged (a new string the caller frees), or NULL when that did not
 * move. Entries are released as they are passed.
 */
void systemd_pending_add(struct systemd_pending *p, uint64_t source, uint64_t seq,
                         char *cursor);
char *systemd_pending_ack(struct systemd_pending *p, uint64_t source, uint64_t start,
                          uint64_t end);
void systemd_pending_free(struct systemd_pending *p);

struct systemd_cursor;

/*
 * Opens (creating it) the cursor file: lines "C <cursor>", appended, the last
 * whole line winning; on open it is rewritten with that line alone. *last
 * gets the stored cursor (a new string) or NULL. NULL with err on failure.
 */
struct systemd_cursor *systemd_cursor_open(const char *path, char **last, char *err,
                                           size_t errlen);
/* Appends a cursor and syncs it to disk; returns 0 or GL_EIO. */
int systemd_cursor_write(struct systemd_cursor *db, const char *cursor);
void systemd_cursor_close(struct systemd_cursor *db);

#endif
