/*
 * Option tables applied to configuration sections. A plugin (or the service
 * section) declares what it accepts in a const array of struct gl_option;
 * this module reads one YAML mapping against such tables, converts each value
 * by its type (sizes, durations, booleans, lists, regexes...), writes it at
 * the option's offset in the caller's zeroed state, and reports every
 * problem through gl_config_error() at the key or value that caused it.
 *
 * Defaults are written by the same parsers as user values, so a default is
 * spelled as a user would spell it ("2MiB", "60s"); a default that does not
 * parse is a bug in the table and aborts. The state owns the strings, lists
 * and regexes written into it until gl_option_free().
 *
 * Invariant: a slot is written only with a fully parsed value, and the old
 * value (a default or an earlier one) is freed at that moment, never before.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/regex.h"
#include "config/config.h"
#include "config/option.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/mem.h"

/* ---- scalar parsers --------------------------------------------------------- */

struct unit {
    const char *name;
    uint64_t mult;
};

static const struct unit size_units[] = {
    { "", 1 },
    { "k", 1ull << 10 }, { "kb", 1ull << 10 }, { "kib", 1ull << 10 },
    { "m", 1ull << 20 }, { "mb", 1ull << 20 }, { "mib", 1ull << 20 },
    { "g", 1ull << 30 }, { "gb", 1ull << 30 }, { "gib", 1ull << 30 },
    { NULL, 0 },
};

static const struct unit duration_units[] = {
    { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { NULL, 0 },
};

/*
 * Parses "<number>[ ]<unit>" where number is digits with an optional
 * ".digits" part, surrounded by optional whitespace, and the unit is one of
 * `units` (case-insensitive). Writes number * unit, the fraction rounded
 * down, to *out. Returns 0, or GL_EINVAL for a sign, an empty string, an
 * unknown unit or a result that does not fit in 64 bits.
 */
static int parse_scaled(const char *s, const struct unit *units, uint64_t *out)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (!isdigit((unsigned char)*s)) {
        return GL_EINVAL;
    }
    uint64_t whole = 0;
    for (; isdigit((unsigned char)*s); s++) {
        if (__builtin_mul_overflow(whole, 10, &whole) ||
            __builtin_add_overflow(whole, (uint64_t)(*s - '0'), &whole)) {
            return GL_EINVAL;
        }
    }
    double frac = 0;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s)) {
            return GL_EINVAL;
        }
        for (double scale = 0.1; isdigit((unsigned char)*s); s++, scale /= 10) {
            frac += (*s - '0') * scale;
        }
    }
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t ulen = strlen(s);
    while (ulen > 0 && isspace((unsigned char)s[ulen - 1])) {
        ulen--;
    }
    for (const struct unit *u = units; u->name != NULL; u++) {
        if (strlen(u->name) != ulen || strncasecmp(s, u->name, ulen) != 0) {
            continue;
        }
        uint64_t v;
        if (__builtin_mul_overflow(whole, u->mult, &v) ||
            __builtin_add_overflow(v, (uint64_t)(frac * (double)u->mult), &v)) {
            return GL_EINVAL;
        }
        *out = v;
        return 0;
    }
    return GL_EINVAL;
}

/* Sizes are binary as in Fluent Bit: 1K = 1KB = 1KiB = 1024. */
int gl_parse_size(const char *s, size_t *out)
{
    uint64_t v;
    if (parse_scaled(s, size_units, &v) < 0 || v > SIZE_MAX) {
        return GL_EINVAL;
    }
    *out = (size_t)v;
    return 0;
}

int gl_parse_duration(const char *s, uint64_t *out_ms)
{
    return parse_scaled(s, duration_units, out_ms);
}

int gl_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "on", "true", "yes", "1", NULL };
    static const char *const no[] = { "off", "false", "no", "0", NULL };
    for (size_t i = 0; yes[i] != NULL; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return GL_EINVAL;
}

/* Parses a whole decimal integer (optional sign); returns 0 or GL_EINVAL. */
static int parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || isspace((unsigned char)*s)) {
        return GL_EINVAL;
    }
    *out = v;
    return 0;
}

