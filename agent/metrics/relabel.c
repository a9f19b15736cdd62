/*
 * Relabelling (see relabel.h): label sets, the rules' config checks, and
 * the actions. Each action reads the set as the rule found it and writes
 * the result in place, as Prometheus' labels.Builder does: a labelmap that
 * sets a name another source label also maps to is decided by the sorted
 * order of the sources, a labeldrop never sees labels set by itself.
 *
 * Invariant: a set's labels are sorted by name with unique names and
 * non-empty values; every string they point to outlives the set's next
 * reset (the caller's, or the arena's).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/regex.h"
#include "metrics/prom_parse.h"
#include "metrics/relabel.h"
#include "net/dl.h"
#include "util/error.h"
#include "util/mem.h"

#define ARENA_BLOCK 4096
#define GROUPS_MAX 32 /* groups a replacement can name: $0 to $31 */

/* ---- the arena ----------------------------------------------------------- */

struct gl_arena_block {
    struct gl_arena_block *next;
    size_t used;
    size_t cap;
    char data[];
};

static struct gl_arena_block *block_new(size_t cap, struct gl_arena_block *next)
{
    struct gl_arena_block *b = gl_malloc(sizeof(*b) + cap);
    b->next = next;
    b->used = 0;
    b->cap = cap;
    return b;
}

const char *gl_labelset_keep(struct gl_labelset *ls, const char *s, size_t n)
{
    struct gl_arena_block *b = ls->arena;
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = ARENA_BLOCK;
        while (cap < n) {
            cap *= 2;
        }
        b = ls->arena = block_new(cap, b);
    }
    char *p = b->data + b->used;
    memcpy(p, s, n);
    b->used += n;
    return p;
}

/* Keeps one block as large as everything used, so the next round allocates nothing. */
static void arena_reset(struct gl_labelset *ls)
{
    struct gl_arena_block *b = ls->arena;
    if (b == NULL || b->next == NULL) {
        if (b != NULL) {
            b->used = 0;
        }
        return;
    }
    size_t total = 0;
    while (b != NULL) {
        struct gl_arena_block *next = b->next;
        total += b->cap;
        gl_free(b);
        b = next;
    }
    ls->arena = block_new(total, NULL);
}

/* ---- label sets ---------------------------------------------------------- */

void gl_labelset_init(struct gl_labelset *ls)
{
    memset(ls, 0, sizeof(*ls));
    gl_buf_init(&ls->tmp);
    gl_buf_init(&ls->out);
}

void gl_labelset_close(struct gl_labelset *ls)
{
    while (ls->arena != NULL) {
        struct gl_arena_block *next = ls->arena->next;
        gl_free(ls->arena);
        ls->arena = next;
    }
    gl_free(ls->l);
    gl_free(ls->snap);
    gl_buf_close(&ls->tmp);
    gl_buf_close(&ls->out);
    memset(ls, 0, sizeof(*ls));
}

void gl_labelset_reset(struct gl_labelset *ls)
{
    ls->n = 0;
    arena_reset(ls);
}

static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c != 0 ? c : (an > bn) - (an < bn);
}

