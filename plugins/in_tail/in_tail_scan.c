/*
 * Finding files: the `path` globs are expanded at start, every
 * refresh_interval, and soon after inotify reports a change in a glob's
 * directory. A match is followed unless an exclude_path glob matches it, it
 * is compressed (a rotated .gz is never new log data), or the same file
 * (device and inode) is already followed. Each followed file's real
 * directory is watched too, so that a write wakes the reader at once; the
 * check timer is the fallback where inotify misses events. A match that is a
 * dangling link (a rotation half done) is looked at again within 100 ms.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/plugin.h"
#include "in_tail.h"
#include "util/mem.h"

static bool compressed(const char *path)
{
    static const char *const ext[] = { ".gz", ".zst", ".bz2", ".xz", ".zip", NULL };
    size_t n = strlen(path);
    for (int i = 0; ext[i] != NULL; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcmp(path + n - e, ext[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool excluded(const struct tail *t, const char *path)
{
    for (size_t i = 0; i < t->exclude.count; i++) {
        if (fnmatch(t->exclude.items[i], path, 0) == 0) {
            return true;
        }
    }
    return false;
}

bool tail_followed(const struct tail *t, const struct stat *st)
{
    for (const struct tail_file *f = t->files; f != NULL; f = f->next) {
        if (f->key.ino == (uint64_t)st->st_ino && f->key.dev == (uint64_t)st->st_dev) {
            return true;
        }
    }
    return false;
}

/* Follows one glob match if it is a new regular file. Returns whether it is a dangling link. */
static bool consider(struct tail *t, const char *path)
{
    struct stat st;
    char real[PATH_MAX];
    if (compressed(path) || excluded(t, path)) {
        return false;
    }
    if (stat(path, &st) < 0) {
        return errno == ENOENT && lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
    }
    if (!S_ISREG(st.st_mode) || tail_followed(t, &st) || realpath(path, real) == NULL) {
        return false;
    }
    /* At the very first start, files already there start at their end (unless read_from_head). */
    bool from_end = t->first_scan && t->db_fresh && !t->read_from_head;
    if (tail_file_open(t, path, real, &st, from_end) != NULL) {
        tail_wake(t);
    }
    return false;
}

static void on_event(uv_fs_event_t *h, const char *name, int events, int status);
static void on_rescan(uv_timer_t *h);

/*
 * A link that dangles may be kubelet's rotation half done: 0.log renamed,
 * the new one not created yet, and no event will say when it is (the link's
 * directory does not change). Such a scan is done again 100 ms later, then
 * at doubling delays while links keep dangling, until refresh_interval's
 * scans take over; one more dangling link starts again at 100 ms.
 */
static void rescan_dangling(struct tail *t, size_t dangling)
{
    if (dangling > t->n_dangling) {
        t->dangle_ms = 100;
    } else if (t->dangle_ms < t->refresh_ms) {
        t->dangle_ms *= 2;
    }
    t->n_dangling = dangling;
    if (dangling > 0 && t->dangle_ms < t->refresh_ms && t->watching &&
        !uv_is_active((uv_handle_t *)&t->rescan_timer)) {
        uv_timer_start(&t->rescan_timer, on_rescan, t->dangle_ms, 0);
    }
}

/* A glob directory that did not exist at start is watched once it does. */
static void retry_watches(struct tail *t)
{
    for (struct tail_watch *w = t->watches; w != NULL; w = w->next) {
        if (!w->active) {
            w->active = uv_fs_event_start(&w->handle, on_event, w->dir, 0) == 0;
        }
    }
}

void tail_scan(struct tail *t)
{
    size_t dangling = 0;
    retry_watches(t);
    for (size_t i = 0; i < t->paths.count; i++) {
        glob_t g;
        if (glob(t->paths.items[i], GLOB_NOSORT, NULL, &g) != 0) {
            continue;
        }
        for (size_t j = 0; j < g.gl_pathc; j++) {
            dangling += consider(t, g.gl_pathv[j]);
        }
        globfree(&g);
    }
    rescan_dangling(t, dangling);
}

/* ---- recovery after a crash --------------------------------------------- */

static char *dir_of(const char *path);

