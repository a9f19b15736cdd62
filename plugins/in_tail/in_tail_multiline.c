/*
 * Multiline: the lines of one stack trace, Go panic or user-defined block
 * joined into one record, per stream of one file, after partial lines were
 * joined.
 *
 * A rule set classifies each line, given a small state (0: nothing that can
 * be continued is held), as the start of a group, a continuation, the last
 * line of a group, or a line that stands alone. The built-ins ("java",
 * "python", "go") are state machines over regexes compiled once, on first
 * use, and shared by every file (the loop thread is the only user). User
 * rules are a start regex and a continuation regex.
 *
 * A struct tail_ml owns two buffers: buf holds the group being built, done
 * the group emitted last, so that a record stays borrowed while the next
 * group starts. Invariant: a group is never continued past max bytes; what
 * would go past is emitted first, flagged split.
 */
#include <stdio.h>
#include <string.h>

#include "codec/regex.h"
#include "in_tail.h"
#include "util/error.h"
#include "util/mem.h"

/* What a line is to the group being built. */
enum verdict {
    ML_START,   /* begins a group that later lines may continue */
    ML_CONT,    /* continues the group */
    ML_LAST,    /* continues the group and ends it */
    ML_SINGLE,  /* a record of its own, which nothing continues */
};

/* The regex slots of a rule set; each classifier uses the ones it needs. */
enum { RE_START, RE_CONT, RE_LAST, RE_NOT_START, RE_COUNT };

typedef enum verdict (*classify_cb)(const struct tail_ml_rules *r, int *state, const char *s,
                                    size_t n);

struct tail_ml_rules {
    const char *name;
    classify_cb classify;
    const char *pattern[RE_COUNT];
    struct gl_regex *re[RE_COUNT];
    bool builtin;
    bool compiled;
};

/* The state of a rule set with one: a group that can be continued is held. */
#define IN_GROUP 1

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool match(const struct tail_ml_rules *r, int slot, const char *s, size_t n)
{
    return gl_regex_match(r->re[slot], s, n);
}

/* ---- built-in rules ---- */

/*
 * Java: any line that does not start with whitespace (and is not itself a
 * frame, "Caused by:" or "... N more") starts a group, usually the log line
 * or the exception line; frames, causes, suppressed exceptions and "... N
 * more" continue it.
 */
static enum verdict classify_java(const struct tail_ml_rules *r, int *state, const char *s,
                                  size_t n)
{
    if (*state == IN_GROUP && match(r, RE_CONT, s, n)) {
        return ML_CONT;
    }
    if (n > 0 && !is_space(s[0]) && !match(r, RE_NOT_START, s, n)) {
        *state = IN_GROUP;
        return ML_START;
    }
    *state = 0;
    return ML_SINGLE;
}

/*
 * Python: "Traceback (most recent call last):" starts a group, indented
 * lines (frames and source) continue it, and the exception line ends it.
 * Every other line stands alone.
 */
static enum verdict classify_python(const struct tail_ml_rules *r, int *state, const char *s,
                                    size_t n)
{
    if (*state == IN_GROUP) {
        if (n > 0 && is_space(s[0])) {
            return ML_CONT;
        }
        if (match(r, RE_LAST, s, n)) {
            *state = 0;
            return ML_LAST;
        }
    }
    if (match(r, RE_START, s, n)) {
        *state = IN_GROUP;
        return ML_START;
    }
    *state = 0;
    return ML_SINGLE;
}

/*
 * Go: "panic: ", "fatal error: ", a goroutine header or "http: panic
 * serving" starts a group; blank lines, indented lines, goroutine headers,
 * function lines, "created by" and "[signal" continue it; "exit status N"
 * ends it.
 */
static enum verdict classify_go(const struct tail_ml_rules *r, int *state, const char *s,
                                size_t n)
{
    if (*state == IN_GROUP) {
        if (match(r, RE_CONT, s, n)) {
            return ML_CONT;
        }
        if (match(r, RE_LAST, s, n)) {
            *state = 0;
            return ML_LAST;
        }
    }
    if (match(r, RE_START, s, n)) {
        *state = IN_GROUP;
        return ML_START;
    }
    *state = 0;
    return ML_SINGLE;
}

