/*
 * The configuration file: libyaml's event parser turned into a small tree of
 * gl_node (maps, sequences, scalars) where every node, keys included, keeps
 * the 1-based LINE:COL of its first character so that any later check can
 * point at it. Scalar values (never keys) have ${VAR} and ${VAR:-default}
 * expanded from the environment while the tree is built.
 *
 * The module owns the whole tree, the file name and the error lines; all of
 * it is released by gl_config_free(). Errors are collected, never printed:
 * syntax errors stop the parse and leave root NULL, while semantic errors
 * (unset variables, duplicate keys) are recorded and the tree is kept so the
 * engine can report more of them in one --check run.
 *
 * Invariant: a map node has an even count, keys at 2i and values at 2i+1,
 * and every key is a scalar. YAML anchors and aliases are rejected: a config
 * that relies on them would behave differently under Fluent Bit's loader.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "config/classic.h"
#include "config/config.h"
#include "util/buf.h"
#include "util/mem.h"

#define MAX_FILE_SIZE (4u << 20)
#define MAX_DEPTH 32
#define MAX_ERRORS 100

/* The state of one load: the config being filled and the libyaml parser. */
struct loader {
    struct gl_config *cfg;
    yaml_parser_t parser;
    const char *text;
    size_t len;
};

static int parse_node(struct loader *ld, yaml_event_t *ev, int depth, struct gl_node **out);

/* ---- errors --------------------------------------------------------------- */

/*
 * Appends one "FILE:LINE:COL: message" line (no position when line is 0).
 * After MAX_ERRORS lines a single "too many errors" line is added and the
 * rest are dropped, so a file of garbage cannot make the report huge.
 */
static void add_error_v(struct gl_config *cfg, const char *file, int line, int col,
                        const char *fmt, va_list ap)
{
    if (cfg->error_count > MAX_ERRORS) {
        return;
    }
    struct gl_buf b;
    gl_buf_init(&b);
    file = file != NULL ? file : cfg->file;
    if (line > 0) {
        gl_buf_printf(&b, "%s:%d:%d: ", file, line, col);
    } else {
        gl_buf_printf(&b, "%s: ", file);
    }
    if (cfg->error_count == MAX_ERRORS) {
        gl_buf_puts(&b, "too many errors, the rest are not shown");
    } else {
        gl_buf_vprintf(&b, fmt, ap);
    }
    cfg->errors = gl_realloc(cfg->errors, (cfg->error_count + 1) * sizeof(char *));
    cfg->errors[cfg->error_count++] = gl_buf_take(&b);
}

