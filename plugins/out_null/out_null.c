/*
 * The null output: accepts every chunk at once. For benchmarks (it measures
 * everything up to the output) and for routes whose records are not wanted.
 */
#include "core/flush.h"
#include "core/plugin.h"

static void null_flush(struct gl_instance *ins, struct gl_flush *f)
{
    (void)ins;
    gl_flush_done(f, GL_OK);
}

const struct gl_plugin gl_out_null = {
    .kind = GL_OUTPUT, .name = "null", .data = GL_LOGS | GL_METRICS,
    .description = "Accept and discard records (benchmarks, unwanted routes)",
    .flush = null_flush,
};
