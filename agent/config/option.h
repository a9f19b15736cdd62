/*
 * Option tables: the one way a plugin (or the service section) declares what
 * it accepts. A table is a const array of struct gl_option ending with { 0 }.
 * The core reads a YAML section against one or more tables, checks types and
 * choices, expands defaults and writes each value at .offset into a zeroed
 * state struct; --help-plugin and the README option lists print the same
 * table. Nothing else in the agent looks an option up by string.
 */
#ifndef GL_OPTION_H
#define GL_OPTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gl_node;
struct gl_config;

enum gl_opt_type {
    GL_OPT_STR,      /* char *, owned by the state; NULL when unset without default */
    GL_OPT_INT,      /* int64_t */
    GL_OPT_DOUBLE,   /* double */
    GL_OPT_BOOL,     /* bool: on/off, true/false, yes/no, 1/0 */
    GL_OPT_SIZE,     /* size_t bytes: 65536, 64K, 64KB, 64KiB, 64M, 2G */
    GL_OPT_DURATION, /* uint64_t milliseconds: 500ms, 5s, 1m, 1h; a bare number is seconds */
    GL_OPT_LIST,     /* struct gl_strlist: comma-separated scalar or a YAML sequence */
    GL_OPT_REGEX,    /* struct gl_regex *: PCRE2 compiled with JIT */
    GL_OPT_RETRIES,  /* int64_t: a count, or no_limits/false/-1 for unlimited (-1) */
    GL_OPT_MULTI,    /* struct gl_strlist: one item per scalar (never split), or a YAML sequence */
    GL_OPT_MAPS,     /* struct gl_maplist: a YAML sequence of mappings (relabel_configs) */
};

/* A list value: items are owned by the state and freed by gl_option_free(). */
struct gl_strlist {
    char **items;
    size_t count;
};

/*
 * A GL_OPT_MAPS value: each mapping's keys with their values as written
 * (a scalar is one value, a sequence of scalars several; nothing trimmed),
 * and the line of each for messages. The plugin checks the keys.
 */
struct gl_map_entry {
    char *key;
    struct gl_strlist values;
    bool list;                   /* written as a sequence */
    int line;
};

struct gl_map {
    struct gl_map_entry *entries;
    size_t count;
    int line;
};

struct gl_maplist {
    struct gl_map *items;
    size_t count;
};

/* Validates one parsed value at its place in the state; returns NULL or a short static message. */
typedef const char *(*gl_option_check_cb)(const void *value);

struct gl_option {
    const char *name;            /* the user's name, matched case-insensitively */
    enum gl_opt_type type;
    const char *def;             /* default as the user would write it; NULL for none */
    bool required;
    const char *const *choices;  /* NULL-terminated allowed values for GL_OPT_STR */
    size_t offset;               /* where the value goes in the state */
    gl_option_check_cb check;
    const char *help;            /* one sentence for --help-plugin and the README */
};

/*
 * Parses a size ("64MiB", "64M", "64k", "65536") into bytes. Returns 0 or GL_EINVAL.
 * Parses a duration ("500ms", "5s", "1m", "2h", "1.5s", "10" = seconds) into milliseconds.
 * Parses a boolean (on/off, true/false, yes/no, 1/0, case-insensitive).
 */
int gl_parse_size(const char *s, size_t *out);
int gl_parse_duration(const char *s, uint64_t *out_ms);
int gl_parse_bool(const char *s, bool *out);

/*
 * Applies a YAML mapping to a state. Each key of `map` is looked up in the
 * tables (NULL-terminated array of tables, searched in order); keys named in
 * `skip` (NULL-terminated, e.g. "name") are ignored. Unknown keys, bad values,
 * failed checks and missing required options are reported through
 * gl_config_error() as "FILE:LINE:COL: SECTION.KEY: message", with a
 * "did you mean" for close misspellings. Every option not given gets its
 * default. Returns 0, or GL_ECONFIG when at least one error was reported.
 */
int gl_option_apply(struct gl_config *cfg, const char *section,
                    const struct gl_option *const *tables, const char *const *skip,
                    const struct gl_node *map, void *state);

/* Applies only the defaults of one table (for sections that are absent). */
int gl_option_defaults(const struct gl_option *table, void *state);

/* Frees what gl_option_apply() allocated in a state (strings, lists, regexes). */
void gl_option_free(const struct gl_option *table, void *state);

/* Returns the option of that name in the table, or NULL. */
const struct gl_option *gl_option_find(const struct gl_option *table, const char *name);

/* Returns the closest name in the tables within a small edit distance, or NULL. */
const char *gl_option_suggest(const struct gl_option *const *tables, const char *name);

/* The name of a type as --help-plugin prints it: "string", "size", "duration"... */
const char *gl_option_type_name(enum gl_opt_type type);

#endif
