/*
 * How node_metrics reads: whole files of at most NODE_FILE_MAX bytes, small
 * sysfs values, directory listings and statfs, each guarded so that the
 * instance can let go of a thread stuck in one (see the worker); and the
 * small strict parsers every collector shares: lines, fields, and numbers
 * that must be whole (no sscanf, no reading past a token).
 *
 * Invariant: nothing here reads past the text it is given; every file read
 * is bounded in bytes, every listing in entries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "codec/regex.h"
#include "in_node_metrics.h"
#include "in_node_metrics_read.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mem.h"

int node_fail(struct node_ctx *c, int rc, const char *fmt, ...)
{
    if (c->err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->err_len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/*
 * base + "/" + rel into out (cap bytes), without a doubled slash (base "/"
 * or "/proc/"); false when it does not fit. Paths are built for every read:
 * copies, not printf.
 */
static bool join(char *out, size_t cap, const char *base, const char *rel)
{
    size_t bl = strlen(base), rl = strlen(rel);
    while (bl > 1 && base[bl - 1] == '/') {
        bl--;
    }
    bool slash = rl > 0 && !(bl == 1 && base[0] == '/');
    if (bl + slash + rl >= cap) {
        return false;
    }
    memcpy(out, base, bl);
    out[bl] = '/';
    memcpy(out + bl + slash, rel, rl + 1);
    return true;
}

int node_path(struct node_ctx *c, const char *base, const char *rel)
{
    if (!join(c->path, sizeof(c->path), base, rel)) {
        return node_fail(c, GL_ELIMIT, "path %s/%s is too long", base, rel);
    }
    return 0;
}

static int errno_code(int e)
{
    return e == ENOENT || e == ENOTDIR ? GL_ENOENT : GL_EIO;
}

/* ---- files kept open ----------------------------------------------------- */

/* Slots of the table: a power of two, a little more than twice the most files kept. */
#define FD_SLOTS 8192
#define FD_EMPTY (-1)
#define FD_GONE (-2) /* given up (the device went away): the slot stays taken */
#define FD_MISSING (-3) /* no such file when last tried: not looked for again until retry_at */

/*
 * A file found missing is looked for again this long after (a collector of
 * hardware the node lacks would otherwise walk the same absent path at every
 * collection): a sensor driver loaded or a device's udev data written shows
 * within this time.
 */
#define MISSING_RETRY_NS (30 * 1000000000ull)

struct node_fd {
    uint64_t hash;
    uint32_t key_at, key_len;
    uint32_t read_at; /* the collection that last read it */
    uint32_t opened;  /* which opening this descriptor is (node_fds.openings) */
    int fd;
    bool proc;         /* a file of a proc filesystem (else sysfs) */
    uint64_t retry_at; /* FD_MISSING: when to look for it again (uv_hrtime) */
};

static uint64_t hash_of(const char *s, size_t n)
{
    return gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, s, n);
}

/* The slot of path, or the empty one where it would go. */
static struct node_fd *fd_slot(struct node_fds *f, const char *path, size_t n, uint64_t h)
{
    for (size_t i = h & (FD_SLOTS - 1);; i = (i + 1) & (FD_SLOTS - 1)) {
        struct node_fd *s = &f->slots[i];
        if (s->fd == FD_EMPTY ||
            (s->hash == h && s->key_len == n && memcmp(f->keys.data + s->key_at, path, n) == 0)) {
            return s;
        }
    }
}

/*
 * Called before each collection. Devices come and go (a pod's veth): every
 * 64 collections the files not read in the last 64 are closed, and once a
 * quarter of the slots belong to closed files the table starts over.
 */
void node_fds_tidy(struct node_fds *f)
{
    f->collection++;
    for (size_t i = 0; f->slots != NULL && f->collection % 64 == 0 && i < FD_SLOTS; i++) {
        struct node_fd *s = &f->slots[i];
        if (s->fd == FD_MISSING && f->collection - s->read_at > 64) {
            s->fd = FD_GONE;
        } else if (s->fd >= 0 && f->collection - s->read_at > 64) {
            close(s->fd);
            s->fd = FD_GONE;
            f->kept--;
        }
    }
    if (f->used - f->kept > FD_SLOTS / 4) {
        node_fds_close(f);
    }
}

