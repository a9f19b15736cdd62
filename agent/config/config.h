/*
 * The configuration file: YAML read with libyaml into a small tree of nodes
 * that keep their FILE:LINE:COL, with ${VAR} and ${VAR:-default} expanded in
 * every scalar. Errors are collected, not printed, so that --check can show
 * them all and a SIGHUP reload can log them and keep the old pipeline.
 *
 * Fluent Bit's classic format ([SERVICE], [INPUT]..., @INCLUDE, @SET) is read
 * by classic.c into the same tree, chosen by the text's first line; its
 * nodes carry the file they were written in, which may be an included one.
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
    const char *file;     /* the file it was written in when not the config's own (an
                             @INCLUDE of the classic format), owned by the config; or NULL */
    char *comment;        /* classic format: the comment lines above it, for --convert */
    bool repeated;        /* a sequence made of a classic key written more than once */
};

struct gl_config {
    char *file;           /* the file name used in messages */
    struct gl_node *root; /* NULL when the text could not be parsed */
    char **errors;        /* "FILE:LINE:COL: message" lines */
    size_t error_count;
    bool classic;         /* read from Fluent Bit's classic format */
    char **files;         /* names of included files, which nodes' `file` point to */
    size_t file_count;
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

/* The file a node was written in: its own, or the config's. */
const char *gl_node_file(const struct gl_config *cfg, const struct gl_node *n);

/* Looks a key up in a mapping, case-insensitively; returns the value node or NULL. */
const struct gl_node *gl_node_get(const struct gl_node *map, const char *key);

/*
 * Expands ${VAR} and ${VAR:-default} in text; "$$" is one '$' and any other
 * '$' (record accessors like $kubernetes['pod_name']) is kept. Returns a new
 * string, or NULL with *err set to a new message (the caller frees it) when
 * a variable is unset without a default or a ${ is malformed.
 */
char *gl_config_expand(const char *text, char **err);

/* ---- for the readers (config.c, classic.c) ---- */

/* Looks a variable up for expansion: its value (borrowed), or NULL when unset. */
typedef const char *(*gl_config_lookup_cb)(void *data, const char *name);

/*
 * gl_config_expand() with variables from `lookup`. With keep_unset, a
 * reference the lookup does not know (and "$$") is copied as written instead
 * of being an error or taking its default: --convert keeps ${VAR} for YAML.
 */
char *gl__config_expand(const char *text, gl_config_lookup_cb lookup, void *data, bool keep_unset,
                        char **err);

/* Records an error at FILE:LINE:COL (file NULL: the config's; line 0: no position). */
void gl__config_error_at(struct gl_config *cfg, const char *file, int line, int col,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Frees a node and everything under it. */
void gl__node_free(struct gl_node *n);

/* Reads a whole file of at most 4 MiB into a NUL-terminated buffer; NULL with *err set. */
char *gl__config_read_file(const char *path, size_t *len, char **err);

#endif
