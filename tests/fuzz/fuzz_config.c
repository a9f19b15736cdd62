/*
 * Fuzzes agent/config/config.c and agent/config/option.c: arbitrary bytes are loaded as a
 * config, the tree is walked (checking the map invariant and reading every
 * scalar), and a small option table covering every type is applied to each
 * mapping found, then everything is freed.
 */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/option.h"

struct fuzz_state {
    char *name;
    struct gl_strlist paths;
    size_t size;
    uint64_t ms;
    bool flag;
    int64_t count;
    double ratio;
    char *mode;
    struct gl_regex *re;
    int64_t retries;
};

static const char *check_count(const void *value)
{
    return *(const int64_t *)value < 0 ? "must not be negative" : NULL;
}

static const char *const modes[] = { "a", "b", NULL };

static const struct gl_option fuzz_options[] = {
    { .name = "tag", .type = GL_OPT_STR, .def = "x", .offset = offsetof(struct fuzz_state, name) },
    { .name = "path", .type = GL_OPT_LIST, .required = true,
      .offset = offsetof(struct fuzz_state, paths) },
    { .name = "buffer_max_size", .type = GL_OPT_SIZE, .def = "1MiB",
      .offset = offsetof(struct fuzz_state, size) },
    { .name = "flush", .type = GL_OPT_DURATION, .def = "1s",
      .offset = offsetof(struct fuzz_state, ms) },
    { .name = "http_server", .type = GL_OPT_BOOL, .offset = offsetof(struct fuzz_state, flag) },
    { .name = "workers", .type = GL_OPT_INT, .check = check_count,
      .offset = offsetof(struct fuzz_state, count) },
    { .name = "ratio", .type = GL_OPT_DOUBLE, .offset = offsetof(struct fuzz_state, ratio) },
    { .name = "mode", .type = GL_OPT_STR, .choices = modes,
      .offset = offsetof(struct fuzz_state, mode) },
    { .name = "regex", .type = GL_OPT_REGEX, .offset = offsetof(struct fuzz_state, re) },
    { .name = "retry_limit", .type = GL_OPT_RETRIES,
      .offset = offsetof(struct fuzz_state, retries) },
    { 0 }
};

static const struct gl_option *const fuzz_tables[] = { fuzz_options, NULL };
static const char *const fuzz_skip[] = { "name", NULL };

/* Walks the tree, applying the table to every mapping. */
static void walk(struct gl_config *cfg, const struct gl_node *n)
{
    assert(n->line >= 1 && n->col >= 1);
    if (n->type == GL_NODE_SCALAR) {
        assert(n->value != NULL && n->count == 0);
        (void)strlen(n->value);
        return;
    }
    assert(n->value == NULL);
    if (n->type == GL_NODE_MAP) {
        assert(n->count % 2 == 0);
        struct fuzz_state s = { 0 };
        gl_option_apply(cfg, "fuzz", fuzz_tables, fuzz_skip, n, &s);
        gl_option_free(fuzz_options, &s);
        for (size_t i = 0; i < n->count; i += 2) {
            assert(n->items[i]->type == GL_NODE_SCALAR);
            (void)gl_node_get(n, n->items[i]->value);
        }
    }
    for (size_t i = 0; i < n->count; i++) {
        walk(cfg, n->items[i]);
    }
}

/* Whether an error begins with FILE:LINE:COL: (FILE not empty, numbers of digits). */
static bool located(const char *e)
{
    const char *p = strstr(e, ": ");
    if (p == NULL) {
        return false;
    }
    /* back over ":COL" and ":LINE" */
    const char *q = p;
    for (int part = 0; part < 2; part++) {
        const char *digits = q;
        while (q > e && q[-1] >= '0' && q[-1] <= '9') {
            q--;
        }
        if (q == digits || q == e || q[-1] != ':') {
            return false;
        }
        q--;
    }
    return q > e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /*
     * Includes (classic @INCLUDE, YAML includes) read the machine's real files,
     * globs of / among them: no input that names one is fuzzed here (the unit
     * tests cover includes on files of their own).
     */
    for (size_t i = 0; i + 7 <= size; i++) {
        if (strncasecmp((const char *)data + i, "include", 7) == 0) {
            return 0;
        }
    }
    struct gl_config *cfg = gl_config_load_text("fuzz.yaml", (const char *)data, size);
    if (cfg->root != NULL) {
        walk(cfg, cfg->root);
    }
    /*
     * Every error is located: FILE:LINE:COL. FILE is fuzz.yaml or, through an
     * @INCLUDE of whatever the input names, another file.
     */
    for (size_t i = 0; i < cfg->error_count; i++) {
        assert(located(cfg->errors[i]));
    }
    gl_config_free(cfg);
    return 0;
}