void node_fds_close(struct node_fds *f)
{
    for (size_t i = 0; f->slots != NULL && i < FD_SLOTS; i++) {
        if (f->slots[i].fd >= 0) {
            close(f->slots[i].fd);
        }
    }
    uint32_t openings = f->openings; /* never counts back: node_read_changed compares them */
    uint64_t retry = f->missing_retry_ns;
    gl_free(f->slots);
    gl_buf_close(&f->keys);
    memset(f, 0, sizeof(*f));
    f->openings = openings;
    f->missing_retry_ns = retry;
}

/* A quarter of the soft limit on open files (tail needs the rest), at most 4096. */
static size_t fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) {
        return 4096;
    }
    return rl.rlim_cur / 4 < 4096 ? rl.rlim_cur / 4 : 4096;
}

/*
 * Keeps fd open for path when it is a /proc or /sys file (a regular file
 * elsewhere can be replaced under its name) and there is room; returns
 * whether it did.
 */
static void fd_table(struct node_fds *f)
{
    if (f->slots == NULL) {
        f->slots = gl_malloc(FD_SLOTS * sizeof(*f->slots));
        for (size_t i = 0; i < FD_SLOTS; i++) {
            f->slots[i].fd = FD_EMPTY;
        }
        f->limit = fd_limit();
    }
}

/* The slot for path, taken for it: an empty one gets its key. */
static struct node_fd *fd_take(struct node_fds *f, const char *path, size_t n, uint64_t h)
{
    struct node_fd *s = fd_slot(f, path, n, h);
    if (s->fd == FD_EMPTY) {
        *s = (struct node_fd){.hash = h, .key_at = (uint32_t)f->keys.len, .key_len = (uint32_t)n};
        gl_buf_append(&f->keys, path, n);
        f->used++;
    }
    return s;
}

static bool fd_keep(struct node_fds *f, const char *path, size_t n, uint64_t h, int fd)
{
    struct statfs st;
    fd_table(f);
    if (f->kept >= f->limit || f->used >= FD_SLOTS / 2 || fstatfs(fd, &st) < 0 ||
        (st.f_type != PROC_SUPER_MAGIC && st.f_type != SYSFS_MAGIC)) {
        return false;
    }
    struct node_fd *s = fd_take(f, path, n, h);
    s->read_at = f->collection;
    s->opened = ++f->openings;
    if (s->opened == 0) {
        s->opened = ++f->openings; /* 0 stands for none */
    }
    s->fd = fd;
    s->proc = st.f_type == PROC_SUPER_MAGIC;
    f->kept++;
    return true;
}

/* Remembers that path is not there, so that it is not looked for again until retry_at. */
static void fd_missing(struct node_fds *f, const char *path, size_t n, uint64_t h)
{
    fd_table(f);
    if (f->used >= FD_SLOTS / 2) {
        return;
    }
    struct node_fd *s = fd_take(f, path, n, h);
    s->fd = FD_MISSING;
    s->read_at = f->collection;
    s->retry_at = uv_hrtime() + (f->missing_retry_ns > 0 ? f->missing_retry_ns : MISSING_RETRY_NS);
}

/* Whether s marks its path missing and its retry time has not come: then it is not tried. */
static bool still_missing(struct node_fds *f, struct node_fd *s)
{
    if (s == NULL || s->fd != FD_MISSING || uv_hrtime() >= s->retry_at) {
        return false;
    }
    s->read_at = f->collection;
    return true;
}

/*
 * After an open of path (slot s, or NULL) that gave fd and errno e: a path
 * not there is marked missing; one marked missing that is there again is
 * opened at each read from now on (FD_GONE) unless fd_keep took its slot.
 */
static void after_open(struct node_fds *f, struct node_fd *s, const char *path, size_t n,
                       uint64_t h, int fd, int e)
{
    bool free_slot = s == NULL || s->fd == FD_EMPTY || s->fd == FD_MISSING;
    if (fd < 0 && e == ENOENT && free_slot) {
        fd_missing(f, path, n, h);
    } else if (fd >= 0 && s != NULL && s->fd == FD_MISSING) {
        s->fd = FD_GONE;
    }
}