static void add_error(struct gl_config *cfg, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_error(struct gl_config *cfg, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error_v(cfg, NULL, line, col, fmt, ap);
    va_end(ap);
}

void gl__config_error_at(struct gl_config *cfg, const char *file, int line, int col,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error_v(cfg, file, line, col, fmt, ap);
    va_end(ap);
}

void gl_config_error(struct gl_config *cfg, const struct gl_node *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_error_v(cfg, at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0, fmt, ap);
    va_end(ap);
}

const char *gl_node_file(const struct gl_config *cfg, const struct gl_node *n)
{
    return n != NULL && n->file != NULL ? n->file : cfg->file;
}

/*
 * Returns true when the character at a libyaml mark (0-based line, column in
 * characters) is a tab, so a syntax error there can say why.
 */
static bool tab_at(const struct loader *ld, size_t line, size_t column)
{
    size_t i = 0;
    while (line > 0 && i < ld->len) {
        if (ld->text[i++] == '\n') {
            line--;
        }
    }
    while (column > 0 && i < ld->len && ld->text[i] != '\n') {
        i++;
        while (i < ld->len && ((unsigned char)ld->text[i] & 0xc0) == 0x80) {
            i++;
        }
        column--;
    }
    return i < ld->len && ld->text[i] == '\t';
}

/*
 * Turns a byte offset into a 0-based libyaml-style mark. The reader (bad
 * UTF-8, control characters) reports only an offset, not a mark.
 */
static yaml_mark_t offset_mark(const struct loader *ld, size_t offset)
{
    yaml_mark_t m = { .index = offset };
    for (size_t i = 0; i < offset && i < ld->len; i++) {
        if (ld->text[i] == '\n') {
            m.line++;
            m.column = 0;
        } else if (((unsigned char)ld->text[i] & 0xc0) != 0x80) {
            m.column++;
        }
    }
    return m;
}

/* Records libyaml's own error ("YAML: <problem> <context>") at its problem mark. */
static void syntax_error(struct loader *ld)
{
    yaml_parser_t *p = &ld->parser;
    yaml_mark_t at = p->problem ? p->problem_mark : p->context_mark;
    if (p->error == YAML_READER_ERROR) {
        at = offset_mark(ld, p->problem_offset);
    }
    bool tab = tab_at(ld, at.line, at.column);
    add_error(ld->cfg, (int)at.line + 1, (int)at.column + 1, "YAML: %s%s%s%s",
              p->problem ? p->problem : "syntax error", p->context ? " " : "",
              p->context ? p->context : "", tab ? " (use spaces, not tabs, to indent)" : "");
}

/* ---- ${VAR} expansion ----------------------------------------------------- */

static bool name_char(char c, bool first)
{
    if (c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
        return true;
    }
    return !first && c >= '0' && c <= '9';
}

/* Copies a reference as written, "${" through its "}" (or the end). */
static size_t keep_reference(const char *s, struct gl_buf *out)
{
    const char *close = strchr(s, '}');
    size_t n = close ? (size_t)(close + 1 - s) : strlen(s);
    gl_buf_append(out, s, n);
    return n;
}

/*
 * Expands one "${...}" starting at s (which points at the '$'), appending the
 * result to out. Returns the number of bytes consumed, or 0 with *err set to
 * a new message when the reference is malformed or names an unset variable.
 */
static size_t expand_one(const char *s, struct gl_buf *out, gl_config_lookup_cb lookup,
                         void *data, bool keep_unset, char **err)
{
    const char *p = s + 2;
    const char *name = p;
    while (name_char(*p, p == name)) {
        p++;
    }
    size_t name_len = (size_t)(p - name);
    const char *def = NULL;
    size_t def_len = 0;
    if (name_len > 0 && p[0] == ':' && p[1] == '-') {
        def = p + 2;
        const char *close = strchr(def, '}');
        p = close ? close : def + strlen(def);
        def_len = (size_t)(p - def);
    }
    if (name_len == 0 || *p != '}') {
        if (keep_unset) {
            return keep_reference(s, out);
        }
        struct gl_buf b;
        gl_buf_init(&b);
        gl_buf_puts(&b, "malformed ${...}: expected ${NAME} or ${NAME:-default}");
        gl_buf_puts(&b, " (write $$ for a literal $)");
        *err = gl_buf_take(&b);
        return 0;
    }
    char *var = gl_strndup(name, name_len);
    const char *v = lookup(data, var);
    if (v != NULL) {
        gl_buf_puts(out, v);
    } else if (keep_unset) {
        gl_buf_append(out, s, (size_t)(p + 1 - s));
    } else if (def != NULL) {
        gl_buf_append(out, def, def_len);
    } else {
        struct gl_buf b;
        gl_buf_init(&b);
        gl_buf_printf(&b, "environment variable %s is not set", var);
        gl_buf_printf(&b, " (use ${%s:-default} to give a default)", var);
        *err = gl_buf_take(&b);
    }
    gl_free(var);
    return *err ? 0 : (size_t)(p + 1 - s);
}

static const char *env_lookup(void *data, const char *name)
{
    (void)data;
    return getenv(name);
}

/*
 * Expands ${VAR} and ${VAR:-default}; "$$" stands for one '$' and any other
 * '$' (Fluent Bit record accessors such as $kubernetes['pod_name']) is kept
 * as written. Returns a new string, or NULL with *err set to a new message.
 */
char *gl__config_expand(const char *text, gl_config_lookup_cb lookup, void *data, bool keep_unset,
                        char **err)
{
    struct gl_buf out;
    gl_buf_init(&out);
    *err = NULL;
    for (const char *s = text; *s != '\0';) {
        if (s[0] == '$' && s[1] == '$') {
            gl_buf_puts(&out, keep_unset ? "$$" : "$");
            s += 2;
        } else if (s[0] == '$' && s[1] == '{') {
            size_t n = expand_one(s, &out, lookup, data, keep_unset, err);
            if (n == 0) {
                gl_buf_close(&out);
                return NULL;
            }
            s += n;
        } else {
            gl_buf_putc(&out, *s++);
        }
    }
    return gl_buf_take(&out);
}

char *gl_config_expand(const char *text, char **err)
{
    return gl__config_expand(text, env_lookup, NULL, false, err);
}

/* ---- tree ------------------------------------------------------------------- */

void gl__node_free(struct gl_node *n)
{
    if (n == NULL) {
        return;
    }
    for (size_t i = 0; i < n->count; i++) {
        gl__node_free(n->items[i]);
    }
    gl_free(n->items);
    gl_free(n->value);
    gl_free(n->comment);
    gl_free(n);
}

static struct gl_node *new_node(enum gl_node_type type, const yaml_event_t *ev)
{
    struct gl_node *n = gl_calloc(1, sizeof(*n));
    n->type = type;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    return n;
}

static void add_item(struct gl_node *parent, struct gl_node *child)
{
    parent->items = gl_realloc(parent->items, (parent->count + 1) * sizeof(*parent->items));
    parent->items[parent->count++] = child;
}

/* Fetches the next event; records libyaml's message and returns -1 on a syntax error. */
static int next_event(struct loader *ld, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&ld->parser, ev)) {
        syntax_error(ld);
        return -1;
    }
    return 0;
}

