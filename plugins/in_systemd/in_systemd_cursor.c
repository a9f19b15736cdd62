/*
 * The systemd input's cursor, committed as the tail input commits offsets:
 * only once every output acknowledged the entries up to it, so that a crash
 * re-reads (never loses) what was not delivered. The pending ring holds the
 * entries read in order; acknowledgements, which may come in any order
 * across tags, mark them, and the committed cursor advances over the marked
 * prefix. The cursor file is append-only with a sync per commit, rewritten
 * whole when it grows past a limit, through a rename so no crash leaves it
 * without a cursor.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugins/in_systemd/in_systemd.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#define FILE_MAX (1u << 20)
#define CURSOR_MAX 4096

/* ---- pending entries ---- */

static struct systemd_entry *at(struct systemd_pending *p, size_t i)
{
    return &p->e[(p->head + i) % p->cap];
}

void systemd_pending_add(struct systemd_pending *p, uint64_t source, uint64_t seq, char *cursor)
{
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct systemd_entry *e = gl_malloc(cap * sizeof(*e));
        for (size_t i = 0; i < p->count; i++) {
            e[i] = *at(p, i);
        }
        gl_free(p->e);
        p->e = e;
        p->cap = cap;
        p->head = 0;
    }
    *at(p, p->count++) = (struct systemd_entry){ source, seq, cursor, false };
}

char *systemd_pending_ack(struct systemd_pending *p, uint64_t source, uint64_t start,
                          uint64_t end)
{
    for (size_t i = 0; i < p->count; i++) {
        struct systemd_entry *e = at(p, i);
        if (e->source == source && e->seq > start && e->seq <= end) {
            e->acked = true;
        }
    }
    char *commit = NULL;
    while (p->count > 0 && at(p, 0)->acked) {
        struct systemd_entry *e = at(p, 0);
        gl_free(commit);
        commit = e->cursor;
        p->head = (p->head + 1) % p->cap;
        p->count--;
    }
    return commit;
}

void systemd_pending_free(struct systemd_pending *p)
{
    for (size_t i = 0; i < p->count; i++) {
        gl_free(at(p, i)->cursor);
    }
    gl_free(p->e);
    memset(p, 0, sizeof(*p));
}

/* ---- the cursor file ---- */

struct systemd_cursor {
    char *path;
    int fd;
    size_t size;
};

/* The cursor of the last whole "C ..." line of the file's text, or NULL. */
static char *last_cursor(const char *text, size_t len)
{
    char *found = NULL;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            break; /* a line cut by a crash mid-write */
        }
        if (nl - p > 2 && p[0] == 'C' && p[1] == ' ' && nl - p < CURSOR_MAX) {
            gl_free(found);
            found = gl_strndup(p + 2, (size_t)(nl - p - 2));
        }
        p = nl + 1;
    }
    return found;
}

/* Writes the file anew with one cursor (or none), through a temporary file and a rename. */
static int rewrite(struct systemd_cursor *db, const char *cursor)
{
    struct gl_buf tmp, line;
    gl_buf_init(&tmp);
    gl_buf_init(&line);
    gl_buf_printf(&tmp, "%s.tmp", db->path);
    if (cursor != NULL) {
        gl_buf_printf(&line, "C %s\n", cursor);
    }
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? GL_EIO : 0;
    if (rc == 0 && (gl_fs_write_all(fd, line.data ? line.data : "", line.len) < 0 ||
                    fsync(fd) < 0 || rename(tmp.data, db->path) < 0)) {
        rc = GL_EIO;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rc == 0) {
        if (db->fd >= 0) {
            close(db->fd);
        }
        db->fd = open(db->path, O_WRONLY | O_APPEND | O_CLOEXEC);
        db->size = line.len;
        rc = db->fd < 0 ? GL_EIO : 0;
    }
    gl_buf_close(&tmp);
    gl_buf_close(&line);
    return rc;
}

/* Reads the file whole (a missing one is empty); returns 0 or -errno. */
static int read_all(const char *path, struct gl_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0 && out->len < 2 * FILE_MAX) {
        gl_buf_append(out, chunk, (size_t)n);
    }
    int rc = n < 0 ? -errno : 0;
    close(fd);
    return rc;
}

struct systemd_cursor *systemd_cursor_open(const char *path, char **last, char *err,
                                           size_t errlen)
{
    struct systemd_cursor *db = gl_calloc(1, sizeof(*db));
    db->path = gl_strdup(path);
    db->fd = -1;
    struct gl_buf text;
    gl_buf_init(&text);
    int rc = read_all(path, &text);
    *last = rc == 0 ? last_cursor(text.data ? text.data : "", text.len) : NULL;
    gl_buf_close(&text);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read: %s", strerror(-rc));
        systemd_cursor_close(db);
        return NULL;
    }
    if (rewrite(db, *last) < 0) {
        snprintf(err, errlen, "cannot write: %s", strerror(errno));
        gl_free(*last);
        *last = NULL;
        systemd_cursor_close(db);
        return NULL;
    }
    return db;
}

int systemd_cursor_write(struct systemd_cursor *db, const char *cursor)
{
    if (db->size > FILE_MAX) {
        return rewrite(db, cursor);
    }
    struct gl_buf line;
    gl_buf_init(&line);
    gl_buf_printf(&line, "C %s\n", cursor);
    int rc = 0;
    if (gl_fs_write_all(db->fd, line.data, line.len) < 0 || fdatasync(db->fd) < 0) {
        rc = GL_EIO;
    }
    db->size += line.len;
    gl_buf_close(&line);
    return rc;
}

void systemd_cursor_close(struct systemd_cursor *db)
{
    if (db == NULL) {
        return;
    }
    if (db->fd >= 0) {
        close(db->fd);
    }
    gl_free(db->path);
    gl_free(db);
}
