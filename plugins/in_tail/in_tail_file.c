/*
 * One followed file. Bytes are read with pread() at read_off in quanta;
 * complete lines are decoded, rejoined (partial lines) and grouped
 * (multiline) per stream, and each record is emitted with the byte range it
 * covers. Acknowledged ranges advance `committed`, which is what the offsets
 * database stores. Rotation (the path names a new inode), copytruncate (the
 * size shrank, or the first bytes changed) and deletion are noticed by
 * tail_file_check().
 *
 * Invariant: every byte before `committed` is in a record every output took
 * (or was deliberately skipped and counted); bytes after it are read again
 * after a crash. A truncation gives the file a new source id, so
 * acknowledgements of the old content can never move the new offsets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec/json.h"
#include "codec/msgpack_put.h"
#include "codec/shared.h"
#include "core/event.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/parser.h"
#include "core/plugin.h"
#include "in_tail.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/mem.h"

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- identity ------------------------------------------------------------ */

/*
 * The seed of the fingerprint. It is not the published FNV-1a basis (it is
 * that number in decimal, one digit short), but offsets databases on disk
 * hold fingerprints made with it: another seed would stop them matching
 * their files after an upgrade, and those files would be read as new.
 */
#define FP_SEED 1469598103934665603ull

/* FNV-1a over the first bytes; the length is mixed in so that a growing file re-keys. */
static int fingerprint(int fd, uint64_t size, uint64_t *fp, size_t *fp_len)
{
    char head[TAIL_FP_LEN];
    size_t want = size < TAIL_FP_LEN ? (size_t)size : TAIL_FP_LEN;
    ssize_t n = want ? pread(fd, head, want, 0) : 0;
    if (n < 0) {
        return GL_EIO;
    }
    *fp = gl_hash_fnv1a64(FP_SEED ^ (uint64_t)n, head, (size_t)n);
    *fp_len = (size_t)n;
    return 0;
}

/* The offset after the last newline before size, so a start "at the end" is on a line. */
static uint64_t last_line_start(int fd, uint64_t size)
{
    char buf[4096];
    uint64_t end = size;
    while (end > 0 && size - end < (1u << 20)) {
        size_t n = end < sizeof(buf) ? (size_t)end : sizeof(buf);
        ssize_t r = pread(fd, buf, n, (off_t)(end - n));
        if (r <= 0) {
            break;
        }
        for (ssize_t i = r - 1; i >= 0; i--) {
            if (buf[i] == '\n') {
                return end - n + (uint64_t)i + 1;
            }
        }
        end -= (uint64_t)r;
    }
    return end == 0 ? 0 : size;
}

static void streams_init(struct tail_file *f)
{
    struct tail *t = f->t;
    for (int i = 0; i < 2; i++) {
        tail_join_init(&f->streams[i].join, t->line_max);
        tail_ml_init(&f->streams[i].ml, t->ml_rules, t->line_max);
        f->streams[i].stream = i == 0 ? TAIL_STDOUT : TAIL_STDERR;
    }
}

static void streams_close(struct tail_file *f)
{
    for (int i = 0; i < 2; i++) {
        tail_join_close(&f->streams[i].join);
        tail_ml_close(&f->streams[i].ml);
    }
}

/* Moves every position of the file to off (a new start, or after a truncation). */
static void reset_positions(struct tail_file *f, uint64_t off)
{
    f->read_off = f->line_off = f->emitted = f->committed = off;
    f->n_acked = 0;
    gl_buf_reset(&f->carry);
    f->skipping = false;
    for (int i = 0; i < 2; i++) {
        f->streams[i].start = f->streams[i].gstart = f->streams[i].gend = off;
    }
}

/* Appends one "key": string pair of the kubernetes map. */
static void k8s_pair(struct gl_buf *b, const char *key, const char *val)
{
    gl_mp_put_str(b, key, strlen(key));
    gl_mp_put_str(b, val, strlen(val));
}

/*
 * The kubernetes map of a container log's records, made once for the file
 * as a shared value (codec/shared.h): the records refer to it (10 bytes,
 * and outputs render its JSON once; a chunk file holds it once). Encoding
 * the five strings into every record took about 30% of the CPU tail spent
 * on a busy container log.
 */