/*
 * Opens path (a file, or a directory with O_DIRECTORY in flags) for reading
 * from its start: the kept descriptor or a new one (kept when it can be).
 * *kept says whether the caller must leave it open; a kept file is read
 * with pread from offset 0 (no seek), a kept directory is rewound here.
 * Returns the fd, or -1 with errno set.
 */
static int fd_open(struct node_ctx *c, const char *path, int flags, bool *kept)
{
    struct node_fds *f = &c->fds;
    size_t n = strlen(path);
    uint64_t h = hash_of(path, n);
    struct node_fd *s = f->slots != NULL ? fd_slot(f, path, n, h) : NULL;
    if (s != NULL && s->fd >= 0 && (!(flags & O_DIRECTORY) || lseek(s->fd, 0, SEEK_SET) == 0)) {
        s->read_at = f->collection;
        *kept = true;
        return s->fd;
    }
    *kept = false;
    if (still_missing(f, s)) {
        errno = ENOENT;
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | flags);
    int e = errno;
    if (fd >= 0 && (s == NULL || s->fd == FD_EMPTY || s->fd == FD_MISSING)) {
        *kept = fd_keep(f, path, n, h, fd);
    }
    if (!*kept) {
        after_open(f, f->slots != NULL ? fd_slot(f, path, n, h) : NULL, path, n, h, fd, e);
    }
    errno = e;
    return fd;
}

/* Gives up the kept descriptor of path (it failed: its device is gone). */
static void fd_forget(struct node_ctx *c, const char *path)
{
    struct node_fds *f = &c->fds;
    size_t n = strlen(path);
    struct node_fd *s = f->slots != NULL ? fd_slot(f, path, n, hash_of(path, n)) : NULL;
    if (s != NULL && s->fd >= 0) {
        close(s->fd);
        s->fd = FD_GONE;
        f->kept--;
    }
}

/*
 * Whether a kept descriptor's failed read says its file is gone (the device
 * was removed: sysfs answers ENODEV), so that it is opened again; any other
 * error is the file's own answer (the speed of a virtual device, EINVAL)
 * and the descriptor stays kept.
 */
static bool fd_stale(int e)
{
    return e == ENODEV || e == ENOENT || e == ESRCH;
}

/* ---- guarded reads ------------------------------------------------------- */

/* One read at off: pread on a kept descriptor (proc and sysfs take it), read on a new one. */
static ssize_t read_one(int fd, bool kept, char *buf, size_t n, size_t off)
{
    ssize_t r;
    do {
        r = kept ? pread(fd, buf, n, (off_t)off) : read(fd, buf, n);
    } while (r < 0 && errno == EINTR);
    return r;
}

/* Reads fd to its end or past max bytes into buf. Returns 0, GL_ELIMIT or GL_EIO. */
static int read_all(int fd, bool kept, struct gl_buf *buf, size_t max)
{
    for (;;) {
        gl_buf_reserve(buf, 16384);
        size_t room = buf->cap - buf->len - 1;
        ssize_t r = read_one(fd, kept, buf->data + buf->len, room, buf->len);
        if (r < 0) {
            return GL_EIO;
        }
        if (r == 0) {
            break;
        }
        buf->len += (size_t)r;
        if (buf->len > max) {
            return GL_ELIMIT;
        }
    }
    buf->data[buf->len] = '\0';
    return 0;
}

/* One attempt at a whole file; *kept_failed when a kept descriptor failed (try anew). */
static int read_whole(struct node_ctx *c, struct gl_buf *buf, int *e, bool *kept_failed)
{
    bool kept;
    int rc = GL_EIO;
    int fd = fd_open(c, c->path, 0, &kept);
    *e = errno;
    if (fd >= 0) {
        gl_buf_reset(buf);
        rc = read_all(fd, kept, buf, NODE_FILE_MAX);
        *e = errno;
        if (!kept) {
            close(fd);
        }
    }
    *kept_failed = kept && rc == GL_EIO && fd_stale(*e);
    if (*kept_failed) {
        fd_forget(c, c->path);
    }
    return fd < 0 ? errno_code(*e) : rc;
}

