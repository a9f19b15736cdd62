/*
 * Fluent Bit's classic configuration format, read line by line into the tree
 * config.c builds from YAML (see classic.h for the mapping). The reader owns
 * nothing once it returns: nodes go to cfg->root, included file names to
 * cfg->files (nodes point at them for their FILE), errors to cfg->errors.
 *
 * A line is blank, a comment (# first), a directive (@INCLUDE, @SET), a
 * section header ([INPUT]) or an indented "Key Value" pair. Every malformed
 * line is recorded and skipped, so one --check shows all of them; what the
 * engine then finds (unknown keys, bad values) points into the same files.
 *
 * Invariant: every node carries its own position; a node written in an
 * included file carries that file's name, which lives as long as cfg.
 */
#include <ctype.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/classic.h"
#include "config/config.h"
#include "util/buf.h"
#include "util/mem.h"

#define MAX_INCLUDE_DEPTH 8
#define MAX_VARS 256

struct var {
    char *name;
    char *value;
};

/* One load: the tree being built and what @SET and @INCLUDE carry along. */
struct reader {
    struct gl_config *cfg;
    bool expand_env;
    struct gl_node *root;
    struct var vars[MAX_VARS];
    size_t nvars;
    char *stack[MAX_INCLUDE_DEPTH + 1]; /* real paths of the files being read */
    int depth;
    struct gl_buf comment;              /* comment lines not yet given to a node */
};

/* Where a line is: the file's name for nodes (NULL: the config's own) and its number. */
struct at {
    const char *file;
    const char *path;
    int line;
};

/* A section kind: its header, and where its mapping goes in the tree. */
struct kind {
    const char *header;
    const char *top;  /* key under the root */
    const char *list; /* key under pipeline, or NULL */
    bool merged;      /* one mapping for every header ([SERVICE]) rather than a list item */
};

static const struct kind kinds[] = {
    { "SERVICE", "service", NULL, true },
    { "INPUT", "pipeline", "inputs", false },
    { "FILTER", "pipeline", "filters", false },
    { "OUTPUT", "pipeline", "outputs", false },
    { "PARSER", "parsers", NULL, false },
    { "MULTILINE_PARSER", "multiline_parsers", NULL, false },
    { NULL, NULL, NULL, false },
};

static void read_text(struct reader *r, const struct at *file, const char *text, size_t len);

/* ---- nodes ---------------------------------------------------------------- */

static struct gl_node *new_node(enum gl_node_type type, const struct at *at, int col)
{
    struct gl_node *n = gl_calloc(1, sizeof(*n));
    n->type = type;
    n->file = at->file;
    n->line = at->line;
    n->col = col;
    return n;
}

static struct gl_node *new_scalar(const struct at *at, int col, char *value)
{
    struct gl_node *n = new_node(GL_NODE_SCALAR, at, col);
    n->value = value;
    return n;
}

static void add_item(struct gl_node *parent, struct gl_node *child)
{
    parent->items = gl_realloc(parent->items, (parent->count + 1) * sizeof(*parent->items));
    parent->items[parent->count++] = child;
}

/* Returns the value under key in map, adding an empty one of `type` at `at` when absent. */
static struct gl_node *child_of(struct gl_node *map, const char *key, enum gl_node_type type,
                                const struct at *at)
{
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        if (strcmp(map->items[i]->value, key) == 0) {
            return map->items[i + 1];
        }
    }
    add_item(map, new_scalar(at, 1, gl_strdup(key)));
    struct gl_node *v = new_node(type, at, 1);
    add_item(map, v);
    return v;
}

/* Hands the pending comment lines to a node (a key or a section). */
static void take_comment(struct reader *r, struct gl_node *n)
{
    if (r->comment.len > 0) {
        n->comment = gl_buf_take(&r->comment);
    }
}

/*
 * Adds KEY VALUE to a section. A key already there becomes a sequence of its
 * values, in the order written, positioned at its first value.
 */
static void section_add(struct gl_node *map, struct gl_node *key, struct gl_node *value)
{
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        if (strcmp(map->items[i]->value, key->value) != 0) {
            continue;
        }
        struct gl_node *old = map->items[i + 1];
        if (!old->repeated) {
            struct gl_node *seq = gl_calloc(1, sizeof(*seq));
            seq->type = GL_NODE_SEQ;
            seq->file = old->file;
            seq->line = old->line;
            seq->col = old->col;
            seq->repeated = true;
            add_item(seq, old);
            map->items[i + 1] = seq;
            old = seq;
        }
        add_item(old, value);
        gl__node_free(key);
        return;
    }
    add_item(map, key);
    add_item(map, value);
}

