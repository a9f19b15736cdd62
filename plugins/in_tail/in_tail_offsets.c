/*
 * The tail input's offsets database: where each followed file was read up
 * to, kept across restarts, crashes and power loss.
 *
 * On disk it is an append-only text log. The first line is the header
 * "gleaner-offsets 1"; every following line is one change, checksummed:
 *
 *   <crc32 hex8> S <dev> <ino> <fp hex16> <offset> <path>\n    set
 *   <crc32 hex8> R <dev> <ino> <fp hex16>\n                    remove
 *
 * The CRC-32 covers the bytes from the op letter up to the newline. The path
 * is for humans: at most 4095 bytes, with '%', control bytes and DEL written
 * as %XX, so a line never holds a newline. Opening replays the log into a
 * hash table and stops at the first torn or corrupt line, truncating the
 * file there: records after a corruption are lost (their files are re-read
 * from an older offset, or from the start). Syncing appends one record per
 * changed entry with one write() and an fsync(); when the log holds more
 * than max(1000, 4 x live entries) records it is rewritten to <path>.tmp,
 * fsynced and renamed over the log.
 *
 * Invariant: the file always ends on a record boundary, or holds a torn tail
 * that the next open cuts off; a rename only ever installs a fsynced file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "plugins/in_tail/in_tail.h"
#include "util/error.h"
#include "util/mem.h"

#define HEADER "gleaner-offsets 1\n"
#define HEADER_PREFIX "gleaner-offsets "
#define PATH_KEEP 4095                 /* longest path stored, in bytes */
#define LINE_LIMIT (16 * 1024)         /* longer than any record we write */
#define READ_CHUNK (64 * 1024)

/* The log is compacted past max(TAIL_OFFSETS_COMPACT_MIN, 4 x live) records. */
#ifndef TAIL_OFFSETS_COMPACT_MIN
#define TAIL_OFFSETS_COMPACT_MIN 1000
#endif

/*
 * One followed file. Memory per entry: 56 bytes here (64 with the
 * allocator's header), up to 16 bytes of bucket array, and the path with its
 * own allocation header: about 80 bytes plus the path. 5,000 entries with
 * 120-byte paths take about 1 MiB.
 */
struct entry {
    struct tail_id id;
    uint64_t offset;
    char *path;
    struct entry *next;      /* hash chain */
    bool dirty;              /* changed since the last sync */
    bool removed;            /* removed since the last sync: a remove record is due */
    bool on_disk;            /* the log holds a set record for this id */
};

struct tail_offsets {
    char *path;
    char *tmp_path;
    char *dir;
    int fd;                  /* the log, open for append and locked */
    struct entry **buckets;
    size_t nbuckets;         /* a power of two */
    size_t nentries;         /* in the table, removed ones included */
    size_t live;             /* in the table, removed ones excluded */
    size_t ndirty;
    uint64_t records;        /* records in the log file */
    uint64_t discarded;      /* bytes cut off at open */
    bool broken;             /* the file's tail is unknown: the next sync rewrites it */
};

/* A record as parsed from one line; path points into the caller's scratch. */
struct record {
    char op;
    struct tail_id id;
    uint64_t offset;
    const char *path;
};