struct orphan {
    struct tail_id id;
    uint64_t offset;
    char *path;
};

struct orphans {
    struct orphan *v;
    size_t n;
};

static void collect(const struct tail_id *id, uint64_t offset, const char *path, void *arg)
{
    struct orphans *o = arg;
    o->v = gl_realloc(o->v, (o->n + 1) * sizeof(*o->v));
    o->v[o->n].id = *id;
    o->v[o->n].offset = offset;
    o->v[o->n].path = gl_strdup(path);
    o->n++;
}

static bool key_followed(const struct tail *t, const struct tail_id *id)
{
    for (const struct tail_file *f = t->files; f != NULL; f = f->next) {
        if (f->key.dev == id->dev && f->key.ino == id->ino && f->key.fp == id->fp) {
            return true;
        }
    }
    return false;
}

/* Looks in dir for the file of that device and inode; writes its path into out. */
static bool find_inode(const char *dir, const struct tail_id *id, char *out, size_t len,
                       struct stat *st)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    while (d != NULL && !found && (e = readdir(d)) != NULL) {
        if ((uint64_t)e->d_ino != id->ino) {
            continue;
        }
        snprintf(out, len, "%s/%s", dir, e->d_name);
        found = stat(out, st) == 0 && (uint64_t)st->st_dev == id->dev && S_ISREG(st->st_mode);
    }
    if (d != NULL) {
        closedir(d);
    }
    return found;
}

/*
 * The directory of the file a glob match leads to, also while the match
 * dangles: kubelet renames 0.log to 0.log.<time> before the runtime creates
 * the new 0.log, and a start in between finds the containers/ link pointing
 * at nothing, in the directory the rotated file is in. Links are followed by
 * hand, at most 8 of them, as far as they go. The caller frees the result.
 */
static char *file_dir(const char *path)
{
    char cur[PATH_MAX], real[PATH_MAX], link[PATH_MAX];
    snprintf(cur, sizeof(cur), "%s", path);
    for (int hops = 0; hops < 8; hops++) {
        if (realpath(cur, real) != NULL) {
            return dir_of(real);
        }
        ssize_t n = readlink(cur, link, sizeof(link) - 1);
        if (n < 0) {
            break;
        }
        link[n] = '\0';
        char *dir = link[0] == '/' ? gl_strdup("") : dir_of(cur);
        int len = snprintf(cur, sizeof(cur), "%s%s%s", dir, *dir ? "/" : "", link);
        gl_free(dir);
        if (len < 0 || (size_t)len >= sizeof(cur)) {
            break;
        }
    }
    char *dir = dir_of(cur);
    if (realpath(dir, real) != NULL) {
        gl_free(dir);
        dir = gl_strdup(real);
    }
    return dir;
}

/*
 * After a restart, files the database knows but no glob matches any more are
 * rotated files whose end may not have been delivered (kubelet renamed
 * 0.log to 0.log.<time>). Each is looked for, by inode, in the directory its
 * path leads to; found, it is read from its saved offset to its end as a
 * rotated file. Entries whose file is gone are forgotten.
 */
void tail_recover(struct tail *t)
{
    struct orphans o = { 0 };
    if (t->db == NULL) {
        return;
    }
    tail_offsets_each(t->db, collect, &o);
    for (size_t i = 0; i < o.n; i++) {
        const struct orphan *p = &o.v[i];
        char found[PATH_MAX * 2];
        struct stat st;
        if (key_followed(t, &p->id)) {
            continue;
        }
        char *dir = file_dir(p->path);
        struct tail_file *f = NULL;
        if (find_inode(dir, &p->id, found, sizeof(found), &st)) {
            f = tail_file_open(t, p->path, found, &st, false);
        }
        if (f != NULL && f->key.fp == p->id.fp) {
            f->rotated = true;
            f->rotated_at_ms = tail_now_ms();
            t->n_rotated++;
            gl_log_info(t->ins, "resuming rotated file %s (was %s) at offset %llu", found,
                        p->path, (unsigned long long)f->committed);
        } else {
            if (f != NULL) {
                /* Same inode, other content: a reused inode, not the file we knew. */
                t->files = f->next;
                tail_file_close(f);
            }
            gl_log_info(t->ins, "a file of %s (inode %llu) is gone: forgetting its offset %llu",
                        p->path, (unsigned long long)p->id.ino, (unsigned long long)p->offset);
            tail_offsets_remove(t->db, &p->id);
        }
        gl_free(dir);
    }
    for (size_t i = 0; i < o.n; i++) {
        gl_free(o.v[i].path);
    }
    gl_free(o.v);
}