static struct gl_shared *k8s_map(const struct tail_k8s *k)
{
    struct gl_buf b;
    gl_buf_init(&b);
    gl_mp_put_map(&b, 3 + (k->docker_id != NULL) + (k->pod_id != NULL));
    k8s_pair(&b, "pod_name", k->pod_name);
    k8s_pair(&b, "namespace_name", k->namespace_name);
    k8s_pair(&b, "container_name", k->container_name);
    if (k->docker_id != NULL) {
        k8s_pair(&b, "docker_id", k->docker_id);
    }
    if (k->pod_id != NULL) {
        k8s_pair(&b, "pod_id", k->pod_id);
    }
    struct gl_shared *s = gl_shared_new(b.data, b.len);
    gl_buf_close(&b);
    return s;
}

struct tail_file *tail_file_open(struct tail *t, const char *path, const char *real,
                                 const struct stat *st, bool from_end)
{
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        gl_log_warn(t->ins, "open %s: %s", real, strerror(errno));
        return NULL;
    }
    struct tail_file *f = gl_calloc(1, sizeof(*f));
    f->t = t;
    f->fd = fd;
    f->id = ++t->next_id;
    f->path = gl_strdup(path);
    f->real = gl_strdup(real);
    f->tag = tail_tag_expand(t->ins->tag, path);
    if (tail_k8s_from_path(path, real, &f->k8s) == 0) {
        const char *const labels[] = { f->k8s.namespace_name, f->k8s.pod_name,
                                       f->k8s.container_name };
        f->k8s_map = t->k8s_metadata ? k8s_map(&f->k8s) : NULL;
        f->c_bytes = gl_metric_series_get(t->m_container_bytes, labels);
        f->c_lines = gl_metric_series_get(t->m_container_lines, labels);
    }
    f->format = t->format;
    f->key.dev = (uint64_t)st->st_dev;
    f->key.ino = (uint64_t)st->st_ino;
    gl_buf_init(&f->carry);
    fingerprint(fd, (uint64_t)st->st_size, &f->key.fp, &f->fp_len);
    streams_init(f);
    uint64_t off = 0;
    const char *how = "from the start";
    if (t->db != NULL && tail_offsets_get(t->db, &f->key, &off) == 0) {
        how = "from its saved offset";
        if (off > (uint64_t)st->st_size) {
            off = 0;
            how = "from the start (it shrank while we were away)";
        }
    } else if (from_end) {
        off = last_line_start(fd, (uint64_t)st->st_size);
        how = "from its end";
    }
    reset_positions(f, off);
    f->pending = true;
    f->next = t->files;
    t->files = f;
    t->n_files++;
    (*t->m_files_open)++;
    gl_log_debug(t->ins, "following %s (inode %llu) %s, offset %llu", path,
                 (unsigned long long)f->key.ino, how, (unsigned long long)off);
    tail_watch_file_dir(t, real);
    return f;
}

void tail_file_close(struct tail_file *f)
{
    struct tail *t = f->t;
    if (f->committed >= f->emitted && (f->rotated || f->deleted) && t->db != NULL) {
        tail_offsets_remove(t->db, &f->key);
    }
    if (f->rotated && t->n_rotated > 0) {
        t->n_rotated--;
    }
    close(f->fd);
    streams_close(f);
    gl_buf_close(&f->carry);
    /* The container's series go with its last file: what is exported stays bounded. */
    gl_metric_series_put(t->m_container_bytes, f->c_bytes);
    gl_metric_series_put(t->m_container_lines, f->c_lines);
    tail_k8s_free(&f->k8s);
    gl_shared_unref(f->k8s_map);
    gl_free(f->acked);
    gl_free(f->path);
    gl_free(f->real);
    gl_free(f->tag);
    t->n_files--;
    (*t->m_files_open)--;
    gl_free(f);
}

/* ---- emitting ------------------------------------------------------------ */

static const char *stream_name(enum tail_stream s)
{
    return s == TAIL_STDERR ? "stderr" : "stdout";
}

/*
 * The file as outputs name a record's origin (gl_event_origin): a hash of its
 * device, inode and the fingerprint of its first bytes. Only bytes before
 * the record's end count (up to TAIL_FP_LEN), so a line gets the same key
 * whenever it is read, also while the file is shorter than that, or after a
 * restart. Integers are hashed little-endian: the key outlives the process.
 */