/* ---- small helpers -------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, const char *path,
                    const char *why)
{
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, fmt, path, why);
    }
}

/* Writes all of p, retrying short writes and EINTR. Returns 0 or GL_EIO. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return GL_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Makes a rename or create in dir durable. Returns 0 or GL_EIO. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return GL_EIO;
    }
    int rc = fsync(fd) == 0 ? 0 : GL_EIO;
    close(fd);
    return rc;
}

/* The directory part of path, "." when it has none; the caller frees it. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        return gl_strdup(".");
    }
    if (slash == path) {
        return gl_strdup("/");
    }
    return gl_strndup(path, (size_t)(slash - path));
}

/* path followed by suffix, in a new allocation the caller frees. */
static char *with_suffix(const char *path, const char *suffix)
{
    size_t a = strlen(path), b = strlen(suffix);
    char *s = gl_malloc(a + b + 1);
    memcpy(s, path, a);
    memcpy(s + a, suffix, b + 1);
    return s;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* ---- hash table ----------------------------------------------------------- */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static size_t slot(const struct tail_offsets *db, const struct tail_id *id)
{
    uint64_t h = mix(id->dev ^ mix(id->ino ^ mix(id->fp)));
    return (size_t)h & (db->nbuckets - 1);
}

static bool same_id(const struct tail_id *a, const struct tail_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->fp == b->fp;
}

static struct entry *find(const struct tail_offsets *db, const struct tail_id *id)
{
    for (struct entry *e = db->buckets[slot(db, id)]; e != NULL; e = e->next) {
        if (same_id(&e->id, id)) {
            return e;
        }
    }
    return NULL;
}

/* Doubles the bucket array and rehashes every entry into it. */
static void grow(struct tail_offsets *db)
{
    struct entry **old = db->buckets;
    size_t n = db->nbuckets;
    db->nbuckets = n * 2;
    db->buckets = gl_calloc(db->nbuckets, sizeof(*db->buckets));
    for (size_t i = 0; i < n; i++) {
        struct entry *e = old[i];
        while (e != NULL) {
            struct entry *next = e->next;
            size_t s = slot(db, &e->id);
            e->next = db->buckets[s];
            db->buckets[s] = e;
            e = next;
        }
    }
    gl_free(old);
}

/* Adds a new, clean, empty-pathed entry for id (which must not be present). */
static struct entry *insert(struct tail_offsets *db, const struct tail_id *id)
{
    if (db->nentries >= db->nbuckets) {
        grow(db);
    }
    struct entry *e = gl_calloc(1, sizeof(*e));
    e->id = *id;
    e->path = gl_strdup("");
    size_t s = slot(db, id);
    e->next = db->buckets[s];
    db->buckets[s] = e;
    db->nentries++;
    return e;
}

/* Unlinks e from its chain and frees it; the caller fixes live and ndirty. */
static void drop(struct tail_offsets *db, struct entry *e)
{
    struct entry **pp = &db->buckets[slot(db, &e->id)];
    while (*pp != e) {
        pp = &(*pp)->next;
    }
    *pp = e->next;
    db->nentries--;
    gl_free(e->path);
    gl_free(e);
}

static bool same_path(const struct entry *e, const char *path, size_t len)
{
    return strlen(e->path) == len && memcmp(e->path, path, len) == 0;
}

/* Replaces e's path with the first len bytes of path unless they are the same. */
static void set_path(struct entry *e, const char *path, size_t len)
{
    if (same_path(e, path, len)) {
        return;
    }
    gl_free(e->path);
    e->path = gl_strndup(path, len);
}

/* ---- records -------------------------------------------------------------- */

/* Appends "<crc> <body>\n" for e: a set record, or a remove record when removed. */
static void put_record(struct gl_buf *b, const struct entry *e)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = b->len;
    gl_buf_append(b, "00000000 ", 9);
    size_t body = b->len;
    gl_buf_printf(b, "%c %" PRIu64 " %" PRIu64 " %016" PRIx64, e->removed ? 'R' : 'S',
                  e->id.dev, e->id.ino, e->id.fp);
    if (!e->removed) {
        gl_buf_printf(b, " %" PRIu64 " ", e->offset);
        for (const unsigned char *p = (const unsigned char *)e->path; *p != '\0'; p++) {
            if (*p == '%' || *p < 0x20 || *p == 0x7f) {
                gl_buf_printf(b, "%%%02X", *p);
            } else {
                gl_buf_putc(b, (char)*p);
            }
        }
    }
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)b->data + body, (uInt)(b->len - body));
    for (int i = 0; i < 8; i++) {
        b->data[start + (size_t)i] = hex[(crc >> (28 - 4 * i)) & 0xf];
    }
    gl_buf_putc(b, '\n');
}

/* Parses decimal digits at **p (1 to 20 of them) into *v; advances *p. */
static bool parse_dec(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t n = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        uint64_t d = (uint64_t)(*s - '0');
        if (n > (UINT64_MAX - d) / 10) {
            return false;
        }
        n = n * 10 + d;
        s++;
    }
    if (s == *p) {
        return false;
    }
    *v = n;
    *p = s;
    return true;
}

/* Parses exactly 16 lowercase hex digits at **p into *v; advances *p. */
static bool parse_hex16(const char **p, const char *end, uint64_t *v)
{
    uint64_t n = 0;
    if (end - *p < 16) {
        return false;
    }
    for (int i = 0; i < 16; i++) {
        int d = hexval((*p)[i]);
        if (d < 0 || ((*p)[i] >= 'A' && (*p)[i] <= 'F')) {
            return false;
        }
        n = n << 4 | (uint64_t)d;
    }
    *p += 16;
    *v = n;
    return true;
}

