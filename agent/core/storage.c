/*
 * The filesystem buffer of one input (see storage.h for what it does and
 * where it sits). Files go through a temporary name: written, synced with
 * storage.sync full, renamed, the directory synced with full too, so a file
 * under its final name is whole (normal: whole unless the machine itself
 * went down, as page-cache writes are). Reading trusts nothing: a file that
 * fails chunk_file.c's checks is moved to corrupt/ with an error line and a
 * counter, and start-up goes on.
 *
 * Invariant: backlog counts the files present in [head, done) that are not
 * in memory; a file in memory (up) has a number below head; numbers from
 * done on are being written (their files may not exist yet). Only trim()
 * removes data that was not delivered, and only past storage.total_limit_size.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/chunk.h"
#include "codec/zstd.h"
#include "core/chunk_file.h"
#include "core/engine.h"
#include "core/input.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/storage.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

/*
 * zstd's fast level -3: the buffer is on the hot path and its files are
 * short-lived. On container logs it compresses with about a fifth less CPU
 * than level 1, and decompresses faster, for files about a third larger
 * (5.8 times smaller than the records against 7.6). Any level reads back.
 */
#define LEVEL (-3)
#define NAME_LEN 32

static void file_name(char *out, uint64_t seq, const char *ext)
{
    snprintf(out, NAME_LEN, "%016" PRIx64 ".%s", seq, ext);
}

/* The sequence number of a "<16 hex>.chunk" name, or -1 for any other name. */
static int64_t parse_name(const char *name)
{
    if (strlen(name) != 22 || strcmp(name + 16, ".chunk") != 0) {
        return -1;
    }
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) {
            return -1;
        }
        v = v << 4 | (uint64_t)d;
    }
    return v > INT64_MAX ? -1 : (int64_t)v;
}

/* The smallest storage.total_limit_size among the outputs this input's records may reach. */
static size_t total_limit(const struct gl_instance *ins)
{
    const struct gl_engine *e = ins->engine;
    size_t limit = 0;
    for (size_t i = 0; i < e->n_outputs; i++) {
        size_t l = e->outputs[i]->core->opts.total_limit_size;
        if (l != 0 && gl__instance_may_match(e->outputs[i], ins->tag) &&
            (limit == 0 || l < limit)) {
            limit = l;
        }
    }
    return limit;
}

/* The store's metrics: where each lives in the store, its name and help. */
static const struct {
    size_t offset;
    bool gauge;
    const char *name;
    const char *help;
} metrics[] = {
    { offsetof(struct gl_storage, m_written), false, "storage_chunks_written_total",
      "Chunks written to the filesystem buffer." },
    { offsetof(struct gl_storage, m_compressed), false, "storage_chunks_compressed_total",
      "Chunks written compressed, as they were to wait on disk (the others are written as "
      "they are)." },
    { offsetof(struct gl_storage, m_replayed), false, "storage_chunks_replayed_total",
      "Chunks read back from the filesystem buffer's backlog." },
    { offsetof(struct gl_storage, m_corrupt), false, "storage_chunks_corrupt_total",
      "Chunk files that could not be read, moved to corrupt/." },
    { offsetof(struct gl_storage, m_write_errors), false, "storage_write_errors_total",
      "Chunks that could not be written to the filesystem buffer (kept in memory, input "
      "paused)." },
    { offsetof(struct gl_storage, m_disk_bytes), true, "storage_bytes",
      "Bytes of chunk files in the filesystem buffer." },
    { offsetof(struct gl_storage, m_backlog), true, "storage_backlog_chunks",
      "Chunks waiting on disk only, to be read back." },
};

static void register_metrics(struct gl_storage *st)
{
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        uint64_t **at = (uint64_t **)((char *)st + metrics[i].offset);
        *at = metrics[i].gauge ? gl_metric_gauge(st->ins, metrics[i].name, metrics[i].help)
                               : gl_metric_counter(st->ins, metrics[i].name, metrics[i].help);
    }
}

/* Finds the files of the last run; removes the temporary files of writes a crash cut short. */
static int scan(struct gl_storage *st)
{
    int fd = dup(st->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return GL_EIO;
    }
    uint64_t lo = UINT64_MAX, hi = 0, n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) {
            unlinkat(st->dirfd, de->d_name, 0);
            continue;
        }
        int64_t seq = parse_name(de->d_name);
        struct stat sb;
        if (seq < 0 || fstatat(st->dirfd, de->d_name, &sb, 0) < 0) {
            continue;
        }
        lo = (uint64_t)seq < lo ? (uint64_t)seq : lo;
        hi = (uint64_t)seq > hi ? (uint64_t)seq : hi;
        n++;
        *st->m_disk_bytes += (uint64_t)sb.st_size;
    }
    closedir(d);
    st->head = n ? lo : 0;
    st->next = st->done = n ? hi + 1 : 0;
    st->backlog = n;
    *st->m_backlog = n;
    return 0;
}