int node_read(struct node_ctx *c, struct gl_buf *buf, const char *base, const char *rel)
{
    int rc = node_path(c, base, rel);
    if (rc < 0) {
        return rc;
    }
    gl_buf_reset(buf);
    if (!node_op_begin(c, NULL)) {
        return GL_ESTATE;
    }
    int e;
    bool again;
    rc = read_whole(c, buf, &e, &again);
    if (again) {
        rc = read_whole(c, buf, &e, &again);
    }
    if (!node_op_end(c)) {
        return GL_ESTATE;
    }
    c->sys_errno = e;
    if (rc == GL_ELIMIT) {
        return node_fail(c, rc, "%s is larger than %u bytes", c->path, NODE_FILE_MAX);
    }
    if (rc < 0) {
        return node_fail(c, rc, "%s: %s", c->path, strerror(e));
    }
    return 0;
}

/* The kept descriptor of c->path, or NULL. */
static struct node_fd *fd_kept(struct node_ctx *c)
{
    struct node_fds *f = &c->fds;
    size_t n = strlen(c->path);
    struct node_fd *s = f->slots != NULL ? fd_slot(f, c->path, n, hash_of(c->path, n)) : NULL;
    return s != NULL && s->fd >= 0 ? s : NULL;
}

int node_read_changed(struct node_ctx *c, struct gl_buf *buf, const char *base, const char *rel,
                      uint32_t *opened)
{
    int rc = node_path(c, base, rel);
    if (rc < 0) {
        return rc;
    }
    struct node_fd *s = fd_kept(c);
    if (s != NULL && *opened != 0 && s->opened == *opened) {
        if (!node_op_begin(c, NULL)) {
            return GL_ESTATE;
        }
        struct pollfd p = {.fd = s->fd, .events = POLLPRI};
        int r = poll(&p, 1, 0);
        if (!node_op_end(c)) {
            return GL_ESTATE;
        }
        if (r == 0 || (r == 1 && !(p.revents & (POLLPRI | POLLERR | POLLNVAL)))) {
            s->read_at = c->fds.collection;
            return NODE_UNCHANGED;
        }
    }
    *opened = 0;
    rc = node_read(c, buf, base, rel);
    s = rc == 0 ? fd_kept(c) : NULL;
    *opened = s != NULL ? s->opened : 0;
    return rc;
}

int node_proc_file(struct node_ctx *c, const char *base, const char *rel, bool *proc)
{
    int rc = node_path(c, base, rel);
    if (rc < 0) {
        return rc;
    }
    struct node_fd *s = fd_kept(c);
    if (s != NULL) {
        s->read_at = c->fds.collection;
        *proc = s->proc;
        return 0;
    }
    if (!node_op_begin(c, NULL)) {
        return GL_ESTATE;
    }
    bool kept;
    int fd = fd_open(c, c->path, 0, &kept);
    int e = errno;
    if (fd >= 0 && !kept) {
        close(fd);
    }
    if (!node_op_end(c)) {
        return GL_ESTATE;
    }
    s = kept ? fd_kept(c) : NULL;
    *proc = s != NULL && s->proc;
    return fd >= 0 ? 0 : node_fail(c, errno_code(e), "%s: %s", c->path, strerror(e));
}

int node_read_proc_stat(struct node_ctx *c)
{
    if (c->proc_stat_read) {
        return 0;
    }
    int rc = node_read(c, &c->proc_stat, c->n->procfs, "stat");
    c->proc_stat_read = rc == 0;
    return rc;
}

/* One read of a small file; *kept_failed as read_whole's. Returns the bytes or -1. */
static ssize_t read_small(struct node_ctx *c, const char *path, char *buf, size_t cap, int *e,
                          bool *kept_failed)
{
    bool kept;
    ssize_t r = -1;
    int fd = fd_open(c, path, 0, &kept);
    *e = errno;
    if (fd >= 0) {
        r = read_one(fd, kept, buf, cap - 1, 0);
        *e = errno;
        if (!kept) {
            close(fd);
        }
    }
    *kept_failed = kept && r < 0 && fd_stale(*e);
    if (*kept_failed) {
        fd_forget(c, path);
    }
    return r;
}