/*
 * Builds a scalar node. Values (not keys) get ${VAR} expansion; a failed
 * expansion is recorded at the scalar and leaves the text as written.
 */
static struct gl_node *make_scalar(struct loader *ld, const yaml_event_t *ev, bool is_key)
{
    struct gl_node *n = new_node(GL_NODE_SCALAR, ev);
    const char *raw = (const char *)ev->data.scalar.value;
    n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (is_key) {
        n->value = gl_strdup(raw);
        return n;
    }
    char *err = NULL;
    n->value = gl_config_expand(raw, &err);
    if (n->value == NULL) {
        gl_config_error(ld->cfg, n, "%s", err);
        gl_free(err);
        n->value = gl_strdup(raw);
    }
    return n;
}

static int cmp_keys(const void *a, const void *b)
{
    const struct gl_node *x = *(const struct gl_node *const *)a;
    const struct gl_node *y = *(const struct gl_node *const *)b;
    int c = strcmp(x->value, y->value);
    if (c != 0) {
        return c;
    }
    if (x->line != y->line) {
        return x->line < y->line ? -1 : 1;
    }
    return x->col < y->col ? -1 : (x->col > y->col);
}

/*
 * Reports keys written twice in one mapping (YAML forbids it), each repeat
 * pointing at the first. Sorting keeps this O(n log n) for huge mappings.
 */
static void check_duplicates(struct loader *ld, const struct gl_node *map)
{
    size_t n = map->count / 2;
    if (n < 2) {
        return;
    }
    const struct gl_node **keys = gl_malloc(n * sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        keys[i] = map->items[2 * i];
    }
    qsort(keys, n, sizeof(*keys), cmp_keys);
    size_t first = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(keys[i]->value, keys[first]->value) != 0) {
            first = i;
            continue;
        }
        gl_config_error(ld->cfg, keys[i], "duplicate key '%s' (first at %d:%d)", keys[i]->value,
                        keys[first]->line, keys[first]->col);
    }
    gl_free(keys);
}

