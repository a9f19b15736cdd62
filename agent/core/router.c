/*
 * The router: which filters and outputs a tag reaches, and the hand-off of a
 * closed chunk through its filters to every output that matched it.
 *
 * Patterns are Fluent Bit's: `*` matches any run of characters (dots
 * included), `?` one character; match_regex is a PCRE2 pattern on the whole
 * tag. Filters run in config order over the whole chunk; a chunk no filter
 * changed is passed on as is (no copy). Invariant: a routed chunk holds one
 * reference per output it was pushed to, and the last release acknowledges
 * the input.
 */
#include <string.h>

#include "codec/regex.h"
#include "core/chunk.h"
#include "core/engine.h"
#include "core/event.h"
#include "core/input.h"
#include "core/log.h"
#include "util/error.h"
#include "util/mem.h"

/* Glob match of `*` and `?` without recursion (the classic backtracking walk). */
bool gl_router_match(const char *pattern, const char *tag, size_t tag_len)
{
    size_t t = 0;
    const char *star = NULL;
    size_t star_t = 0;
    const char *p = pattern;
    while (t < tag_len) {
        if (*p == '*') {
            star = p++;
            star_t = t;
        } else if (*p != '\0' && (*p == '?' || *p == tag[t])) {
            p++;
            t++;
        } else if (star != NULL) {
            p = star + 1;
            t = ++star_t;
        } else {
            return false;
        }
    }
    while (*p == '*') {
        p++;
    }
    return *p == '\0';
}

/*
 * Whether some tag matches both patterns (either may hold `*` and `?`): the
 * walk of two globs side by side, each star free to absorb what the other
 * side has. Tags are short; the table of positions is small.
 */
bool gl_router_overlap(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    /* reach[i][j]: the first i characters of a and j of b can stand for one string. */
    bool *reach = gl_calloc((n + 1) * (m + 1), sizeof(*reach));
#define AT(i, j) reach[(i) * (m + 1) + (j)]
    AT(0, 0) = true;
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = 0; j <= m; j++) {
            if (!AT(i, j)) {
                continue;
            }
            if (i < n && a[i] == '*') {
                AT(i + 1, j) = true;
                if (j < m) {
                    AT(i, j + 1) = true;
                }
            }
            if (j < m && b[j] == '*') {
                AT(i, j + 1) = true;
                if (i < n) {
                    AT(i + 1, j) = true;
                }
            }
            if (i < n && j < m && a[i] != '*' && b[j] != '*' &&
                (a[i] == '?' || b[j] == '?' || a[i] == b[j])) {
                AT(i + 1, j + 1) = true;
            }
        }
    }
    bool both = AT(n, m);
#undef AT
    gl_free(reach);
    return both;
}

bool gl__instance_matches(const struct gl_instance *ins, const char *tag, size_t tag_len)
{
    const struct gl_common *o = &ins->core->opts;
    if (o->match != NULL && gl_router_match(o->match, tag, tag_len)) {
        return true;
    }
    if (o->match_regex != NULL && gl_regex_match(o->match_regex, tag, tag_len)) {
        return true;
    }
    return false;
}

bool gl__instance_may_match(const struct gl_instance *ins, const char *tag)
{
    const struct gl_common *o = &ins->core->opts;
    if (o->match != NULL && gl_router_overlap(o->match, tag)) {
        return true;
    }
    if (o->match_regex != NULL) {
        /* A regex against a pattern cannot be decided here: it may. */
        return strpbrk(tag, "*?") != NULL || gl_regex_match(o->match_regex, tag, strlen(tag));
    }
    return false;
}

/* Takes what a chunk derived from c needs of it; frees c. */
static struct gl_chunk *derive(struct gl_instance *f, struct gl_chunk *c, struct gl_chunk *out)
{
    out->ack = c->ack;
    out->has_ack = c->has_ack;
    out->file_seq = c->file_seq;
    out->file_bytes = c->file_bytes;
    out->replayed = c->replayed;
    c->file_bytes = 0;
    c->replayed = 0;
    /* Kept records may refer to shared values c held. */
    gl_shared_set_take(&out->shared, &c->shared);
    gl__input_replace(c, out);
    f->stats.records_out += out->records;
    f->stats.bytes_out += out->data.len;
    if (out->records < c->records) {
        gl_instance_drop(f, "filtered", c->records - out->records);
    }
    gl_chunk_free(c);
    return out;
}

