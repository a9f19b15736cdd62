/*
 * A small harness for filter plugin tests: builds an instance of a plugin
 * from inline YAML options (as the config would), runs one record given as
 * JSON text through its filter, and renders the result as JSON for
 * exact-string assertions.
 *
 *   struct fh h;
 *   assert_int_equal(fh_open(&h, &gl_filter_grep, "regex: log ^a\n"), 0);
 *   assert_int_equal(fh_run(&h, "{\"log\":\"abc\"}", 1), GL_FILTER_KEEP);
 *   assert_string_equal(h.json, "{\"log\":\"abc\"}");
 *   fh_close(&h);
 *
 * After fh_run(), h.json is the record's body as it leaves the filter (the
 * input's for KEEP, the replacement for MODIFIED, NULL for DROP) and h.ts its
 * time. fh_open() returns the option or init error; h.cfg->errors holds the
 * positioned config messages.
 */
#ifndef GL_FILTER_HARNESS_H
#define GL_FILTER_HARNESS_H

#include <msgpack.h>
#include <string.h>

#include "codec/json.h"
#include "config/config.h"
#include "config/option.h"
#include "core/chunk.h"
#include "core/engine.h"
#include "core/event.h"
#include "core/metrics.h"
#include "core/plugin.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

struct fh {
    const struct gl_plugin *plugin;
    struct gl_config *cfg;
    struct gl_instance ins;
    bool inited;
    char *json;
    uint64_t ts;
};

static inline int fh_buf_write(void *data, const char *buf, size_t len)
{
    gl_buf_append(data, buf, len);
    return 0;
}

static inline int fh_open(struct fh *h, const struct gl_plugin *p, const char *yaml)
{
    static const char *const skip[] = { "name", NULL };
    const struct gl_option *tables[] = { p->options, NULL };
    memset(h, 0, sizeof(*h));
    h->plugin = p;
    h->ins.plugin = p;
    h->ins.alias = "test";
    h->ins.state = gl_calloc(1, p->state_size);
    h->ins.core = gl_calloc(1, sizeof(*h->ins.core));
    h->cfg = gl_config_load_text("test.yaml", yaml, strlen(yaml));
    if (h->cfg->error_count > 0 || h->cfg->root == NULL) {
        return GL_ECONFIG;
    }
    int rc = gl_option_apply(h->cfg, p->name, tables, skip, h->cfg->root, h->ins.state);
    if (rc < 0) {
        return rc;
    }
    /* As the engine does: init-time errors land in the config with positions. */
    h->ins.core->cfg = h->cfg;
    h->ins.core->node = h->cfg->root;
    rc = p->init(&h->ins);
    h->ins.core->cfg = NULL;
    h->inited = rc == 0;
    return rc;
}

/* The first config error, or "" when there is none. */
static inline const char *fh_error(const struct fh *h)
{
    return h->cfg->error_count > 0 ? h->cfg->errors[0] : "";
}

static inline char *fh_render(const msgpack_object *body)
{
    struct gl_buf b;
    gl_buf_init(&b);
    gl_json_write(&b, body);
    return gl_buf_take(&b);
}

/* Runs one record (body as JSON text, time ts) through the filter. */
static inline enum gl_filter_result fh_run(struct fh *h, const char *body_json, uint64_t ts)
{
    struct gl_buf in, out;
    msgpack_packer pk;
    msgpack_unpacked up_in, up_out;
    struct gl_record rec, res;
    struct gl_event ev;
    size_t off = 0;
    gl_free(h->json);
    h->json = NULL;
    gl_buf_init(&in);
    gl_buf_init(&out);
    msgpack_unpacked_init(&up_in);
    msgpack_unpacked_init(&up_out);
    msgpack_packer_init(&pk, &in, fh_buf_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint64(&pk, ts);
    msgpack_pack_map(&pk, 0);
    if (gl_json_read(body_json, strlen(body_json), &pk, 0, NULL) < 0 ||
        gl_record_read(&up_in, in.data, in.len, &off, &rec) < 0) {
        h->json = gl_strdup("bad test input");
        return GL_FILTER_KEEP;
    }
    rec.tag = NULL; /* a record read alone has no chunk, hence no tag */
    rec.tag_len = 0;
    rec.index = 0;
    gl__event_begin_buf(&ev, &out, rec.ts);
    ev.ins = &h->ins;
    enum gl_filter_result r = h->plugin->filter(&h->ins, &rec, &ev);
    gl__event_finish(&ev);
    off = 0;
    if (r == GL_FILTER_KEEP) {
        h->json = fh_render(rec.body);
        h->ts = rec.ts;
    } else if (r == GL_FILTER_MODIFIED && gl_record_read(&up_out, out.data, out.len, &off,
                                                         &res) == 0) {
        h->json = fh_render(res.body);
        h->ts = res.ts;
    }
    msgpack_unpacked_destroy(&up_in);
    msgpack_unpacked_destroy(&up_out);
    gl_buf_close(&in);
    gl_buf_close(&out);
    return r;
}

static inline void fh_close(struct fh *h)
{
    if (h->inited) {
        h->plugin->destroy(&h->ins);
    }
    gl_option_free(h->plugin->options, h->ins.state);
    gl_free(h->ins.state);
    gl__metrics_free(&h->ins);
    gl_free(h->ins.core);
    gl_config_free(h->cfg);
    gl_free(h->json);
    memset(h, 0, sizeof(*h));
}

#endif
