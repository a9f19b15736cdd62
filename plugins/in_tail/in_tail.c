/*
 * The tail input: every line every container writes on the node, once, in
 * order per container, through rotations, restarts and crashes.
 *
 * Files come from globs (in_tail_scan.c), are read in bounded quanta per loop
 * turn so a busy container cannot starve a quiet one (in_tail_file.c), and
 * their lines are decoded (CRI, docker json-file or raw), rejoined and
 * grouped (partial lines, stack traces) into records that carry the byte
 * range they came from. A file's offset advances in the offsets database only
 * when the engine acknowledges that every output took those records, so a
 * crash re-reads at most what was in flight.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/parser.h"
#include "core/plugin.h"
#include "in_tail.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

static const char *check_chunk(const void *v)
{
    size_t n = *(const size_t *)v;
    return n >= 1024 && n <= (16u << 20) ? NULL : "must be between 1KiB and 16MiB";
}

static const char *check_line_max(const void *v)
{
    size_t n = *(const size_t *)v;
    return n >= 1024 && n <= (64u << 20) ? NULL : "must be between 1KiB and 64MiB";
}

static const struct gl_option tail_options[] = {
    { .name = "path", .type = GL_OPT_LIST, .def = "/var/log/containers/*.log",
      .offset = offsetof(struct tail, paths), .help = "Globs of files to read, comma-separated." },
    { .name = "exclude_path", .type = GL_OPT_LIST, .offset = offsetof(struct tail, exclude),
      .help = "Globs of files not to read, comma-separated." },
    { .name = "refresh_interval", .type = GL_OPT_DURATION, .def = "10s",
      .offset = offsetof(struct tail, refresh_ms),
      .help = "How often globs are re-expanded (new files are also noticed through inotify)." },
    { .name = "read_from_head", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct tail, read_from_head),
      .help = "Read files found at the very first start from their beginning, not their end." },
    { .name = "db", .type = GL_OPT_STR, .offset = offsetof(struct tail, db_path),
      .help = "Offsets database (default <storage.path>/<alias>.offsets; 'off' disables)." },
    { .name = "multiline.parser", .type = GL_OPT_LIST,
      .offset = offsetof(struct tail, multiline_parser),
      .help = "Line formats and joiners: cri, docker (detected per file), java, python, go." },
    { .name = "multiline.start", .type = GL_OPT_STR, .offset = offsetof(struct tail, ml_start),
      .help = "A user rule: regex of a line that starts a record." },
    { .name = "multiline.continue", .type = GL_OPT_STR,
      .offset = offsetof(struct tail, ml_continue),
      .help = "A user rule: regex of a line that continues the record before it." },
    { .name = "multiline.flush_timeout", .type = GL_OPT_DURATION, .def = "2s",
      .offset = offsetof(struct tail, ml_flush_ms),
      .help = "How long a pending multiline group or partial line waits for more." },
    { .name = "buffer_chunk_size", .type = GL_OPT_SIZE, .def = "64KiB", .check = check_chunk,
      .offset = offsetof(struct tail, chunk_size),
      .help = "Bytes read from one file per turn (the fairness quantum)." },
    { .name = "buffer_max_size", .type = GL_OPT_SIZE, .def = "1MiB", .check = check_line_max,
      .offset = offsetof(struct tail, line_max),
      .help = "Longest line kept whole; longer ones are split (or skipped with skip_long_lines) "
              "and counted." },
    { .name = "skip_long_lines", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct tail, skip_long_lines),
      .help = "Skip lines over buffer_max_size instead of splitting them." },
    { .name = "exit_on_eof", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct tail, exit_on_eof),
      .help = "Exit once every file is read to its end and everything is delivered." },
    { .name = "rotate_wait", .type = GL_OPT_DURATION, .def = "5s",
      .offset = offsetof(struct tail, rotate_wait_ms),
      .help = "How long a rotated file read to its end stays open for late writes." },
    { .name = "rotated_max_files", .type = GL_OPT_INT, .def = "64",
      .offset = offsetof(struct tail, rotated_max),
      .help = "Rotated files held open at once; past it the oldest unread bytes are counted as "
              "lost." },
    { .name = "path_key", .type = GL_OPT_STR, .offset = offsetof(struct tail, path_key),
      .help = "Add the file's path to each record under this key." },
    { .name = "kubernetes_metadata", .type = GL_OPT_BOOL, .def = "on",
      .offset = offsetof(struct tail, k8s_metadata),
      .help = "Add kubernetes.{pod_name, namespace_name, container_name, docker_id, pod_id} "
              "from container log paths." },
    { .name = "key", .type = GL_OPT_STR, .def = "log", .offset = offsetof(struct tail, key),
      .help = "Key of the line in each record." },
    { .name = "parser", .type = GL_OPT_STR, .offset = offsetof(struct tail, parser_name),
      .help = "A named parser run on each line: its keys replace `key`, its time the "
              "record's; a line it does not match is kept under `key`." },
    { 0 }
};

uint64_t tail_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- init: formats and multiline rules --------------------------------- */