/* Parses a whole finite decimal number; returns 0 or GL_EINVAL. */
static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) ||
        isspace((unsigned char)*s)) {
        return GL_EINVAL;
    }
    *out = v;
    return 0;
}

/* Fluent Bit's retry_limit: a count, no_limits/false/-1 for unlimited (-1), no_retries for 0. */
static int parse_retries(const char *s, int64_t *out)
{
    if (strcasecmp(s, "no_limits") == 0 || strcasecmp(s, "false") == 0) {
        *out = -1;
        return 0;
    }
    if (strcasecmp(s, "no_retries") == 0) {
        *out = 0;
        return 0;
    }
    int64_t v;
    if (parse_int(s, &v) < 0 || v < -1) {
        return GL_EINVAL;
    }
    *out = v;
    return 0;
}

/* ---- slots -------------------------------------------------------------------- */

static void *slot_of(const struct gl_option *o, void *state)
{
    return (char *)state + o->offset;
}

static void free_list(struct gl_strlist *l)
{
    for (size_t i = 0; i < l->count; i++) {
        gl_free(l->items[i]);
    }
    gl_free(l->items);
    l->items = NULL;
    l->count = 0;
}

static void free_maps(struct gl_maplist *l)
{
    for (size_t i = 0; i < l->count; i++) {
        struct gl_map *m = &l->items[i];
        for (size_t j = 0; j < m->count; j++) {
            gl_free(m->entries[j].key);
            free_list(&m->entries[j].values);
        }
        gl_free(m->entries);
    }
    gl_free(l->items);
    l->items = NULL;
    l->count = 0;
}

/* Frees what a slot owns and zeroes it. */
static void free_slot(const struct gl_option *o, void *slot)
{
    switch (o->type) {
    case GL_OPT_MAPS:
        free_maps(slot);
        break;
    case GL_OPT_STR:
        gl_free(*(char **)slot);
        *(char **)slot = NULL;
        break;
    case GL_OPT_LIST:
    case GL_OPT_MULTI:
        free_list(slot);
        break;
    case GL_OPT_REGEX:
        gl_regex_free(*(struct gl_regex **)slot);
        *(struct gl_regex **)slot = NULL;
        break;
    case GL_OPT_INT:
    case GL_OPT_RETRIES:
        *(int64_t *)slot = 0;
        break;
    case GL_OPT_DOUBLE:
        *(double *)slot = 0;
        break;
    case GL_OPT_BOOL:
        *(bool *)slot = false;
        break;
    case GL_OPT_SIZE:
        *(size_t *)slot = 0;
        break;
    case GL_OPT_DURATION:
        *(uint64_t *)slot = 0;
        break;
    }
}

static void list_add(struct gl_strlist *l, const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        n--;
    }
    if (n == 0) {
        return;
    }
    l->items = gl_realloc(l->items, (l->count + 1) * sizeof(char *));
    l->items[l->count++] = gl_strndup(s, n);
}

/* Splits "a, b,,c" into trimmed, non-empty items. */
static void split_list(const char *s, struct gl_strlist *l)
{
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        list_add(l, s, n);
        if (comma == NULL) {
            return;
        }
        s = comma + 1;
    }
}

/* Writes "expected one of: a, b, c" for a string option with choices. */
static void choices_message(const struct gl_option *o, struct gl_buf *msg)
{
    gl_buf_puts(msg, "expected one of: ");
    for (size_t i = 0; o->choices[i] != NULL; i++) {
        gl_buf_printf(msg, "%s%s", i ? ", " : "", o->choices[i]);
    }
}

/* Parses a string option; a choice is stored as the table spells it. */
static int parse_str(const struct gl_option *o, const char *text, void *slot, struct gl_buf *msg)
{
    const char *keep = text;
    if (o->choices != NULL) {
        keep = NULL;
        for (size_t i = 0; o->choices[i] != NULL && keep == NULL; i++) {
            if (strcasecmp(text, o->choices[i]) == 0) {
                keep = o->choices[i];
            }
        }
        if (keep == NULL) {
            choices_message(o, msg);
            return GL_EINVAL;
        }
    }
    free_slot(o, slot);
    *(char **)slot = gl_strdup(keep);
    return 0;
}

