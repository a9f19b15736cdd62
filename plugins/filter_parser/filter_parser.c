/*
 * filter parser: parses the text under one key (`key_name`) with named
 * parsers (agent/core/parser.c: json, logfmt, or the config's `parsers:`), tried
 * in order until one matches, as Fluent Bit's parser filter. The parsed keys
 * replace the record; `reserve_data` keeps the record's other keys and
 * `preserve_key` keeps key_name itself. A parser's time key sets the
 * record's time. A record whose key is missing, not a string, or matched by
 * no parser passes unchanged.
 *
 * Parsed keys are written first into a scratch record, so that the kept
 * original keys can skip the names the parse produced: the output never holds
 * a key twice, and parsed values win.
 */
#include <string.h>

#include "core/chunk.h"
#include "core/event.h"
#include "core/log.h"
#include "core/parser.h"
#include "core/plugin.h"
#include "util/error.h"
#include "util/mem.h"

struct fparser {
    char *key_name;
    struct gl_strlist parser;
    bool reserve_data;
    bool preserve_key;
    size_t klen;
    const struct gl_parser **parsers;
    size_t nparsers;
    struct gl_buf scratch;     /* the parsed keys, as one record */
    msgpack_unpacked up;
    bool ready;
};

static void fparser_destroy(struct gl_instance *ins)
{
    struct fparser *p = ins->state;
    gl_free(p->parsers);
    p->parsers = NULL;
    if (p->ready) {
        gl_buf_close(&p->scratch);
        msgpack_unpacked_destroy(&p->up);
        p->ready = false;
    }
}

static int fparser_init(struct gl_instance *ins)
{
    struct fparser *p = ins->state;
    p->klen = strlen(p->key_name);
    p->parsers = gl_calloc(p->parser.count + 1, sizeof(*p->parsers));
    for (size_t i = 0; i < p->parser.count; i++) {
        const struct gl_parser *found = gl_parser_get(p->parser.items[i]);
        if (found == NULL) {
            gl_instance_option_error(ins, "parser",
                                     "'%s' is not defined (built-in: json, logfmt; others come "
                                     "from the top-level parsers list)", p->parser.items[i]);
            fparser_destroy(ins);
            return GL_EINVAL;
        }
        p->parsers[p->nparsers++] = found;
    }
    gl_buf_init(&p->scratch);
    msgpack_unpacked_init(&p->up);
    p->ready = true;
    return 0;
}

static bool key_is(const msgpack_object *k, const char *key, size_t klen)
{
    return (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) &&
           k->via.str.size == klen && memcmp(k->via.str.ptr, key, klen) == 0;
}

static bool map_has(const msgpack_object *map, const msgpack_object *key)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        if (key_is(&map->via.map.ptr[i].key, key->via.str.ptr, key->via.str.size)) {
            return true;
        }
    }
    return false;
}

/*
 * Runs the parsers in order on text into the scratch record and returns its
 * body map, or NULL when none matched. The time comes back as in gl_parser_run().
 */
static const msgpack_object *parse(struct fparser *p, const char *text, size_t len,
                                   uint64_t *ts_ns, int *has_ts)
{
    struct gl_event ev;
    struct gl_record parsed;
    size_t off = 0;
    for (size_t i = 0; i < p->nparsers; i++) {
        gl_buf_reset(&p->scratch);
        gl__event_begin_buf(&ev, &p->scratch, 0);
        if (gl_parser_run(p->parsers[i], text, len, &ev, ts_ns, has_ts) < 0) {
            continue;
        }
        gl__event_finish(&ev);
        if (gl_record_read(&p->up, p->scratch.data, p->scratch.len, &off, &parsed) < 0) {
            return NULL;
        }
        return parsed.body;
    }
    return NULL;
}

static enum gl_filter_result fparser_filter(struct gl_instance *ins, const struct gl_record *rec,
                                            struct gl_event *out)
{
    struct fparser *p = ins->state;
    const msgpack_object *body = rec->body;
    const msgpack_object *text = NULL;
    uint64_t ts = 0;
    int has_ts = 0;
    for (uint32_t i = 0; i < body->via.map.size && text == NULL; i++) {
        if (key_is(&body->via.map.ptr[i].key, p->key_name, p->klen)) {
            text = &body->via.map.ptr[i].val;
        }
    }
    if (text == NULL || (text->type != MSGPACK_OBJECT_STR && text->type != MSGPACK_OBJECT_BIN)) {
        return GL_FILTER_KEEP;
    }
    const msgpack_object *parsed = parse(p, text->via.str.ptr, text->via.str.size, &ts, &has_ts);
    if (parsed == NULL) {
        return GL_FILTER_KEEP;
    }
    for (uint32_t i = 0; i < body->via.map.size; i++) {
        const msgpack_object_kv *kv = &body->via.map.ptr[i];
        bool is_key = key_is(&kv->key, p->key_name, p->klen);
        bool keep = is_key ? p->preserve_key : p->reserve_data;
        if (keep && (kv->key.type == MSGPACK_OBJECT_STR || kv->key.type == MSGPACK_OBJECT_BIN) &&
            !map_has(parsed, &kv->key)) {
            gl_event_kv_obj(out, kv->key.via.str.ptr, kv->key.via.str.size, &kv->val);
        }
    }
    for (uint32_t i = 0; i < parsed->via.map.size; i++) {
        const msgpack_object_kv *kv = &parsed->via.map.ptr[i];
        gl_event_kv_obj(out, kv->key.via.str.ptr, kv->key.via.str.size, &kv->val);
    }
    if (has_ts) {
        gl_event_set_time(out, ts);
    }
    return GL_FILTER_MODIFIED;
}

static const struct gl_option fparser_options[] = {
    { .name = "key_name", .type = GL_OPT_STR, .required = true,
      .offset = offsetof(struct fparser, key_name),
      .help = "The key whose text is parsed." },
    { .name = "parser", .type = GL_OPT_LIST, .required = true,
      .offset = offsetof(struct fparser, parser),
      .help = "Parser names (json, logfmt, or from the parsers list), "
              "tried in order until one matches." },
    { .name = "reserve_data", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct fparser, reserve_data),
      .help = "Keep the record's other keys next to the parsed ones." },
    { .name = "preserve_key", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct fparser, preserve_key),
      .help = "Keep key_name itself in the parsed record." },
    { 0 }
};

const struct gl_plugin gl_filter_parser = {
    .kind = GL_FILTER, .name = "parser", .data = GL_LOGS,
    .description = "Parse a key's text with json, logfmt or regex parsers into record keys",
    .options = fparser_options, .state_size = sizeof(struct fparser),
    .init = fparser_init, .filter = fparser_filter, .destroy = fparser_destroy,
};