static int read_parsers(struct gl_instance *ins, struct tail *t)
{
    bool cri = false, docker = false;
    for (size_t i = 0; i < t->multiline_parser.count; i++) {
        const char *name = t->multiline_parser.items[i];
        if (strcasecmp(name, "cri") == 0) {
            cri = true;
        } else if (strcasecmp(name, "docker") == 0) {
            docker = true;
        } else if (t->ml_rules == NULL && (t->ml_rules = tail_ml_builtin(name)) != NULL) {
            continue;
        } else {
            gl_instance_option_error(ins, "multiline.parser",
                                     "unknown parser '%s' (cri, docker, java, python, go)",
                                     name);
            return GL_ECONFIG;
        }
    }
    t->format = cri && docker ? TAIL_AUTO : cri ? TAIL_CRI : docker ? TAIL_DOCKER : TAIL_RAW;
    if (t->parser_name != NULL && (t->parser = gl_parser_get(t->parser_name)) == NULL) {
        gl_instance_option_error(ins, "parser", "'%s' is not defined (built-in: json, logfmt; "
                                 "others come from parsers or parsers_file)", t->parser_name);
        return GL_ECONFIG;
    }
    if ((t->ml_start == NULL) != (t->ml_continue == NULL)) {
        gl_instance_error(ins, "multiline.start and multiline.continue go together");
        return GL_ECONFIG;
    }
    if (t->ml_start != NULL) {
        char err[256];
        t->ml_user = tail_ml_rules_new(t->ml_start, t->ml_continue, err, sizeof(err));
        if (t->ml_user == NULL) {
            gl_instance_option_error(ins, "multiline.start", "%s", err);
            return GL_ECONFIG;
        }
        t->ml_rules = t->ml_user;
    }
    return 0;
}

static void register_metrics(struct gl_instance *ins, struct tail *t)
{
    t->m_files_open = gl_metric_gauge(ins, "files_open", "Files held open.");
    t->m_bytes = gl_metric_counter(ins, "read_bytes_total", "Bytes read from files.");
    t->m_lines = gl_metric_counter(ins, "read_lines_total", "Lines read from files.");
    t->m_rotations = gl_metric_counter(ins, "rotations_total", "Files seen rotated.");
    t->m_truncations = gl_metric_counter(ins, "truncations_total",
                                         "Files seen truncated (copytruncate); read again from 0.");
    t->m_split = gl_metric_counter(ins, "lines_split_total",
                                   "Records cut because a line was over buffer_max_size.");
    t->m_skipped = gl_metric_counter(ins, "lines_skipped_total",
                                     "Lines over buffer_max_size skipped (skip_long_lines).");
    t->m_invalid = gl_metric_counter(ins, "lines_invalid_total",
                                     "Lines not in the file's format, emitted as raw text.");
    t->m_lost_bytes = gl_metric_counter(ins, "rotated_lost_bytes_total",
                                        "Unread bytes of rotated files given up (limits).");
    t->m_commit_lag = gl_metric_gauge(ins, "commit_lag_bytes",
                                      "Bytes read but not yet acknowledged, over all files.");
    t->m_db_errors = gl_metric_counter(ins, "db_errors_total",
                                       "Failed writes to the offsets database.");
    static const char *const container[] = { "namespace", "pod", "container" };
    t->m_container_bytes = gl_metric_counter_vec(
        ins, "container_bytes_total",
        "Bytes read from a container's log files, while one is followed.", container, 3);
    t->m_container_lines = gl_metric_counter_vec(
        ins, "container_lines_total",
        "Lines read from a container's log files, while one is followed.", container, 3);
}