/* node_read_at's work; *full says the read filled the buffer (the value may go on). */
static int read_at(struct node_ctx *c, const char *dir, const char *name, char *buf, size_t cap,
                   size_t *len, bool *full)
{
    char path[PATH_MAX];
    if (!join(path, sizeof(path), dir, name)) {
        return GL_ELIMIT;
    }
    if (!node_op_begin(c, NULL)) {
        return GL_ESTATE;
    }
    int e;
    bool again;
    ssize_t r = read_small(c, path, buf, cap, &e, &again);
    if (again) {
        r = read_small(c, path, buf, cap, &e, &again);
    }
    if (!node_op_end(c)) {
        return GL_ESTATE;
    }
    if (r < 0) {
        c->sys_errno = e;
        return errno_code(e);
    }
    struct node_tok t = node_trim((struct node_tok){buf, (size_t)r});
    memmove(buf, t.p, t.n);
    buf[t.n] = '\0';
    *len = t.n;
    *full = (size_t)r == cap - 1;
    return 0;
}

int node_read_at(struct node_ctx *c, const char *dir, const char *name, char *buf, size_t cap,
                 size_t *len)
{
    bool full;
    return read_at(c, dir, name, buf, cap, len, &full);
}

int node_read_value(struct node_ctx *c, const char *base, const char *rel, char *buf, size_t cap,
                    size_t *len)
{
    bool full = false;
    int rc = node_path(c, base, rel);
    rc = rc < 0 ? rc : read_at(c, base, rel, buf, cap, len, &full);
    if (rc == 0 && full) {
        return node_fail(c, GL_ELIMIT, "%s is longer than %zu bytes", c->path, cap - 2);
    }
    if (rc < 0 && rc != GL_ESTATE) {
        return node_fail(c, rc, "%s: %s", c->path, strerror(c->sys_errno));
    }
    return rc;
}

int node_read_u64(struct node_ctx *c, const char *base, const char *rel, uint64_t *v)
{
    char buf[64];
    size_t len;
    int rc = node_read_value(c, base, rel, buf, sizeof(buf), &len);
    if (rc == 0 && !node_parse_u64((struct node_tok){buf, len}, v)) {
        rc = node_fail(c, GL_EPARSE, "%s: not a number", c->path);
    }
    return rc;
}

int node_open_dir(struct node_ctx *c, int dirfd, const char *path)
{
    struct node_fds *f = &c->fds;
    size_t n = dirfd == AT_FDCWD ? strlen(path) : 0;
    uint64_t h = n > 0 ? hash_of(path, n) : 0;
    struct node_fd *s = n > 0 && f->slots != NULL ? fd_slot(f, path, n, h) : NULL;
    if (still_missing(f, s)) {
        return GL_ENOENT;
    }
    if (!node_op_begin(c, NULL)) {
        return GL_ESTATE;
    }
    int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = errno;
    if (n > 0) {
        after_open(f, s, path, n, h, fd, e);
    }
    if (!node_op_end(c)) {
        if (fd >= 0) {
            close(fd);
        }
        return GL_ESTATE;
    }
    errno = e;
    return fd >= 0 ? fd : errno_code(e);
}

void node_close(int fd)
{
    if (fd >= 0) {
        close(fd);
    }
}

static int by_name(const void *a, const void *b, void *names)
{
    const char *base = names;
    return strcmp(base + *(const size_t *)a, base + *(const size_t *)b);
}

/* Reads the entries of an open directory into c->names and c->index. */
static int read_entries(struct node_ctx *c, int fd, bool dirs, size_t *count)
{
    char buf[16384] __attribute__((aligned(8)));
    for (;;) {
        ssize_t n = getdents64(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n == 0 ? 0 : GL_EIO;
        }
        for (ssize_t off = 0; off < n;) {
            const struct dirent64 *de = (const struct dirent64 *)(buf + off);
            off += de->d_reclen > 0 ? de->d_reclen : n;
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                (dirs && de->d_type == DT_REG)) {
                continue;
            }
            if (*count >= NODE_DIR_MAX) {
                return GL_ELIMIT;
            }
            size_t at = c->names.len;
            gl_buf_append(&c->names, de->d_name, strlen(de->d_name) + 1);
            gl_buf_append(&c->index, &at, sizeof(at));
            (*count)++;
        }
    }
}

