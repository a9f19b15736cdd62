/*
 * Named parsers: the built-in `json` and `logfmt`, and the ones the config's
 * `parsers:` list defines. A parser turns one line of text into record keys
 * for whoever is writing the record (the parser filter, the tail input, the
 * kubernetes filter's merge).
 *
 * A run first collects the line's fields into module scratch memory
 * (pointers into the text, into an unescape buffer or into unpacked JSON),
 * and only when the whole line matched writes them into the caller's event,
 * applying the time key and the types. Invariant: a failed run writes
 * nothing, so callers may try the next parser on the same event.
 *
 * The table of user-defined parsers is process-wide, filled at config time
 * and read on the loop thread; the scratch memory is reused by every run and
 * is therefore for the loop thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/json.h"
#include "codec/regex.h"
#include "codec/timefmt.h"
#include "config/config.h"
#include "config/option.h"
#include "core/event.h"
#include "core/parser.h"
#include "util/error.h"
#include "util/mem.h"

enum format { FMT_JSON, FMT_REGEX, FMT_LOGFMT };
enum vtype { T_STRING, T_INTEGER, T_FLOAT, T_BOOL, T_HEX };

/* The parser section as the user writes it; filled by gl_option_apply(). */
struct parser_options {
    char *name;
    char *format;
    struct gl_regex *regex;
    char *time_key;
    char *time_format;
    bool time_keep;
    char *types;
    bool skip_empty_values;
    struct gl_strlist decode_field_as;
};

struct type_rule {
    char *key;
    size_t klen;
    enum vtype type;
};

struct gl_parser {
    struct parser_options opt;
    enum format format;
    size_t time_klen;
    struct type_rule *types;
    size_t ntypes;
    struct gl_parser *next;
};

/* One collected field: a string (val, vlen), a JSON value (obj), or logfmt's bare key (true). */
enum vkind { V_STR, V_OBJ, V_TRUE };
struct field {
    const char *key;
    size_t klen;
    enum vkind kind;
    const char *val;
    size_t vlen;
    const msgpack_object *obj;
};

static struct {
    struct field *f;
    size_t n;
    size_t cap;
    struct gl_buf text;    /* logfmt's unescaped values; reserved before use so it never moves */
    msgpack_sbuffer sbuf;  /* the JSON parser's msgpack */
    msgpack_unpacked up;
    bool ready;
} scratch;

static struct gl_parser *user_parsers;
static struct gl_parser builtin_json = { .opt = { .name = "json" }, .format = FMT_JSON };
static struct gl_parser builtin_logfmt = { .opt = { .name = "logfmt" }, .format = FMT_LOGFMT };

static const char *type_names[] = { "string", "integer", "float", "bool", "hex", NULL };
static const char *formats[] = { "json", "regex", "logfmt", NULL };

static const char *check_time_format(const void *value);
static const char *check_types(const void *value);
static const char *check_decoders(const void *value);

static const struct gl_option parser_options[] = {
    { .name = "name", .type = GL_OPT_STR, .required = true,
      .offset = offsetof(struct parser_options, name),
      .help = "The name filters and inputs use to refer to this parser." },
    { .name = "format", .type = GL_OPT_STR, .required = true, .choices = formats,
      .offset = offsetof(struct parser_options, format),
      .help = "json, regex (named groups become keys) or logfmt." },
    { .name = "regex", .type = GL_OPT_REGEX, .offset = offsetof(struct parser_options, regex),
      .help = "For format regex: the pattern; each named group (?<key>...) becomes a key." },
    { .name = "time_key", .type = GL_OPT_STR, .offset = offsetof(struct parser_options, time_key),
      .help = "Key whose value becomes the record's time." },
    { .name = "time_format", .type = GL_OPT_STR, .check = check_time_format,
      .offset = offsetof(struct parser_options, time_format),
      .help = "strptime-like format of the time key, e.g. %d/%b/%Y:%H:%M:%S %z; "
              "%L is fractional seconds." },
    { .name = "time_keep", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct parser_options, time_keep),
      .help = "Keep the time key in the record after reading the time from it." },
    { .name = "types", .type = GL_OPT_STR, .check = check_types,
      .offset = offsetof(struct parser_options, types),
      .help = "Value types, e.g. 'code:integer ratio:float ok:bool' "
              "(string, integer, float, bool, hex)." },
    { .name = "skip_empty_values", .type = GL_OPT_BOOL, .def = "on",
      .offset = offsetof(struct parser_options, skip_empty_values),
      .help = "For format regex: leave out groups that matched an empty string." },
    { .name = "decode_field_as", .type = GL_OPT_MULTI, .check = check_decoders,
      .offset = offsetof(struct parser_options, decode_field_as),
      .help = "Fluent Bit's 'escaped FIELD' and 'escaped_utf8 FIELD' decoders, accepted: JSON "
              "strings are already unescaped when read." },
    { 0 }
};