/* The chunk goes on as it was. */
static struct gl_chunk *unchanged(struct gl_instance *f, struct gl_chunk *c)
{
    f->stats.records_out += c->records;
    f->stats.bytes_out += c->data.len;
    return c;
}

static struct gl_chunk *run_filter_chunk(struct gl_instance *f, struct gl_chunk *c)
{
    struct gl_chunk *out = gl_chunk_new(c->input, c->tag, c->tag_len);
    out->type = c->type;
    if (f->plugin->filter_chunk(f, c, out) == GL_FILTER_KEEP) {
        gl_chunk_free(out);
        return unchanged(f, c);
    }
    return derive(f, c, out);
}

/*
 * Runs one filter over a chunk. Returns the chunk itself when every record
 * was kept, or a new chunk (the old one freed) holding what the filter kept
 * and wrote. Kept records before the first change are copied in one piece.
 */
static struct gl_chunk *run_filter(struct gl_instance *f, struct gl_chunk *c,
                                   struct gl_buf *scratch)
{
    struct gl_chunk_iter it;
    struct gl_record rec;
    struct gl_event ev;
    struct gl_shared_set refs = { 0 };
    struct gl_chunk *out = NULL;
    f->stats.records_in += c->records;
    f->stats.bytes_in += c->data.len;
    if (f->plugin->filter_chunk != NULL) {
        return run_filter_chunk(f, c);
    }
    gl_chunk_iter_init(&it, c);
    uint32_t kept = 0;
    while (gl_chunk_next(&it, &rec) == 0) {
        gl_buf_reset(scratch);
        gl__event_begin_buf(&ev, scratch, rec.ts);
        gl__event_meta(&ev, rec.meta);
        ev.shared = &refs;
        enum gl_filter_result r = f->plugin->filter(f, &rec, &ev);
        if (r == GL_FILTER_KEEP) {
            kept++;
            if (out != NULL) {
                gl_buf_append(&out->data, rec.raw, rec.raw_len);
            }
            continue;
        }
        if (out == NULL) {
            out = gl_chunk_new(c->input, c->tag, c->tag_len);
            /* Filters that rewrite records usually grow them: room for twice the input. */
            gl_buf_reserve(&out->data, 2 * c->data.len);
            gl_buf_append(&out->data, c->data.data, (size_t)(rec.raw - c->data.data));
        }
        if (r == GL_FILTER_MODIFIED) {
            gl__event_finish(&ev);
            gl_buf_append(&out->data, scratch->data, scratch->len);
            kept++;
        }
    }
    gl_chunk_iter_close(&it);
    if (out == NULL) { /* every record kept as it was */
        gl_shared_set_clear(&refs);
        return unchanged(f, c);
    }
    out->records = kept;
    gl_shared_set_take(&out->shared, &refs);
    return derive(f, c, out);
}

void gl__chunk_release(struct gl_chunk *c)
{
    if (--c->refs <= 0) {
        gl__input_ack(c);
    }
}

/* ---- holding ------------------------------------------------------------- */

/*
 * A chunk a filter asked to hold, and the chunks of the same tag that came
 * after it: they wait in order so that a container's records never pass
 * each other.
 */
struct gl_hold {
    struct gl_slot *slot;
    struct gl_chunk *chunk;
    size_t next_filter;           /* the filter that held it: the chunk resumes there */
    struct gl_chunk **waiting;
    size_t n_waiting;
    size_t cap_waiting;
};

static void route_from(struct gl_slot *slot, struct gl_chunk *c, size_t first, bool asked);

static void wait_behind(struct gl_hold *h, struct gl_chunk *c)
{
    if (h->n_waiting == h->cap_waiting) {
        h->cap_waiting = h->cap_waiting ? h->cap_waiting * 2 : 4;
        h->waiting = gl_realloc(h->waiting, h->cap_waiting * sizeof(*h->waiting));
    }
    h->waiting[h->n_waiting++] = c;
}