static void tail_destroy(struct gl_instance *ins);

static int tail_init(struct gl_instance *ins)
{
    struct tail *t = ins->state;
    t->ins = ins;
    int rc = read_parsers(ins, t);
    if (rc < 0) {
        tail_destroy(ins);
        return rc;
    }
    t->read_buf = gl_malloc(t->chunk_size);
    register_metrics(ins, t);
    return 0;
}

/* ---- start: the offsets database, watches, first scan ------------------- */

/* True when the file is an SQLite database (Fluent Bit's DB), by its header. */
static bool fluent_bit_db(const char *path)
{
    char head[16] = "";
    FILE *f = fopen(path, "rb");
    bool sqlite = f != NULL && fread(head, 1, sizeof(head), f) == sizeof(head) &&
                  memcmp(head, "SQLite format 3", 16) == 0;
    if (f != NULL) {
        fclose(f);
    }
    return sqlite;
}

static int open_db(struct tail *t)
{
    struct gl_instance *ins = t->ins;
    if (t->db_path != NULL && strcasecmp(t->db_path, "off") == 0) {
        t->db_fresh = true;
        return 0;
    }
    char path[4096];
    if (t->db_path != NULL) {
        snprintf(path, sizeof(path), "%s", t->db_path);
        if (fluent_bit_db(path)) {
            /* A node moving from Fluent Bit keeps its SQLite file: left alone, ours beside it. */
            snprintf(path, sizeof(path), "%s.gleaner", t->db_path);
            gl_log_warn(ins, "db %s is Fluent Bit's SQLite database; offsets are kept in %s",
                        t->db_path, path);
        }
    } else {
        const char *dir = ins->engine->svc.storage_path;
        if (gl_fs_mkdir_p(dir) < 0) {
            gl_log_error(ins, "storage.path %s: cannot create it: %s", dir, strerror(errno));
            return GL_EIO;
        }
        snprintf(path, sizeof(path), "%s/%s.offsets", dir, ins->alias);
    }
    t->db_fresh = access(path, F_OK) != 0;
    char err[256];
    t->db = tail_offsets_open(path, err, sizeof(err));
    if (t->db == NULL) {
        gl_log_error(ins, "offsets database %s: %s", path, err);
        return GL_EIO;
    }
    gl_log_info(ins, "offsets database %s (%zu files known)", path, tail_offsets_count(t->db));
    return 0;
}

static void on_read(uv_idle_t *h);
static void on_scan(uv_timer_t *h);
static void on_check(uv_timer_t *h);

