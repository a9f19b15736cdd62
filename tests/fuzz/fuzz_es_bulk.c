/*
 * Fuzzes the es output's reading of what a cluster answers: the bulk
 * response reader (es_reply_parse, es_reply_item, es_reply_error) and each
 * item's verdict, the GET / version reader, cloud_id decoding, and the
 * queue taking a fuzzed answer for a batch of up to 16 items (per-item
 * retries, dead letters, drops, splits), then ending its jobs. The first
 * byte picks what runs and its settings; the rest is the input. Whatever the
 * answer, every item ends done, dropped or in a batch, and a verdict is one
 * of the five.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "plugins/out_es/out_es.h"
#include "util/error.h"
#include "util/mem.h"

static struct es E;
static uint64_t metrics[16];
static struct es_batch *sent[64];
static int n_sent;
static uint32_t drops;
static uint64_t now_ms;

static void op_send(struct es *e, struct es_batch *b)
{
    (void)e;
    if (n_sent < 64) {
        sent[n_sent++] = b;
    } else {
        struct es_answer a = { .err = gl_http_err_canceled };
        e->stopping = true;
        es_batch_result(e, b, &a);
        e->stopping = false;
    }
}

static void op_drop(struct es_job *j, uint32_t index, const char *reason)
{
    if (index >= j->records || reason == NULL) {
        abort();
    }
    drops++;
}

static void op_done(struct es_job *j)
{
    (void)j;
}

static void op_arm(struct es *e, uint64_t delay)
{
    (void)e;
    (void)delay;
}

static uint64_t op_now(struct es *e)
{
    (void)e;
    return now_ms;
}

static void init_es(unsigned sel)
{
    memset(&E, 0, sizeof(E));
    uint64_t **m[] = { &E.m.requests, &E.m.requests_failed, &E.m.items, &E.m.duplicates,
                       &E.m.retried, &E.m.rejections, &E.m.dead_letters, &E.m.bytes,
                       &E.m.splits, &E.m.concurrency, &E.m.concurrency_limit };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        *m[i] = &metrics[i];
    }
    E.ops = (struct es_ops){ .send = op_send, .drop = op_drop, .done = op_done, .arm = op_arm,
                             .now = op_now };
    E.bulk_max = 1 << 20;
    E.retry_base_ms = 1;
    E.retry_cap_ms = 2;
    E.retry_limit = (sel & 8) ? 2 : -1;
    E.dead_letter_index = (sel & 16) ? "dead" : NULL;
    E.op = ES_OP_CREATE;
    es_aimd_init(&E.aimd, 4);
    es_queue_init(&E);
}

/* A job of n items, each a create with an _id (so that dead letters get one). */
static struct es_job *job_of(uint32_t n, uint8_t flags)
{
    struct es_job *j = es_job_new(&E, NULL, n);
    j->items = gl_calloc(n, sizeof(*j->items));
    j->cap = j->n_items = n;
    for (uint32_t i = 0; i < n; i++) {
        size_t off = j->arena.len;
        gl_buf_printf(&j->arena, "{\"create\":{\"_index\":\"i\",\"_id\":\"%u\"}}\n", i);
        uint32_t action = (uint32_t)(j->arena.len - off);
        gl_buf_puts(&j->arena, "{\"n\":1}\n");
        j->items[i] = (struct es_item){ .off = off, .len = (uint32_t)(j->arena.len - off),
                                        .action_len = action, .index = i, .flags = flags };
    }
    return j;
}

static void read_reply(const char *text, size_t len)
{
    struct es_reply r;
    struct es_result res;
    es_reply_parse(&r, text, len);
    for (size_t i = 0; i < r.n_items + 1; i++) {
        es_reply_item(&r, i, &res);
        if ((res.type == NULL && res.type_len != 0) || res.status < 0 || res.status >= 1000 ||
            es_item_verdict(&res, i & 1) > ES_V_REJECTED ||
            es_drop_reason(res.type, res.type_len) == NULL) {
            abort();
        }
    }
    es_reply_error(&r, &res);
    es_reply_free(&r);
}

/* One batch of up to 16 items answered with the input, then whatever follows, then stop. */
static void queue_round(unsigned sel, uint8_t k, const char *text, size_t len)
{
    static const long statuses[] = { 200, 201, 413, 429, 503, 400 };
    init_es(sel);
    n_sent = 0;
    drops = 0;
    uint32_t n = (uint32_t)(k % 16) + 1;
    es_job_submit(job_of(n, (sel & 32) ? ES_ITEM_GENERATED : 0));
    for (int round = 0; round < 3 && n_sent > 0; round++) {
        struct es_batch *b = sent[--n_sent];
        struct es_reply r;
        int parsed = es_reply_parse(&r, text, len) == 0 || r.parsed;
        struct es_answer a = { .status = statuses[(sel >> 6) % 6], .reply = parsed ? &r : NULL };
        es_batch_result(&E, b, &a);
        es_reply_free(&r);
        now_ms += 10;
        es_pump(&E);
    }
    if (drops > n) {
        abort();
    }
    es_jobs_abandon(&E, NULL);
    struct es_answer gone = { .err = gl_http_err_canceled };
    while (n_sent > 0) {
        es_batch_result(&E, sent[--n_sent], &gone);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        gl_log_configure(GL_LOG_OFF, GL_LOG_LOGFMT);
        quiet = 1;
    }
    if (size < 2) {
        return 0;
    }
    unsigned sel = data[0];
    const char *text = (const char *)data + 2;
    size_t len = size - 2;
    struct es_version v;
    char *host = NULL;
    int64_t port;
    switch (sel & 3) {
    case 0:
        read_reply(text, len);
        break;
    case 1:
        queue_round(sel, data[1], text, len);
        break;
    case 2:
        if (es_version_parse_root(text, len, &v) == 0 && (v.major <= 0 || v.number[0] == 0)) {
            abort();
        }
        break;
    default: {
        char *s = gl_strndup(text, len);
        if (es_cloud_id_decode(s, &host, &port) == 0 && (host == NULL || port <= 0)) {
            abort();
        }
        gl_free(host);
        gl_free(s);
        break;
    }
    }
    return 0;
}