/* ---- scratch ---- */

static int sbuf_write(void *data, const char *buf, size_t len)
{
    return msgpack_sbuffer_write(data, buf, len);
}

static void scratch_begin(void)
{
    if (!scratch.ready) {
        gl_buf_init(&scratch.text);
        msgpack_sbuffer_init(&scratch.sbuf);
        msgpack_unpacked_init(&scratch.up);
        scratch.ready = true;
    }
    scratch.n = 0;
}

static void scratch_free(void)
{
    if (!scratch.ready) {
        return;
    }
    gl_free(scratch.f);
    gl_buf_close(&scratch.text);
    msgpack_sbuffer_destroy(&scratch.sbuf);
    msgpack_unpacked_destroy(&scratch.up);
    memset(&scratch, 0, sizeof(scratch));
}

static struct field *add_field(const char *key, size_t klen, enum vkind kind)
{
    if (scratch.n == scratch.cap) {
        scratch.cap = scratch.cap ? scratch.cap * 2 : 16;
        scratch.f = gl_realloc(scratch.f, scratch.cap * sizeof(*scratch.f));
    }
    struct field *f = &scratch.f[scratch.n++];
    f->key = key;
    f->klen = klen;
    f->kind = kind;
    f->val = NULL;
    f->vlen = 0;
    f->obj = NULL;
    return f;
}

/* ---- formats ---- */

/* Reads text as JSON; only an object matches, and its pairs become the fields. */
static int collect_json(const char *text, size_t len)
{
    msgpack_packer pk;
    size_t off = 0;
    msgpack_sbuffer_clear(&scratch.sbuf);
    msgpack_packer_init(&pk, &scratch.sbuf, sbuf_write);
    if (gl_json_read(text, len, &pk, 0, NULL) < 0) {
        return GL_EPARSE;
    }
    if (msgpack_unpack_next(&scratch.up, scratch.sbuf.data, scratch.sbuf.size, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        scratch.up.data.type != MSGPACK_OBJECT_MAP) {
        return GL_EPARSE;
    }
    const msgpack_object_map *m = &scratch.up.data.via.map;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR) {
            continue;
        }
        struct field *f = add_field(k->via.str.ptr, k->via.str.size, V_OBJ);
        f->obj = &m->ptr[i].val;
    }
    return 0;
}

struct regex_run {
    bool skip_empty;
};

static void on_group(void *data, const char *name, const char *value, size_t len)
{
    struct regex_run *run = data;
    if (len == 0 && run->skip_empty) {
        return;
    }
    struct field *f = add_field(name, strlen(name), V_STR);
    f->val = value;
    f->vlen = len;
}

static int collect_regex(const struct gl_parser *p, const char *text, size_t len)
{
    struct regex_run run = { .skip_empty = p->opt.skip_empty_values };
    if (gl_regex_named(p->opt.regex, text, len, on_group, &run) < 0) {
        return GL_EPARSE;
    }
    return 0;
}

static bool is_space(char c)
{
    return (unsigned char)c <= ' ';
}

/*
 * Reads a quoted logfmt value starting after its opening quote at *i, into
 * the scratch text (reserved by the caller). Escapes: \" \\ \n \t \r; any
 * other backslash stays as written. Returns 0, or GL_EPARSE when unterminated.
 */
static int logfmt_quoted(const char *text, size_t len, size_t *i, struct field *f)
{
    char *out = scratch.text.data + scratch.text.len;
    size_t n = 0;
    size_t at = *i;
    while (at < len && text[at] != '"') {
        char c = text[at++];
        if (c == '\\' && at < len) {
            char e = text[at++];
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            default: out[n++] = '\\'; c = e; break;
            }
        }
        out[n++] = c;
    }
    if (at >= len) {
        return GL_EPARSE;
    }
    f->val = out;
    f->vlen = n;
    scratch.text.len += n;
    *i = at + 1;
    return 0;
}