/*
 * Reads the items of a sequence or the pairs of a mapping up to its end
 * event. Returns 0, or -1 after a syntax error or a limit (already recorded).
 */
static int parse_children(struct loader *ld, struct gl_node *parent, int depth)
{
    bool is_map = parent->type == GL_NODE_MAP;
    yaml_event_type_t end = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    for (;;) {
        yaml_event_t ev;
        if (next_event(ld, &ev) < 0) {
            return -1;
        }
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return 0;
        }
        bool is_key = is_map && parent->count % 2 == 0;
        if (is_key && ev.type != YAML_SCALAR_EVENT) {
            add_error(ld->cfg, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                      "a mapping key must be a plain value, not a list or a mapping");
            yaml_event_delete(&ev);
            return -1;
        }
        struct gl_node *child;
        if (is_key) {
            child = make_scalar(ld, &ev, true);
            yaml_event_delete(&ev);
        } else if (parse_node(ld, &ev, depth + 1, &child) < 0) {
            return -1;
        }
        add_item(parent, child);
    }
}

/* Records an error for YAML features the config does not accept; returns -1 if one was found. */
static int reject_anchor(struct loader *ld, const yaml_event_t *ev)
{
    const yaml_char_t *anchor = NULL;
    if (ev->type == YAML_SCALAR_EVENT) {
        anchor = ev->data.scalar.anchor;
    } else if (ev->type == YAML_MAPPING_START_EVENT) {
        anchor = ev->data.mapping_start.anchor;
    } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
        anchor = ev->data.sequence_start.anchor;
    } else if (ev->type == YAML_ALIAS_EVENT) {
        add_error(ld->cfg, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                  "YAML aliases (*%s) are not supported: write the value out",
                  (const char *)ev->data.alias.anchor);
        return -1;
    }
    if (anchor != NULL) {
        add_error(ld->cfg, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                  "YAML anchors (&%s) are not supported: write the value out",
                  (const char *)anchor);
        return -1;
    }
    return 0;
}

/*
 * Builds the node that starts with event ev (consumed here) and everything
 * under it. Returns 0 with *out set, or -1 when parsing must stop; a node
 * deeper than MAX_DEPTH stops it too, since nothing legitimate nests so far.
 */
static int parse_node(struct loader *ld, yaml_event_t *ev, int depth, struct gl_node **out)
{
    *out = NULL;
    if (reject_anchor(ld, ev) < 0) {
        yaml_event_delete(ev);
        return -1;
    }
    if (ev->type == YAML_SCALAR_EVENT) {
        *out = make_scalar(ld, ev, false);
        yaml_event_delete(ev);
        return 0;
    }
    if (depth >= MAX_DEPTH) {
        add_error(ld->cfg, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                  "nesting deeper than %d levels", MAX_DEPTH);
        yaml_event_delete(ev);
        return -1;
    }
    bool is_map = ev->type == YAML_MAPPING_START_EVENT;
    struct gl_node *n = new_node(is_map ? GL_NODE_MAP : GL_NODE_SEQ, ev);
    yaml_event_delete(ev);
    if (parse_children(ld, n, depth) < 0) {
        gl__node_free(n);
        return -1;
    }
    if (is_map) {
        check_duplicates(ld, n);
    }
    *out = n;
    return 0;
}

/*
 * Walks the stream: at most one document, whose root becomes cfg->root. An
 * empty stream (or one of comments only) leaves root NULL without an error.
 */