static uint64_t origin_key(struct tail_file *f, uint64_t end)
{
    if (f->origin != 0 && end >= TAIL_FP_LEN) {
        return f->origin; /* fixed once the fingerprint is whole: hashed once per file */
    }
    size_t want = end < TAIL_FP_LEN ? (size_t)end : TAIL_FP_LEN;
    uint64_t fp = f->key.fp;
    size_t len = f->fp_len;
    if (len != want && (fingerprint(f->fd, want, &fp, &len) < 0 || len != want)) {
        fp = 0;
    }
    const uint64_t v[3] = { f->key.dev, f->key.ino, fp };
    unsigned char le[24];
    for (int i = 0; i < 24; i++) {
        le[i] = (unsigned char)(v[i / 8] >> (8 * (i % 8)));
    }
    uint64_t key = gl_hash_fnv1a64(GL_HASH_FNV1A64_BASIS, le, sizeof(le));
    if (want == TAIL_FP_LEN && fp != 0) {
        f->origin = key;
    }
    return key;
}

/* Emits one record covering bytes [start, end) of the file. */
static void emit(struct tail_file *f, const char *msg, size_t len, uint64_t ts,
                 enum tail_stream stream, bool split, uint64_t start, uint64_t end)
{
    struct tail *t = f->t;
    struct gl_event ev;
    if (ts == 0) {
        ts = wall_ns();
    }
    gl_event_begin_tag(&ev, t->ins, f->tag, strlen(f->tag), ts);
    gl_event_origin(&ev, origin_key(f, end), start);
    uint64_t parsed_ts = 0;
    int has_ts = 0;
    if (t->parser == NULL || gl_parser_run(t->parser, msg, len, &ev, &parsed_ts, &has_ts) < 0) {
        gl_event_kv_str(&ev, t->key, msg, len);
    } else if (has_ts) {
        ts = parsed_ts;
        gl_event_set_time(&ev, ts);
    }
    if (stream != TAIL_STREAM_NONE) {
        gl_event_kv_str(&ev, "stream", stream_name(stream), 6);
    }
    char time[40];
    size_t tl = gl_json_format_time(time, ts);
    gl_event_kv_str(&ev, "time", time, tl);
    if (split) {
        gl_event_kv_bool(&ev, "_split", 1);
    }
    if (t->path_key != NULL) {
        gl_event_kv_str(&ev, t->path_key, f->path, strlen(f->path));
    }
    if (f->k8s_map != NULL) {
        gl_event_kv_shared(&ev, "kubernetes", 10, f->k8s_map);
    }
    gl_event_position(&ev, f->id, start, end);
    if (end > f->emitted) {
        f->emitted = end;
    }
    if (split) {
        (*t->m_split)++;
    }
    gl_event_commit(&ev);
}

/*
 * A complete message of one stream (after partial lines were joined): either
 * emitted now, or handed to the multiline group, which may emit the group
 * it closes. start/end is the message's byte range.
 */
static void complete(struct tail_file *f, struct tail_stream_state *s, const char *msg,
                     size_t len, uint64_t ts, bool split, uint64_t start, uint64_t end)
{
    if (f->t->ml_rules == NULL || split) {
        emit(f, msg, len, ts, s->stream, split, start, end);
        return;
    }
    struct tail_joined out;
    bool had = s->ml.active;
    uint64_t gstart = had ? s->gstart : start;
    uint64_t gend = s->gend;
    int n = tail_ml_add(&s->ml, msg, len, ts, tail_now_ms(), &out);
    if (n == 1 && s->ml.active) {
        /* The previous group ended before this message, which starts the next one. */
        emit(f, out.msg, out.len, out.ts_ns, s->stream, out.split, gstart, gend);
        s->gstart = start;
    } else if (n == 1) {
        /* The group closed with this message in it. */
        emit(f, out.msg, out.len, out.ts_ns, s->stream, out.split, gstart, end);
    } else if (!had) {
        s->gstart = start;
    }
    s->gend = end;
}

/* One decoded line of a stream goes through the partial-line joiner. */
static void joined(struct tail_file *f, struct tail_stream_state *s, const struct tail_line *l,
                   uint64_t start, uint64_t end)
{
    struct tail_joined out[2];
    if (!s->join.active) {
        s->start = start;
    }
    int n = tail_join_add(&s->join, l, out);
    for (int i = 0; i < n; i++) {
        complete(f, s, out[i].msg, out[i].len, out[i].ts_ns, out[i].split, s->start, end);
        s->start = end;
    }
}