/* The position of name, or where it would go (*found false). */
static uint32_t find(const struct gl_labelset *ls, const char *name, size_t len, bool *found)
{
    uint32_t lo = 0, hi = ls->n;
    /* Labels arrive mostly in order: look at the end first. */
    if (hi > 0 && name_cmp(ls->l[hi - 1].name, ls->l[hi - 1].name_len, name, len) < 0) {
        *found = false;
        return hi;
    }
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        int c = name_cmp(ls->l[mid].name, ls->l[mid].name_len, name, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return lo;
}

const struct gl_label *gl_labelset_get(const struct gl_labelset *ls, const char *name,
                                       size_t len)
{
    bool found;
    uint32_t i = find(ls, name, len, &found);
    return found ? &ls->l[i] : NULL;
}

static void insert_at(struct gl_labelset *ls, uint32_t i, struct gl_label l)
{
    if (ls->n == ls->cap) {
        ls->cap = ls->cap ? ls->cap * 2 : 32;
        ls->l = gl_realloc(ls->l, ls->cap * sizeof(*ls->l));
    }
    memmove(&ls->l[i + 1], &ls->l[i], (ls->n - i) * sizeof(*ls->l));
    ls->l[i] = l;
    ls->n++;
}

static void remove_at(struct gl_labelset *ls, uint32_t i)
{
    memmove(&ls->l[i], &ls->l[i + 1], (ls->n - i - 1) * sizeof(*ls->l));
    ls->n--;
}

void gl_labelset_set(struct gl_labelset *ls, const char *name, size_t nlen, const char *value,
                     size_t vlen)
{
    bool found;
    uint32_t i = find(ls, name, nlen, &found);
    if (vlen == 0) {
        if (found) {
            remove_at(ls, i);
        }
        return;
    }
    struct gl_label l = { name, (uint32_t)nlen, value, (uint32_t)vlen };
    if (found) {
        ls->l[i] = l;
    } else {
        insert_at(ls, i, l);
    }
}

int gl_labelset_add(struct gl_labelset *ls, const char *name, size_t nlen, const char *value,
                    size_t vlen)
{
    bool found;
    uint32_t i = find(ls, name, nlen, &found);
    if (found) {
        return GL_EINVAL;
    }
    if (vlen > 0) {
        insert_at(ls, i, (struct gl_label){ name, (uint32_t)nlen, value, (uint32_t)vlen });
    }
    return 0;
}

void gl_labelset_del(struct gl_labelset *ls, const char *name, size_t len)
{
    gl_labelset_set(ls, name, len, NULL, 0);
}

/* Copies the set as it is into ls->snap, for the rules that walk it while changing it. */
static void snapshot(struct gl_labelset *ls)
{
    if (ls->snap_cap < ls->n) {
        ls->snap_cap = ls->cap;
        ls->snap = gl_realloc(ls->snap, ls->snap_cap * sizeof(*ls->snap));
    }
    memcpy(ls->snap, ls->l, ls->n * sizeof(*ls->l));
}

/* ---- expansion ----------------------------------------------------------- */

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

/*
 * Reads a group reference after '$': "name", "{name}" or digits. Returns its
 * length in the template (0: not a reference, the '$' is literal) and the
 * name's place; *num is the group number, or -1 for a name.
 */
static size_t group_ref(const char *t, const char **name, size_t *name_len, long *num)
{
    bool brace = t[0] == '{';
    const char *p = t + brace;
    size_t n = 0;
    while (word_char(p[n])) {
        n++;
    }
    if (n == 0 || (brace && p[n] != '}')) {
        return 0;
    }
    *name = p;
    *name_len = n;
    *num = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]) || *num >= 100000000) {
            *num = -1;
            break;
        }
        *num = *num * 10 + (p[i] - '0');
    }
    if (p[0] == '0' && n > 1) {
        *num = -1; /* no leading zeros: "$01" names a group called "01" */
    }
    return n + (brace ? 2 : 0);
}

/* Appends the group that a reference names, when it took part in the match. */
static void put_group(struct gl_buf *out, const char *src, const struct gl_regex_group *g,
                      int ng, const char *name, size_t name_len, long num)
{
    for (int i = 0; i < ng; i++) {
        bool hit = num >= 0 ? i == num
                            : g[i].name != NULL && strlen(g[i].name) == name_len &&
                                  memcmp(g[i].name, name, name_len) == 0;
        if (hit) {
            if (g[i].start >= 0) {
                gl_buf_append(out, src + g[i].start, (size_t)(g[i].end - g[i].start));
            }
            return;
        }
    }
}

/* Appends tmpl with $ references replaced by the match's groups, as Go's Regexp.Expand. */
static void expand(struct gl_buf *out, const char *tmpl, const char *src,
                   const struct gl_regex_group *g, int ng)
{
    const char *t = tmpl;
    for (;;) {
        const char *dollar = strchr(t, '$');
        if (dollar == NULL) {
            gl_buf_puts(out, t);
            return;
        }
        gl_buf_append(out, t, (size_t)(dollar - t));
        t = dollar + 1;
        if (*t == '$') {
            gl_buf_putc(out, '$');
            t++;
            continue;
        }
        const char *name;
        size_t name_len;
        long num;
        size_t used = group_ref(t, &name, &name_len, &num);
        if (used == 0) {
            gl_buf_putc(out, '$');
            continue;
        }
        put_group(out, src, g, ng, name, name_len, num);
        t += used;
    }
}