static int list(struct node_ctx *c, const char *path, bool dirs, size_t *count)
{
    gl_buf_reset(&c->names);
    gl_buf_reset(&c->index);
    *count = 0;
    if (!node_op_begin(c, NULL)) {
        return GL_ESTATE;
    }
    bool kept;
    int rc = 0;
    int fd = fd_open(c, path, O_DIRECTORY, &kept);
    int e = errno;
    if (fd >= 0) {
        rc = read_entries(c, fd, dirs, count);
        e = errno;
        if (!kept) {
            close(fd);
        } else if (rc == GL_EIO) {
            fd_forget(c, path);
        }
    }
    if (!node_op_end(c)) {
        return GL_ESTATE;
    }
    if (fd < 0 || rc == GL_EIO) {
        return errno_code(e);
    }
    if (rc < 0) {
        return node_fail(c, rc, "%s has more than %d entries", path, NODE_DIR_MAX);
    }
    /* Sorted as node_exporter's listings are (Go sorts ReadDir and Glob). */
    qsort_r(c->index.data, *count, sizeof(size_t), by_name, c->names.data);
    return 0;
}

int node_list(struct node_ctx *c, const char *path, size_t *count)
{
    return list(c, path, false, count);
}

int node_list_dirs(struct node_ctx *c, const char *path, size_t *count)
{
    return list(c, path, true, count);
}

const char *node_list_next(const struct node_ctx *c, size_t *at)
{
    if ((*at + 1) * sizeof(size_t) > c->index.len) {
        return NULL;
    }
    size_t off;
    memcpy(&off, c->index.data + *at * sizeof(size_t), sizeof(off));
    (*at)++;
    return c->names.data + off;
}

int node_statfs(struct node_ctx *c, const char *path, struct statfs *st)
{
    if (!node_op_begin(c, path)) {
        return GL_ESTATE;
    }
    int r = statfs(path, st);
    int e = errno;
    if (!node_op_end(c)) {
        return GL_ESTATE;
    }
    errno = e;
    return r == 0 ? 0 : GL_EIO;
}

bool node_is_stuck(const struct node_ctx *c, const char *path)
{
    for (size_t at = 0; at < c->stuck_len; at += strlen(c->stuck + at) + 1) {
        if (strcmp(c->stuck + at, path) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- pattern answers kept between collections -------------------------- */

struct node_match_entry {
    uint32_t at, len;
    bool match;
};

void node_match_begin(struct node_match_cache *mc)
{
    mc->next = 0;
}

bool node_match(struct node_match_cache *mc, struct gl_regex *re, const char *s, size_t n)
{
    struct node_match_entry *e = (struct node_match_entry *)mc->entries.data;
    size_t count = mc->entries.len / sizeof(*e), i = mc->next++;
    if (i < count && e[i].len == n && memcmp(mc->keys.data + e[i].at, s, n) == 0) {
        return e[i].match;
    }
    if (i < count) {
        mc->keys.len = e[i].at;
        mc->entries.len = i * sizeof(*e);
    }
    struct node_match_entry ne = {(uint32_t)mc->keys.len, (uint32_t)n, gl_regex_match(re, s, n)};
    if (mc->keys.len + n < (1u << 20)) {
        gl_buf_append(&mc->keys, s, n);
        gl_buf_append(&mc->entries, &ne, sizeof(ne));
    } else {
        mc->next--; /* a file of unusual keys: not kept */
    }
    return ne.match;
}

void node_match_close(struct node_match_cache *mc)
{
    gl_buf_close(&mc->keys);
    gl_buf_close(&mc->entries);
}

/* ---- tokens -------------------------------------------------------------- */

bool node_next_line(const char **p, const char *end, struct node_tok *line)
{
    if (*p >= end) {
        return false;
    }
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *stop = nl != NULL ? nl : end;
    line->p = *p;
    line->n = (size_t)(stop - *p);
    *p = nl != NULL ? nl + 1 : end;
    return true;
}

/* A table, not six comparisons: every byte of vmstat, netstat and the others goes through it. */
static const bool spaces[256] = {[' '] = true,  ['\t'] = true, ['\r'] = true,
                                 ['\v'] = true, ['\f'] = true, ['\n'] = true};

static bool is_space(char ch)
{
    return spaces[(unsigned char)ch];
}

bool node_next_field(struct node_tok *line, struct node_tok *field)
{
    while (line->n > 0 && is_space(line->p[0])) {
        line->p++;
        line->n--;
    }
    if (line->n == 0) {
        return false;
    }
    size_t i = 0;
    while (i < line->n && !is_space(line->p[i])) {
        i++;
    }
    field->p = line->p;
    field->n = i;
    line->p += i;
    line->n -= i;
    return true;
}

bool node_next_split(struct node_tok *line, char sep, struct node_tok *field)
{
    if (line->p == NULL) {
        return false;
    }
    const char *s = memchr(line->p, sep, line->n);
    field->p = line->p;
    if (s == NULL) {
        field->n = line->n;
        line->p = NULL;
        line->n = 0;
        return true;
    }
    field->n = (size_t)(s - line->p);
    line->n -= field->n + 1;
    line->p = s + 1;
    return true;
}

bool node_tok_eq(struct node_tok t, const char *s)
{
    size_t n = strlen(s);
    return t.n == n && memcmp(t.p, s, n) == 0;
}

size_t node_concat(char *out, size_t cap, const struct node_tok *parts, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].n >= cap - len) {
            return 0;
        }
        memcpy(out + len, parts[i].p, parts[i].n);
        len += parts[i].n;
    }
    out[len] = '\0';
    return len;
}