/*
 * Feeds a decoded line to its stream's joiner in pieces of at most
 * buffer_max_size, all but the last marked partial, so that the joiner cuts
 * long lines into records flagged _split and never drops a byte.
 */
static void feed(struct tail_file *f, struct tail_stream_state *s, const struct tail_line *l,
                 uint64_t start, uint64_t end)
{
    size_t max = f->t->line_max;
    struct tail_line piece = *l;
    size_t off = 0;
    while (l->len - off > max) {
        piece.msg = l->msg + off;
        piece.len = max;
        piece.partial = true;
        joined(f, s, &piece, start, end);
        off += max;
    }
    piece.msg = l->msg + off;
    piece.len = l->len - off;
    piece.partial = l->partial;
    joined(f, s, &piece, start, end);
}

/* Decodes the first bytes of a line: its format's header, or the line as is. */
static void decode(struct tail_file *f, const char *line, size_t len, struct tail_line *l)
{
    struct tail *t = f->t;
    *l = (struct tail_line){ .msg = line, .len = len, .stream = TAIL_STREAM_NONE };
    if (f->format == TAIL_AUTO) {
        f->format = tail_detect_format(line, len);
    }
    int rc = 0;
    if (f->format == TAIL_CRI) {
        rc = tail_parse_cri(line, len, l);
    } else if (f->format == TAIL_DOCKER) {
        rc = tail_parse_docker(line, len, l, &t->scratch);
    }
    if (rc < 0) {
        (*t->m_invalid)++;
        *l = (struct tail_line){ .msg = line, .len = len, .stream = TAIL_STREAM_NONE };
    }
}

static struct tail_stream_state *stream_of(struct tail_file *f, enum tail_stream stream)
{
    struct tail_stream_state *s = &f->streams[stream == TAIL_STDERR ? 1 : 0];
    s->stream = stream;
    return s;
}

/* Decodes one line (without its newline) that covers [start, end). */
static void handle_line(struct tail_file *f, const char *line, size_t len, uint64_t start,
                        uint64_t end)
{
    struct tail *t = f->t;
    struct tail_line l;
    (*t->m_lines)++;
    if (f->in_long) {
        /* The end of a line whose beginning was already passed on in pieces. */
        f->in_long = false;
        l = (struct tail_line){ .msg = line, .len = len, .stream = f->long_stream,
                                .ts_ns = f->long_ts };
        feed(f, stream_of(f, l.stream), &l, start, end);
        return;
    }
    decode(f, line, len, &l);
    if (l.len > t->line_max && t->skip_long_lines) {
        (*t->m_skipped)++;
        gl_log_warn(t->ins, "line of %zu bytes over buffer_max_size %zu in %s skipped", l.len,
                    t->line_max, f->path);
        tail_file_skip(f, start, end);
        return;
    }
    feed(f, stream_of(f, l.stream), &l, start, end);
}

/* ---- reading ------------------------------------------------------------- */

/*
 * A line longer than buffer_max_size with no newline yet. With
 * skip_long_lines it is skipped to its newline (and counted); otherwise what
 * is held is passed on as a partial piece of the line (its format's header
 * decoded from the first piece), so memory stays bounded and nothing is lost.
 */
static void overlong(struct tail_file *f)
{
    struct tail *t = f->t;
    uint64_t start = f->line_off, end = f->line_off + f->carry.len;
    if (t->skip_long_lines || f->skipping) {
        if (!f->skipping) {
            gl_log_warn(t->ins, "line over buffer_max_size %zu in %s skipped", t->line_max,
                        f->path);
            (*t->m_skipped)++;
        }
        f->skipping = true;
        tail_file_skip(f, start, end);
    } else {
        struct tail_line l;
        if (f->in_long) {
            l = (struct tail_line){ .msg = f->carry.data, .len = f->carry.len,
                                    .stream = f->long_stream, .ts_ns = f->long_ts };
        } else {
            decode(f, f->carry.data, f->carry.len, &l);
            f->in_long = true;
            f->long_stream = l.stream;
            f->long_ts = l.ts_ns;
        }
        l.partial = true;
        feed(f, stream_of(f, l.stream), &l, start, end);
    }
    f->line_off = end;
    gl_buf_reset(&f->carry);
}