struct gl_storage *gl__storage_open(struct gl_instance *ins)
{
    struct gl_engine *e = ins->engine;
    struct gl_storage *st = gl_calloc(1, sizeof(*st));
    struct gl_buf path;
    gl_buf_init(&path);
    gl_buf_printf(&path, "%s/%s.buffer", e->svc.storage_path, ins->alias);
    st->dir = gl_buf_take(&path);
    st->ins = ins;
    st->dirfd = -1;
    st->writes_tail = &st->writes;
    st->sync_full = strcmp(e->svc.storage_sync, "full") == 0;
    st->content_sum = e->svc.storage_checksum;
    st->limit = total_limit(ins);
    gl_buf_init(&st->io);
    register_metrics(st);
    if (gl_fs_mkdir_p(st->dir) < 0 ||
        (st->dirfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || scan(st) < 0) {
        gl_log_error(ins, "storage.path: cannot use %s for the filesystem buffer: %s", st->dir,
                     strerror(errno));
        gl__storage_free(st);
        return NULL;
    }
    if (st->backlog > 0) {
        gl_log_info(ins, "filesystem buffer %s: %" PRIu64 " chunk files (%" PRIu64
                    " bytes) from the last run go first", st->dir, st->backlog,
                    *st->m_disk_bytes);
    }
    return st;
}

void gl__storage_free(struct gl_storage *st)
{
    if (st == NULL) {
        return;
    }
    if (st->dirfd >= 0) {
        close(st->dirfd);
    }
    for (int i = 0; i < GL_STORAGE_WRITES_MAX; i++) {
        gl_zstd_cctx_free(st->cx[i]);
        gl_buf_close(&st->files[i]);
    }
    gl_buf_close(&st->io);
    gl_free(st->dir);
    gl_free(st);
}

/* ---- writing ------------------------------------------------------------ */

/* One chunk on its way to disk. */
struct storage_write {
    uv_work_t req;
    struct gl_storage *st;
    struct gl_chunk *c;
    struct gl_zstd_cctx *cx; /* NULL: the data is stored as it is */
    uint64_t seq;
    struct gl_buf file;      /* the file, or all of it before the stored data */
    size_t bytes;            /* the file's size, once written */
    int rc;
    bool finished;
    char err[256];
    struct storage_write *next;
};

/*
 * Writes w->file then tail_len bytes at tail as file w->seq: temporary
 * name, sync (full), rename, sync the directory (full). Thread pool: system
 * calls only, errors into w.
 */
static int put_file(struct storage_write *w, const char *tail, size_t tail_len)
{
    struct gl_storage *st = w->st;
    char tmp[NAME_LEN], final[NAME_LEN];
    file_name(tmp, w->seq, "tmp");
    file_name(final, w->seq, "chunk");
    int fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? GL_EIO : gl_fs_write_all(fd, w->file.data, w->file.len);
    if (rc == 0 && tail_len > 0) {
        rc = gl_fs_write_all(fd, tail, tail_len);
    }
    if (rc == 0 && st->sync_full && fdatasync(fd) < 0) {
        rc = GL_EIO;
    }
    if (rc == 0 && renameat(st->dirfd, tmp, st->dirfd, final) < 0) {
        rc = GL_EIO;
    }
    if (rc < 0) {
        snprintf(w->err, sizeof(w->err), "%s/%s: %s", st->dir, final, strerror(errno));
        unlinkat(st->dirfd, tmp, 0);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (rc == 0 && st->sync_full) {
        fsync(st->dirfd);
    }
    return rc;
}

/* Thread pool: compress (or not) and write. */
static void write_work(uv_work_t *req)
{
    struct storage_write *w = req->data;
    if (w->cx == NULL) {
        gl_chunk_file_encode_stored(w->c, &w->file);
        w->bytes = w->file.len + w->c->data.len;
        w->rc = put_file(w, w->c->data.data, w->c->data.len);
        return;
    }
    w->rc = gl_chunk_file_encode(w->cx, w->c, LEVEL, w->st->content_sum, &w->file, w->err,
                                 sizeof(w->err));
    w->bytes = w->file.len;
    if (w->rc == 0) {
        w->rc = put_file(w, NULL, 0);
    }
}

/*
 * A write's tools are kept for the next one: a fresh zstd context, or a
 * fresh file buffer (its pages faulted in anew), costs more than a chunk's
 * compression. take_tools() gives the write an idle context (or none) with
 * its buffer (maybe empty); give_tools() keeps them, or frees them past
 * GL_STORAGE_WRITES_MAX (and a buffer past GL_BUF_POOL_LARGEST, a huge
 * chunk's). The store's own, not the chunks' pool (util/buf.h): file
 * buffers there pushed out the chunks', so that new chunks were faulted in.
 */
static void take_tools(struct gl_storage *st, struct storage_write *w)
{
    for (int i = 0; i < GL_STORAGE_WRITES_MAX; i++) {
        if (st->cx[i] != NULL) {
            w->cx = st->cx[i];
            w->file = st->files[i];
            st->cx[i] = NULL;
            gl_buf_init(&st->files[i]);
            return;
        }
    }
}

static void give_tools(struct gl_storage *st, struct storage_write *w)
{
    if (w->file.cap > GL_BUF_POOL_LARGEST) {
        gl_buf_close(&w->file);
    }
    for (int i = 0; i < GL_STORAGE_WRITES_MAX && w->cx != NULL; i++) {
        if (st->cx[i] == NULL) {
            st->cx[i] = w->cx;
            st->files[i] = w->file;
            w->cx = NULL;
            gl_buf_init(&w->file);
        }
    }
    gl_zstd_cctx_free(w->cx);
    gl_buf_close(&w->file);
}

/* Hands finished writes back to the input, oldest first, stopping at one still running. */
static void hand_back(struct gl_storage *st)
{
    struct storage_write *w;
    while ((w = st->writes) != NULL && w->finished) {
        st->writes = w->next;
        if (st->writes == NULL) {
            st->writes_tail = &st->writes;
        }
        st->pending--;
        st->done = w->seq + 1;
        if (w->rc == 0) {
            (*st->m_written)++;
            *st->m_compressed += w->cx != NULL;
            *st->m_disk_bytes += w->bytes;
            w->c->file_seq = w->seq;
            w->c->file_bytes = w->bytes;
        } else {
            (*st->m_write_errors)++;
            st->failed = true;
            gl_log_error(st->ins, "filesystem buffer: chunk of %u records not written (%s); "
                         "kept in memory, input paused until the next flush", w->c->records,
                         w->err);
        }
        struct gl_chunk *c = w->c;
        int rc = w->rc;
        give_tools(st, w);
        gl_free(w);
        gl__input_stored(st->ins, c, rc == 0);
    }
}

static void write_done(uv_work_t *req, int status)
{
    struct storage_write *w = req->data;
    if (status < 0) {
        w->rc = GL_EIO;
        snprintf(w->err, sizeof(w->err), "write cancelled");
    }
    w->finished = true;
    hand_back(w->st);
}

void gl__storage_write(struct gl_storage *st, struct gl_chunk *c, bool compress)
{
    struct storage_write *w = gl_calloc(1, sizeof(*w));
    w->st = st;
    w->c = c;
    w->seq = st->next++;
    w->req.data = w;
    *st->writes_tail = w;
    st->writes_tail = &w->next;
    st->pending++;
    if (!compress) {
        uv_queue_work(st->ins->loop, &w->req, write_work, write_done);
        return;
    }
    take_tools(st, w);
    gl_buf_reset(&w->file);
    if (w->cx == NULL) {
        w->cx = gl_zstd_cctx_new(w->err, sizeof(w->err));
    }
    if (w->cx == NULL) {
        w->rc = GL_ENOENT;
        w->finished = true;
        hand_back(st);
        return;
    }
    uv_queue_work(st->ins->loop, &w->req, write_work, write_done);
}

unsigned gl__storage_pending(const struct gl_storage *st)
{
    return st != NULL ? st->pending : 0;
}

/*
 * Past storage.total_limit_size, the oldest files of the backlog go, their
 * records counted as dropped (reason storage_limit). Files in memory are
 * not touched: they are bounded by mem_buf_limit and on their way out.
 */
static void trim(struct gl_storage *st)
{
    while (st->limit != 0 && *st->m_disk_bytes > st->limit && st->backlog > 0 &&
           st->head < st->done) {
        char name[NAME_LEN];
        file_name(name, st->head++, "chunk");
        int fd = openat(st->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        char head[GL_CHUNK_FILE_HEADER];
        uint32_t records = 0;
        struct stat sb;
        if (pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head)) {
            records = (uint32_t)(unsigned char)head[8] | (uint32_t)(unsigned char)head[9] << 8 |
                      (uint32_t)(unsigned char)head[10] << 16 |
                      (uint32_t)(unsigned char)head[11] << 24;
        }
        uint64_t size = fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        close(fd);
        unlinkat(st->dirfd, name, 0);
        st->backlog--;
        *st->m_backlog = st->backlog;
        *st->m_disk_bytes -= size < *st->m_disk_bytes ? size : *st->m_disk_bytes;
        gl_instance_drop(st->ins, "storage_limit", records);
        gl_log_warn(st->ins, "filesystem buffer over storage.total_limit_size %zu: oldest chunk "
                    "(%u records) dropped", st->limit, records);
    }
}

void gl__storage_place(struct gl_storage *st, struct gl_chunk *c, bool down)
{
    if (down) {
        c->file_bytes = 0;
        st->backlog++;
        *st->m_backlog = st->backlog;
    } else {
        st->head = c->file_seq + 1;
    }
    trim(st);
}

void gl__storage_remove(struct gl_storage *st, const struct gl_chunk *c)
{
    char name[NAME_LEN];
    file_name(name, c->file_seq, "chunk");
    if (unlinkat(st->dirfd, name, 0) < 0 && errno != ENOENT) {
        gl_log_error(st->ins, "filesystem buffer: cannot remove delivered %s/%s: %s", st->dir,
                     name, strerror(errno));
    }
    *st->m_disk_bytes -= c->file_bytes < *st->m_disk_bytes ? c->file_bytes : *st->m_disk_bytes;
}

/* ---- reading ------------------------------------------------------------ */

/* Moves a file that cannot be read to corrupt/, with an error line and a count. */
static void quarantine(struct gl_storage *st, const char *name, uint64_t size, const char *why)
{
    char to[NAME_LEN + 8];
    snprintf(to, sizeof(to), "corrupt/%s", name);
    mkdirat(st->dirfd, "corrupt", 0700);
    if (renameat(st->dirfd, name, st->dirfd, to) < 0) {
        unlinkat(st->dirfd, name, 0);
    }
    (*st->m_corrupt)++;
    *st->m_disk_bytes -= size < *st->m_disk_bytes ? size : *st->m_disk_bytes;
    gl_log_error(st->ins, "filesystem buffer: %s/%s cannot be read (%s): moved to %s/%s",
                 st->dir, name, why, st->dir, to);
}

/* Reads file fd of size bytes into st->io. */
static int read_file(struct gl_storage *st, int fd, size_t size)
{
    gl_buf_reset(&st->io);
    gl_buf_reserve(&st->io, size);
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, st->io.data + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return GL_EIO;
        }
        got += (size_t)n;
    }
    st->io.len = got;
    return 0;
}