/* Compiles a regex option; the message carries PCRE2's reason and offset. */
static int parse_regex(const struct gl_option *o, const char *text, void *slot,
                       struct gl_buf *msg)
{
    char err[256];
    struct gl_regex *re = gl_regex_new(text, err, sizeof(err));
    if (re == NULL) {
        gl_buf_printf(msg, "bad regex: %s", err);
        return GL_EINVAL;
    }
    free_slot(o, slot);
    *(struct gl_regex **)slot = re;
    return 0;
}

/*
 * Parses the text of one scalar for option o and, on success, replaces the
 * slot's value. Returns 0, or GL_EINVAL with the reason in msg (without the
 * "SECTION.KEY: " prefix) and the slot untouched.
 */
static int parse_text(const struct gl_option *o, const char *text, void *slot, struct gl_buf *msg)
{
    union {
        int64_t i;
        double d;
        bool b;
        size_t z;
        uint64_t u;
    } v;
    switch (o->type) {
    case GL_OPT_STR:
        return parse_str(o, text, slot, msg);
    case GL_OPT_REGEX:
        return parse_regex(o, text, slot, msg);
    case GL_OPT_LIST:
        free_slot(o, slot);
        split_list(text, slot);
        return 0;
    case GL_OPT_MULTI:
        free_slot(o, slot);
        list_add(slot, text, strlen(text));
        return 0;
    case GL_OPT_MAPS:
        if (text[0] != '\0') { /* an empty value (or a YAML null) is an empty list */
            gl_buf_puts(msg, "expected a list of mappings");
            return GL_EINVAL;
        }
        free_slot(o, slot);
        return 0;
    case GL_OPT_INT:
        if (parse_int(text, &v.i) < 0) {
            gl_buf_puts(msg, "expected an integer");
            return GL_EINVAL;
        }
        *(int64_t *)slot = v.i;
        return 0;
    case GL_OPT_RETRIES:
        if (parse_retries(text, &v.i) < 0) {
            gl_buf_puts(msg, "expected a number of retries, no_limits or no_retries");
            return GL_EINVAL;
        }
        *(int64_t *)slot = v.i;
        return 0;
    case GL_OPT_DOUBLE:
        if (parse_double(text, &v.d) < 0) {
            gl_buf_puts(msg, "expected a number");
            return GL_EINVAL;
        }
        *(double *)slot = v.d;
        return 0;
    case GL_OPT_BOOL:
        if (gl_parse_bool(text, &v.b) < 0) {
            gl_buf_puts(msg, "expected on or off");
            return GL_EINVAL;
        }
        *(bool *)slot = v.b;
        return 0;
    case GL_OPT_SIZE:
        if (gl_parse_size(text, &v.z) < 0) {
            gl_buf_printf(msg, "expected a size like 64MiB, got '%s'", text);
            return GL_EINVAL;
        }
        *(size_t *)slot = v.z;
        return 0;
    case GL_OPT_DURATION:
        if (gl_parse_duration(text, &v.u) < 0) {
            gl_buf_puts(msg, "expected a duration like 500ms, 5s or 1m");
            return GL_EINVAL;
        }
        *(uint64_t *)slot = v.u;
        return 0;
    }
    return GL_EINVAL;
}

/* ---- applying a mapping ------------------------------------------------------- */

/* One gl_option_apply() call: where errors go and which options were given where. */
struct applier {
    struct gl_config *cfg;
    const char *section;
    const struct gl_option *const *tables;
    void *state;
    const struct gl_node **seen; /* per option (tables flattened): its key, or NULL */
    int errors;
};

static size_t table_len(const struct gl_option *table)
{
    size_t n = 0;
    while (table[n].name != NULL) {
        n++;
    }
    return n;
}

/* Finds a key's option across the tables; *index is its place in the flattened seen[] array. */
static const struct gl_option *find_in_tables(const struct gl_option *const *tables,
                                              const char *name, size_t *index)
{
    size_t base = 0;
    for (size_t t = 0; tables[t] != NULL; t++) {
        for (size_t i = 0; tables[t][i].name != NULL; i++) {
            if (strcasecmp(tables[t][i].name, name) == 0) {
                *index = base + i;
                return &tables[t][i];
            }
        }
        base += table_len(tables[t]);
    }
    return NULL;
}

