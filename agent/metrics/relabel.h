/*
 * Prometheus relabelling: relabel_configs over a target's discovery labels
 * and metric_relabel_configs over each scraped sample's, with Prometheus
 * 2.42's semantics (model/relabel): the actions replace, keep, drop,
 * keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase
 * and uppercase; regexes anchored at both ends; replacements expanded as
 * Go's Regexp.Expand does ($1, ${1}, $name, ${name}, $$); an empty value
 * is an absent label. The config checks are Prometheus' too, so a rule it
 * refuses is refused here, with its words.
 *
 * A label set (struct gl_labelset) holds labels sorted by name. It borrows
 * the strings it is given; what a rule makes (an expanded replacement, a
 * lowercased value) goes into the set's own arena, valid until the set is
 * reset; a label name a rule sets may be the rule's own string, so a set
 * is read while its rules live. After the first few uses nothing is
 * allocated per set.
 *
 * Where it differs: regexes are PCRE2's (RE2's syntax for everything
 * relabelling is written with), and lowercase/uppercase change ASCII
 * letters only.
 */
#ifndef GL_METRICS_RELABEL_H
#define GL_METRICS_RELABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/option.h"
#include "metrics/batch.h"
#include "util/buf.h"

struct gl_regex;
struct gl_arena_block;

/* ---- label sets ---------------------------------------------------------- */

struct gl_labelset {
    struct gl_label *l;          /* sorted by name, names unique, values not empty */
    uint32_t n;
    uint32_t cap;
    struct gl_arena_block *arena;
    struct gl_buf tmp;           /* a rule's joined source values */
    struct gl_buf out;           /* what a rule expands */
    struct gl_label *snap;       /* the set as a rule found it (labelmap, labeldrop) */
    uint32_t snap_cap;
};

void gl_labelset_init(struct gl_labelset *ls);
void gl_labelset_close(struct gl_labelset *ls);
/* Empties the set and its arena (strings kept earlier are gone). */
void gl_labelset_reset(struct gl_labelset *ls);

/* The value of a label, or NULL (borrowed until the set changes). */
const struct gl_label *gl_labelset_get(const struct gl_labelset *ls, const char *name,
                                       size_t len);
/* Sets a label, replacing one of that name; an empty value removes it. Strings are borrowed. */
void gl_labelset_set(struct gl_labelset *ls, const char *name, size_t nlen, const char *value,
                     size_t vlen);
/* Adds a label that must be new: returns 0, or GL_EINVAL when the name is there already. */
int gl_labelset_add(struct gl_labelset *ls, const char *name, size_t nlen, const char *value,
                    size_t vlen);
void gl_labelset_del(struct gl_labelset *ls, const char *name, size_t len);
/* Copies bytes into the set's arena; valid until gl_labelset_reset(). */
const char *gl_labelset_keep(struct gl_labelset *ls, const char *s, size_t n);

/* ---- rules --------------------------------------------------------------- */

enum gl_relabel_action {
    GL_RELABEL_REPLACE, GL_RELABEL_KEEP,      GL_RELABEL_DROP,      GL_RELABEL_KEEPEQUAL,
    GL_RELABEL_DROPEQUAL, GL_RELABEL_HASHMOD, GL_RELABEL_LABELMAP,  GL_RELABEL_LABELDROP,
    GL_RELABEL_LABELKEEP, GL_RELABEL_LOWERCASE, GL_RELABEL_UPPERCASE,
};

/*
 * One rule as written: NULL fields take Prometheus' defaults (action
 * replace, separator ";", regex "(.*)", replacement "$1", no target, no
 * modulus). sources is NULL when source_labels was not given.
 */
struct gl_relabel_spec {
    const char *action;
    const char *const *sources;
    size_t n_sources;
    const char *separator;
    const char *regex;
    const char *modulus;
    const char *target;
    const char *replacement;
};

struct gl_relabel_rule {
    enum gl_relabel_action action;
    char **sources;
    size_t n_sources;
    char *separator;
    struct gl_regex *regex;      /* anchored: \A(?:regex)\z */
    uint64_t modulus;
    char *target;
    char *replacement;
};

struct gl_relabel {
    struct gl_relabel_rule *rules;
    size_t n;
};

void gl_relabel_init(struct gl_relabel *r);
void gl_relabel_free(struct gl_relabel *r);

/*
 * Adds a rule after checking it as Prometheus checks its config. Returns 0,
 * or GL_EINVAL with the reason in err ("relabel configuration for hashmod
 * requires non-zero modulus").
 */
int gl_relabel_add(struct gl_relabel *r, const struct gl_relabel_spec *spec, char *err,
                   size_t errlen);

/*
 * Adds the rules of a mappings option (relabel_configs), each mapping with
 * the keys source_labels, separator, regex, modulus, target_label,
 * replacement and action. Returns 0, or GL_EINVAL with "rule N (line L):
 * reason" in err; no rule is added then.
 */
int gl_relabel_add_maps(struct gl_relabel *r, const struct gl_maplist *maps, char *err,
                        size_t errlen);

/* Runs the rules over the set in order. Returns false when one dropped it (keep, drop...). */
bool gl_relabel_apply(const struct gl_relabel *r, struct gl_labelset *ls);

#endif
