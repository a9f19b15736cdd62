/*
 * Regular expressions over PCRE2 (8-bit). A pattern is compiled once, with
 * PCRE2_UTF | PCRE2_MATCH_INVALID_UTF so that Unicode classes work in
 * patterns while log lines holding invalid UTF-8 still match instead of
 * failing, then JIT-compiled when the platform supports it (the interpreter
 * is the fallback).
 *
 * A struct gl_regex owns its compiled code, one match-data block sized for
 * the pattern, a JIT stack and the list of named groups in group-number
 * order. Matching allocates nothing, which is why a regex must only be used
 * from one thread (the loop thread).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "codec/regex.h"
#include "util/mem.h"

/* One named group: PCRE2's name table entry, kept in group-number order. */
struct named {
    const char *name; /* points into PCRE2's name table, owned by the code */
    uint32_t number;
};

struct gl_regex {
    char *pattern;
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mctx; /* carries the JIT stack; NULL without JIT */
    pcre2_jit_stack *stack;
    struct named *names;
    size_t name_count;
};

static int cmp_named(const void *a, const void *b)
{
    const struct named *x = a;
    const struct named *y = b;
    return x->number < y->number ? -1 : (x->number > y->number);
}

/* Reads PCRE2's name table (sorted by name) into re->names sorted by group number. */
static void load_names(struct gl_regex *re)
{
    uint32_t count = 0;
    uint32_t entry_size = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMECOUNT, &count);
    if (count == 0) {
        return;
    }
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
    pcre2_pattern_info(re->code, PCRE2_INFO_NAMETABLE, &table);
    re->names = gl_calloc(count, sizeof(*re->names));
    re->name_count = count;
    for (uint32_t i = 0; i < count; i++) {
        PCRE2_SPTR e = table + (size_t)i * entry_size;
        re->names[i].number = ((uint32_t)e[0] << 8) | e[1];
        re->names[i].name = (const char *)(e + 2);
    }
    qsort(re->names, count, sizeof(*re->names), cmp_named);
}

/*
 * JIT-compiles the pattern and gives it a stack that can grow to 512 KiB
 * (PCRE2's default 32 KiB runs out on long lines with nested groups). When
 * the platform has no JIT the interpreter is used and nothing is attached.
 */
static void setup_jit(struct gl_regex *re)
{
    if (pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) != 0) {
        return;
    }
    re->stack = pcre2_jit_stack_create(32 * 1024, 512 * 1024, NULL);
    re->mctx = pcre2_match_context_create(NULL);
    if (re->stack == NULL || re->mctx == NULL) {
        return;
    }
    pcre2_jit_stack_assign(re->mctx, NULL, re->stack);
}

/*
 * Compiles a pattern. Returns the regex, or NULL with a message such as
 * "missing closing parenthesis at offset 4" in err (errlen bytes, may be 0).
 */
struct gl_regex *gl_regex_new(const char *pattern, char *err, size_t errlen)
{
    int code = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &offset, NULL);
    if (c == NULL) {
        if (errlen > 0) {
            PCRE2_UCHAR msg[256];
            if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0) {
                snprintf((char *)msg, sizeof(msg), "error %d", code);
            }
            snprintf(err, errlen, "%s at offset %zu", (const char *)msg, (size_t)offset);
        }
        return NULL;
    }
    struct gl_regex *re = gl_calloc(1, sizeof(*re));
    re->pattern = gl_strdup(pattern);
    re->code = c;
    re->md = pcre2_match_data_create_from_pattern(c, NULL);
    if (re->md == NULL) {
        abort();
    }
    setup_jit(re);
    load_names(re);
    return re;
}

void gl_regex_free(struct gl_regex *re)
{
    if (re == NULL) {
        return;
    }
    pcre2_match_context_free(re->mctx);
    pcre2_jit_stack_free(re->stack);
    pcre2_match_data_free(re->md);
    pcre2_code_free(re->code);
    gl_free(re->names);
    gl_free(re->pattern);
    gl_free(re);
}

/* Runs one match into re->md; returns PCRE2's result (> 0 on a match). */
static int run(struct gl_regex *re, const char *subject, size_t len)
{
    return pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, re->md, re->mctx);
}

bool gl_regex_match(struct gl_regex *re, const char *subject, size_t len)
{
    return run(re, subject, len) > 0;
}

/*
 * Matches and calls cb for each named group that took part, in group-number
 * order. The value passed to cb points into subject. Returns the number of
 * groups reported, or -1 when there is no match (or the match failed, e.g.
 * on PCRE2's match limit).
 */
int gl_regex_named(struct gl_regex *re, const char *subject, size_t len, gl_regex_group_cb cb,
                   void *data)
{
    int rc = run(re, subject, len);
    if (rc <= 0) {
        return -1;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
    int reported = 0;
    for (size_t i = 0; i < re->name_count; i++) {
        uint32_t n = re->names[i].number;
        if (n >= (uint32_t)rc || ov[2 * n] == PCRE2_UNSET || ov[2 * n + 1] < ov[2 * n]) {
            continue;
        }
        cb(data, re->names[i].name, subject + ov[2 * n], ov[2 * n + 1] - ov[2 * n]);
        reported++;
    }
    return reported;
}

int gl_regex_groups(struct gl_regex *re, const char *subject, size_t len,
                    struct gl_regex_group *groups, size_t max)
{
    int rc = run(re, subject, len);
    if (rc <= 0) {
        return -1;
    }
    uint32_t captures = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &captures);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
    size_t n = (size_t)captures + 1 < max ? (size_t)captures + 1 : max;
    size_t named = 0;
    for (size_t i = 0; i < n; i++) {
        bool set = i < (size_t)rc && ov[2 * i] != PCRE2_UNSET && ov[2 * i + 1] >= ov[2 * i];
        groups[i].start = set ? (long)ov[2 * i] : -1;
        groups[i].end = set ? (long)ov[2 * i + 1] : -1;
        groups[i].name = NULL;
        while (named < re->name_count && re->names[named].number < i) {
            named++;
        }
        if (named < re->name_count && re->names[named].number == i) {
            groups[i].name = re->names[named].name;
        }
    }
    return (int)n;
}

const char *gl_regex_pattern(const struct gl_regex *re)
{
    return re->pattern;
}

/* Returns true when the pattern was JIT-compiled (false means the interpreter runs it). */
bool gl_regex_jit(const struct gl_regex *re)
{
    size_t size = 0;
    return pcre2_pattern_info(re->code, PCRE2_INFO_JITSIZE, &size) == 0 && size > 0;
}
