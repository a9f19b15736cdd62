/*
 * The filesystem buffer with a whole engine, a test input and a test
 * output whose flushes the test completes by hand: a chunk is on disk until
 * delivered and comes back after a stop that abandoned it; a full output
 * keeps new chunks on disk instead of pausing the input, and they come
 * back in order; a chunk that alone takes the input to its mem_buf_limit
 * stays in memory; positions are acknowledged once on disk;
 * storage.total_limit_size drops the oldest chunks waiting and counts
 * them; chunks that go on from memory are written as they are, those that
 * wait on disk compressed; a damaged file is moved aside and start-up goes
 * on; shared values the records refer to come back with them; chunks close
 * at their own size and are written several at once.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "codec/json.h"
#include "codec/shared.h"
#include "core/chunk.h"
#include "core/chunk_file.h"
#include "core/event.h"
#include "core/flush.h"
#include "core/input.h"
#include "core/storage.h"
#include "util/error.h"

#include "engine_harness.h"

static int pauses, acks;
static struct gl_flush *held[64];
static int n_held;

static void tin_pause(struct gl_instance *ins) { (void)ins; pauses++; }
static void tin_ack(struct gl_instance *ins, const struct gl_ack *a)
{
    (void)ins;
    (void)a;
    acks++;
}

static void tout_flush(struct gl_instance *ins, struct gl_flush *f)
{
    (void)ins;
    held[n_held++] = f;
}

static const struct gl_plugin test_in = {
    .kind = GL_INPUT, .name = "test_in", .description = "test", .pause = tin_pause,
    .ack = tin_ack,
};
static const struct gl_plugin test_out = {
    .kind = GL_OUTPUT, .name = "test_out", .description = "test", .flush = tout_flush,
};
const struct gl_plugin *const gl_plugins[] = { &test_in, &test_out, NULL };

static char dir[64];
static char yaml[1024];

/*
 * A config with a filesystem input (in_extra goes on it) under a fresh
 * storage.path, and an output of mem_buf_limit out_limit (extra goes on it).
 */
static const char *config_with(const char *in_extra, const char *out_limit, const char *extra)
{
    snprintf(yaml, sizeof(yaml),
             "service: { flush: 1h, scheduler.base: 1ms, storage.path: %s }\n"
             "pipeline:\n"
             "  inputs: [ { name: test_in, alias: in, tag: t, storage.type: filesystem %s } ]\n"
             "  outputs: [ { name: test_out, match: '*', mem_buf_limit: %s %s } ]\n",
             dir, in_extra, out_limit, extra);
    return yaml;
}

