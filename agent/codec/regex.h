/*
 * Regular expressions: PCRE2 compiled once with JIT, matched without
 * allocating (one match-data block per compiled pattern, used only on the
 * loop thread). Every regex in the agent (match_regex, grep, parser, multiline)
 * goes through here.
 */
#ifndef GL_REGEX_H
#define GL_REGEX_H

#include <stdbool.h>
#include <stddef.h>

struct gl_regex;

/* A captured group: offsets into the subject; start == -1 when the group did not take part. */
struct gl_regex_group {
    const char *name;  /* NULL for unnamed groups */
    long start;
    long end;
};

/*
 * Compiles a pattern. Returns NULL on error and writes a message such as
 * "missing closing parenthesis at offset 4" into err (errlen bytes).
 */
struct gl_regex *gl_regex_new(const char *pattern, char *err, size_t errlen);
void gl_regex_free(struct gl_regex *re);

/* Returns true when the pattern matches anywhere in subject. */
bool gl_regex_match(struct gl_regex *re, const char *subject, size_t len);

/*
 * Matches and reports named groups through cb (called once per named group that matched,
 * in pattern order). Returns the number of named groups reported, or -1 when there is no match.
 */
typedef void (*gl_regex_group_cb)(void *data, const char *name, const char *value, size_t len);
int gl_regex_named(struct gl_regex *re, const char *subject, size_t len, gl_regex_group_cb cb,
                   void *data);

/*
 * Matches and fills groups with group 0 (the whole match) and each numbered
 * group after it, named or not, in number order: at most max of them.
 * Returns how many were filled (the pattern's groups plus one, up to max),
 * or -1 when there is no match.
 */
int gl_regex_groups(struct gl_regex *re, const char *subject, size_t len,
                    struct gl_regex_group *groups, size_t max);

const char *gl_regex_pattern(const struct gl_regex *re);

/* Returns true when the pattern runs JIT-compiled, false when PCRE2's interpreter runs it. */
bool gl_regex_jit(const struct gl_regex *re);

#endif