/* ---- actions ------------------------------------------------------------- */

/* The source labels' values joined with the separator, into ls->tmp (from its start). */
static void join_sources(const struct gl_relabel_rule *rule, struct gl_labelset *ls)
{
    gl_buf_reset(&ls->tmp);
    gl_buf_puts(&ls->tmp, "");
    for (size_t i = 0; i < rule->n_sources; i++) {
        if (i > 0) {
            gl_buf_puts(&ls->tmp, rule->separator);
        }
        const struct gl_label *l = gl_labelset_get(ls, rule->sources[i], strlen(rule->sources[i]));
        if (l != NULL) {
            gl_buf_append(&ls->tmp, l->value, l->value_len);
        }
    }
}

/* Sets target to bytes, copied to the arena first. */
static void set_copy(struct gl_labelset *ls, const char *target, size_t tlen, const char *v,
                     size_t n)
{
    gl_labelset_set(ls, target, tlen, n > 0 ? gl_labelset_keep(ls, v, n) : NULL, n);
}

static void do_replace(const struct gl_relabel_rule *rule, struct gl_labelset *ls, size_t vlen)
{
    struct gl_regex_group g[GROUPS_MAX];
    int ng = gl_regex_groups(rule->regex, ls->tmp.data, vlen, g, GROUPS_MAX);
    if (ng < 0) {
        return;
    }
    gl_buf_reset(&ls->out);
    expand(&ls->out, rule->target, ls->tmp.data, g, ng);
    size_t tlen = ls->out.len;
    if (!gl_prom_label_name_valid(ls->out.data, tlen)) {
        gl_labelset_del(ls, rule->target, strlen(rule->target));
        return;
    }
    const char *target = gl_labelset_keep(ls, ls->out.data, tlen);
    gl_buf_reset(&ls->out);
    expand(&ls->out, rule->replacement, ls->tmp.data, g, ng);
    if (ls->out.len == 0) {
        gl_labelset_del(ls, rule->target, strlen(rule->target));
        return;
    }
    set_copy(ls, target, tlen, ls->out.data, ls->out.len);
}

static void do_case(const struct gl_relabel_rule *rule, struct gl_labelset *ls, size_t vlen)
{
    for (size_t i = 0; i < vlen; i++) {
        char c = ls->tmp.data[i];
        ls->tmp.data[i] = (char)(rule->action == GL_RELABEL_LOWERCASE ? tolower((unsigned char)c)
                                                                       : toupper((unsigned char)c));
    }
    set_copy(ls, rule->target, strlen(rule->target), ls->tmp.data, vlen);
}

/* The low 64 bits of the value's MD5, big-endian, modulo the modulus (Prometheus' sum64). */
static void do_hashmod(const struct gl_relabel_rule *rule, struct gl_labelset *ls, size_t vlen)
{
    unsigned char md[16];
    unsigned int mdlen = 0;
    uint64_t h = 0;
    gl_crypto->evp_digest(ls->tmp.data, vlen, md, &mdlen, gl_crypto->evp_md5(), NULL);
    for (int i = 8; i < 16; i++) {
        h = h << 8 | md[i];
    }
    char num[24];
    int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)(h % rule->modulus));
    const char *v = gl_labelset_keep(ls, num, (size_t)n);
    gl_labelset_set(ls, rule->target, strlen(rule->target), v, (size_t)n);
}

/* labelmap, labeldrop, labelkeep: each label's name against the regex, as the rule found them. */
static void do_names(const struct gl_relabel_rule *rule, struct gl_labelset *ls)
{
    struct gl_regex_group g[GROUPS_MAX];
    uint32_t n = ls->n;
    snapshot(ls);
    for (uint32_t i = 0; i < n; i++) {
        const struct gl_label *l = &ls->snap[i];
        if (rule->action != GL_RELABEL_LABELMAP) {
            bool hit = gl_regex_match(rule->regex, l->name, l->name_len);
            if (hit == (rule->action == GL_RELABEL_LABELDROP)) {
                gl_labelset_del(ls, l->name, l->name_len);
            }
            continue;
        }
        int ng = gl_regex_groups(rule->regex, l->name, l->name_len, g, GROUPS_MAX);
        if (ng < 0) {
            continue;
        }
        gl_buf_reset(&ls->out);
        expand(&ls->out, rule->replacement, l->name, g, ng);
        const char *name = gl_labelset_keep(ls, ls->out.data ? ls->out.data : "", ls->out.len);
        gl_labelset_set(ls, name, ls->out.len, l->value, l->value_len);
    }
}