static int tail_start(struct gl_instance *ins)
{
    struct tail *t = ins->state;
    int rc = open_db(t);
    if (rc < 0) {
        return rc;
    }
    uv_idle_init(ins->loop, &t->reader);
    uv_timer_init(ins->loop, &t->scan_timer);
    uv_timer_init(ins->loop, &t->check_timer);
    uv_timer_init(ins->loop, &t->sync_timer);
    t->reader.data = t->scan_timer.data = t->check_timer.data = t->sync_timer.data = t;
    /* Watching first: the first scan may already ask for a rescan (a dangling link). */
    tail_watch_start(t);
    t->first_scan = true;
    tail_scan(t);
    t->first_scan = false;
    tail_recover(t);
    uv_timer_start(&t->scan_timer, on_scan, t->refresh_ms, t->refresh_ms);
    uv_timer_start(&t->check_timer, on_check, 250, 250);
    tail_wake(t);
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

void tail_wake(struct tail *t)
{
    if (!t->paused && !t->stopping) {
        uv_idle_start(&t->reader, on_read);
    }
}

static void check_done(struct tail *t);

static struct tail_file *file_by_id(struct tail *t, uint64_t id)
{
    for (struct tail_file *f = t->files; f != NULL; f = f->next) {
        if (f->id == id) {
            return f;
        }
    }
    return t->files;
}

/* Reads one quantum of every pending file from f up to end; false once paused. */
static bool read_files(struct tail *t, struct tail_file *f, struct tail_file *end, bool *more)
{
    for (; f != end; f = f->next) {
        if (!f->pending) {
            continue;
        }
        size_t n = tail_file_read(f, t->chunk_size);
        if (n == t->chunk_size) {
            *more = true;
        } else {
            f->pending = false;
        }
        if (t->paused) {
            t->read_next = f->next != NULL ? f->next->id : 0;
            return false;
        }
    }
    return true;
}

/*
 * One reading pass: every file with something to read gets one quantum, in
 * turn. A pass cut short by back-pressure resumes where it stopped, so that
 * under a memory limit the files are still read in turn rather than the
 * first ones over and over. The idle handle keeps passes coming while there
 * is data; when every file is at its end the loop sleeps until a watch, the
 * check timer or a scan wakes it.
 */
static void on_read(uv_idle_t *h)
{
    struct tail *t = h->data;
    bool more = false;
    struct tail_file *first = file_by_id(t, t->read_next);
    t->read_next = 0;
    if (!t->paused && read_files(t, first, NULL, &more)) {
        read_files(t, t->files, first, &more);
    }
    if (!more || t->paused) {
        uv_idle_stop(&t->reader);
        check_done(t);
    }
}

/*
 * Over rotated_max_files, the rotated file rotated longest ago is given up:
 * its unread bytes are counted as lost and logged. Reading rotated files to
 * their end normally keeps this from happening; it bounds descriptors and
 * memory when a writer outruns the agent for long.
 */
static void give_up_oldest(struct tail *t)
{
    struct tail_file **oldest = NULL;
    for (struct tail_file **pp = &t->files; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->rotated && (oldest == NULL || (*pp)->rotated_at_ms < (*oldest)->rotated_at_ms)) {
            oldest = pp;
        }
    }
    if (oldest == NULL) {
        return;
    }
    struct tail_file *f = *oldest;
    struct stat st;
    uint64_t size = fstat(f->fd, &st) == 0 ? (uint64_t)st.st_size : f->read_off;
    uint64_t lost = size > f->read_off ? size - f->read_off : 0;
    *t->m_lost_bytes += lost;
    gl_log_error(t->ins, "more than rotated_max_files %lld rotated files open: giving up %s "
                 "with %llu bytes unread", (long long)t->rotated_max, f->path,
                 (unsigned long long)lost);
    if (lost > 0) {
        gl_health_lost(t->ins, "rotated file %s given up with %llu bytes unread (over "
                       "rotated_max_files %lld)", f->path, (unsigned long long)lost,
                       (long long)t->rotated_max);
    }
    *oldest = f->next;
    tail_file_close(f);
}

/* Closes rotated or deleted files that are finished, and those over the limits. */
static void reap(struct tail *t, uint64_t now)
{
    while (t->rotated_max > 0 && t->n_rotated > (size_t)t->rotated_max) {
        give_up_oldest(t);
    }
    struct tail_file **pp = &t->files;
    while (*pp != NULL) {
        struct tail_file *f = *pp;
        bool gone = f->rotated || f->deleted;
        bool finished = gone && f->eof && now - f->eof_since_ms >= t->rotate_wait_ms &&
                        f->committed >= f->emitted;
        if (finished) {
            *pp = f->next;
            tail_file_close(f);
            continue;
        }
        pp = &f->next;
    }
}

static void on_check(uv_timer_t *h)
{
    struct tail *t = h->data;
    uint64_t now = tail_now_ms();
    uint64_t lag = 0;
    for (struct tail_file *f = t->files; f != NULL; f = f->next) {
        tail_file_check(f, now);
        tail_file_flush_pending(f, now, false);
        lag += f->read_off - f->committed;
    }
    *t->m_commit_lag = lag;
    reap(t, now);
    tail_watch_gc(t);
    tail_wake(t);
}

static void on_scan(uv_timer_t *h)
{
    tail_scan(h->data);
}

/*
 * exit_on_eof: once every file is at its end, pending groups are emitted and
 * the input tells the engine it is done; the engine exits when all of it is
 * delivered.
 */