/*
 * Turns the file in st->io into a chunk. Returns it, or NULL with why set
 * (*missing_lib when libzstd could not be loaded: the file is fine).
 */
static struct gl_chunk *decode(struct gl_storage *st, char *why, size_t n, bool *missing_lib)
{
    struct gl_chunk_file_info info;
    if (gl_chunk_file_check(st->io.data, st->io.len, &info, why, n) < 0) {
        return NULL;
    }
    struct gl_chunk *c = gl_chunk_new(st->ins, info.tag, info.tag_len);
    gl_buf_reserve(&c->data, info.raw_len);
    int rc = gl_chunk_file_decode(st->io.data, st->io.len, &info, &c->data, &c->shared, why, n);
    if (rc < 0) {
        *missing_lib = rc == GL_ENOENT;
        gl_chunk_free(c);
        return NULL;
    }
    c->type = info.type;
    c->records = info.records;
    return c;
}

struct gl_chunk *gl__storage_load(struct gl_storage *st)
{
    while (st->backlog > 0 && st->head < st->done) {
        char name[NAME_LEN], why[256] = "";
        uint64_t seq = st->head++;
        file_name(name, seq, "chunk");
        int fd = openat(st->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            continue; /* a gap: removed by trim() or never written */
        }
        st->backlog--;
        *st->m_backlog = st->backlog;
        struct stat sb = { 0 };
        struct gl_chunk *c = NULL;
        bool missing_lib = false;
        size_t max = GL_CHUNK_FILE_HEADER + UINT16_MAX + GL_CHUNK_FILE_SHARED_MAX +
                     GL_CHUNK_FILE_RAW_MAX;
        if (fstat(fd, &sb) < 0 || (size_t)sb.st_size > max) {
            snprintf(why, sizeof(why), "%lld bytes", (long long)sb.st_size);
        } else if (read_file(st, fd, (size_t)sb.st_size) < 0) {
            snprintf(why, sizeof(why), "read: %s", strerror(errno));
        } else {
            c = decode(st, why, sizeof(why), &missing_lib);
        }
        close(fd);
        gl_buf_reset(&st->io);
        if (missing_lib) {
            /* Not the file's fault: it stays, and the backlog waits. */
            st->head--;
            st->backlog++;
            *st->m_backlog = st->backlog;
            st->failed = true;
            gl_log_error(st->ins, "filesystem buffer: %s", why);
            return NULL;
        }
        if (c == NULL) {
            quarantine(st, name, (uint64_t)sb.st_size, why);
            continue;
        }
        c->file_seq = seq;
        c->file_bytes = (size_t)sb.st_size;
        (*st->m_replayed)++;
        return c;
    }
    return NULL;
}
