/*
 * input systemd: journald entries (kubelet, containerd, the kernel...) read
 * with libsystemd's sd-journal, loaded on first use (agent/net/dl.c), with
 * Fluent Bit's options. Each entry becomes a record of its fields (the
 * timestamp is the entry's realtime); a `*` in the tag is the entry's
 * _SYSTEMD_UNIT.
 *
 * Reading never blocks the loop for long: at most max_entries per loop turn
 * (an idle handle carries on), and new entries are noticed through
 * sd_journal_get_fd() on a uv_poll with sd_journal_process(), which also
 * follows files rotated, added and vacuumed. The cursor of the last entry
 * every output acknowledged is committed to a file (in_systemd_cursor.c);
 * a restart seeks to it and skips it, so nothing is lost or repeated beyond
 * what was in flight. Journal files that cannot be opened are skipped by
 * sd-journal; the input names each once in an error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/event.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/plugin.h"
#include "net/dl.h"
#include "plugins/in_systemd/in_systemd.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/mem.h"

#define PROCESS_EVERY_MS 1000
#define FIELD_MAX (64u * 1024)

struct source {
    char *tag;
    uint64_t seq;
};

struct systemd {
    /* options */
    char *path;
    struct gl_strlist filters;
    char *filter_type;
    bool read_from_tail;
    char *db_path;
    int64_t max_fields;
    int64_t max_entries;
    bool strip_underscores;
    bool lowercase;
    /* state */
    struct gl_instance *ins;
    sd_journal *j;
    struct systemd_cursor *db;
    struct systemd_pending pending;
    struct source *sources;
    size_t nsources;
    char **checked;              /* journal files already checked, so each is reported once */
    size_t nchecked;
    uv_poll_t poll;
    uv_idle_t reader;
    uv_timer_t timer;
    bool handles;
    bool paused;
    bool reading;
    bool read_error;             /* logged: not again until an entry reads */
    struct gl_buf key;
    uint64_t *m_entries;
    uint64_t *m_errors;
    uint64_t *m_bad_files;
};

/* ---- files ---- */

static bool checked(struct systemd *s, const char *path)
{
    for (size_t i = 0; i < s->nchecked; i++) {
        if (strcmp(s->checked[i], path) == 0) {
            return true;
        }
    }
    s->checked = gl_realloc(s->checked, (s->nchecked + 1) * sizeof(char *));
    s->checked[s->nchecked++] = gl_strdup(path);
    return false;
}

/*
 * sd-journal skips a journal file it cannot open without a word; each new
 * file of the directory (and its machine-id subdirectories) is opened alone
 * once, so that one which fails is named in an error and counted.
 */