static void check_done(struct tail *t)
{
    if (!t->exit_on_eof || t->done) {
        return;
    }
    for (struct tail_file *f = t->files; f != NULL; f = f->next) {
        if (!f->eof) {
            return;
        }
    }
    uint64_t now = tail_now_ms();
    for (struct tail_file *f = t->files; f != NULL; f = f->next) {
        tail_file_flush_pending(f, now, true);
    }
    t->done = true;
    gl_log_info(t->ins, "exit_on_eof: all %zu files read to their end", t->n_files);
    gl_input_done(t->ins);
}

/* ---- back-pressure and acknowledgements --------------------------------- */

static void tail_pause(struct gl_instance *ins)
{
    struct tail *t = ins->state;
    t->paused = true;
    uv_idle_stop(&t->reader);
}

static void tail_resume(struct gl_instance *ins)
{
    struct tail *t = ins->state;
    t->paused = false;
    for (struct tail_file *f = t->files; f != NULL; f = f->next) {
        f->pending = true;
    }
    tail_wake(t);
}

static void on_sync(uv_timer_t *h)
{
    struct tail *t = h->data;
    if (t->db != NULL && tail_offsets_sync(t->db) < 0) {
        (*t->m_db_errors)++;
        gl_log_error(t->ins, "offsets database: write failed: %s", strerror(errno));
    }
}

/*
 * An acknowledged range of one file: advance its committed offset and have
 * the database written soon (coalesced: at most one fsync per 200 ms).
 */
static void tail_ack(struct gl_instance *ins, const struct gl_ack *ack)
{
    struct tail *t = ins->state;
    for (struct tail_file *f = t->files; f != NULL; f = f->next) {
        if (f->id == ack->source) {
            tail_file_ack(f, ack->start, ack->end);
            break;
        }
    }
    if (t->db != NULL && !t->stopping && !uv_is_active((uv_handle_t *)&t->sync_timer)) {
        uv_timer_start(&t->sync_timer, on_sync, 200, 0);
    }
}

/* ---- stop and destroy ---------------------------------------------------- */

static void tail_stop(struct gl_instance *ins)
{
    struct tail *t = ins->state;
    t->stopping = true;
    uint64_t now = tail_now_ms();
    for (struct tail_file *f = t->files; f != NULL; f = f->next) {
        tail_file_flush_pending(f, now, true);
    }
    tail_watch_stop(t);
    uv_close((uv_handle_t *)&t->reader, NULL);
    uv_close((uv_handle_t *)&t->scan_timer, NULL);
    uv_close((uv_handle_t *)&t->check_timer, NULL);
    uv_close((uv_handle_t *)&t->sync_timer, NULL);
}

static void tail_destroy(struct gl_instance *ins)
{
    struct tail *t = ins->state;
    while (t->files != NULL) {
        struct tail_file *f = t->files;
        t->files = f->next;
        tail_file_close(f);
    }
    if (t->db != NULL) {
        /* Acknowledgements that came during shutdown are written now. */
        tail_offsets_sync(t->db);
        tail_offsets_close(t->db);
        t->db = NULL;
    }
    tail_ml_rules_free(t->ml_user);
    t->ml_user = NULL;
    gl_free(t->read_buf);
    t->read_buf = NULL;
    gl_buf_close(&t->scratch);
}

const struct gl_plugin gl_in_tail = {
    .kind = GL_INPUT, .name = "tail", .data = GL_LOGS,
    .description = "Follow container log files (CRI, docker json-file) across rotation",
    .options = tail_options, .state_size = sizeof(struct tail),
    .init = tail_init, .start = tail_start, .pause = tail_pause, .resume = tail_resume,
    .ack = tail_ack, .stop = tail_stop, .destroy = tail_destroy,
    /*
     * The files are the buffer: holding more of them in memory does not make
     * delivery faster. 4 MiB keeps a CloudWatch Logs output (with the
     * kubernetes filter or without) as fast as 8 or 16 on one busy file or
     * fifty, measured, in a quarter of the memory of 16.
     */
    .mem_buf_limit = 4u << 20,
};