static bool expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c) {
        return false;
    }
    (*p)++;
    return true;
}

/*
 * Decodes an escaped path from [p, end) into out (PATH_KEEP + 1 bytes),
 * NUL-terminated. Fails on bytes we never write raw, on a bad or NUL
 * escape, and on paths longer than PATH_KEEP.
 */
static bool parse_path(const char *p, const char *end, char *out)
{
    size_t n = 0;
    while (p < end) {
        unsigned char c = (unsigned char)*p++;
        if (c < 0x20 || c == 0x7f) {
            return false;
        }
        if (c == '%') {
            if (end - p < 2 || hexval(p[0]) < 0 || hexval(p[1]) < 0) {
                return false;
            }
            c = (unsigned char)(hexval(p[0]) << 4 | hexval(p[1]));
            p += 2;
            if (c == 0) {
                return false;
            }
        }
        if (n == PATH_KEEP) {
            return false;
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return true;
}

/*
 * Parses one line (without its newline) into r, checking its CRC. The path
 * is decoded into scratch (PATH_KEEP + 1 bytes). Returns false for anything
 * that is not a record this module writes.
 */
static bool parse_record(const char *line, size_t len, struct record *r, char *scratch)
{
    if (len < 10 || line[8] != ' ') {
        return false;
    }
    uint32_t want = 0;
    for (int i = 0; i < 8; i++) {
        int d = hexval(line[i]);
        if (d < 0) {
            return false;
        }
        want = want << 4 | (uint32_t)d;
    }
    const char *p = line + 9, *end = line + len;
    if ((uint32_t)crc32(0, (const Bytef *)p, (uInt)(end - p)) != want) {
        return false;
    }
    r->op = *p++;
    if ((r->op != 'S' && r->op != 'R') || !expect(&p, end, ' ') ||
        !parse_dec(&p, end, &r->id.dev) || !expect(&p, end, ' ') ||
        !parse_dec(&p, end, &r->id.ino) || !expect(&p, end, ' ') ||
        !parse_hex16(&p, end, &r->id.fp)) {
        return false;
    }
    if (r->op == 'R') {
        return p == end;
    }
    if (!expect(&p, end, ' ') || !parse_dec(&p, end, &r->offset) || !expect(&p, end, ' ')) {
        return false;
    }
    r->path = scratch;
    return parse_path(p, end, scratch);
}

/* Applies a replayed record to the table: the entry ends clean and on disk. */
static void apply(struct tail_offsets *db, const struct record *r)
{
    struct entry *e = find(db, &r->id);
    db->records++;
    if (r->op == 'R') {
        if (e != NULL) {
            drop(db, e);
            db->live--;
        }
        return;
    }
    if (e == NULL) {
        e = insert(db, &r->id);
        db->live++;
    }
    e->offset = r->offset;
    e->on_disk = true;
    set_path(e, r->path, strlen(r->path));  /* parse_path bounded it to PATH_KEEP */
}

/* ---- replay --------------------------------------------------------------- */

/* Reads a file line by line through a fixed buffer. */
struct reader {
    int fd;
    char *buf;
    size_t len;              /* bytes held */
    size_t pos;              /* start of the next line in buf */
    uint64_t base;           /* file offset of buf[0] */
    bool eof;
};

/*
 * Returns 1 with the next line (without its newline) in *line and *len,
 * 0 at a clean end of file, GL_EPARSE for a torn line (no newline before
 * the end) or one over LINE_LIMIT, and GL_EIO when read() fails.
 */
static int next_line(struct reader *r, const char **line, size_t *len)
{
    for (;;) {
        char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
        if (nl != NULL) {
            *line = r->buf + r->pos;
            *len = (size_t)(nl - *line);
            r->pos += *len + 1;
            return 1;
        }
        if (r->eof) {
            return r->pos == r->len ? 0 : GL_EPARSE;
        }
        if (r->len - r->pos > LINE_LIMIT) {
            return GL_EPARSE;
        }
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->base += r->pos;
        r->len -= r->pos;
        r->pos = 0;
        ssize_t n = read(r->fd, r->buf + r->len, READ_CHUNK - r->len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return GL_EIO;
        }
        r->eof = n == 0;
        r->len += (size_t)n;
    }
}

/*
 * Replays the records after the header (which ends at start) into the
 * table. Stops at the first line that is not a valid record and sets *good
 * to the file offset just past the last valid one. Returns 0 or GL_EIO.
 */
static int replay(struct tail_offsets *db, uint64_t start, uint64_t *good)
{
    struct reader r = { .fd = db->fd, .base = start };
    char *scratch = gl_malloc(PATH_KEEP + 1);
    int rc = 0;
    r.buf = gl_malloc(READ_CHUNK);
    *good = start;
    if (lseek(db->fd, (off_t)start, SEEK_SET) < 0) {
        rc = GL_EIO;
    }
    while (rc == 0) {
        const char *line;
        size_t len;
        struct record rec;
        int n = next_line(&r, &line, &len);
        if (n == GL_EIO) {
            rc = GL_EIO;
        }
        if (n <= 0 || !parse_record(line, len, &rec, scratch)) {
            break;
        }
        apply(db, &rec);
        *good = r.base + r.pos;
    }
    gl_free(r.buf);
    gl_free(scratch);
    return rc;
}

/*
 * Checks the header of the open log of size bytes, writing it when the file
 * is empty or holds only a prefix of it (a crash while creating the file).
 * Returns 0 with *start past the header, or an error with a message in err.
 */
static int check_header(struct tail_offsets *db, uint64_t size, uint64_t *start, char *err,
                        size_t errlen)
{
    const size_t hlen = sizeof(HEADER) - 1;
    char head[sizeof(HEADER)] = { 0 };
    ssize_t n = pread(db->fd, head, hlen, 0);
    if (n < 0) {
        set_err(err, errlen, "offsets database %s: cannot read: %s", db->path, strerror(errno));
        return GL_EIO;
    }
    *start = hlen;
    if ((size_t)n == hlen && memcmp(head, HEADER, hlen) == 0) {
        return 0;
    }
    if (size < hlen && (size_t)n == size && memcmp(head, HEADER, (size_t)n) == 0) {
        db->discarded = size;
        if (ftruncate(db->fd, 0) < 0 || write_all(db->fd, HEADER, hlen) < 0 ||
            fsync(db->fd) < 0 || sync_dir(db->dir) < 0) {
            set_err(err, errlen, "offsets database %s: cannot write: %s", db->path,
                    strerror(errno));
            return GL_EIO;
        }
        return 0;
    }
    if ((size_t)n >= sizeof(HEADER_PREFIX) - 1 &&
        memcmp(head, HEADER_PREFIX, sizeof(HEADER_PREFIX) - 1) == 0) {
        set_err(err, errlen, "offsets database %s: %s", db->path,
                "written in another format version; this build reads version 1");
        return GL_EPARSE;
    }
    set_err(err, errlen, "offsets database %s: %s", db->path,
            "not an offsets database (unknown header); refusing to overwrite it");
    return GL_EPARSE;
}

/* Opens and locks the log, creating it. Returns 0 or an error with a message. */
static int open_log(struct tail_offsets *db, char *err, size_t errlen)
{
    db->fd = open(db->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (db->fd < 0 && errno == ENOENT) {
        set_err(err, errlen, "offsets database %s: directory %s does not exist", db->path,
                db->dir);
        return GL_ENOENT;
    }
    if (db->fd < 0) {
        set_err(err, errlen, "offsets database %s: cannot open: %s", db->path, strerror(errno));
        return GL_EIO;
    }
    if (flock(db->fd, LOCK_EX | LOCK_NB) < 0) {
        set_err(err, errlen, "offsets database %s: %s", db->path,
                errno == EWOULDBLOCK ? "in use by another process" : strerror(errno));
        return GL_ESTATE;
    }
    return 0;
}

/* ---- open and close ------------------------------------------------------- */

/*
 * Opens the database at path (see the header comment above for the format).
 * The log is created when missing, and its directory must exist. A torn or
 * corrupt tail is cut off and counted (tail_offsets_discarded()). Returns
 * NULL with a message in err when the file cannot be opened, is locked by
 * another process, or does not start with the expected header: it is then
 * left as it was.
 */
struct tail_offsets *tail_offsets_open(const char *path, char *err, size_t errlen)
{
    struct tail_offsets *db = gl_calloc(1, sizeof(*db));
    struct stat st;
    uint64_t start, good;
    db->path = gl_strdup(path);
    db->tmp_path = with_suffix(path, ".tmp");
    db->dir = dir_of(path);
    db->nbuckets = 64;
    db->buckets = gl_calloc(db->nbuckets, sizeof(*db->buckets));
    if (open_log(db, err, errlen) < 0) {
        goto fail;
    }
    if (fstat(db->fd, &st) < 0) {
        set_err(err, errlen, "offsets database %s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (check_header(db, (uint64_t)st.st_size, &start, err, errlen) < 0) {
        goto fail;
    }
    if (replay(db, start, &good) < 0) {
        set_err(err, errlen, "offsets database %s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    if (good < (uint64_t)st.st_size) {
        db->discarded += (uint64_t)st.st_size - good;
        if (ftruncate(db->fd, (off_t)good) < 0 || fsync(db->fd) < 0) {
            set_err(err, errlen, "offsets database %s: cannot truncate: %s", path,
                    strerror(errno));
            goto fail;
        }
    }
    return db;
fail:
    tail_offsets_close(db);
    return NULL;
}

/* Frees the database without syncing: call tail_offsets_sync() first to keep changes. */
void tail_offsets_close(struct tail_offsets *db)
{
    if (db == NULL) {
        return;
    }
    for (size_t i = 0; i < db->nbuckets; i++) {
        struct entry *e = db->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            gl_free(e->path);
            gl_free(e);
            e = next;
        }
    }
    if (db->fd >= 0) {
        close(db->fd);
    }
    gl_free(db->buckets);
    gl_free(db->dir);
    gl_free(db->tmp_path);
    gl_free(db->path);
    gl_free(db);
}

/*
 * Moves the file at path aside to <path>.corrupt (replacing an older one) so
 * that the next open starts empty: the way out when open refused a file with
 * an unknown header. A missing file is not an error. Refuses a file locked by
 * a running agent. Returns 0, or an error with a message in err.
 */
int tail_offsets_reset(const char *path, char *err, size_t errlen)
{
    char *dir = dir_of(path);
    char *aside = with_suffix(path, ".corrupt");
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        set_err(err, errlen, "offsets database %s: cannot open: %s", path, strerror(errno));
        rc = GL_EIO;
    } else if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        set_err(err, errlen, "offsets database %s: %s", path, "in use by another process");
        rc = GL_ESTATE;
    } else if (fd >= 0 && (rename(path, aside) < 0 || sync_dir(dir) < 0)) {
        set_err(err, errlen, "offsets database %s: cannot move aside: %s", path,
                strerror(errno));
        rc = GL_EIO;
    }
    if (fd >= 0) {
        close(fd);
    }
    gl_free(aside);
    gl_free(dir);
    return rc;
}

/* ---- lookups and changes -------------------------------------------------- */

int tail_offsets_get(struct tail_offsets *db, const struct tail_id *id, uint64_t *offset)
{
    struct entry *e = find(db, id);
    if (e == NULL || e->removed) {
        return GL_ENOENT;
    }
    *offset = e->offset;
    return 0;
}

static void mark_dirty(struct tail_offsets *db, struct entry *e)
{
    if (!e->dirty) {
        e->dirty = true;
        db->ndirty++;
    }
}

/*
 * Records a new offset and path in memory. Setting what is already there
 * changes nothing, so the next sync has nothing to write for it.
 */
void tail_offsets_set(struct tail_offsets *db, const struct tail_id *id, uint64_t offset,
                      const char *path)
{
    struct entry *e = find(db, id);
    const char *p = path != NULL ? path : "";
    size_t len = strnlen(p, PATH_KEEP);
    if (e == NULL) {
        e = insert(db, id);
        db->live++;
    } else if (e->removed) {
        e->removed = false;
        db->live++;
    } else if (e->offset == offset && same_path(e, p, len)) {
        return;
    }
    e->offset = offset;
    set_path(e, p, len);
    mark_dirty(db, e);
}

/*
 * Forgets a file. An entry the log never held is freed at once; otherwise
 * it stays, hidden, until the next sync writes its remove record.
 */
void tail_offsets_remove(struct tail_offsets *db, const struct tail_id *id)
{
    struct entry *e = find(db, id);
    if (e == NULL || e->removed) {
        return;
    }
    db->live--;
    if (!e->on_disk) {
        if (e->dirty) {
            db->ndirty--;
        }
        drop(db, e);
        return;
    }
    e->removed = true;
    mark_dirty(db, e);
}

size_t tail_offsets_count(const struct tail_offsets *db)
{
    return db->live;
}

uint64_t tail_offsets_discarded(const struct tail_offsets *db)
{
    return db->discarded;
}

/*
 * Calls cb for every live entry, in no particular order. The callback may
 * remove the entry it is given, and must not set or remove any other.
 */
void tail_offsets_each(struct tail_offsets *db, tail_offsets_each_cb cb, void *arg)
{
    for (size_t i = 0; i < db->nbuckets; i++) {
        struct entry *e = db->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            if (!e->removed) {
                cb(&e->id, e->offset, e->path, arg);
            }
            e = next;
        }
    }
}

/* ---- sync and compaction -------------------------------------------------- */

/*
 * After the records of every dirty entry reached the disk: frees removed
 * entries and marks the others clean and on disk.
 */
static void settle(struct tail_offsets *db)
{
    for (size_t i = 0; i < db->nbuckets; i++) {
        struct entry *e = db->buckets[i];
        while (e != NULL) {
            struct entry *next = e->next;
            if (e->removed) {
                drop(db, e);
            } else if (e->dirty) {
                e->dirty = false;
                e->on_disk = true;
            }
            e = next;
        }
    }
    db->ndirty = 0;
}

/* Appends the records of dirty entries (all live ones when all is set) to b. */
static size_t put_records(const struct tail_offsets *db, struct gl_buf *b, bool all)
{
    size_t n = 0;
    for (size_t i = 0; i < db->nbuckets; i++) {
        for (struct entry *e = db->buckets[i]; e != NULL; e = e->next) {
            if (all ? !e->removed : e->dirty) {
                put_record(b, e);
                n++;
            }
        }
    }
    return n;
}

/*
 * Writes every live entry to <path>.tmp, fsyncs it, renames it over the log
 * and fsyncs the directory; the new file (already locked) becomes the log.
 * On failure before the rename the log is untouched and the tmp file
 * removed. Returns 0 or GL_EIO.
 */
static int rewrite(struct tail_offsets *db)
{
    struct gl_buf b;
    gl_buf_init(&b);
    gl_buf_puts(&b, HEADER);
    size_t n = put_records(db, &b, true);
    int fd = open(db->tmp_path, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? GL_EIO : 0;
    if (rc == 0 && (flock(fd, LOCK_EX | LOCK_NB) < 0 || write_all(fd, b.data, b.len) < 0 ||
                    fsync(fd) < 0 || rename(db->tmp_path, db->path) < 0)) {
        rc = GL_EIO;
    }
    gl_buf_close(&b);
    if (rc < 0) {
        if (fd >= 0) {
            close(fd);
            unlink(db->tmp_path);
        }
        return rc;
    }
    if (db->fd >= 0) {
        close(db->fd);
    }
    db->fd = fd;
    db->records = n;
    settle(db);
    /* Until the directory is synced the rename may not survive power loss. */
    db->broken = sync_dir(db->dir) < 0;
    return db->broken ? GL_EIO : 0;
}

/*
 * Appends one record per entry changed since the last sync, in one write(),
 * and fsyncs; then compacts when the log has grown past max(1000, 4 x live)
 * records. Does nothing (no write, no fsync) when nothing changed. On
 * failure the changes stay pending for the next sync, which rewrites the
 * whole file if the log's tail may be torn. Returns 0 or GL_EIO.
 */
int tail_offsets_sync(struct tail_offsets *db)
{
    if (db->broken) {
        return rewrite(db);
    }
    if (db->ndirty == 0) {
        return 0;
    }
    struct gl_buf b;
    gl_buf_init(&b);
    size_t n = put_records(db, &b, false);
    struct stat st;
    int rc = GL_EIO;
    if (fstat(db->fd, &st) < 0) {
        db->broken = true;
    } else {
        rc = write_all(db->fd, b.data, b.len);
    }
    /* Cut a partial write off so that the next append starts on a record boundary. */
    if (rc < 0 && !db->broken && ftruncate(db->fd, st.st_size) < 0) {
        db->broken = true;
    }
    if (rc == 0 && fsync(db->fd) < 0) {
        /* The pages may be lost while the file looks whole: start a new file. */
        db->broken = true;
        rc = GL_EIO;
    }
    gl_buf_close(&b);
    if (rc < 0) {
        return rc;
    }
    db->records += n;
    settle(db);
    size_t limit = db->live * 4 > TAIL_OFFSETS_COMPACT_MIN ? db->live * 4
                                                            : TAIL_OFFSETS_COMPACT_MIN;
    if (db->records > limit) {
        return rewrite(db);
    }
    return 0;
}