struct node_tok node_trim(struct node_tok t)
{
    while (t.n > 0 && is_space(t.p[0])) {
        t.p++;
        t.n--;
    }
    while (t.n > 0 && is_space(t.p[t.n - 1])) {
        t.n--;
    }
    return t;
}

/* ---- numbers ------------------------------------------------------------- */

static int digit(char ch, unsigned base)
{
    unsigned d;
    if (ch >= '0' && ch <= '9') {
        d = (unsigned)(ch - '0');
    } else if (ch >= 'a' && ch <= 'f') {
        d = (unsigned)(ch - 'a' + 10);
    } else if (ch >= 'A' && ch <= 'F') {
        d = (unsigned)(ch - 'A' + 10);
    } else {
        return -1;
    }
    return d < base ? (int)d : -1;
}

/* All of t as an unsigned number in base, without overflow. */
static bool parse_base(struct node_tok t, unsigned base, uint64_t *v)
{
    if (t.n == 0) {
        return false;
    }
    uint64_t x = 0;
    if (base == 10 && t.n < 20) { /* the common case: no overflow possible below 20 digits */
        for (size_t i = 0; i < t.n; i++) {
            unsigned d = (unsigned)(t.p[i] - '0');
            if (d > 9) {
                return false;
            }
            x = x * 10 + d;
        }
        *v = x;
        return true;
    }
    for (size_t i = 0; i < t.n; i++) {
        int d = digit(t.p[i], base);
        if (d < 0 || x > (UINT64_MAX - (uint64_t)d) / base) {
            return false;
        }
        x = x * base + (uint64_t)d;
    }
    *v = x;
    return true;
}

bool node_parse_u64(struct node_tok t, uint64_t *v)
{
    return parse_base(t, 10, v);
}

bool node_parse_hex(struct node_tok t, uint64_t *v)
{
    return parse_base(t, 16, v);
}

/* A sign then a magnitude that must fit an int64_t. */
static bool signed_of(struct node_tok t, unsigned base, bool auto_base, int64_t *v)
{
    bool neg = t.n > 0 && t.p[0] == '-';
    if (t.n > 0 && (t.p[0] == '-' || t.p[0] == '+')) {
        t.p++;
        t.n--;
    }
    if (auto_base && t.n > 1 && t.p[0] == '0') {
        char k = t.p[1] | 0x20;
        base = k == 'x' ? 16 : k == 'o' ? 8 : k == 'b' ? 2 : 8;
        size_t skip = k == 'x' || k == 'o' || k == 'b' ? 2 : 1;
        t.p += skip;
        t.n -= skip;
    }
    uint64_t m;
    if (!parse_base(t, base, &m) || m > (uint64_t)INT64_MAX + (neg ? 1 : 0)) {
        return false;
    }
    *v = neg ? (int64_t)(0 - m) : (int64_t)m;
    return true;
}