/* Splits data (read at offset `at`) into lines; what has no newline yet goes to carry. */
static void split_lines(struct tail_file *f, const char *data, size_t n)
{
    const char *p = data, *stop = data + n;
    while (p < stop) {
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        if (nl == NULL) {
            gl_buf_append(&f->carry, p, (size_t)(stop - p));
            if (f->carry.len > f->t->line_max) {
                overlong(f);
            }
            return;
        }
        size_t piece = (size_t)(nl - p);
        uint64_t start = f->line_off;
        uint64_t end = f->line_off + f->carry.len + piece + 1;
        if (f->skipping) {
            (*f->t->m_lines)++;
            tail_file_skip(f, start, end);
            f->skipping = false;
        } else if (f->carry.len > 0) {
            gl_buf_append(&f->carry, p, piece);
            handle_line(f, f->carry.data, f->carry.len, start, end);
        } else {
            handle_line(f, p, piece, start, end);
        }
        gl_buf_reset(&f->carry);
        f->line_off = end;
        p = nl + 1;
    }
}

static bool refilled(struct tail_file *f);
static void truncated(struct tail_file *f, uint64_t size);

size_t tail_file_read(struct tail_file *f, size_t quantum)
{
    struct tail *t = f->t;
    if (f->eof && refilled(f)) {
        /* Caught up before, new bytes now, other first bytes: a copytruncate refilled. */
        struct stat st;
        truncated(f, fstat(f->fd, &st) == 0 ? (uint64_t)st.st_size : 0);
    }
    ssize_t n = pread(f->fd, t->read_buf, quantum, (off_t)f->read_off);
    if (n <= 0) {
        if (n < 0) {
            gl_log_warn(t->ins, "read %s: %s", f->path, strerror(errno));
        }
        if (!f->eof) {
            f->eof = true;
            f->eof_since_ms = tail_now_ms();
        }
        return 0;
    }
    /* A short read means everything written so far is read. */
    bool at_end = (size_t)n < quantum;
    if (at_end && !f->eof) {
        f->eof_since_ms = tail_now_ms();
    }
    f->eof = at_end;
    f->read_off += (uint64_t)n;
    *t->m_bytes += (uint64_t)n;
    uint64_t lines = *t->m_lines;
    split_lines(f, t->read_buf, (size_t)n);
    if (f->c_bytes != NULL) {
        /* Once per read, not per line: this file's lines are those the read added. */
        *f->c_bytes += (uint64_t)n;
        *f->c_lines += *t->m_lines - lines;
    }
    return (size_t)n;
}

/* ---- acknowledgements ----------------------------------------------------- */

/* Adds [start, end) to the acknowledged set and advances committed over what is contiguous. */
static void add_range(struct tail_file *f, uint64_t start, uint64_t end)
{
    if (end <= f->committed) {
        return;
    }
    if (f->n_acked == f->cap_acked) {
        f->cap_acked = f->cap_acked ? f->cap_acked * 2 : 8;
        f->acked = gl_realloc(f->acked, f->cap_acked * sizeof(*f->acked));
    }
    f->acked[f->n_acked++] = (struct tail_range){ start, end };
    bool moved = true;
    while (moved) {
        moved = false;
        for (size_t i = 0; i < f->n_acked; i++) {
            if (f->acked[i].start <= f->committed) {
                if (f->acked[i].end > f->committed) {
                    f->committed = f->acked[i].end;
                }
                f->acked[i] = f->acked[--f->n_acked];
                moved = true;
                break;
            }
        }
    }
}

void tail_file_ack(struct tail_file *f, uint64_t start, uint64_t end)
{
    uint64_t before = f->committed;
    add_range(f, start, end);
    if (f->committed != before && f->t->db != NULL) {
        tail_offsets_set(f->t->db, &f->key, f->committed, f->path);
    }
}

/* Bytes that produce no record (a skipped line) count as delivered at once. */
void tail_file_skip(struct tail_file *f, uint64_t start, uint64_t end)
{
    if (end > f->emitted) {
        f->emitted = end;
    }
    tail_file_ack(f, start, end);
}

/* ---- timers: multiline timeouts, truncation, rotation, deletion ---------- */