static void parse_stream(struct loader *ld)
{
    yaml_event_t ev;
    int documents = 0;
    for (;;) {
        if (next_event(ld, &ev) < 0) {
            break;
        }
        yaml_event_type_t type = ev.type;
        if (type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            return;
        }
        if (type == YAML_DOCUMENT_START_EVENT && ++documents > 1) {
            add_error(ld->cfg, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
                      "only one YAML document is allowed in a config file");
            yaml_event_delete(&ev);
            break;
        }
        if (type == YAML_SCALAR_EVENT || type == YAML_SEQUENCE_START_EVENT ||
            type == YAML_MAPPING_START_EVENT || type == YAML_ALIAS_EVENT) {
            if (parse_node(ld, &ev, 0, &ld->cfg->root) < 0) {
                break;
            }
            continue;
        }
        yaml_event_delete(&ev);
    }
    gl__node_free(ld->cfg->root);
    ld->cfg->root = NULL;
}

/* ---- loading ---------------------------------------------------------------- */

struct gl_config *gl_config_load_text(const char *name, const char *text, size_t len)
{
    struct gl_config *cfg = gl_calloc(1, sizeof(*cfg));
    cfg->file = gl_strdup(name);
    if (len > MAX_FILE_SIZE) {
        add_error(cfg, 0, 0, "the file is %zu bytes, over the limit of 4 MiB", len);
        return cfg;
    }
    if (gl__classic_detect(text, len)) {
        gl__classic_load(cfg, name, text, len, true);
        return cfg;
    }
    struct loader ld = { .cfg = cfg, .text = text, .len = len };
    if (!yaml_parser_initialize(&ld.parser)) {
        add_error(cfg, 0, 0, "cannot initialize the YAML parser");
        return cfg;
    }
    yaml_parser_set_input_string(&ld.parser, (const unsigned char *)text, len);
    parse_stream(&ld);
    yaml_parser_delete(&ld.parser);
    return cfg;
}

/*
 * Reads a file whole, bounded by MAX_FILE_SIZE: a longer file is an error
 * rather than a truncated config. The text is NUL-terminated for the readers.
 */
char *gl__config_read_file(const char *path, size_t *len, char **err)
{
    FILE *f = fopen(path, "rb");
    struct gl_buf b, msg;
    gl_buf_init(&b);
    gl_buf_init(&msg);
    if (f == NULL) {
        gl_buf_printf(&msg, "cannot open: %s", strerror(errno));
        *err = gl_buf_take(&msg);
        return NULL;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len <= MAX_FILE_SIZE) {
        gl_buf_append(&b, chunk, n);
    }
    int saved = errno;
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        gl_buf_printf(&msg, "cannot read: %s", strerror(saved));
    } else if (b.len > MAX_FILE_SIZE) {
        gl_buf_puts(&msg, "the file is over the limit of 4 MiB");
    }
    if (msg.len > 0) {
        gl_buf_close(&b);
        *err = gl_buf_take(&msg);
        return NULL;
    }
    gl_buf_append(&b, "", 1);
    *len = b.len - 1;
    return gl_buf_take(&b);
}

/* Parses a file; one that cannot be read gives a config with one error and no root. */
struct gl_config *gl_config_load_file(const char *path)
{
    char *err = NULL;
    size_t len = 0;
    char *text = gl__config_read_file(path, &len, &err);
    if (text == NULL) {
        struct gl_config *cfg = gl_config_load_text(path, "", 0);
        add_error(cfg, 0, 0, "%s", err);
        gl_free(err);
        return cfg;
    }
    struct gl_config *cfg = gl_config_load_text(path, text, len);
    gl_free(text);
    return cfg;
}

void gl_config_free(struct gl_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    gl__node_free(cfg->root);
    for (size_t i = 0; i < cfg->error_count; i++) {
        gl_free(cfg->errors[i]);
    }
    gl_free(cfg->errors);
    for (size_t i = 0; i < cfg->file_count; i++) {
        gl_free(cfg->files[i]);
    }
    gl_free(cfg->files);
    gl_free(cfg->file);
    gl_free(cfg);
}

const struct gl_node *gl_node_get(const struct gl_node *map, const char *key)
{
    if (map == NULL || map->type != GL_NODE_MAP) {
        return NULL;
    }
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        if (strcasecmp(map->items[i]->value, key) == 0) {
            return map->items[i + 1];
        }
    }
    return NULL;
}
