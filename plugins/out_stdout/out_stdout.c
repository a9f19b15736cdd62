/*
 * The stdout output: one JSON object per line (the body plus @timestamp),
 * for people watching the agent and for `make run`. A chunk is formatted
 * into one buffer and written with one call, so lines never interleave.
 */
#include <unistd.h>

#include "core/chunk.h"
#include "core/flush.h"
#include "core/log.h"
#include "core/plugin.h"
#include "util/fs.h"

static void stdout_flush(struct gl_instance *ins, struct gl_flush *f)
{
    for (unsigned i = 0; i < f->n_chunks; i++) {
        gl_chunk_write_json(&f->scratch, f->chunks[i]);
    }
    if (gl_fs_write_all(STDOUT_FILENO, f->scratch.data, f->scratch.len) < 0) {
        gl_log_error(ins, "write to stdout failed: %m");
        gl_flush_done(f, GL_RETRY);
        return;
    }
    gl_flush_done(f, GL_OK);
}

const struct gl_plugin gl_out_stdout = {
    .kind = GL_OUTPUT, .name = "stdout",
    .description = "Print records as JSON lines on standard output",
    .flush = stdout_flush,
};