static void check_dir(struct systemd *s, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        size_t n = strlen(de->d_name);
        bool journal = (n > 8 && strcmp(de->d_name + n - 8, ".journal") == 0) ||
                       (n > 9 && strcmp(de->d_name + n - 9, ".journal~") == 0);
        if (!journal) {
            if (depth == 0 && de->d_type == DT_DIR) {
                check_dir(s, path, 1);
            }
            continue;
        }
        if (checked(s, path)) {
            continue;
        }
        sd_journal *one = NULL;
        const char *files[] = { path, NULL };
        int r = gl_sd->open_files(&one, files, 0);
        if (r < 0) {
            (*s->m_bad_files)++;
            gl_log_error(s->ins, "journal file %s cannot be read (%s): skipped", path,
                         strerror(-r));
        } else {
            gl_sd->close(one);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
}

/* ---- reading ---- */

/* The source id of a tag, and its next position; sources are never removed. */
static struct source *source_of(struct systemd *s, const char *tag, uint64_t *id)
{
    for (size_t i = 0; i < s->nsources; i++) {
        if (strcmp(s->sources[i].tag, tag) == 0) {
            *id = i + 1;
            return &s->sources[i];
        }
    }
    s->sources = gl_realloc(s->sources, (s->nsources + 1) * sizeof(*s->sources));
    s->sources[s->nsources] = (struct source){ gl_strdup(tag), 0 };
    *id = ++s->nsources;
    return &s->sources[*id - 1];
}

/* The tag of the current entry: the input's, its `*` replaced by the unit. */
static void entry_tag(struct systemd *s, struct gl_buf *tag)
{
    const char *t = s->ins->tag;
    const char *star = strchr(t, '*');
    if (star == NULL) {
        gl_buf_puts(tag, t);
        return;
    }
    const void *data;
    size_t len;
    const char *unit = "unknown";
    size_t ulen = strlen(unit);
    if (gl_sd->get_data(s->j, "_SYSTEMD_UNIT", &data, &len) >= 0 && len > 14) {
        unit = (const char *)data + 14;
        ulen = len - 14;
    }
    gl_buf_append(tag, t, (size_t)(star - t));
    gl_buf_append(tag, unit, ulen);
    gl_buf_puts(tag, star + 1);
}

/* Writes the entry's fields, named as strip_underscores and lowercase say. */
static void write_fields(struct systemd *s, struct gl_event *ev)
{
    const void *data;
    size_t len;
    int64_t n = 0;
    gl_sd->restart_data(s->j);
    while (n < s->max_fields && gl_sd->enumerate_data(s->j, &data, &len) > 0) {
        const char *f = data;
        const char *eq = memchr(f, '=', len);
        if (eq == NULL) {
            continue;
        }
        const char *k = f;
        if (s->strip_underscores && *k == '_' && k + 1 < eq) {
            k++;
        }
        gl_buf_reset(&s->key);
        gl_buf_append(&s->key, k, (size_t)(eq - k));
        for (size_t i = 0; s->lowercase && i < s->key.len; i++) {
            char c = s->key.data[i];
            s->key.data[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
        gl_event_kv_strn(ev, s->key.data, s->key.len, eq + 1, len - (size_t)(eq + 1 - f));
        n++;
    }
}

/*
 * Emits the current entry and keeps its cursor until it is acknowledged.
 * Returns gl_event_commit()'s answer (GL_EPAUSED asks to stop reading).
 */
static int emit(struct systemd *s)
{
    uint64_t usec = 0;
    char *cursor = NULL;
    if (gl_sd->get_cursor(s->j, &cursor) < 0) {
        return GL_EIO;
    }
    gl_sd->get_realtime_usec(s->j, &usec);
    struct gl_buf tag;
    gl_buf_init(&tag);
    entry_tag(s, &tag);
    uint64_t id;
    struct source *src = source_of(s, tag.data, &id);
    struct gl_event ev;
    gl_event_begin_tag(&ev, s->ins, tag.data, tag.len, usec * 1000);
    gl_event_position(&ev, id, src->seq, src->seq + 1);
    src->seq++;
    write_fields(s, &ev);
    systemd_pending_add(&s->pending, id, src->seq, gl_strdup(cursor));
    free(cursor);
    gl_buf_close(&tag);
    (*s->m_entries)++;
    return gl_event_commit(&ev);
}

static void on_read(uv_idle_t *h);

static void reading(struct systemd *s, bool on)
{
    if (on && !s->reading && !s->paused && s->handles) {
        uv_idle_start(&s->reader, on_read);
    } else if (!on && s->reading) {
        uv_idle_stop(&s->reader);
    }
    s->reading = on && !s->paused && s->handles;
}

/* One turn: at most max_entries entries; carries on next turn while there are more. */
static void on_read(uv_idle_t *h)
{
    struct systemd *s = h->data;
    for (int64_t i = 0; i < s->max_entries; i++) {
        int r = gl_sd->next(s->j);
        if (r == 0) {
            reading(s, false);
            return;
        }
        if (r < 0) {
            (*s->m_errors)++;
            if (!s->read_error) {
                gl_log_error(s->ins, "reading the journal: %s; waiting for it to change",
                             strerror(-r));
                s->read_error = true;
            }
            reading(s, false);
            return;
        }
        s->read_error = false;
        if (emit(s) == GL_EPAUSED) {
            return;
        }
    }
}

/* The journal changed (entries appended, files rotated or removed): read on. */
static void changed(struct systemd *s)
{
    int r = gl_sd->process(s->j);
    if (r == SD_JOURNAL_INVALIDATE && s->path != NULL) {
        check_dir(s, s->path, 0);
    }
    reading(s, true);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    changed(p->data);
}

static void on_timer(uv_timer_t *t)
{
    changed(t->data);
}

/* ---- start: the journal, the matches, where to begin ---- */

static int add_matches(struct systemd *s)
{
    bool all = strcasecmp(s->filter_type, "and") == 0;
    for (size_t i = 0; i < s->filters.count; i++) {
        const char *m = s->filters.items[i];
        int r = gl_sd->add_match(s->j, m, 0);
        if (r < 0) {
            gl_log_error(s->ins, "systemd_filter '%s': %s", m, strerror(-r));
            return GL_EINVAL;
        }
        r = all ? gl_sd->add_conjunction(s->j) : gl_sd->add_disjunction(s->j);
        if (r < 0) {
            return GL_EINVAL;
        }
    }
    return 0;
}

/* Opens the cursor file: db, else <storage.path>/<alias>.cursor; "off" keeps none. */
static int open_db(struct systemd *s, char **last)
{
    struct gl_instance *ins = s->ins;
    char path[4096];
    *last = NULL;
    if (s->db_path != NULL && strcasecmp(s->db_path, "off") == 0) {
        return 0;
    }
    if (s->db_path != NULL) {
        snprintf(path, sizeof(path), "%s", s->db_path);
        char head[16] = "";
        FILE *f = fopen(path, "rb");
        if (f != NULL && fread(head, 1, sizeof(head), f) == sizeof(head) &&
            memcmp(head, "SQLite format 3", 16) == 0) {
            /* Fluent Bit's own database: left alone, the cursor goes beside it. */
            snprintf(path, sizeof(path), "%s.gleaner", s->db_path);
            gl_log_warn(ins, "db %s is Fluent Bit's SQLite database; the cursor is kept in %s",
                        s->db_path, path);
        }
        if (f != NULL) {
            fclose(f);
        }
    } else {
        const char *dir = ins->engine->svc.storage_path;
        if (gl_fs_mkdir_p(dir) < 0) {
            gl_log_error(ins, "storage.path %s: cannot create it: %s", dir, strerror(errno));
            return GL_EIO;
        }
        snprintf(path, sizeof(path), "%s/%s.cursor", dir, ins->alias);
    }
    char err[256];
    s->db = systemd_cursor_open(path, last, err, sizeof(err));
    if (s->db == NULL) {
        gl_log_error(ins, "cursor file %s: %s", path, err);
        return GL_EIO;
    }
    return 0;
}

/* Seeks to just after the committed cursor, else the tail or the head. */
static void seek(struct systemd *s, const char *cursor)
{
    if (cursor != NULL && gl_sd->seek_cursor(s->j, cursor) >= 0) {
        /* The entry at the cursor was delivered; one vacuumed away leaves a later one here. */
        if (gl_sd->next(s->j) > 0 && gl_sd->test_cursor(s->j, cursor) <= 0) {
            gl_sd->previous(s->j);
        }
        gl_log_info(s->ins, "resuming after the committed cursor");
    } else if (s->read_from_tail) {
        gl_sd->seek_tail(s->j);
        gl_sd->previous(s->j);
    } else {
        gl_sd->seek_head(s->j);
    }
}

static int open_journal(struct systemd *s)
{
    int r = s->path ? gl_sd->open_directory(&s->j, s->path, 0)
                    : gl_sd->open(&s->j, SD_JOURNAL_LOCAL_ONLY);
    if (r < 0) {
        gl_log_error(s->ins, "cannot open the journal%s%s: %s", s->path ? " in " : "",
                     s->path ? s->path : "", strerror(-r));
        return GL_EIO;
    }
    gl_sd->set_data_threshold(s->j, FIELD_MAX);
    if (s->path != NULL) {
        check_dir(s, s->path, 0);
    }
    return add_matches(s);
}

static int systemd_start(struct gl_instance *ins)
{
    struct systemd *s = ins->state;
    char err[512];
    if (gl_dl_sd(err, sizeof(err)) < 0) {
        gl_log_error(ins, "%s", err);
        return GL_ENOENT;
    }
    char *cursor = NULL;
    int rc = open_journal(s);
    if (rc == 0) {
        rc = open_db(s, &cursor);
    }
    if (rc < 0) {
        return rc;
    }
    seek(s, cursor);
    gl_free(cursor);
    int fd = gl_sd->get_fd(s->j);
    if (fd < 0) {
        gl_log_error(ins, "cannot watch the journal: %s", strerror(-fd));
        return GL_EIO;
    }
    uv_poll_init(ins->loop, &s->poll, fd);
    uv_idle_init(ins->loop, &s->reader);
    uv_timer_init(ins->loop, &s->timer);
    s->poll.data = s->reader.data = s->timer.data = s;
    s->handles = true;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    uv_timer_start(&s->timer, on_timer, PROCESS_EVERY_MS, PROCESS_EVERY_MS);
    reading(s, true);
    return 0;
}

/* ---- the rest of the lifecycle ---- */

static void systemd_pause(struct gl_instance *ins)
{
    struct systemd *s = ins->state;
    reading(s, false);
    s->paused = true;
}

static void systemd_resume(struct gl_instance *ins)
{
    struct systemd *s = ins->state;
    s->paused = false;
    reading(s, true);
}

static void systemd_ack(struct gl_instance *ins, const struct gl_ack *ack)
{
    struct systemd *s = ins->state;
    char *cursor = systemd_pending_ack(&s->pending, ack->source, ack->start, ack->end);
    if (cursor != NULL && s->db != NULL && systemd_cursor_write(s->db, cursor) < 0) {
        (*s->m_errors)++;
        gl_log_error(ins, "cannot commit the journal cursor: %s", strerror(errno));
    }
    gl_free(cursor);
}

static void systemd_stop(struct gl_instance *ins)
{
    struct systemd *s = ins->state;
    if (s->handles) {
        reading(s, false);
        s->handles = false;
        uv_close((uv_handle_t *)&s->poll, NULL);
        uv_close((uv_handle_t *)&s->reader, NULL);
        uv_close((uv_handle_t *)&s->timer, NULL);
    }
}

static void systemd_destroy(struct gl_instance *ins)
{
    struct systemd *s = ins->state;
    if (s->j != NULL) {
        gl_sd->close(s->j);
        s->j = NULL;
    }
    systemd_cursor_close(s->db);
    s->db = NULL;
    systemd_pending_free(&s->pending);
    for (size_t i = 0; i < s->nsources; i++) {
        gl_free(s->sources[i].tag);
    }
    gl_free(s->sources);
    for (size_t i = 0; i < s->nchecked; i++) {
        gl_free(s->checked[i]);
    }
    gl_free(s->checked);
    gl_buf_close(&s->key);
}

static int systemd_init(struct gl_instance *ins)
{
    struct systemd *s = ins->state;
    s->ins = ins;
    gl_buf_init(&s->key);
    for (size_t i = 0; i < s->filters.count; i++) {
        const char *eq = strchr(s->filters.items[i], '=');
        if (eq == NULL || eq == s->filters.items[i]) {
            gl_instance_option_error(ins, "systemd_filter", "'%s': expected FIELD=VALUE",
                                     s->filters.items[i]);
            return GL_EINVAL;
        }
    }
    s->m_entries = gl_metric_counter(ins, "journal_entries_total", "Journal entries read.");
    s->m_errors = gl_metric_counter(ins, "journal_errors_total",
                                    "Errors reading the journal or committing the cursor.");
    s->m_bad_files = gl_metric_counter(ins, "journal_files_skipped_total",
                                       "Journal files that could not be read and were skipped.");
    return 0;
}

static const char *check_positive(const void *v)
{
    return *(const int64_t *)v >= 1 ? NULL : "must be at least 1";
}

static const char *const filter_types[] = { "or", "and", NULL };

static const struct gl_option systemd_options[] = {
    { .name = "path", .type = GL_OPT_STR, .offset = offsetof(struct systemd, path),
      .help = "Journal directory (default the system's journal, /var/log/journal and "
              "/run/log/journal)." },
    { .name = "systemd_filter", .type = GL_OPT_MULTI, .offset = offsetof(struct systemd, filters),
      .help = "FIELD=VALUE matches, e.g. _SYSTEMD_UNIT=kubelet.service; repeat the key for "
              "several." },
    { .name = "systemd_filter_type", .type = GL_OPT_STR, .def = "or", .choices = filter_types,
      .offset = offsetof(struct systemd, filter_type),
      .help = "Whether an entry must match any filter (or) or all of them (and)." },
    { .name = "read_from_tail", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct systemd, read_from_tail),
      .help = "Without a committed cursor, start at the journal's end, not its beginning." },
    { .name = "db", .type = GL_OPT_STR, .offset = offsetof(struct systemd, db_path),
      .help = "Cursor file (default <storage.path>/<alias>.cursor; 'off' keeps none)." },
    { .name = "max_fields", .type = GL_OPT_INT, .def = "8000", .check = check_positive,
      .offset = offsetof(struct systemd, max_fields),
      .help = "Most fields taken from one entry." },
    { .name = "max_entries", .type = GL_OPT_INT, .def = "5000", .check = check_positive,
      .offset = offsetof(struct systemd, max_entries),
      .help = "Most entries read in one loop turn." },
    { .name = "strip_underscores", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct systemd, strip_underscores),
      .help = "Remove the leading underscore of field names (_PID becomes PID)." },
    { .name = "lowercase", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct systemd, lowercase), .help = "Lower-case field names." },
    { 0 }
};

const struct gl_plugin gl_in_systemd = {
    .kind = GL_INPUT, .name = "systemd", .data = GL_LOGS,
    .description = "Read journald entries; the cursor is committed after delivery",
    .options = systemd_options, .state_size = sizeof(struct systemd),
    .init = systemd_init, .start = systemd_start, .pause = systemd_pause,
    .resume = systemd_resume, .ack = systemd_ack, .stop = systemd_stop,
    .destroy = systemd_destroy,
};
