/*
 * The file output: appends records as JSON lines (the body plus @timestamp)
 * to `path`/`file`, where `file` defaults to the record's tag, as Fluent
 * Bit's. One chunk is formatted into one buffer and written with one call;
 * the file is opened per flush so that rotating it from outside is safe. A
 * failed write is cut back to where it started, so a retry never duplicates.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/chunk.h"
#include "core/flush.h"
#include "core/log.h"
#include "core/plugin.h"
#include "metrics/batch.h"
#include "util/error.h"
#include "util/fs.h"

struct file_out {
    char *path;
    char *file;
    bool mkdir;
};

static const struct gl_option file_options[] = {
    { .name = "path", .type = GL_OPT_STR,
      .offset = offsetof(struct file_out, path),
      .help = "Directory the file is written in (default the working directory)." },
    { .name = "file", .type = GL_OPT_STR, .offset = offsetof(struct file_out, file),
      .help = "File name (default the record's tag)." },
    { .name = "mkdir", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct file_out, mkdir),
      .help = "Create the directory when it does not exist." },
    { 0 }
};

static int file_init(struct gl_instance *ins)
{
    struct file_out *fo = ins->state;
    if (fo->file != NULL && strchr(fo->file, '/') != NULL) {
        gl_instance_option_error(ins, "file", "a name, not a path (put the directory in path)");
        return GL_ECONFIG;
    }
    return 0;
}

static int file_start(struct gl_instance *ins)
{
    struct file_out *fo = ins->state;
    if (fo->path != NULL && fo->mkdir && gl_fs_mkdir_p(fo->path) < 0) {
        gl_log_error(ins, "could not create directory %s: %s", fo->path, strerror(errno));
    }
    return 0;
}

static void file_flush(struct gl_instance *ins, struct gl_flush *f)
{
    struct file_out *fo = ins->state;
    char name[PATH_MAX];
    const char *base = fo->file ? fo->file : f->chunk->tag;
    int n = snprintf(name, sizeof(name), "%s%s%s", fo->path ? fo->path : "",
                     fo->path ? "/" : "", base);
    if (n < 0 || (size_t)n >= sizeof(name)) {
        gl_flush_reason(f, "path_too_long");
        gl_flush_done(f, GL_DROP);
        return;
    }
    int fd = open(name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        gl_log_error(ins, "open %s: %s", name, strerror(errno));
        gl_flush_done(f, GL_RETRY);
        return;
    }
    for (unsigned i = 0; i < f->n_chunks; i++) {
        const struct gl_chunk *c = f->chunks[i];
        if (c->type == GL_METRICS) {
            gl_batch_write_json(&f->scratch, c);
        } else {
            gl_chunk_write_json(&f->scratch, c);
        }
    }
    off_t before = lseek(fd, 0, SEEK_END);
    int rc = gl_fs_write_all(fd, f->scratch.data, f->scratch.len);
    int saved = errno;
    if (rc < 0 && before >= 0 && ftruncate(fd, before) < 0) {
        gl_log_warn(ins, "could not undo a partial write to %s: %s", name, strerror(errno));
    }
    close(fd);
    if (rc < 0) {
        gl_log_error(ins, "write %s: %s", name, strerror(saved));
        gl_flush_done(f, GL_RETRY);
        return;
    }
    gl_flush_done(f, GL_OK);
}

const struct gl_plugin gl_out_file = {
    .kind = GL_OUTPUT, .name = "file", .data = GL_LOGS | GL_METRICS,
    .description = "Append records as JSON lines to a file",
    .options = file_options, .state_size = sizeof(struct file_out),
    .init = file_init, .start = file_start, .flush = file_flush,
};