static struct tail_ml_rules builtins[] = {
    { .name = "java", .classify = classify_java, .builtin = true,
      .pattern = {
          [RE_CONT] = "^(?:\\s+at |\\s*Caused by:|\\s+\\.\\.\\. \\d+ |\\s*Suppressed: |"
                      "\\s*nested exception is:)",
          [RE_NOT_START] = "^(?:\\s*at |Caused by:|\\s*\\.\\.\\. \\d+ "
                           "(?:more|common frames omitted))",
      } },
    { .name = "python", .classify = classify_python, .builtin = true,
      .pattern = {
          [RE_START] = "^Traceback \\(most recent call last\\):$",
          [RE_LAST] = "^[A-Za-z_][\\w.]*(?:Error|Exception|Exit|Interrupt|Warning)?(?:: .*)?$",
      } },
    { .name = "go", .classify = classify_go, .builtin = true,
      .pattern = {
          [RE_START] = "^(?:panic: |fatal error: |goroutine \\d+ \\[)|http: panic serving",
          [RE_CONT] = "^(?:$|\\s|goroutine \\d+ \\[|[\\w./*()-]+\\(.*\\)$|created by |"
                      "\\[signal )",
          [RE_LAST] = "^exit status \\d+$",
      } },
};

/* Compiles the rule set's patterns; returns 0, or GL_EINVAL with a message in err. */
static int compile(struct tail_ml_rules *r, char *err, size_t errlen)
{
    static const char *const slot_names[RE_COUNT] = { "start", "cont", "last", "not-start" };
    for (int i = 0; i < RE_COUNT; i++) {
        if (r->pattern[i] == NULL) {
            continue;
        }
        char e[128];
        r->re[i] = gl_regex_new(r->pattern[i], e, sizeof(e));
        if (r->re[i] == NULL) {
            snprintf(err, errlen, "%s regex: %s", slot_names[i], e);
            return GL_EINVAL;
        }
    }
    r->compiled = true;
    return 0;
}

/* Returns the built-in rule set called name, compiling it on first use; NULL when unknown. */
struct tail_ml_rules *tail_ml_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        struct tail_ml_rules *r = &builtins[i];
        if (strcmp(r->name, name) != 0) {
            continue;
        }
        char err[160];
        if (!r->compiled && compile(r, err, sizeof(err)) != 0) {
            return NULL;
        }
        return r;
    }
    return NULL;
}

/* ---- user rules ---- */

/* start_re starts a group; cont_re (or, without one, not matching start_re) continues it. */
static enum verdict classify_user(const struct tail_ml_rules *r, int *state, const char *s,
                                  size_t n)
{
    bool start = match(r, RE_START, s, n);
    if (*state == IN_GROUP && (r->re[RE_CONT] != NULL ? match(r, RE_CONT, s, n) : !start)) {
        return ML_CONT;
    }
    *state = start ? IN_GROUP : 0;
    return start ? ML_START : ML_SINGLE;
}

/* Compiles user rules; returns NULL with a message in err when a regex does not compile. */
struct tail_ml_rules *tail_ml_rules_new(const char *start_re, const char *cont_re,
                                        char *err, size_t errlen)
{
    if (start_re == NULL) {
        snprintf(err, errlen, "start regex: missing");
        return NULL;
    }
    struct tail_ml_rules *r = gl_calloc(1, sizeof(*r));
    r->name = "user";
    r->classify = classify_user;
    r->pattern[RE_START] = start_re;
    r->pattern[RE_CONT] = cont_re;
    if (compile(r, err, errlen) != 0) {
        tail_ml_rules_free(r);
        return NULL;
    }
    /* The patterns belong to the caller: only the compiled copies are kept. */
    r->pattern[RE_START] = NULL;
    r->pattern[RE_CONT] = NULL;
    return r;
}

