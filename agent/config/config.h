/*
 * The configuration file: YAML read with libyaml into a small tree of nodes
 * that keep their FILE:LINE:COL, with ${VAR} and ${VAR:-default} expanded in
 * every scalar. Errors are collected, not printed, so that --check can show
 * them all and a SIGHUP reload can log them and keep the old pipeline.
 *
 * This module knows YAML and positions; it does not know plugins. The engine
 * walks the tree (service, pipeline.inputs/filters/outputs, parsers) and
 * applies option tables to each section through option.c.
 */
#ifndef GL_CONFIG_H
#define GL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum gl_node_type { GL_NODE_SCALAR, GL_NODE_MAP, GL_NODE_SEQ };

struct gl_node {
    enum gl_node_type type;
    int line;             /* 1-based, of the node's first character */
    int col;              /* 1-based */
    char *value;          /* scalar text after ${VAR} expansion; NULL for maps and sequences */
    bool quoted;          /* the scalar was written in quotes */
    struct gl_node **items; /* a sequence's items; a map's keys at 2i and values at 2i+1 */
    size_t count;         /* number of items (a map of n pairs has count 2n) */
};

struct gl_config {
    char *file;           /* the file name used in messages */
    struct gl_node *root; /* NULL when the text could not be parsed */
    char **errors;        /* "FILE:LINE:COL: message" lines */
    size_t error_count;
};

/*
 * Loads a file (or, with gl_config_load_text(), text already in memory, named
 * `name` in messages). Always returns a config; the caller checks error_count
 * and frees it with gl_config_free(). Syntax errors, tabs, unknown ${VAR}
 * without default and duplicate keys in one mapping (compared exactly, as
 * YAML does) are errors, as are YAML anchors and aliases, a second document,
 * nesting deeper than 32 levels and a file over 4 MiB. Syntax errors and
 * limits leave root NULL; other errors keep the tree. An empty file (or one
 * of comments only) has a NULL root and no error: the caller decides.
 */
struct gl_config *gl_config_load_file(const char *path);
struct gl_config *gl_config_load_text(const char *name, const char *text, size_t len);
void gl_config_free(struct gl_config *cfg);

/* Records an error at a node's position ("FILE:LINE:COL: " is prepended). */
void gl_config_error(struct gl_config *cfg, const struct gl_node *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Looks a key up in a mapping, case-insensitively; returns the value node or NULL. */
const struct gl_node *gl_node_get(const struct gl_node *map, const char *key);

/*
 * Expands ${VAR} and ${VAR:-default} in text; "$$" is one '$' and any other
 * '$' (record accessors like $kubernetes['pod_name']) is kept. Returns a new
 * string, or NULL with *err set to a new message (the caller frees it) when
 * a variable is unset without a default or a ${ is malformed.
 */
char *gl_config_expand(const char *text, char **err);

#endif