/* ---- inotify -------------------------------------------------------------- */

static void on_rescan(uv_timer_t *h)
{
    tail_scan(h->data);
}

/*
 * An event in a watched directory: a glob directory schedules a rescan
 * (coalesced over 100 ms); a file directory wakes the files living there.
 */
static void on_event(uv_fs_event_t *h, const char *name, int events, int status)
{
    struct tail_watch *w = h->data;
    struct tail *t = w->t;
    (void)events;
    if (status < 0 || t->stopping) {
        return;
    }
    if (w->glob_dir && !uv_is_active((uv_handle_t *)&t->rescan_timer)) {
        uv_timer_start(&t->rescan_timer, on_rescan, 100, 0);
    }
    size_t dl = strlen(w->dir);
    for (struct tail_file *f = t->files; f != NULL; f = f->next) {
        if (strncmp(f->real, w->dir, dl) == 0 && f->real[dl] == '/' &&
            (name == NULL || strcmp(f->real + dl + 1, name) == 0)) {
            f->pending = true;
        }
    }
    tail_wake(t);
}

static void watch_dir(struct tail *t, const char *dir, bool glob_dir)
{
    for (struct tail_watch *w = t->watches; w != NULL; w = w->next) {
        if (strcmp(w->dir, dir) == 0) {
            w->glob_dir |= glob_dir;
            return;
        }
    }
    struct tail_watch *w = gl_calloc(1, sizeof(*w));
    w->t = t;
    w->dir = gl_strdup(dir);
    w->glob_dir = glob_dir;
    uv_fs_event_init(t->ins->loop, &w->handle);
    w->handle.data = w;
    w->active = uv_fs_event_start(&w->handle, on_event, dir, 0) == 0;
    if (!w->active) {
        gl_log_debug(t->ins, "cannot watch %s yet; relying on periodic checks", dir);
    }
    w->next = t->watches;
    t->watches = w;
}

static char *dir_of(const char *path)
{
    const char *s = strrchr(path, '/');
    if (s == NULL) {
        return gl_strdup(".");
    }
    return s == path ? gl_strdup("/") : gl_strndup(path, (size_t)(s - path));
}

void tail_watch_file_dir(struct tail *t, const char *real)
{
    if (t->stopping || !t->watching) {
        return;
    }
    char *dir = dir_of(real);
    watch_dir(t, dir, false);
    gl_free(dir);
}

int tail_watch_start(struct tail *t)
{
    uv_timer_init(t->ins->loop, &t->rescan_timer);
    t->rescan_timer.data = t;
    t->watching = true;
    for (size_t i = 0; i < t->paths.count; i++) {
        char *dir = dir_of(t->paths.items[i]);
        if (strpbrk(dir, "*?[") == NULL) {
            watch_dir(t, dir, true);
        }
        gl_free(dir);
    }
    return 0;
}

static void watch_closed(uv_handle_t *h)
{
    struct tail_watch *w = h->data;
    gl_free(w->dir);
    gl_free(w);
}

void tail_watch_gc(struct tail *t)
{
    struct tail_watch **pp = &t->watches;
    while (*pp != NULL) {
        struct tail_watch *w = *pp;
        size_t dl = strlen(w->dir);
        bool used = w->glob_dir;
        for (struct tail_file *f = t->files; f != NULL && !used; f = f->next) {
            used = strncmp(f->real, w->dir, dl) == 0 && f->real[dl] == '/';
        }
        if (used) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        uv_close((uv_handle_t *)&w->handle, watch_closed);
    }
}

void tail_watch_stop(struct tail *t)
{
    while (t->watches != NULL) {
        struct tail_watch *w = t->watches;
        t->watches = w->next;
        uv_close((uv_handle_t *)&w->handle, watch_closed);
    }
    uv_close((uv_handle_t *)&t->rescan_timer, NULL);
}
