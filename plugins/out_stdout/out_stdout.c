/*
 * The stdout output: one JSON object per line (a log record's body plus
 * @timestamp, or one metric series), for people watching the agent and for
 * `make run`. A chunk is formatted
 * into one buffer and written with one call, so lines never interleave.
 */
#include <unistd.h>

#include "core/chunk.h"
#include "core/flush.h"
#include "core/log.h"
#include "core/plugin.h"
#include "metrics/batch.h"
#include "util/fs.h"

static void stdout_flush(struct gl_instance *ins, struct gl_flush *f)
{
    for (unsigned i = 0; i < f->n_chunks; i++) {
        const struct gl_chunk *c = f->chunks[i];
        if (c->type == GL_METRICS) {
            gl_batch_write_json(&f->scratch, c);
        } else {
            gl_chunk_write_json(&f->scratch, c);
        }
    }
    if (gl_fs_write_all(STDOUT_FILENO, f->scratch.data, f->scratch.len) < 0) {
        gl_log_error(ins, "write to stdout failed: %m");
        gl_flush_done(f, GL_RETRY);
        return;
    }
    gl_flush_done(f, GL_OK);
}

const struct gl_plugin gl_out_stdout = {
    .kind = GL_OUTPUT, .name = "stdout", .data = GL_LOGS | GL_METRICS,
    .description = "Print records as JSON lines on standard output",
    .flush = stdout_flush,
};