void tail_ml_rules_free(struct tail_ml_rules *r)
{
    if (r == NULL || r->builtin) {
        return;
    }
    for (int i = 0; i < RE_COUNT; i++) {
        if (r->re[i] != NULL) {
            gl_regex_free(r->re[i]);
        }
    }
    gl_free(r);
}

/* ---- groups ---- */

void tail_ml_init(struct tail_ml *m, const struct tail_ml_rules *rules, size_t max)
{
    memset(m, 0, sizeof(*m));
    m->rules = rules;
    gl_buf_init(&m->buf);
    gl_buf_init(&m->done);
    m->max = max > 0 ? max : SIZE_MAX;
}

void tail_ml_close(struct tail_ml *m)
{
    gl_buf_close(&m->buf);
    gl_buf_close(&m->done);
}

/* Describes b as the group to emit. */
static void describe(const struct tail_ml *m, const struct gl_buf *b, struct tail_joined *out)
{
    out->msg = b->data != NULL ? b->data : "";
    out->len = b->len;
    out->ts_ns = m->ts_ns;
    out->split = m->cut;
}

/* Emits the held group from done (buf's memory swapped there), leaving buf empty. */
static void hand_out(struct tail_ml *m, struct tail_joined *out)
{
    struct gl_buf t = m->done;
    m->done = m->buf;
    m->buf = t;
    gl_buf_reset(&m->buf);
    describe(m, &m->done, out);
}

/* Starts a new group holding the line. */
static void begin(struct tail_ml *m, const char *msg, size_t len, uint64_t ts_ns, uint64_t now_ms)
{
    gl_buf_reset(&m->buf);
    gl_buf_append(&m->buf, msg, len);
    m->ts_ns = ts_ns;
    m->last_ms = now_ms;
    m->cut = false;
    m->active = true;
}

/*
 * Appends a continuation (or last) line. Past max, the group so far is
 * emitted flagged split and the line starts the rest, which stays held even
 * when the line was the last (one record per call): the next line or a
 * flush emits it.
 */
static int extend(struct tail_ml *m, enum verdict v, const char *msg, size_t len,
                  uint64_t now_ms, struct tail_joined *out)
{
    m->last_ms = now_ms;
    if (m->buf.len + 1 + len > m->max) {
        m->cut = true;
        hand_out(m, out);
        gl_buf_append(&m->buf, msg, len);
        return 1;
    }
    gl_buf_putc(&m->buf, '\n');
    gl_buf_append(&m->buf, msg, len);
    if (v == ML_LAST) {
        /* Described in place: buf is not touched again before the next group resets it. */
        describe(m, &m->buf, out);
        m->active = false;
        return 1;
    }
    return 0;
}

/*
 * Classifies the line and acts on the verdict: a continuation extends the
 * group; a start or a lone line emits the held group and takes its place. A
 * lone line (or a last line without a group) while nothing is held goes out
 * at once, pointing at msg.
 */
int tail_ml_add(struct tail_ml *m, const char *msg, size_t len, uint64_t ts_ns,
                uint64_t now_ms, struct tail_joined *out)
{
    enum verdict v = m->rules->classify(m->rules, &m->state, msg, len);
    if ((v == ML_CONT || v == ML_LAST) && m->active) {
        return extend(m, v, msg, len, now_ms, out);
    }
    if (!m->active) {
        if (v == ML_SINGLE || v == ML_LAST) {
            *out = (struct tail_joined){ .msg = msg, .len = len, .ts_ns = ts_ns };
            return 1;
        }
        begin(m, msg, len, ts_ns, now_ms);
        return 0;
    }
    hand_out(m, out);
    begin(m, msg, len, ts_ns, now_ms);
    return 1;
}

/* Emits the held group once it has been idle for flush_ms (at once with flush_ms 0). */
int tail_ml_flush(struct tail_ml *m, uint64_t now_ms, uint64_t flush_ms,
                  struct tail_joined *out)
{
    if (!m->active || now_ms < m->last_ms + flush_ms) {
        return 0;
    }
    describe(m, &m->buf, out);
    m->active = false;
    m->state = 0;
    return 1;
}
