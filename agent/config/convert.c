/*
 * The classic format written out as YAML (see convert.h). The tree comes from
 * classic.c read with the environment left unexpanded; this file only walks
 * it. Scalars are written plain when YAML reads them back as the same text
 * and single-quoted otherwise, so the YAML loads into the very same tree.
 */
#include <stdlib.h>
#include <string.h>

#include "config/classic.h"
#include "config/config.h"
#include "config/convert.h"
#include "util/buf.h"
#include "util/mem.h"

static void put_map(struct gl_buf *out, const struct gl_node *map, int indent, bool item);

static void put_indent(struct gl_buf *out, int indent)
{
    for (int i = 0; i < indent; i++) {
        gl_buf_putc(out, ' ');
    }
}

/* Writes comment lines, each as "# text" at the indentation. */
static void put_comment(struct gl_buf *out, const char *comment, int indent)
{
    for (const char *p = comment; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        put_indent(out, indent);
        gl_buf_puts(out, n > 0 ? "# " : "#");
        /* A CR or other control character would end the comment early in YAML. */
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            gl_buf_putc(out, c < 0x20 || c == 0x7f ? ' ' : p[i]);
        }
        gl_buf_putc(out, '\n');
        p = nl ? nl + 1 : NULL;
    }
}

static bool has_control(const char *s)
{
    for (const char *c = s; *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            return true;
        }
    }
    return false;
}

/*
 * True when a plain YAML scalar would read back as exactly this text: not
 * empty, no leading indicator or space, no ": " or " #", no trailing colon
 * or space, no control character.
 */
static bool plain_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && strchr("-?:,[]{}#&*!|>'\"%@`~ \t", s[0]) == NULL && s[n - 1] != ':' &&
           s[n - 1] != ' ' && strstr(s, ": ") == NULL && strstr(s, " #") == NULL &&
           !has_control(s);
}

/*
 * Writes a scalar plain when that reads back the same, else single-quoted;
 * control characters (a CR inside a value) need double quotes and escapes,
 * since YAML folds line breaks inside single quotes.
 */
static void put_scalar(struct gl_buf *out, const char *s)
{
    if (plain_ok(s)) {
        gl_buf_puts(out, s);
        return;
    }
    bool dq = has_control(s);
    gl_buf_putc(out, dq ? '"' : '\'');
    for (const char *c = s; *c != '\0'; c++) {
        unsigned char u = (unsigned char)*c;
        if (!dq && u == '\'') {
            gl_buf_puts(out, "''");
        } else if (dq && (u < 0x20 || u == 0x7f)) {
            gl_buf_printf(out, "\\x%02x", u);
        } else if (dq && (u == '"' || u == '\\')) {
            gl_buf_putc(out, '\\');
            gl_buf_putc(out, *c);
        } else {
            gl_buf_putc(out, *c);
        }
    }
    gl_buf_putc(out, dq ? '"' : '\'');
}

/*
 * Writes "key: value" (or "key:" and the value under it) at the indentation;
 * with dash, as the first pair of a list item ("- key: value"), its comments
 * above the dash.
 */
static void put_pair(struct gl_buf *out, const struct gl_node *key, const struct gl_node *v,
                     int indent, bool dash)
{
    int at = dash ? indent - 2 : indent;
    put_comment(out, key->comment, at);
    if (v->type == GL_NODE_MAP) {
        put_comment(out, v->comment, at);
    }
    put_indent(out, at);
    gl_buf_puts(out, dash ? "- " : "");
    put_scalar(out, key->value);
    gl_buf_putc(out, ':');
    if (v->type == GL_NODE_SCALAR || v->count == 0) {
        gl_buf_putc(out, ' ');
        if (v->type == GL_NODE_SCALAR) {
            put_scalar(out, v->value);
        } else {
            gl_buf_puts(out, v->type == GL_NODE_MAP ? "{}" : "[]");
        }
        gl_buf_putc(out, '\n');
        return;
    }
    gl_buf_putc(out, '\n');
    if (v->type == GL_NODE_MAP) {
        put_map(out, v, indent + 2, false);
        return;
    }
    for (size_t i = 0; i < v->count; i++) {
        const struct gl_node *item = v->items[i];
        put_comment(out, item->comment, indent + 2);
        if (item->type == GL_NODE_MAP && item->count > 0) {
            put_map(out, item, indent + 4, true);
            continue;
        }
        if (item->type == GL_NODE_MAP) {
            put_indent(out, indent + 2);
            gl_buf_puts(out, "- {}\n");
            continue;
        }
        put_indent(out, indent + 2);
        gl_buf_puts(out, "- ");
        put_scalar(out, item->value);
        gl_buf_putc(out, '\n');
    }
}

/*
 * Writes a mapping's pairs. A list item (a section) has its `name` first, as
 * people read them, on the line of the item's dash.
 */
static void put_map(struct gl_buf *out, const struct gl_node *map, int indent, bool item)
{
    const struct gl_node *name = item ? gl_node_get(map, "name") : NULL;
    bool dash = item;
    for (size_t i = 0; name != NULL && i + 1 < map->count; i += 2) {
        if (map->items[i + 1] == name) {
            put_pair(out, map->items[i], name, indent, dash);
            dash = false;
        }
    }
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        if (map->items[i + 1] != name) {
            put_pair(out, map->items[i], map->items[i + 1], indent, dash);
            dash = false;
        }
    }
}

void gl_convert_write(const struct gl_node *root, struct gl_buf *out)
{
    put_map(out, root, 0, false);
}

struct gl_config *gl_convert_classic(const char *path, struct gl_buf *out)
{
    char *err = NULL;
    size_t len = 0;
    char *text = gl__config_read_file(path, &len, &err);
    struct gl_config *cfg = gl_calloc(1, sizeof(*cfg));
    cfg->file = gl_strdup(path);
    if (text == NULL) {
        gl__config_error_at(cfg, NULL, 0, 0, "%s", err);
        gl_free(err);
        return cfg;
    }
    if (!gl__classic_detect(text, len)) {
        gl__config_error_at(cfg, NULL, 0, 0, "not in Fluent Bit's classic format (its first "
                            "line is no [SECTION], @INCLUDE or @SET): it is read as YAML as is");
    } else {
        gl__classic_load(cfg, path, text, len, false);
    }
    gl_free(text);
    if (cfg->error_count == 0 && cfg->root != NULL) {
        gl_buf_printf(out, "# Converted from %s by gleaner --convert.\n", path);
        gl_convert_write(cfg->root, out);
    }
    return cfg;
}