/* One rule; returns false when it drops the set. */
static bool apply_rule(const struct gl_relabel_rule *rule, struct gl_labelset *ls)
{
    join_sources(rule, ls);
    size_t vlen = ls->tmp.len;
    const struct gl_label *t;
    switch (rule->action) {
    case GL_RELABEL_KEEP:
    case GL_RELABEL_DROP:
        return gl_regex_match(rule->regex, ls->tmp.data, vlen) ==
               (rule->action == GL_RELABEL_KEEP);
    case GL_RELABEL_KEEPEQUAL:
    case GL_RELABEL_DROPEQUAL:
        t = gl_labelset_get(ls, rule->target, strlen(rule->target));
        return ((t != NULL ? t->value_len : 0) == vlen &&
                (vlen == 0 || memcmp(t->value, ls->tmp.data, vlen) == 0)) ==
               (rule->action == GL_RELABEL_KEEPEQUAL);
    case GL_RELABEL_REPLACE:
        do_replace(rule, ls, vlen);
        return true;
    case GL_RELABEL_LOWERCASE:
    case GL_RELABEL_UPPERCASE:
        do_case(rule, ls, vlen);
        return true;
    case GL_RELABEL_HASHMOD:
        do_hashmod(rule, ls, vlen);
        return true;
    case GL_RELABEL_LABELMAP:
    case GL_RELABEL_LABELDROP:
    case GL_RELABEL_LABELKEEP:
        do_names(rule, ls);
        return true;
    }
    return true;
}

bool gl_relabel_apply(const struct gl_relabel *r, struct gl_labelset *ls)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!apply_rule(&r->rules[i], ls)) {
            return false;
        }
    }
    return true;
}

/* ---- rules: checks as Prometheus' UnmarshalYAML ------------------------- */

static const char *const action_names[] = {
    [GL_RELABEL_REPLACE] = "replace",     [GL_RELABEL_KEEP] = "keep",
    [GL_RELABEL_DROP] = "drop",           [GL_RELABEL_KEEPEQUAL] = "keepequal",
    [GL_RELABEL_DROPEQUAL] = "dropequal", [GL_RELABEL_HASHMOD] = "hashmod",
    [GL_RELABEL_LABELMAP] = "labelmap",   [GL_RELABEL_LABELDROP] = "labeldrop",
    [GL_RELABEL_LABELKEEP] = "labelkeep", [GL_RELABEL_LOWERCASE] = "lowercase",
    [GL_RELABEL_UPPERCASE] = "uppercase",
};

/*
 * Prometheus' pattern for a target_label that may hold references:
 * ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$ -- letters, digits after the
 * first character, and $name or ${name} anywhere.
 */
static bool target_template_valid(const char *s)
{
    if (*s == '\0' || isdigit((unsigned char)*s)) {
        return false;
    }
    while (*s != '\0') {
        if (*s == '$') {
            const char *p = s + 1 + (s[1] == '{');
            size_t n = 0;
            while (isalnum((unsigned char)p[n]) || p[n] == '_') {
                n++;
            }
            if (n == 0 || (s[1] == '{' && p[n] != '}')) {
                return false;
            }
            s = p + n + (s[1] == '{');
        } else if (isalnum((unsigned char)*s) || *s == '_') {
            s++;
        } else {
            return false;
        }
    }
    return true;
}