/*
 * Reads `key=value key="quoted value" bare` pairs. A bare key is true. The
 * whole text must be pairs: a stray quote or an empty key fails the parse,
 * and so does text with no pair at all.
 */
static int collect_logfmt(const char *text, size_t len)
{
    size_t i = 0;
    gl_buf_reset(&scratch.text);
    gl_buf_reserve(&scratch.text, len);
    for (;;) {
        while (i < len && is_space(text[i])) {
            i++;
        }
        if (i == len) {
            break;
        }
        size_t k = i;
        while (i < len && !is_space(text[i]) && text[i] != '=' && text[i] != '"') {
            i++;
        }
        if (i == k || (i < len && text[i] == '"')) {
            return GL_EPARSE;
        }
        if (i == len || text[i] != '=') {
            add_field(text + k, i - k, V_TRUE);
            continue;
        }
        struct field *f = add_field(text + k, i - k, V_STR);
        i++;
        if (i < len && text[i] == '"') {
            i++;
            if (logfmt_quoted(text, len, &i, f) < 0) {
                return GL_EPARSE;
            }
        } else {
            size_t v = i;
            while (i < len && !is_space(text[i]) && text[i] != '"') {
                i++;
            }
            f->val = text + v;
            f->vlen = i - v;
        }
        if (i < len && !is_space(text[i])) {
            return GL_EPARSE;
        }
    }
    return scratch.n > 0 ? 0 : GL_EPARSE;
}

/* ---- writing the fields ---- */

static const struct type_rule *find_type(const struct gl_parser *p, const char *key, size_t klen)
{
    for (size_t i = 0; i < p->ntypes; i++) {
        if (p->types[i].klen == klen && memcmp(p->types[i].key, key, klen) == 0) {
            return &p->types[i];
        }
    }
    return NULL;
}

/*
 * Writes a string value converted to type; a value that does not convert
 * completely (integer "12x", bool "maybe") stays a string.
 */
static void write_typed(struct gl_event *out, const char *s, size_t n, enum vtype type)
{
    char tmp[64];
    char *end;
    if (type == T_STRING || n == 0 || n >= sizeof(tmp)) {
        goto as_string;
    }
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    if (type == T_INTEGER || type == T_HEX) {
        long long v = strtoll(tmp, &end, type == T_HEX ? 16 : 10);
        if (*end == '\0' && errno == 0) {
            msgpack_pack_int64(&out->pk, v);
            return;
        }
    } else if (type == T_FLOAT) {
        double v = strtod(tmp, &end);
        if (*end == '\0' && errno == 0) {
            msgpack_pack_double(&out->pk, v);
            return;
        }
    } else if (strcasecmp(tmp, "true") == 0) {
        msgpack_pack_true(&out->pk);
        return;
    } else if (strcasecmp(tmp, "false") == 0) {
        msgpack_pack_false(&out->pk);
        return;
    }
as_string:
    msgpack_pack_str(&out->pk, n);
    msgpack_pack_str_body(&out->pk, s, n);
}

static void write_field(const struct gl_parser *p, struct gl_event *out, const struct field *f)
{
    const struct type_rule *t = find_type(p, f->key, f->klen);
    gl_event_key(out, f->key, f->klen);
    if (f->kind == V_TRUE) {
        msgpack_pack_true(&out->pk);
    } else if (f->kind == V_STR) {
        write_typed(out, f->val, f->vlen, t ? t->type : T_STRING);
    } else if (t != NULL && f->obj->type == MSGPACK_OBJECT_STR) {
        write_typed(out, f->obj->via.str.ptr, f->obj->via.str.size, t->type);
    } else {
        msgpack_pack_object(&out->pk, *f->obj);
    }
}

/* Returns true when f is the time key and its value reads as a time (stored in *ts_ns). */
static bool read_time(const struct gl_parser *p, const struct field *f, uint64_t *ts_ns)
{
    if (p->opt.time_key == NULL || p->opt.time_format == NULL || f->klen != p->time_klen ||
        memcmp(f->key, p->opt.time_key, f->klen) != 0) {
        return false;
    }
    if (f->kind == V_STR) {
        return gl_timefmt_parse(p->opt.time_format, f->val, f->vlen, ts_ns) == 0;
    }
    if (f->kind == V_OBJ && f->obj->type == MSGPACK_OBJECT_STR) {
        return gl_timefmt_parse(p->opt.time_format, f->obj->via.str.ptr, f->obj->via.str.size,
                                ts_ns) == 0;
    }
    return false;
}