void gl_hold_release(struct gl_hold *h)
{
    struct gl_slot *slot = h->slot;
    slot->held = NULL;
    route_from(slot, h->chunk, h->next_filter, true);
    for (size_t i = 0; i < h->n_waiting; i++) {
        if (slot->held != NULL) {
            /* Held again by a later chunk: the rest keeps waiting behind it. */
            wait_behind(slot->held, h->waiting[i]);
        } else {
            route_from(slot, h->waiting[i], 0, false);
        }
    }
    gl_free(h->waiting);
    gl_free(h);
}

/* Asks a filter whether it must hold the chunk; parks it when so. */
static bool held_by(struct gl_slot *slot, struct gl_instance *f, struct gl_chunk *c, size_t i)
{
    if (f->plugin->hold == NULL) {
        return false;
    }
    struct gl_hold *h = gl_calloc(1, sizeof(*h));
    h->slot = slot;
    h->chunk = c;
    h->next_filter = i;
    slot->held = h;
    if (f->plugin->hold(f, c, h) == GL_EAGAIN) {
        return true;
    }
    slot->held = NULL;
    gl_free(h);
    return false;
}

/* ---- routing ------------------------------------------------------------- */

static bool takes(const struct gl_instance *ins, const struct gl_chunk *c)
{
    return (gl_plugin_data(ins->plugin) & c->type) != 0;
}

/* Pushes a chunk to every output of the route that accepts its kind of data. */
static void to_outputs(struct gl_slot *slot, struct gl_chunk *c)
{
    int n = 0;
    for (size_t i = 0; i < slot->n_outputs; i++) {
        n += takes(slot->outputs[i], c);
    }
    if (c->records > 0 && n == 0) {
        const char *reason = slot->n_outputs == 0 ? "no_output_matched" : "no_output_accepts";
        gl_instance_drop(slot->ins, reason, c->records);
        /* Once per tag: the routes do not change until a reload, every chunk is counted. */
        if (!slot->warned_unrouted) {
            slot->warned_unrouted = true;
            gl_log_warn(slot->ins,
                        "tag %.*s: %s; its %s are discarded (counted in gleaner_input_"
                        "dropped_records_total{reason=\"%s\"}; logged once per tag)",
                        (int)slot->tag_len, slot->tag,
                        slot->n_outputs == 0 ? "no output matches it"
                                             : "no output it matches takes them",
                        gl_data_name(c->type), reason);
        }
    }
    if (c->records == 0 || n == 0) {
        gl__input_ack(c);
        return;
    }
    c->refs = n;
    for (size_t i = 0; i < slot->n_outputs; i++) {
        if (takes(slot->outputs[i], c)) {
            gl__buffer_push(slot->outputs[i], c);
        }
    }
}

/*
 * Takes a chunk through the slot's filters from index `first` and pushes it
 * to every output of the route. Filters and outputs that do not accept the
 * chunk's kind of data (logs, metrics) are passed by. `asked`: the filter
 * at `first` already held this chunk and let it go, so it is not asked
 * again. A chunk that reaches no output, or that the filters emptied, is
 * acknowledged at once.
 */
static void route_from(struct gl_slot *slot, struct gl_chunk *c, size_t first, bool asked)
{
    struct gl_buf *scratch = &slot->ins->engine->scratch;
    for (size_t i = first; i < slot->n_filters && c->records > 0; i++) {
        if (!takes(slot->filters[i], c)) {
            continue;
        }
        if (!(asked && i == first) && held_by(slot, slot->filters[i], c, i)) {
            return;
        }
        c = run_filter(slot->filters[i], c, scratch);
    }
    to_outputs(slot, c);
}

void gl__router_dispatch(struct gl_slot *slot, struct gl_chunk *c)
{
    if (slot->held != NULL) {
        wait_behind(slot->held, c);
        return;
    }
    route_from(slot, c, 0, false);
}