/* ---- text ----------------------------------------------------------------- */

/* The 1-based column of p in the line starting at line, counting characters. */
static int column(const char *line, const char *p)
{
    int col = 1;
    for (const char *q = line; q < p; q++) {
        if (((unsigned char)*q & 0xc0) != 0x80) {
            col++;
        }
    }
    return col;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

static void error(struct reader *r, const struct at *at, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void error(struct reader *r, const struct at *at, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gl__config_error_at(r->cfg, at->file, at->line, col, "%s", msg);
}

static const char *var_lookup(void *data, const char *name)
{
    const struct reader *r = data;
    for (size_t i = r->nvars; i-- > 0;) {
        if (strcmp(r->vars[i].name, name) == 0) {
            return r->vars[i].value;
        }
    }
    return r->expand_env ? getenv(name) : NULL;
}

/*
 * Expands ${VAR} in a value: @SET variables first, then the environment.
 * A failed expansion is recorded at the value and the text kept as written.
 */
static char *expand(struct reader *r, const struct at *at, int col, const char *raw)
{
    char *err = NULL;
    char *v = gl__config_expand(raw, var_lookup, r, !r->expand_env, &err);
    if (v == NULL) {
        error(r, at, col, "%s", err);
        gl_free(err);
        v = gl_strdup(raw);
    }
    return v;
}

/* ---- sections and keys ---------------------------------------------------- */

static const struct kind *find_kind(const char *name, size_t len)
{
    for (const struct kind *k = kinds; k->header != NULL; k++) {
        if (strlen(k->header) == len && strncasecmp(k->header, name, len) == 0) {
            return k;
        }
    }
    return NULL;
}

/*
 * Opens the section a header names and returns its mapping, or NULL (the
 * error recorded) for a malformed or unknown header.
 */
static struct gl_node *open_section(struct reader *r, const struct at *at, const char *line,
                                    const char *s, const char *end)
{
    const char *close = memchr(s, ']', (size_t)(end - s));
    if (close == NULL || close + 1 != end) {
        error(r, at, column(line, s), "malformed section header: expected [NAME] alone on "
              "the line, e.g. [INPUT]");
        return NULL;
    }
    const char *name = s + 1;
    size_t len = (size_t)(close - name);
    while (len > 0 && blank(*name)) {
        name++;
        len--;
    }
    while (len > 0 && blank(name[len - 1])) {
        len--;
    }
    const struct kind *k = find_kind(name, len);
    if (k == NULL) {
        error(r, at, column(line, s), "unknown section [%.*s]: expected SERVICE, INPUT, FILTER, "
              "OUTPUT, PARSER or MULTILINE_PARSER", (int)len, name);
        return NULL;
    }
    struct gl_node *map;
    if (k->list != NULL) {
        struct gl_node *pipeline = child_of(r->root, k->top, GL_NODE_MAP, at);
        map = new_node(GL_NODE_MAP, at, column(line, s));
        add_item(child_of(pipeline, k->list, GL_NODE_SEQ, at), map);
    } else if (k->merged) {
        map = child_of(r->root, k->top, GL_NODE_MAP, at);
    } else {
        map = new_node(GL_NODE_MAP, at, column(line, s));
        add_item(child_of(r->root, k->top, GL_NODE_SEQ, at), map);
    }
    /* A second [SERVICE] keeps its comment for the key under it. */
    if (map->comment == NULL) {
        take_comment(r, map);
    }
    return map;
}

/* Reads "Key Value" into the current section. */
static void key_value(struct reader *r, const struct at *at, struct gl_node *section,
                      const char *line, const char *s, const char *end)
{
    const char *k = s;
    while (s < end && !blank(*s)) {
        s++;
    }
    size_t klen = (size_t)(s - k);
    while (s < end && blank(*s)) {
        s++;
    }
    if (section == NULL) {
        error(r, at, column(line, k), "'%.*s' is outside any section: put it under a header "
              "such as [SERVICE] or [INPUT]", (int)klen, k);
        return;
    }
    if (s == end) {
        error(r, at, column(line, k), "'%.*s' has no value: write the key, spaces, then "
              "its value", (int)klen, k);
        return;
    }
    char *name = gl_strndup(k, klen);
    for (char *c = name; *c != '\0'; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    struct gl_node *key = new_scalar(at, column(line, k), name);
    take_comment(r, key);
    char *raw = gl_strndup(s, (size_t)(end - s));
    int vcol = column(line, s);
    struct gl_node *value = new_scalar(at, vcol, expand(r, at, vcol, raw));
    gl_free(raw);
    section_add(section, key, value);
}

/* ---- directives ----------------------------------------------------------- */

/* @SET name=value: a variable for ${name} in the lines after it. */
static void set_var(struct reader *r, const struct at *at, const char *line, const char *s,
                    const char *end)
{
    const char *eq = memchr(s, '=', (size_t)(end - s));
    const char *name = s;
    const char *name_end = eq ? eq : end;
    while (name_end > name && blank(name_end[-1])) {
        name_end--;
    }
    bool ok = eq != NULL && name_end > name && !isdigit((unsigned char)*name);
    for (const char *c = name; ok && c < name_end; c++) {
        ok = isalnum((unsigned char)*c) || *c == '_';
    }
    if (!ok) {
        error(r, at, column(line, s), "malformed @SET: expected @SET NAME=VALUE");
        return;
    }
    if (r->nvars == MAX_VARS) {
        error(r, at, column(line, s), "more than %d @SET variables", MAX_VARS);
        return;
    }
    const char *v = eq + 1;
    while (v < end && blank(*v)) {
        v++;
    }
    char *raw = gl_strndup(v, (size_t)(end - v));
    struct var *var = &r->vars[r->nvars];
    var->value = expand(r, at, column(line, v), raw);
    var->name = gl_strndup(name, (size_t)(name_end - name));
    r->nvars++;
    gl_free(raw);
}

/* The path an @INCLUDE names, relative to the directory of the including file. */
static char *include_path(const char *including, const char *name)
{
    struct gl_buf b;
    gl_buf_init(&b);
    const char *slash = strrchr(including, '/');
    if (name[0] != '/' && slash != NULL) {
        gl_buf_append(&b, including, (size_t)(slash + 1 - including));
    }
    gl_buf_puts(&b, name);
    return gl_buf_take(&b);
}

/* Reads one included file; a loop, a depth over the limit or an unreadable file is an error. */
static void include_one(struct reader *r, const struct at *at, int col, const char *path)
{
    char real[PATH_MAX];
    if (realpath(path, real) == NULL) {
        snprintf(real, sizeof(real), "%s", path);
    }
    for (int i = 0; i < r->depth; i++) {
        if (strcmp(r->stack[i], real) == 0) {
            error(r, at, col, "@INCLUDE %s: the file includes itself", path);
            return;
        }
    }
    if (r->depth > MAX_INCLUDE_DEPTH) {
        error(r, at, col, "@INCLUDE %s: includes nested deeper than %d", path,
              MAX_INCLUDE_DEPTH);
        return;
    }
    char *err = NULL;
    size_t len = 0;
    char *text = gl__config_read_file(path, &len, &err);
    if (text == NULL) {
        error(r, at, col, "@INCLUDE %s: %s", path, err);
        gl_free(err);
        return;
    }
    struct gl_config *cfg = r->cfg;
    cfg->files = gl_realloc(cfg->files, (cfg->file_count + 1) * sizeof(*cfg->files));
    cfg->files[cfg->file_count] = gl_strdup(path);
    struct at inner = { .file = cfg->files[cfg->file_count++], .path = path, .line = 0 };
    r->stack[r->depth++] = gl_strdup(real);
    gl_buf_printf(&r->comment, "%s@INCLUDE %s\n", r->comment.len ? "\n" : "", path);
    read_text(r, &inner, text, len);
    gl_free(r->stack[--r->depth]);
    gl_free(text);
}

/* @INCLUDE FILE: a file, or a glob whose matches are read in order (none is no error). */
static void include(struct reader *r, const struct at *at, const char *line, const char *s,
                    const char *end)
{
    int col = column(line, s);
    if (s == end) {
        error(r, at, col, "@INCLUDE needs a file name");
        return;
    }
    char *raw = gl_strndup(s, (size_t)(end - s));
    char *name = expand(r, at, col, raw);
    char *path = include_path(at->path, name);
    if (strpbrk(name, "*?[") == NULL) {
        include_one(r, at, col, path);
    } else {
        glob_t g;
        int rc = glob(path, 0, NULL, &g);
        for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
            include_one(r, at, col, g.gl_pathv[i]);
        }
        if (rc != GLOB_NOMATCH && rc != 0) {
            error(r, at, col, "@INCLUDE %s: cannot expand the pattern", path);
        }
        globfree(&g);
    }
    gl_free(path);
    gl_free(name);
    gl_free(raw);
}

static bool directive(const char *s, const char *end, const char *name, const char **arg)
{
    size_t n = strlen(name);
    if ((size_t)(end - s) < n || strncasecmp(s, name, n) != 0 ||
        (s + n < end && !blank(s[n]))) {
        return false;
    }
    s += n;
    while (s < end && blank(*s)) {
        s++;
    }
    *arg = s;
    return true;
}

/* ---- lines ---------------------------------------------------------------- */

/* Handles one line (without its end of line) of a file. */
static void read_line(struct reader *r, const struct at *at, struct gl_node **section,
                      const char *line, const char *end)
{
    const char *s = line;
    while (s < end && blank(*s)) {
        s++;
    }
    while (end > s && (blank(end[-1]) || end[-1] == '\r')) {
        end--;
    }
    const char *arg;
    if (s == end) {
        return;
    }
    if (*s == '#') {
        s++;
        s += s < end && *s == ' ';
        gl_buf_append(&r->comment, s, (size_t)(end - s));
        gl_buf_putc(&r->comment, '\n');
    } else if (*s == '[') {
        *section = open_section(r, at, line, s, end);
    } else if (directive(s, end, "@INCLUDE", &arg)) {
        include(r, at, line, arg, end);
    } else if (directive(s, end, "@SET", &arg)) {
        set_var(r, at, line, arg, end);
    } else if (*s == '@') {
        error(r, at, column(line, s), "unknown directive: expected @INCLUDE FILE or "
              "@SET NAME=VALUE");
    } else {
        key_value(r, at, *section, line, s, end);
    }
}

/* Reads the lines of one file; its sections end with it. */
static void read_text(struct reader *r, const struct at *file, const char *text, size_t len)
{
    struct at at = *file;
    struct gl_node *section = NULL;
    const char *end = text + len;
    const char *p = text;
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
        p += 3;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        at.line++;
        if (memchr(p, '\0', (size_t)(line_end - p)) != NULL) {
            error(r, &at, 1, "the line holds a NUL byte");
        } else {
            read_line(r, &at, &section, p, line_end);
        }
        p = nl ? nl + 1 : end;
    }
}

/* ---- entry points --------------------------------------------------------- */

bool gl__classic_detect(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
        p += 3;
    }
    while (p < end) {
        while (p < end && (blank(*p) || *p == '\r' || *p == '\n')) {
            p++;
        }
        if (p < end && *p == '#') {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            p = nl ? nl + 1 : end;
            continue;
        }
        break;
    }
    const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    const char *le = nl ? nl : end;
    while (le > p && (blank(le[-1]) || le[-1] == '\r')) {
        le--;
    }
    const char *arg;
    if (directive(p, le, "@INCLUDE", &arg) || directive(p, le, "@SET", &arg)) {
        return true;
    }
    if (le - p < 3 || *p != '[' || le[-1] != ']') {
        return false;
    }
    for (const char *c = p + 1; c < le - 1; c++) {
        if (!isalnum((unsigned char)*c) && *c != '_' && !blank(*c)) {
            return false;
        }
    }
    return true;
}

void gl__classic_load(struct gl_config *cfg, const char *path, const char *text, size_t len,
                      bool expand_env)
{
    struct reader *r = gl_calloc(1, sizeof(*r));
    r->cfg = cfg;
    r->expand_env = expand_env;
    gl_buf_init(&r->comment);
    struct at at = { .file = NULL, .path = path, .line = 1 };
    r->root = new_node(GL_NODE_MAP, &at, 1);
    at.line = 0;
    char real[PATH_MAX];
    r->stack[r->depth++] = gl_strdup(realpath(path, real) ? real : path);
    cfg->classic = true;
    read_text(r, &at, text, len);
    gl_free(r->stack[0]);
    for (size_t i = 0; i < r->nvars; i++) {
        gl_free(r->vars[i].name);
        gl_free(r->vars[i].value);
    }
    gl_buf_close(&r->comment);
    cfg->root = r->root;
    gl_free(r);
}