int gl_parser_run(const struct gl_parser *p, const char *text, size_t len, struct gl_event *out,
                  uint64_t *ts_ns, int *has_ts)
{
    int rc;
    *has_ts = 0;
    scratch_begin();
    if (p->format == FMT_JSON) {
        rc = collect_json(text, len);
    } else if (p->format == FMT_REGEX) {
        rc = collect_regex(p, text, len);
    } else {
        rc = collect_logfmt(text, len);
    }
    if (rc < 0) {
        return GL_EPARSE;
    }
    for (size_t i = 0; i < scratch.n; i++) {
        const struct field *f = &scratch.f[i];
        if (!*has_ts && read_time(p, f, ts_ns)) {
            *has_ts = 1;
            if (!p->opt.time_keep) {
                continue;
            }
        }
        write_field(p, out, f);
    }
    return 0;
}

/* ---- time ---- */

static const char *check_time_format(const void *value)
{
    const char *const *s = value;
    return *s ? gl_timefmt_check(*s) : NULL;
}

/* ---- types ---- */

static bool is_sep(char c)
{
    return c == ' ' || c == '\t' || c == ',';
}

/*
 * Splits "key:type key2:type2" (spaces or commas between) into rules; with
 * rules NULL it only counts and validates. Returns the count or GL_EINVAL.
 */
