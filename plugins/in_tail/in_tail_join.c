/*
 * Partial lines: container runtimes cut long lines into pieces (CRI marks
 * them P until the F that ends the line; docker leaves the newline off all
 * but the last 16 KiB piece). A struct tail_join glues the pieces of one
 * stream of one file back into the line the program wrote.
 *
 * It owns two buffers: buf holds the line being joined, done holds a record
 * cut at max, so that it can stay borrowed while the rest of the line starts
 * filling buf. A finished line is handed out from buf itself, which the next
 * piece resets. Invariant: buf never holds more than max
 * bytes; whatever would go past is emitted first, flagged split.
 */
#include <string.h>

#include "in_tail.h"

/* Starts empty; a max of 0 means unbounded. */
void tail_join_init(struct tail_join *j, size_t max)
{
    memset(j, 0, sizeof(*j));
    gl_buf_init(&j->buf);
    gl_buf_init(&j->done);
    j->max = max > 0 ? max : SIZE_MAX;
}

void tail_join_close(struct tail_join *j)
{
    gl_buf_close(&j->buf);
    gl_buf_close(&j->done);
}

/* Describes b as the record to emit. */
static void describe(const struct tail_join *j, const struct gl_buf *b, struct tail_joined *out)
{
    out->msg = b->data != NULL ? b->data : "";
    out->len = b->len;
    out->ts_ns = j->ts_ns;
    out->split = j->cut;
}

/*
 * Emits what buf holds while the line goes on: buf's memory moves to done
 * (swapped, so nothing is copied) and buf starts empty for the rest.
 */
static void hand_out(struct tail_join *j, struct tail_joined *out)
{
    struct gl_buf t = j->done;
    j->done = j->buf;
    j->buf = t;
    gl_buf_reset(&j->buf);
    describe(j, &j->done, out);
}

/*
 * A piece is appended to what is held. When the two together pass max, buf
 * is filled up to max and handed out flagged split, and the piece's rest
 * (at most max bytes, since pieces are cut to max) starts the next record of
 * the same line. A final piece then hands out what is held.
 */
int tail_join_add(struct tail_join *j, const struct tail_line *l, struct tail_joined out[2])
{
    size_t len = l->len;
    if (!j->active && !l->partial && len <= j->max) {
        out[0] = (struct tail_joined){ .msg = l->msg, .len = len, .ts_ns = l->ts_ns };
        return 1;
    }
    if (len > j->max) {
        j->dropped += len - j->max;
        len = j->max;
    }
    if (!j->active) {
        j->active = true;
        j->cut = false;
        j->ts_ns = l->ts_ns;
        gl_buf_reset(&j->buf);
    }
    int n = 0;
    const char *p = l->msg;
    if (j->buf.len + len > j->max) {
        size_t take = j->max - j->buf.len;
        gl_buf_append(&j->buf, p, take);
        j->cut = true;
        hand_out(j, &out[n++]);
        p += take;
        len -= take;
    }
    gl_buf_append(&j->buf, p, len);
    if (!l->partial) {
        /* Described in place: buf is not touched again before the next call resets it. */
        describe(j, &j->buf, &out[n++]);
        j->active = false;
    }
    return n;
}

/* Hands out the line being joined, if any, as it is (flagged split when part of it went before). */
int tail_join_flush(struct tail_join *j, struct tail_joined *out)
{
    if (!j->active) {
        return 0;
    }
    describe(j, &j->buf, out);
    j->active = false;
    return 1;
}