static bool is_(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

/* The config checks of one rule; returns NULL or the reason (into err for formatted ones). */
static const char *check_spec(const struct gl_relabel_spec *s, enum gl_relabel_action a,
                              uint64_t modulus, char *err, size_t errlen)
{
    const char *an = action_names[a];
    const char *target = s->target != NULL ? s->target : "";
    bool plain_repl = s->replacement == NULL || is_(s->replacement, "$1");
    bool plain_sep = s->separator == NULL || is_(s->separator, ";");
    bool with_target = a == GL_RELABEL_REPLACE || a == GL_RELABEL_LOWERCASE ||
                       a == GL_RELABEL_UPPERCASE || a == GL_RELABEL_KEEPEQUAL ||
                       a == GL_RELABEL_DROPEQUAL;
    if (modulus == 0 && a == GL_RELABEL_HASHMOD) {
        return "relabel configuration for hashmod requires non-zero modulus";
    }
    if ((with_target || a == GL_RELABEL_HASHMOD) && target[0] == '\0') {
        snprintf(err, errlen, "relabel configuration for %s action requires 'target_label' "
                 "value", an);
        return err;
    }
    if ((with_target && !target_template_valid(target)) ||
        (a == GL_RELABEL_HASHMOD && !gl_prom_label_name_valid(target, strlen(target)))) {
        snprintf(err, errlen, "\"%s\" is invalid 'target_label' for %s action", target, an);
        return err;
    }
    if (with_target && a != GL_RELABEL_REPLACE && !plain_repl) {
        snprintf(err, errlen, "'replacement' can not be set for %s action", an);
        return err;
    }
    if (a == GL_RELABEL_LABELMAP && !target_template_valid(s->replacement ? s->replacement
                                                                           : "$1")) {
        snprintf(err, errlen, "\"%s\" is invalid 'replacement' for %s action", s->replacement,
                 an);
        return err;
    }
    if ((a == GL_RELABEL_KEEPEQUAL || a == GL_RELABEL_DROPEQUAL) &&
        (s->regex != NULL || modulus != 0 || !plain_sep || !plain_repl)) {
        snprintf(err, errlen, "%s action requires only 'source_labels' and `target_label`, and "
                 "no other fields", an);
        return err;
    }
    if ((a == GL_RELABEL_LABELDROP || a == GL_RELABEL_LABELKEEP) &&
        (s->sources != NULL || target[0] != '\0' || modulus != 0 || !plain_sep || !plain_repl)) {
        snprintf(err, errlen, "%s action requires only 'regex', and no other fields", an);
        return err;
    }
    for (size_t i = 0; i < s->n_sources; i++) {
        if (!gl_prom_label_name_valid(s->sources[i], strlen(s->sources[i]))) {
            snprintf(err, errlen, "\"%s\" is not a valid label name", s->sources[i]);
            return err;
        }
    }
    return NULL;
}

/* Reads the action and modulus of a spec; returns NULL or the reason. */
static const char *read_spec(const struct gl_relabel_spec *s, enum gl_relabel_action *a,
                             uint64_t *modulus, char *err, size_t errlen)
{
    *a = GL_RELABEL_REPLACE;
    *modulus = 0;
    if (s->action != NULL) {
        size_t i = 0;
        while (i < sizeof(action_names) / sizeof(action_names[0]) &&
               strcasecmp(s->action, action_names[i]) != 0) {
            i++;
        }
        if (i == sizeof(action_names) / sizeof(action_names[0])) {
            snprintf(err, errlen, "unknown relabel action \"%s\"", s->action);
            return err;
        }
        *a = (enum gl_relabel_action)i;
    }
    if (s->modulus != NULL) {
        char *end;
        unsigned long long m = strtoull(s->modulus, &end, 10);
        if (s->modulus[0] == '\0' || s->modulus[0] == '-' || *end != '\0') {
            snprintf(err, errlen, "modulus \"%s\" is not a number", s->modulus);
            return err;
        }
        *modulus = m;
    }
    return NULL;
}

void gl_relabel_init(struct gl_relabel *r)
{
    memset(r, 0, sizeof(*r));
}

static void rule_free(struct gl_relabel_rule *rule)
{
    for (size_t i = 0; i < rule->n_sources; i++) {
        gl_free(rule->sources[i]);
    }
    gl_free(rule->sources);
    gl_free(rule->separator);
    gl_regex_free(rule->regex);
    gl_free(rule->target);
    gl_free(rule->replacement);
}

void gl_relabel_free(struct gl_relabel *r)
{
    for (size_t i = 0; i < r->n; i++) {
        rule_free(&r->rules[i]);
    }
    gl_free(r->rules);
    memset(r, 0, sizeof(*r));
}

/* Compiles the anchored regex of a rule; returns NULL with the reason in err. */
static struct gl_regex *compile(const char *text, char *err, size_t errlen)
{
    struct gl_buf b;
    char why[160];
    gl_buf_init(&b);
    gl_buf_printf(&b, "\\A(?:%s)\\z", text);
    struct gl_regex *re = gl_regex_new(b.data, why, sizeof(why));
    gl_buf_close(&b);
    if (re == NULL) {
        snprintf(err, errlen, "bad regex \"%s\": %s", text, why);
    }
    return re;
}

int gl_relabel_add(struct gl_relabel *r, const struct gl_relabel_spec *s, char *err,
                   size_t errlen)
{
    struct gl_relabel_rule rule = { 0 };
    const char *why = read_spec(s, &rule.action, &rule.modulus, err, errlen);
    why = why ? why : check_spec(s, rule.action, rule.modulus, err, errlen);
    if (why == NULL && rule.action == GL_RELABEL_HASHMOD && gl_dl_crypto(err, errlen) < 0) {
        why = err;
    }
    if (why == NULL) {
        rule.regex = compile(s->regex != NULL ? s->regex : "(.*)", err, errlen);
        why = rule.regex == NULL ? err : NULL;
    }
    if (why != NULL) {
        if (why != err) {
            snprintf(err, errlen, "%s", why);
        }
        return GL_EINVAL;
    }
    rule.n_sources = s->n_sources;
    rule.sources = gl_calloc(s->n_sources + 1, sizeof(char *));
    for (size_t i = 0; i < s->n_sources; i++) {
        rule.sources[i] = gl_strdup(s->sources[i]);
    }
    rule.separator = gl_strdup(s->separator != NULL ? s->separator : ";");
    rule.target = gl_strdup(s->target != NULL ? s->target : "");
    rule.replacement = gl_strdup(s->replacement != NULL ? s->replacement : "$1");
    r->rules = gl_realloc(r->rules, (r->n + 1) * sizeof(*r->rules));
    r->rules[r->n++] = rule;
    return 0;
}

/* Fills a spec from one mapping; returns NULL or the reason (an unknown key). */
static const char *spec_of_map(const struct gl_map *m, struct gl_relabel_spec *s, char *err,
                               size_t errlen)
{
    static const char *const keys[] = { "action", "separator", "regex", "modulus",
                                        "target_label", "replacement" };
    static const char *const none[1] = { NULL };
    memset(s, 0, sizeof(*s));
    const char **fields[] = { &s->action, &s->separator, &s->regex, &s->modulus, &s->target,
                              &s->replacement };
    for (size_t i = 0; i < m->count; i++) {
        const struct gl_map_entry *e = &m->entries[i];
        if (strcmp(e->key, "source_labels") == 0) {
            s->sources = (const char *const *)e->values.items;
            s->n_sources = e->values.count;
            if (s->sources == NULL) {
                s->sources = none; /* given, empty: not the same as absent */
            }
            continue;
        }
        size_t k = 0;
        while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(e->key, keys[k]) != 0) {
            k++;
        }
        if (k == sizeof(keys) / sizeof(keys[0]) || e->list) {
            snprintf(err, errlen, k == sizeof(keys) / sizeof(keys[0])
                                      ? "unknown key '%s'" : "%s: expected a single value",
                     e->key);
            return err;
        }
        *fields[k] = e->values.items[0];
    }
    return NULL;
}

int gl_relabel_add_maps(struct gl_relabel *r, const struct gl_maplist *maps, char *err,
                        size_t errlen)
{
    size_t before = r->n;
    char why[256];
    for (size_t i = 0; i < maps->count; i++) {
        struct gl_relabel_spec s;
        if (spec_of_map(&maps->items[i], &s, why, sizeof(why)) != NULL ||
            gl_relabel_add(r, &s, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "rule %zu (line %d): %s", i + 1, maps->items[i].line, why);
            while (r->n > before) {
                rule_free(&r->rules[--r->n]);
            }
            return GL_EINVAL;
        }
    }
    return 0;
}