bool node_parse_i64(struct node_tok t, int64_t *v)
{
    return signed_of(t, 10, false, v);
}

bool node_parse_int_auto(struct node_tok t, int64_t *v)
{
    return signed_of(t, 10, true, v);
}

bool node_parse_f64(struct node_tok t, double *v)
{
    int64_t i;
    /* Most values are integers: exact as doubles below 2^53, rounded as strtod rounds above. */
    if (t.n > 0 && t.n < 19 && signed_of(t, 10, false, &i)) {
        *v = (double)i;
        return true;
    }
    char tmp[64];
    if (t.n == 0 || t.n >= sizeof(tmp) || is_space(t.p[0])) {
        return false;
    }
    memcpy(tmp, t.p, t.n);
    tmp[t.n] = '\0';
    char *end;
    double d = strtod(tmp, &end);
    if (end != tmp + t.n) {
        return false;
    }
    *v = d;
    return true;
}

/* ---- writing series ------------------------------------------------------ */

void node_family_n(struct node_ctx *c, const char *name, size_t name_len, enum gl_metric_type type,
                   const char *help, size_t help_len)
{
    gl_batch_family(c->b, name, name_len, type, help, help_len, NULL, 0);
}

void node_family(struct node_ctx *c, const char *name, enum gl_metric_type type, const char *help)
{
    node_family_n(c, name, strlen(name), type, help, strlen(help));
}

/* The length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80) {
        return 1;
    }
    size_t len = 0;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
    }
    if (len == 0 || len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
    }
    /* Overlong three- and four-byte forms, surrogates, and past U+10FFFF. */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)) {
        return 0;
    }
    return len;
}

bool node_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0) {
            return false;
        }
        i += k;
    }
    return true;
}

/*
 * Prometheus refuses a scrape with a label value that is not UTF-8: such a
 * value (a mount point or an alias in another encoding) is written with
 * U+FFFD for each bad byte, as node_exporter does for hwmon labels.
 */
static void clean_value(struct node_ctx *c, struct gl_label *l)
{
    const unsigned char *u = (const unsigned char *)l->value;
    size_t start = c->clean.len;
    for (size_t i = 0; i < l->value_len;) {
        size_t k = utf8_seq(u + i, l->value_len - i);
        if (k == 0) {
            gl_buf_append(&c->clean, "\xef\xbf\xbd", 3);
            i++;
        } else {
            gl_buf_append(&c->clean, u + i, k);
            i += k;
        }
    }
    l->value = (const char *)(uintptr_t)start; /* an offset until the buffer stops moving */
    l->value_len = (uint32_t)(c->clean.len - start);
}

void node_sample(struct node_ctx *c, const struct gl_label *l, size_t n, double v)
{
    if (c->family.pending) {
        gl_batch_family(c->b, c->family.name, c->family.name_len, c->family.type, c->family.help,
                        c->family.help_len, NULL, 0);
        c->family.pending = false;
    }
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!node_utf8_valid(l[i].value, l[i].value_len)) {
            bad++;
        }
    }
    if (bad == 0 || n > GL_LABELS_MAX) {
        gl_batch_sample(c->b, l, n, 0, v);
        return;
    }
    struct gl_label copy[GL_LABELS_MAX];
    bool moved[GL_LABELS_MAX] = {false};
    gl_buf_reset(&c->clean);
    for (size_t i = 0; i < n; i++) {
        copy[i] = l[i];
        if (!node_utf8_valid(l[i].value, l[i].value_len)) {
            clean_value(c, &copy[i]);
            moved[i] = true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (moved[i]) {
            copy[i].value = c->clean.data + (uintptr_t)copy[i].value;
        }
    }
    gl_batch_sample(c->b, copy, n, 0, v);
}
