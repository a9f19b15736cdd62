/*
 * Fuzzes agent/config/classic.c and agent/config/convert.c: arbitrary bytes
 * are read as a classic config (without @INCLUDE reaching outside: the name
 * has no directory and includes of it fail), every node must carry a
 * position and maps keep their invariant. As --convert does, the text read
 * again with ${VAR} kept is written as YAML, which must load back, when
 * libyaml accepts the text, into the tree the classic reader built.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/classic.h"
#include "config/config.h"
#include "config/convert.h"
#include "util/buf.h"
#include "util/mem.h"

static void walk(const struct gl_node *n)
{
    assert(n->line >= 1 && n->col >= 1);
    if (n->type == GL_NODE_SCALAR) {
        assert(n->value != NULL && n->count == 0);
        return;
    }
    assert(n->value == NULL);
    assert(n->type != GL_NODE_MAP || n->count % 2 == 0);
    for (size_t i = 0; i < n->count; i++) {
        assert(n->type != GL_NODE_MAP || i % 2 || n->items[i]->type == GL_NODE_SCALAR);
        walk(n->items[i]);
    }
}

/* Same shape and texts, positions and the order of a mapping's keys aside. */
static void same(const struct gl_node *a, const struct gl_node *b)
{
    assert(a->type == b->type && a->count == b->count);
    assert((a->value == NULL) == (b->value == NULL));
    assert(a->value == NULL || strcmp(a->value, b->value) == 0);
    for (size_t i = 0; i < a->count; i++) {
        if (a->type != GL_NODE_MAP) {
            same(a->items[i], b->items[i]);
            continue;
        }
        if (i % 2 == 1) {
            continue;
        }
        size_t j = 0;
        while (j < b->count && strcmp(a->items[i]->value, b->items[j]->value) != 0) {
            j += 2;
        }
        assert(j < b->count);
        same(a->items[i + 1], b->items[j + 1]);
    }
}

/* libyaml reads only valid UTF-8 without NUL: other texts cannot round-trip. */
static bool utf8(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (c == 0 || len == 0 || i + len > n) {
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return false;
            }
        }
        i += len;
    }
    return true;
}

static struct gl_config *classic(const uint8_t *data, size_t size, bool expand_env)
{
    struct gl_config *cfg = gl_calloc(1, sizeof(*cfg));
    cfg->file = gl_strdup("fuzz.conf");
    gl__classic_load(cfg, "fuzz.conf", (const char *)data, size, expand_env);
    return cfg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gl_config *cfg = classic(data, size, true);
    assert(cfg->root != NULL);
    walk(cfg->root);
    for (size_t i = 0; i < cfg->error_count; i++) {
        assert(strncmp(cfg->errors[i], "fuzz.conf", 9) == 0 || cfg->errors[i][0] != '\0');
    }
    if (cfg->error_count == 0 && utf8(data, size)) {
        struct gl_config *kept = classic(data, size, false);
        struct gl_buf out;
        gl_buf_init(&out);
        gl_convert_write(kept->root, &out);
        gl_config_free(kept);
        struct gl_config *y = gl_config_load_text("fuzz.yaml", out.data ? out.data : "", out.len);
        if (y->error_count == 0 && y->root != NULL) {
            same(cfg->root, y->root);
        }
        gl_config_free(y);
        gl_buf_close(&out);
    }
    gl_config_free(cfg);
    return 0;
}