static size_t count_options(const struct gl_option *const *tables)
{
    size_t n = 0;
    for (size_t t = 0; tables[t] != NULL; t++) {
        n += table_len(tables[t]);
    }
    return n;
}

static bool skipped(const char *const *skip, const char *name)
{
    for (size_t i = 0; skip != NULL && skip[i] != NULL; i++) {
        if (strcasecmp(skip[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* Fills a list option from a YAML sequence; a non-scalar item is reported at the item. */
static int parse_seq(struct applier *ap, const struct gl_option *o, const struct gl_node *seq,
                     void *slot)
{
    struct gl_strlist l = { 0 };
    for (size_t i = 0; i < seq->count; i++) {
        const struct gl_node *item = seq->items[i];
        if (item->type != GL_NODE_SCALAR) {
            gl_config_error(ap->cfg, item, "%s.%s: expected a list of single values",
                            ap->section, o->name);
            ap->errors++;
            free_list(&l);
            return GL_EINVAL;
        }
        list_add(&l, item->value, strlen(item->value));
    }
    free_slot(o, slot);
    *(struct gl_strlist *)slot = l;
    return 0;
}

/* Keeps a scalar as written (no trimming: a separator may be a space). */
static void value_add(struct gl_strlist *l, const char *s)
{
    l->items = gl_realloc(l->items, (l->count + 1) * sizeof(char *));
    l->items[l->count++] = gl_strdup(s);
}

/* Reads one mapping of a GL_OPT_MAPS sequence; problems are reported where they are. */
static int parse_map(struct applier *ap, const struct gl_option *o, const struct gl_node *node,
                     struct gl_map *m)
{
    m->line = node->line;
    if (node->type != GL_NODE_MAP) {
        gl_config_error(ap->cfg, node, "%s.%s: expected a mapping", ap->section, o->name);
        return GL_EINVAL;
    }
    m->entries = gl_calloc(node->count / 2 + 1, sizeof(*m->entries));
    for (size_t i = 0; i + 1 < node->count; i += 2) {
        const struct gl_node *k = node->items[i], *v = node->items[i + 1];
        struct gl_map_entry *e = &m->entries[m->count++];
        e->key = gl_strdup(k->value);
        e->line = k->line;
        e->list = v->type == GL_NODE_SEQ;
        for (size_t j = 0; e->list && j < v->count; j++) {
            if (v->items[j]->type != GL_NODE_SCALAR) {
                gl_config_error(ap->cfg, v->items[j], "%s.%s: %s: expected single values",
                                ap->section, o->name, k->value);
                return GL_EINVAL;
            }
            value_add(&e->values, v->items[j]->value);
        }
        if (v->type == GL_NODE_MAP) {
            gl_config_error(ap->cfg, v, "%s.%s: %s: expected a value or a list", ap->section,
                            o->name, k->value);
            return GL_EINVAL;
        }
        if (!e->list) {
            value_add(&e->values, v->value);
        }
    }
    return 0;
}

/* Fills a GL_OPT_MAPS option from a YAML sequence of mappings. */
static int parse_maps(struct applier *ap, const struct gl_option *o, const struct gl_node *seq,
                      void *slot)
{
    struct gl_maplist l = { gl_calloc(seq->count + 1, sizeof(struct gl_map)), 0 };
    for (size_t i = 0; i < seq->count; i++) {
        if (parse_map(ap, o, seq->items[i], &l.items[l.count++]) < 0) {
            ap->errors++;
            free_maps(&l);
            return GL_EINVAL;
        }
    }
    free_slot(o, slot);
    *(struct gl_maplist *)slot = l;
    return 0;
}

/*
 * Writes one value node into the option's slot and runs the option's check.
 * Errors are reported at the value node as "SECTION.KEY: reason".
 */
static void set_value(struct applier *ap, const struct gl_option *o, const struct gl_node *value)
{
    void *slot = slot_of(o, ap->state);
    if (value->type == GL_NODE_SEQ && o->type == GL_OPT_MAPS) {
        if (parse_maps(ap, o, value, slot) < 0) {
            return;
        }
    } else if (value->type == GL_NODE_SEQ &&
               (o->type == GL_OPT_LIST || o->type == GL_OPT_MULTI)) {
        if (parse_seq(ap, o, value, slot) < 0) {
            return;
        }
    } else if (value->repeated) {
        const struct gl_node *second = value->items[1];
        gl_config_error(ap->cfg, second, "%s.%s: given again (first at %d:%d); it takes one value",
                        ap->section, o->name, value->line, value->col);
        ap->errors++;
        return;
    } else if (value->type != GL_NODE_SCALAR) {
        gl_config_error(ap->cfg, value, "%s.%s: expected a single value, got a %s", ap->section,
                        o->name, value->type == GL_NODE_SEQ ? "list" : "mapping");
        ap->errors++;
        return;
    } else {
        struct gl_buf msg;
        gl_buf_init(&msg);
        int rc = parse_text(o, value->value, slot, &msg);
        if (rc < 0) {
            gl_config_error(ap->cfg, value, "%s.%s: %s", ap->section, o->name, msg.data);
            ap->errors++;
        }
        gl_buf_close(&msg);
        if (rc < 0) {
            return;
        }
    }
    const char *problem = o->check ? o->check(slot) : NULL;
    if (problem != NULL) {
        gl_config_error(ap->cfg, value, "%s.%s: %s", ap->section, o->name, problem);
        ap->errors++;
    }
}

/* Handles one key/value pair of the section's mapping. */
static void apply_pair(struct applier *ap, const struct gl_node *key, const struct gl_node *value)
{
    size_t index = 0;
    const struct gl_option *o = find_in_tables(ap->tables, key->value, &index);
    if (o == NULL) {
        const char *hint = gl_option_suggest(ap->tables, key->value);
        if (hint != NULL) {
            gl_config_error(ap->cfg, key, "%s: unknown key '%s' (did you mean '%s'?)",
                            ap->section, key->value, hint);
        } else {
            gl_config_error(ap->cfg, key, "%s: unknown key '%s'", ap->section, key->value);
        }
        ap->errors++;
        return;
    }
    const struct gl_node *first = ap->seen[index];
    if (first != NULL) {
        gl_config_error(ap->cfg, key, "%s: duplicate key '%s' (first at %d:%d)", ap->section,
                        key->value, first->line, first->col);
        ap->errors++;
        return;
    }
    ap->seen[index] = key;
    set_value(ap, o, value);
}

/* Reports each required option that no key gave, at the mapping (or the file when absent). */
static void check_required(struct applier *ap, const struct gl_node *map)
{
    size_t index = 0;
    for (size_t t = 0; ap->tables[t] != NULL; t++) {
        for (const struct gl_option *o = ap->tables[t]; o->name != NULL; o++, index++) {
            if (o->required && ap->seen[index] == NULL) {
                gl_config_error(ap->cfg, map, "%s: missing required option '%s'", ap->section,
                                o->name);
                ap->errors++;
            }
        }
    }
}

/*
 * Applies a YAML mapping (NULL when the section is absent) to a state:
 * defaults of every table first, then each key, then the required check.
 * Returns 0, or GL_ECONFIG when at least one error was reported.
 */
int gl_option_apply(struct gl_config *cfg, const char *section,
                    const struct gl_option *const *tables, const char *const *skip,
                    const struct gl_node *map, void *state)
{
    struct applier ap = { .cfg = cfg, .section = section, .tables = tables, .state = state };
    for (size_t t = 0; tables[t] != NULL; t++) {
        gl_option_defaults(tables[t], state);
    }
    ap.seen = gl_calloc(count_options(tables) + 1, sizeof(*ap.seen));
    if (map != NULL && map->type != GL_NODE_MAP) {
        gl_config_error(cfg, map, "%s: expected a mapping of options, got a %s", section,
                        map->type == GL_NODE_SEQ ? "list" : "single value");
        ap.errors++;
    } else if (map != NULL) {
        for (size_t i = 0; i + 1 < map->count; i += 2) {
            if (!skipped(skip, map->items[i]->value)) {
                apply_pair(&ap, map->items[i], map->items[i + 1]);
            }
        }
    }
    if (map == NULL || map->type == GL_NODE_MAP) {
        check_required(&ap, map);
    }
    gl_free(ap.seen);
    return ap.errors > 0 ? GL_ECONFIG : 0;
}

/*
 * Writes the default of every option that has one, parsed like a user value.
 * A default that does not parse is a bug in the table: it aborts naming it.
 */
int gl_option_defaults(const struct gl_option *table, void *state)
{
    for (const struct gl_option *o = table; o->name != NULL; o++) {
        if (o->def == NULL) {
            continue;
        }
        struct gl_buf msg;
        gl_buf_init(&msg);
        if (parse_text(o, o->def, slot_of(o, state), &msg) < 0) {
            fprintf(stderr, "option '%s': bad default '%s': %s\n", o->name, o->def, msg.data);
            abort();
        }
        gl_buf_close(&msg);
    }
    return 0;
}

void gl_option_free(const struct gl_option *table, void *state)
{
    for (const struct gl_option *o = table; o->name != NULL; o++) {
        free_slot(o, slot_of(o, state));
    }
}

const struct gl_option *gl_option_find(const struct gl_option *table, const char *name)
{
    for (const struct gl_option *o = table; o->name != NULL; o++) {
        if (strcasecmp(o->name, name) == 0) {
            return o;
        }
    }
    return NULL;
}

/* ---- suggestions ---------------------------------------------------------------- */

#define MAX_NAME 64

/*
 * Optimal string alignment distance (Levenshtein plus adjacent
 * transpositions), case-insensitive. Both strings are at most MAX_NAME long.
 */
static size_t osa_distance(const char *a, size_t n, const char *b, size_t m)
{
    size_t rows[3][MAX_NAME + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++) {
        prev[j] = j;
    }
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            int ca = tolower((unsigned char)a[i - 1]);
            int cb = tolower((unsigned char)b[j - 1]);
            size_t best = prev[j - 1] + (ca != cb);
            best = prev[j] + 1 < best ? prev[j] + 1 : best;
            best = cur[j - 1] + 1 < best ? cur[j - 1] + 1 : best;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < best) {
                best = prev2[j - 2] + 1;
            }
            cur[j] = best;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

/*
 * Returns the option name closest to `name`: within 2 edits, or 1 edit for
 * names of 4 characters or fewer (where 2 edits would suggest nonsense).
 * Ties go to the earlier option.
 */
const char *gl_option_suggest(const struct gl_option *const *tables, const char *name)
{
    size_t n = strlen(name);
    size_t limit = n <= 4 ? 1 : 2;
    const char *best = NULL;
    size_t best_d = limit + 1;
    if (n > MAX_NAME) {
        return NULL;
    }
    for (size_t t = 0; tables[t] != NULL; t++) {
        for (const struct gl_option *o = tables[t]; o->name != NULL; o++) {
            size_t m = strlen(o->name);
            if (m > MAX_NAME || (m > n ? m - n : n - m) > limit) {
                continue;
            }
            size_t d = osa_distance(name, n, o->name, m);
            if (d < best_d) {
                best = o->name;
                best_d = d;
            }
        }
    }
    return best;
}

const char *gl_option_type_name(enum gl_opt_type type)
{
    static const char *const names[] = {
        [GL_OPT_STR] = "string",  [GL_OPT_INT] = "integer",    [GL_OPT_DOUBLE] = "number",
        [GL_OPT_BOOL] = "bool",   [GL_OPT_SIZE] = "size",      [GL_OPT_DURATION] = "duration",
        [GL_OPT_LIST] = "list",   [GL_OPT_REGEX] = "regex",    [GL_OPT_RETRIES] = "retries",
        [GL_OPT_MULTI] = "rules", [GL_OPT_MAPS] = "mappings",
    };
    if ((unsigned)type >= sizeof(names) / sizeof(names[0])) {
        return "unknown";
    }
    return names[type];
}
