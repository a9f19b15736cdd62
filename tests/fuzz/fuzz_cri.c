/*
 * Fuzzes plugins/in_tail's CRI path: the input is split into lines, each is
 * parsed as CRI, the pieces are joined (max 64 bytes) and the joined lines
 * go through a built-in multiline rule set (chosen by the first byte) with a
 * 128-byte bound. Records must stay inside their bounds and parsed messages
 * inside their lines.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec/timefmt.h"
#include "plugins/in_tail/in_tail.h"

#define JOIN_MAX 64
#define ML_MAX 128

static void to_multiline(struct tail_ml *m, const struct tail_joined *r, uint64_t now)
{
    struct tail_joined out;
    assert(r->len <= JOIN_MAX);
    if (tail_ml_add(m, r->msg, r->len, r->ts_ns, now, &out) == 1) {
        assert(out.len <= ML_MAX);
    }
}

static void feed_line(struct tail_join *j, struct tail_ml *m, const char *line, size_t len,
                      uint64_t now)
{
    struct tail_line l;
    if (tail_parse_cri(line, len, &l) != 0) {
        return;
    }
    assert(l.msg >= line && l.msg + l.len == line + len);
    assert(l.stream == TAIL_STDOUT || l.stream == TAIL_STDERR);
    struct tail_joined out[2];
    int n = tail_join_add(j, &l, out);
    assert(n >= 0 && n <= 2);
    for (int i = 0; i < n; i++) {
        to_multiline(m, &out[i], now);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const rules[] = { "java", "python", "go" };
    const char *text = (const char *)data;
    struct tail_join j;
    struct tail_ml m;
    tail_join_init(&j, JOIN_MAX);
    tail_ml_init(&m, tail_ml_builtin(rules[size > 0 ? data[0] % 3 : 0]), ML_MAX);
    uint64_t now = 0;
    for (size_t start = 0; start < size; now++) {
        const char *nl = memchr(text + start, '\n', size - start);
        size_t end = nl != NULL ? (size_t)(nl - text) : size;
        feed_line(&j, &m, text + start, end - start, now);
        start = end + 1;
    }
    struct tail_joined out;
    if (tail_join_flush(&j, &out) == 1) {
        to_multiline(&m, &out, now);
    }
    if (tail_ml_flush(&m, now, 0, &out) == 1) {
        assert(out.len <= ML_MAX);
    }
    assert(tail_ml_flush(&m, now, 0, &out) == 0);
    uint64_t ns;
    (void)gl_timefmt_parse_rfc3339(text, size, &ns);
    tail_ml_close(&m);
    tail_join_close(&j);
    return 0;
}