static long parse_types(const char *s, struct type_rule *rules)
{
    long n = 0;
    while (*s != '\0') {
        while (is_sep(*s)) {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        const char *item = s;
        while (*s != '\0' && !is_sep(*s)) {
            s++;
        }
        const char *colon = memchr(item, ':', (size_t)(s - item));
        if (colon == NULL || colon == item) {
            return GL_EINVAL;
        }
        size_t tlen = (size_t)(s - colon - 1);
        int type = -1;
        for (int i = 0; type_names[i] != NULL; i++) {
            if (strlen(type_names[i]) == tlen && strncasecmp(colon + 1, type_names[i], tlen) == 0) {
                type = i;
            }
        }
        if (type < 0) {
            return GL_EINVAL;
        }
        if (rules != NULL) {
            rules[n].klen = (size_t)(colon - item);
            rules[n].key = gl_strndup(item, rules[n].klen);
            rules[n].type = (enum vtype)type;
        }
        n++;
    }
    return n;
}

static const char *check_types(const void *value)
{
    const char *const *s = value;
    if (*s != NULL && parse_types(*s, NULL) < 0) {
        return "expected 'KEY:TYPE ...' with TYPE string, integer, float, bool or hex";
    }
    return NULL;
}

/* ---- Fluent Bit's forms ---- */

/*
 * Fluent Bit's decoders that change nothing here: its `escaped` and
 * `escaped_utf8` undo JSON escapes, which the JSON reader already did.
 * `json` would parse a field again; that is the kubernetes filter's
 * merge_log or the parser filter's job here.
 */
static const char *check_decoders(const void *value)
{
    const struct gl_strlist *l = value;
    for (size_t i = 0; i < l->count; i++) {
        const char *d = l->items[i];
        size_t n = strcspn(d, " \t");
        if ((n == 7 && strncasecmp(d, "escaped", 7) == 0) ||
            (n == 12 && strncasecmp(d, "escaped_utf8", 12) == 0)) {
            continue;
        }
        return "only the escaped and escaped_utf8 decoders are accepted; to read a field as "
               "JSON use the kubernetes filter's merge_log or a parser filter";
    }
    return NULL;
}

/*
 * A regex written between slashes, as Fluent Bit accepts it (/^...$/), is
 * compiled without them. Returns 0 or GL_EINVAL (reported at the regex).
 */
static int unwrap_regex(struct gl_config *cfg, const struct gl_node *item, struct gl_parser *p)
{
    const char *text = gl_regex_pattern(p->opt.regex);
    size_t n = strlen(text);
    if (n < 2 || text[0] != '/' || text[n - 1] != '/') {
        return 0;
    }
    char err[256];
    char *inner = gl_strndup(text + 1, n - 2);
    struct gl_regex *re = gl_regex_new(inner, err, sizeof(err));
    gl_free(inner);
    if (re == NULL) {
        const struct gl_node *at = gl_node_get(item, "regex");
        gl_config_error(cfg, at ? at : item, "parsers.regex: bad regex: %s", err);
        return GL_EINVAL;
    }
    gl_regex_free(p->opt.regex);
    p->opt.regex = re;
    return 0;
}

/* ---- the table ---- */

static void parser_free(struct gl_parser *p)
{
    for (size_t i = 0; i < p->ntypes; i++) {
        gl_free(p->types[i].key);
    }
    gl_free(p->types);
    gl_option_free(parser_options, &p->opt);
    gl_free(p);
}

static void list_free(struct gl_parser *p)
{
    while (p != NULL) {
        struct gl_parser *next = p->next;
        parser_free(p);
        p = next;
    }
}

static const struct gl_parser *find_in(const struct gl_parser *list, const char *name)
{
    for (const struct gl_parser *p = list; p != NULL; p = p->next) {
        if (strcmp(p->opt.name, name) == 0) {
            return p;
        }
    }
    return NULL;
}

/* Builds one parser from a mapping; errors are reported, and NULL returned. */
static struct gl_parser *load_one(struct gl_config *cfg, const struct gl_node *item,
                                  const struct gl_parser *batch)
{
    static const struct gl_option *const tables[] = { parser_options, NULL };
    struct gl_parser *p = gl_calloc(1, sizeof(*p));
    if (gl_option_apply(cfg, "parsers", tables, NULL, item, &p->opt) < 0) {
        goto fail;
    }
    const struct gl_node *at = gl_node_get(item, "name");
    if (find_in(user_parsers, p->opt.name) != NULL || find_in(batch, p->opt.name) != NULL) {
        gl_config_error(cfg, at ? at : item, "parsers: '%s' is defined twice", p->opt.name);
        goto fail;
    }
    for (int i = 0; formats[i] != NULL; i++) {
        if (strcasecmp(p->opt.format, formats[i]) == 0) {
            p->format = (enum format)i;
        }
    }
    if (p->format == FMT_REGEX && p->opt.regex == NULL) {
        gl_config_error(cfg, item, "parsers.%s: format regex needs a `regex`", p->opt.name);
        goto fail;
    }
    if (p->opt.regex != NULL && unwrap_regex(cfg, item, p) < 0) {
        goto fail;
    }
    if (p->opt.time_key != NULL) {
        p->time_klen = strlen(p->opt.time_key);
    }
    if (p->opt.types != NULL) {
        long n = parse_types(p->opt.types, NULL);
        p->types = gl_calloc((size_t)n + 1, sizeof(*p->types));
        p->ntypes = (size_t)parse_types(p->opt.types, p->types);
    }
    return p;
fail:
    parser_free(p);
    return NULL;
}

int gl_parsers_load(struct gl_config *cfg, const struct gl_node *seq)
{
    struct gl_parser *batch = NULL;
    bool failed = false;
    if (seq->type != GL_NODE_SEQ) {
        gl_config_error(cfg, seq, "parsers: expected a list of parser mappings");
        return GL_ECONFIG;
    }
    for (size_t i = 0; i < seq->count; i++) {
        const struct gl_node *item = seq->items[i];
        if (item->type != GL_NODE_MAP) {
            gl_config_error(cfg, item, "parsers: expected a mapping (name, format, ...)");
            failed = true;
            continue;
        }
        struct gl_parser *p = load_one(cfg, item, batch);
        if (p == NULL) {
            failed = true;
            continue;
        }
        p->next = batch;
        batch = p;
    }
    if (failed) {
        list_free(batch);
        return GL_ECONFIG;
    }
    while (batch != NULL) {
        struct gl_parser *next = batch->next;
        batch->next = user_parsers;
        user_parsers = batch;
        batch = next;
    }
    return 0;
}

void gl_parsers_reset(void)
{
    list_free(user_parsers);
    user_parsers = NULL;
    scratch_free();
}

const struct gl_parser *gl_parser_get(const char *name)
{
    const struct gl_parser *p = find_in(user_parsers, name);
    if (p != NULL) {
        return p;
    }
    if (strcmp(name, "json") == 0) {
        return &builtin_json;
    }
    if (strcmp(name, "logfmt") == 0) {
        return &builtin_logfmt;
    }
    return NULL;
}

const char *gl_parser_name(const struct gl_parser *p)
{
    return p->opt.name;
}