/* The same with an output of 1 KiB, full at the first chunk. */
static const char *config(const char *extra)
{
    return config_with("", "1KiB", extra);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/gl-test-storage-XXXXXX");
    assert_non_null(mkdtemp(dir));
    pauses = acks = n_held = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Chunk files in the input's buffer directory (sub is "" or "corrupt/"). */
static int files(const char *sub)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/in.buffer/%s", dir, sub);
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;) {
        n += strstr(de->d_name, ".chunk") != NULL;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/* Chunk files in the input's buffer directory whose data is compressed (not stored as it is). */
static int compressed_files(void)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/in.buffer", dir);
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;) {
        if (strstr(de->d_name, ".chunk") == NULL) {
            continue;
        }
        char file[512], head[GL_CHUNK_FILE_HEADER];
        snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
        FILE *fp = fopen(file, "rb");
        assert_non_null(fp);
        assert_int_equal(fread(head, 1, sizeof(head), fp), sizeof(head));
        fclose(fp);
        n += (head[6] & GL_CHUNK_FILE_STORED) == 0;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/* Turns the loop until the input's chunk writes are all done. */
static void settle(struct gl_instance *in)
{
    while (in->core->storage->pending > 0) {
        uv_run(in->loop, UV_RUN_ONCE);
    }
}

/*
 * Emits n records of about 100 bytes, with positions from pos when pos is
 * not NONE (as tail does; without, as dummy does), closes the chunk and
 * waits for its write.
 */
#define NONE UINT64_MAX
static int emit_chunk(struct gl_instance *in, int n, uint64_t pos)
{
    static const char pad[80] = { 'x' };
    int rc = 0;
    for (int i = 0; i < n; i++) {
        struct gl_event ev;
        gl_event_begin(&ev, in, 1000 + (pos == NONE ? 0 : pos) + (uint64_t)i);
        gl_event_kv_str(&ev, "log", pad, sizeof(pad));
        if (pos != NONE) {
            gl_event_position(&ev, 7, pos + (uint64_t)i, pos + (uint64_t)i + 1);
        }
        rc = gl_event_commit(&ev) < 0 ? GL_EPAUSED : rc;
    }
    gl__input_flush_open(in);
    settle(in);
    return rc;
}

/* The time of the first record of the flush's chunk. */
static uint64_t first_ts(const struct gl_flush *f)
{
    struct gl_chunk_iter it;
    struct gl_record rec;
    gl_chunk_iter_init(&it, f->chunk);
    assert_int_equal(gl_chunk_next(&it, &rec), 0);
    gl_chunk_iter_close(&it);
    return rec.ts;
}

/*
 * Stops the engine while its output holds a flush (grace 0: the flush is
 * abandoned, its file stays, and nothing of the chunk is left in memory)
 * and starts it again on the same storage.path; returns it once the chunk
 * read back is held.
 */
static struct fx *restart(struct fx *fx)
{
    fx_close(fx);
    assert_int_equal(files(""), 1);
    assert_int_equal(gl_shared_count(), 0);
    n_held = 0;
    fx = fx_open(config(""));
    turn(fx);
    turn(fx);
    assert_int_equal(n_held, 1);
    return fx;
}

static void test_storage_chunk_waits_on_disk_across_a_stop(void **state)
{
    (void)state;
    struct fx *fx = fx_open(config(""));
    emit_chunk(fx->e->inputs[0], 5, NONE);
    assert_int_equal(files(""), 1);
    turn(fx);
    assert_int_equal(n_held, 1);
    fx = restart(fx);
    assert_int_equal(held[0]->records, 5);
    assert_int_equal(first_ts(held[0]), 1000);
    gl_flush_done(held[0], GL_OK);
    assert_int_equal(files(""), 0);
    fx_close(fx);
}

static void test_storage_full_output_diverts_instead_of_pausing(void **state)
{
    (void)state;
    struct fx *fx = fx_open(config(""));
    struct gl_instance *in = fx->e->inputs[0];
    emit_chunk(in, 30, 0); /* 3 KiB: the output is full */
    assert_true(fx->e->outputs[0]->core->full);
    assert_int_equal(emit_chunk(in, 10, 30), 0);
    assert_int_equal(emit_chunk(in, 10, 40), 0);
    assert_int_equal(pauses, 0);
    assert_int_equal(in->core->storage->backlog, 2);
    assert_int_equal(files(""), 3);
    /* The first went on from memory, as it is; the two waiting on disk are compressed. */
    assert_int_equal(compressed_files(), 2);
    assert_int_equal(*in->core->storage->m_compressed, 2);
    assert_int_equal(acks, 3); /* every position is committed once its chunk is on disk */
    turn(fx);
    assert_int_equal(n_held, 1);
    gl_flush_done(held[0], GL_OK);
    assert_int_equal(acks, 3);
    turn(fx);
    turn(fx);
    assert_int_equal(n_held, 2);
    assert_int_equal(first_ts(held[1]), 1030);
    gl_flush_done(held[1], GL_OK);
    turn(fx);
    turn(fx);
    assert_int_equal(n_held, 3);
    assert_int_equal(first_ts(held[2]), 1040);
    gl_flush_done(held[2], GL_OK);
    assert_int_equal(files(""), 0);
    assert_int_equal(fx->e->chunks_up, 0);
    fx_close(fx);
}

/*
 * A filesystem input closes its chunks at GL_STORAGE_CHUNK_SIZE, not
 * GL_CHUNK_SIZE, and has GL_STORAGE_WRITES_MAX of them written at once
 * before it pauses; each goes on once written, in order.
 */
static void test_storage_chunks_close_smaller_and_write_together(void **state)
{
    (void)state;
    struct fx *fx = fx_open(config_with("", "64MiB", ""));
    struct gl_instance *in = fx->e->inputs[0];
    struct gl_storage *st = in->core->storage;
    static const char pad[80] = { 'x' };
    int records = 0;
    for (unsigned w = 1; w <= GL_STORAGE_WRITES_MAX; w++) {
        while (st->pending < w) {
            assert_int_equal(pauses, 0);
            struct gl_event ev;
            gl_event_begin(&ev, in, 1000 + (uint64_t)records++);
            gl_event_kv_str(&ev, "log", pad, sizeof(pad));
            gl_event_commit(&ev);
        }
        /* Closed by its size, at the record that took it past GL_STORAGE_CHUNK_SIZE. */
        assert_true(in->stats.bytes_in >= (uint64_t)w * GL_STORAGE_CHUNK_SIZE);
        assert_true(in->stats.bytes_in < (uint64_t)w * (GL_STORAGE_CHUNK_SIZE + 128));
    }
    assert_int_equal(pauses, 1);
    settle(in);
    assert_int_equal(files(""), GL_STORAGE_WRITES_MAX);
    uint64_t next_ts = 1000;
    int delivered = 0;
    for (int i = 0; i < 3 * GL_STORAGE_WRITES_MAX && files("") > 0; i++) {
        turn(fx);
        for (int k = 0; k < n_held; k++, delivered++) {
            assert_int_equal(first_ts(held[k]), next_ts);
            next_ts += held[k]->records;
            gl_flush_done(held[k], GL_OK);
        }
        n_held = 0;
    }
    assert_int_equal(delivered, GL_STORAGE_WRITES_MAX);
    assert_int_equal(next_ts, 1000 + (uint64_t)records);
    assert_int_equal(files(""), 0);
    fx_close(fx);
}

/*
 * A chunk that only its own bytes put at the input's mem_buf_limit stays in
 * memory once written: freed, the replay would read it straight back. One
 * at the limit because the others are still held waits on disk, and comes
 * back in order once they are delivered.
 */
static void test_storage_chunk_at_the_limit_by_itself_stays_up(void **state)
{
    (void)state;
    struct fx *fx = fx_open(config_with(", mem_buf_limit: 1KiB", "1MiB", ""));
    struct gl_instance *in = fx->e->inputs[0];
    /* 15 records of 102 bytes: chunks of 6, 5 and 4 (open chunks close at half the limit). */
    emit_chunk(in, 15, 0);
    assert_int_equal(*in->core->storage->m_written, 3);
    assert_int_equal(fx->e->chunks_up, 2);
    assert_int_equal(in->core->storage->backlog, 1);
    uint64_t next_ts = 1000;
    for (int i = 0; i < 6 && files("") > 0; i++) {
        turn(fx);
        turn(fx);
        for (int k = 0; k < n_held; k++) {
            assert_int_equal(first_ts(held[k]), next_ts);
            next_ts += held[k]->records;
            gl_flush_done(held[k], GL_OK);
        }
        n_held = 0;
    }
    assert_int_equal(next_ts, 1015);
    assert_int_equal(files(""), 0);
    assert_int_equal(*in->core->storage->m_replayed, 1);
    fx_close(fx);
}

static void test_storage_total_limit_drops_the_oldest_waiting(void **state)
{
    (void)state;
    struct fx *fx = fx_open(config(", storage.total_limit_size: 1"));
    struct gl_instance *in = fx->e->inputs[0];
    emit_chunk(in, 30, NONE);
    emit_chunk(in, 10, NONE);
    emit_chunk(in, 7, NONE);
    /* Only the chunk in memory is kept; each waiting one went when the next came. */
    assert_int_equal(files(""), 1);
    assert_int_equal(in->stats.dropped[0].records, 17);
    assert_string_equal(in->stats.dropped[0].reason, "storage_limit");
    fx_close(fx);
}

static void test_storage_damaged_file_is_moved_aside(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/in.buffer", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/in.buffer/0000000000000001.chunk", dir);
    FILE *f = fopen(path, "w");
    fputs("GLCK not really a chunk", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/in.buffer/0000000000000002.tmp", dir);
    fclose(fopen(path, "w"));
    struct fx *fx = fx_open(config(""));
    turn(fx);
    assert_int_equal(files(""), 0);
    assert_int_equal(files("corrupt/"), 1);
    assert_int_equal(access(path, F_OK), -1); /* a write cut short is removed */
    assert_int_equal(*fx->e->inputs[0]->core->storage->m_corrupt, 1);
    emit_chunk(fx->e->inputs[0], 5, NONE);
    turn(fx);
    assert_int_equal(n_held, 1);
    gl_flush_done(held[0], GL_OK);
    fx_close(fx);
}

/*
 * A filesystem input's records refer to a shared value as a memory input's
 * do; its chunk file holds the value once, and after a stop the records
 * read back refer to a value made anew from the file (the reference names
 * a slot of a process's table, meaningless to the next one).
 */
static void test_storage_shared_values_come_back_after_a_stop(void **state)
{
    (void)state;
    static const char m[] = "\x81\xa8pod_name\xa5web-1";
    struct fx *fx = fx_open(config(""));
    struct gl_instance *in = fx->e->inputs[0];
    struct gl_shared *v = gl_shared_new(m, sizeof(m) - 1);
    assert_non_null(v);
    for (int i = 0; i < 3; i++) {
        struct gl_event ev;
        gl_event_begin(&ev, in, 1000 + (uint64_t)i);
        gl_event_kv_str(&ev, "log", "a", 1);
        gl_event_kv_shared(&ev, "kubernetes", 10, v);
        gl_event_commit(&ev);
    }
    gl_shared_unref(v);
    assert_int_equal(gl_shared_count(), 1); /* the open chunk keeps it */
    gl__input_flush_open(in);
    settle(in);
    turn(fx);
    assert_int_equal(n_held, 1);
    const struct gl_chunk *c = held[0]->chunk;
    assert_null(memmem(c->data.data, c->data.len, m, sizeof(m) - 1));
    assert_non_null(memmem(c->data.data, c->data.len, "\xd7\x01", 2));
    fx = restart(fx);
    assert_int_equal(held[0]->records, 3);
    assert_int_equal(gl_shared_count(), 1);
    struct gl_chunk_iter it;
    struct gl_record rec;
    int n = 0;
    gl_chunk_iter_init(&it, held[0]->chunk);
    while (gl_chunk_next(&it, &rec) == 0) {
        const msgpack_object *k = gl_shared_deref(gl_json_map_get(rec.body, "kubernetes"));
        assert_non_null(k);
        const msgpack_object *pod = gl_json_map_get(k, "pod_name");
        assert_non_null(pod);
        assert_int_equal(pod->via.str.size, 5);
        assert_memory_equal(pod->via.str.ptr, "web-1", 5);
        n++;
    }
    gl_chunk_iter_close(&it);
    assert_int_equal(n, 3);
    gl_flush_done(held[0], GL_OK);
    assert_int_equal(files(""), 0);
    fx_close(fx);
    assert_int_equal(gl_shared_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_storage_chunk_waits_on_disk_across_a_stop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_storage_full_output_diverts_instead_of_pausing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_chunks_close_smaller_and_write_together,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_chunk_at_the_limit_by_itself_stays_up,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_total_limit_drops_the_oldest_waiting,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_storage_damaged_file_is_moved_aside, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_storage_shared_values_come_back_after_a_stop, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