void tail_file_flush_pending(struct tail_file *f, uint64_t now_ms, bool force)
{
    struct tail *t = f->t;
    for (int i = 0; i < 2; i++) {
        struct tail_stream_state *s = &f->streams[i];
        struct tail_joined out;
        if (force && s->join.active && tail_join_flush(&s->join, &out) == 1) {
            complete(f, s, out.msg, out.len, out.ts_ns, out.split, s->start, f->line_off);
            s->start = f->line_off;
        }
        if (s->ml.active && tail_ml_flush(&s->ml, now_ms, force ? 0 : t->ml_flush_ms, &out)) {
            emit(f, out.msg, out.len, out.ts_ns, s->stream, out.split, s->gstart, s->gend);
            s->gstart = s->gend;
        }
    }
}

/* The file shrank below what was read: copytruncate. Start over at 0 as a new source. */
static void truncated(struct tail_file *f, uint64_t size)
{
    struct tail *t = f->t;
    (*t->m_truncations)++;
    gl_log_info(t->ins, "%s truncated (size %llu, offset %llu%s): reading from the start",
                f->path, (unsigned long long)size, (unsigned long long)f->read_off,
                size >= f->read_off ? ", new first bytes" : "");
    f->id = ++t->next_id;
    streams_close(f);
    streams_init(f);
    reset_positions(f, 0);
    fingerprint(f->fd, size, &f->key.fp, &f->fp_len);
    f->origin = 0;
    if (t->db != NULL) {
        tail_offsets_set(t->db, &f->key, 0, f->path);
    }
}

/* The fingerprint covers the first TAIL_FP_LEN bytes once there are that many. */
static void grow_fingerprint(struct tail_file *f, uint64_t size)
{
    if (f->fp_len >= TAIL_FP_LEN || size <= f->fp_len) {
        return;
    }
    struct tail_id old = f->key;
    fingerprint(f->fd, size, &f->key.fp, &f->fp_len);
    if (f->t->db != NULL && old.fp != f->key.fp) {
        tail_offsets_remove(f->t->db, &old);
        tail_offsets_set(f->t->db, &f->key, f->committed, f->path);
    }
}

/*
 * A copytruncate followed by more writes than were read before the next
 * look leaves the size above the offset: only the first bytes show it. Asked
 * when a file that was read to its end has more (tail_file_read) and when a
 * look finds unread bytes, so quiet files cost no read.
 */
static bool refilled(struct tail_file *f)
{
    uint64_t fp;
    size_t len;
    return f->fp_len > 0 && fingerprint(f->fd, f->fp_len, &fp, &len) == 0 &&
           (len != f->fp_len || fp != f->key.fp);
}

/*
 * Looks at what the path names now. A path that names nothing makes the
 * file deleted: it is read to its end. It keeps being looked at, because
 * kubelet renames 0.log before the runtime creates the new one: when the
 * path names another file, the file was rotated and the new one is followed
 * from its start; when it names this file again, it was not deleted at all.
 */
static void check_path(struct tail_file *f, uint64_t now_ms)
{
    struct tail *t = f->t;
    struct stat st;
    if (stat(f->path, &st) < 0) {
        if (errno == ENOENT && !f->deleted) {
            f->deleted = true;
            f->rotated_at_ms = now_ms;
            gl_log_debug(t->ins, "%s deleted: reading it to its end", f->path);
        }
        return;
    }
    if ((uint64_t)st.st_ino == f->key.ino && (uint64_t)st.st_dev == f->key.dev) {
        f->deleted = false;
        return;
    }
    f->deleted = false;
    f->rotated = true;
    f->rotated_at_ms = now_ms;
    t->n_rotated++;
    (*t->m_rotations)++;
    gl_log_debug(t->ins, "%s rotated: reading the old file to its end", f->path);
    /* The new file at the path is new content: read it from its start. */
    char real[4096];
    if (!tail_followed(t, &st) && realpath(f->path, real) != NULL) {
        tail_file_open(t, f->path, real, &st, false);
    }
}

/* Notices what happened to the file since the last look. */
void tail_file_check(struct tail_file *f, uint64_t now_ms)
{
    struct stat st;
    if (fstat(f->fd, &st) == 0) {
        if ((uint64_t)st.st_size < f->read_off ||
            ((uint64_t)st.st_size > f->read_off && refilled(f))) {
            truncated(f, (uint64_t)st.st_size);
        }
        if ((uint64_t)st.st_size > f->read_off) {
            f->pending = true;
            f->eof = false;
        }
        grow_fingerprint(f, (uint64_t)st.st_size);
    }
    if (!f->rotated) {
        check_path(f, now_ms);
    }
}
