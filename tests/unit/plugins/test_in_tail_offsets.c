/*
 * Tests for plugins/in_tail/in_tail_offsets.c: round trips across reopen,
 * torn and corrupt records, header checks, locking, escaping, compaction,
 * and a process killed with SIGKILL at random moments.
 *
 * The source is included to lower the compaction threshold, so that
 * compaction is reached in tens of fsyncs rather than a thousand.
 */
#define TAIL_OFFSETS_COMPACT_MIN 64
#include "plugins/in_tail/in_tail_offsets.c"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

struct fixture {
    char dir[64];
    char path[96];
    char aside[112];
    char tmp[112];
};

static int setup(void **state)
{
    struct fixture *f = gl_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/gl-offsets-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        gl_free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/offsets.db", f->dir);
    snprintf(f->aside, sizeof(f->aside), "%s.corrupt", f->path);
    snprintf(f->tmp, sizeof(f->tmp), "%s.tmp", f->path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    unlink(f->aside);
    unlink(f->tmp);
    rmdir(f->dir);
    gl_free(f);
    return 0;
}

/* ---- helpers -------------------------------------------------------------- */

static struct tail_id id_of(uint64_t n)
{
    struct tail_id id = { .dev = 2049, .ino = 1000 + n, .fp = 0xfeedface00000000ULL | n };
    return id;
}

static struct tail_offsets *open_ok(const char *path)
{
    char err[256] = "";
    struct tail_offsets *db = tail_offsets_open(path, err, sizeof(err));
    assert_non_null(db);
    assert_string_equal(err, "");
    return db;
}

static uint64_t get_ok(struct tail_offsets *db, uint64_t n)
{
    struct tail_id id = id_of(n);
    uint64_t off = 0;
    assert_int_equal(tail_offsets_get(db, &id, &off), 0);
    return off;
}

static bool has(struct tail_offsets *db, uint64_t n)
{
    struct tail_id id = id_of(n);
    uint64_t off;
    return tail_offsets_get(db, &id, &off) == 0;
}

static void set_n(struct tail_offsets *db, uint64_t n, uint64_t off)
{
    struct tail_id id = id_of(n);
    tail_offsets_set(db, &id, off, "/var/log/containers/app.log");
}

static off_t size_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* Reads the whole file into a NUL-terminated allocation; *len gets its size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    struct gl_buf b;
    gl_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        gl_buf_append(&b, chunk, n);
    }
    fclose(fp);
    *len = b.len;
    return gl_buf_take(&b);
}

static void spit(const char *path, const char *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* ---- round trips ---------------------------------------------------------- */

static void test_offsets_round_trip_across_reopen(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    set_n(db, 1, 100);
    set_n(db, 2, 200);
    set_n(db, 3, 300);
    assert_int_equal(tail_offsets_sync(db), 0);
    struct tail_id two = id_of(2);
    tail_offsets_remove(db, &two);
    set_n(db, 3, 333);
    assert_int_equal(tail_offsets_sync(db), 0);
    tail_offsets_close(db);

    db = open_ok(f->path);
    assert_int_equal(tail_offsets_count(db), 2);
    assert_int_equal(get_ok(db, 1), 100);
    assert_false(has(db, 2));
    assert_int_equal(get_ok(db, 3), 333);
    assert_int_equal(tail_offsets_discarded(db), 0);
    tail_offsets_close(db);
}

static void test_offsets_missing_file_is_created_with_header(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    assert_int_equal(tail_offsets_count(db), 0);
    tail_offsets_close(db);
    size_t len;
    char *data = slurp(f->path, &len);
    assert_string_equal(data, "gleaner-offsets 1\n");
    gl_free(data);
}

static void test_offsets_missing_directory_is_an_error(void **state)
{
    struct fixture *f = *state;
    char path[160], err[256] = "";
    snprintf(path, sizeof(path), "%s/nope/offsets.db", f->dir);
    assert_null(tail_offsets_open(path, err, sizeof(err)));
    assert_non_null(strstr(err, "does not exist"));
}

static void test_offsets_record_format_is_text(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    struct tail_id id = { .dev = 7, .ino = 42, .fp = 0xabc };
    tail_offsets_set(db, &id, 1234, "/a.log");
    assert_int_equal(tail_offsets_sync(db), 0);
    tail_offsets_remove(db, &id);
    assert_int_equal(tail_offsets_sync(db), 0);
    tail_offsets_close(db);

    const char *set = "S 7 42 0000000000000abc 1234 /a.log";
    const char *rm = "R 7 42 0000000000000abc";
    char want[256];
    snprintf(want, sizeof(want), "gleaner-offsets 1\n%08lx %s\n%08lx %s\n",
             crc32(0, (const Bytef *)set, (uInt)strlen(set)), set,
             crc32(0, (const Bytef *)rm, (uInt)strlen(rm)), rm);
    size_t len;
    char *data = slurp(f->path, &len);
    assert_string_equal(data, want);
    gl_free(data);
}

static void test_offsets_path_with_spaces_and_newlines_round_trips(void **state)
{
    struct fixture *f = *state;
    const char *odd = "/var/log/a b\nc%d\te\x7f\xc3\xa9.log";
    struct tail_offsets *db = open_ok(f->path);
    struct tail_id id = id_of(1);
    tail_offsets_set(db, &id, 9, odd);
    assert_int_equal(tail_offsets_sync(db), 0);
    tail_offsets_close(db);

    size_t len;
    char *data = slurp(f->path, &len);
    assert_non_null(strstr(data, " 9 /var/log/a b%0Ac%25d%09e%7F\xc3\xa9.log\n"));
    gl_free(data);

    db = open_ok(f->path);
    struct entry *e = find(db, &id);
    assert_non_null(e);
    assert_string_equal(e->path, odd);
    tail_offsets_close(db);
}

static void test_offsets_long_path_is_bounded(void **state)
{
    struct fixture *f = *state;
    char *path = gl_malloc(10001);
    memset(path, '%', 10000);
    path[10000] = '\0';
    struct tail_offsets *db = open_ok(f->path);
    struct tail_id id = id_of(1);
    tail_offsets_set(db, &id, 5, path);
    assert_int_equal(tail_offsets_sync(db), 0);
    tail_offsets_close(db);

    db = open_ok(f->path);
    struct entry *e = find(db, &id);
    assert_non_null(e);
    assert_int_equal(strlen(e->path), PATH_KEEP);
    assert_memory_equal(e->path, path, PATH_KEEP);
    assert_int_equal(get_ok(db, 1), 5);
    tail_offsets_close(db);
    gl_free(path);
}

static void test_offsets_5000_entries_survive_reopen(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    for (uint64_t i = 0; i < 5000; i++) {
        set_n(db, i, i * 7);
    }
    assert_int_equal(tail_offsets_count(db), 5000);
    assert_int_equal(tail_offsets_sync(db), 0);
    tail_offsets_close(db);

    db = open_ok(f->path);
    assert_int_equal(tail_offsets_count(db), 5000);
    for (uint64_t i = 0; i < 5000; i++) {
        assert_int_equal(get_ok(db, i), i * 7);
    }
    assert_int_equal(db->records, 5000);
    tail_offsets_close(db);
}

/* ---- sync ----------------------------------------------------------------- */

static void test_offsets_sync_without_changes_writes_nothing(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    set_n(db, 1, 10);
    assert_int_equal(tail_offsets_sync(db), 0);
    off_t size = size_of(f->path);
    assert_int_equal(tail_offsets_sync(db), 0);
    assert_int_equal(size_of(f->path), size);
    set_n(db, 1, 10);
    assert_int_equal(db->ndirty, 0);
    assert_int_equal(tail_offsets_sync(db), 0);
    assert_int_equal(size_of(f->path), size);
    tail_offsets_close(db);
}

static void test_offsets_set_then_remove_before_sync_writes_nothing(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    off_t size = size_of(f->path);
    set_n(db, 1, 10);
    struct tail_id id = id_of(1);
    tail_offsets_remove(db, &id);
    assert_int_equal(tail_offsets_count(db), 0);
    assert_int_equal(db->ndirty, 0);
    assert_int_equal(tail_offsets_sync(db), 0);
    assert_int_equal(size_of(f->path), size);
    tail_offsets_close(db);
}

static void test_offsets_remove_then_set_revives_entry(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    set_n(db, 1, 10);
    assert_int_equal(tail_offsets_sync(db), 0);
    struct tail_id id = id_of(1);
    tail_offsets_remove(db, &id);
    assert_false(has(db, 1));
    set_n(db, 1, 20);
    assert_int_equal(tail_offsets_count(db), 1);
    assert_int_equal(tail_offsets_sync(db), 0);
    tail_offsets_close(db);

    db = open_ok(f->path);
    assert_int_equal(get_ok(db, 1), 20);
    tail_offsets_close(db);
}

/* ---- compaction ----------------------------------------------------------- */

static void test_offsets_same_key_updates_compact_to_one(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    for (uint64_t i = 1; i <= TAIL_OFFSETS_COMPACT_MIN; i++) {
        set_n(db, 1, i);
        assert_int_equal(tail_offsets_sync(db), 0);
    }
    assert_int_equal(db->records, TAIL_OFFSETS_COMPACT_MIN);
    set_n(db, 1, 1000);
    assert_int_equal(tail_offsets_sync(db), 0);
    assert_int_equal(db->records, 1);
    tail_offsets_close(db);

    size_t len;
    char *data = slurp(f->path, &len);
    assert_non_null(strstr(data, " 1000 /var/log/containers/app.log\n"));
    assert_int_equal(strchr(data + sizeof(HEADER) - 1, '\n') - data + 1, len);
    gl_free(data);
    assert_int_equal(access(f->tmp, F_OK), -1);

    db = open_ok(f->path);
    assert_int_equal(get_ok(db, 1), 1000);
    assert_int_equal(db->records, 1);
    tail_offsets_close(db);
}

static void test_offsets_compaction_preserves_entries_and_removals(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    for (uint64_t i = 0; i < 100; i++) {
        set_n(db, i, i);
    }
    assert_int_equal(tail_offsets_sync(db), 0);
    for (uint64_t i = 0; i < 10; i++) {
        struct tail_id id = id_of(i);
        tail_offsets_remove(db, &id);
    }
    /* 100 + 10 records; 90 live allow 360 before compacting. */
    assert_int_equal(tail_offsets_sync(db), 0);
    uint64_t round = 1;
    while (db->records > 90) {
        round++;
        for (uint64_t i = 10; i < 100; i++) {
            set_n(db, i, round * 1000 + i);
        }
        assert_int_equal(tail_offsets_sync(db), 0);
        assert_true(round < 10);
    }
    /* 110 + 3 x 90 = 380 > 360: the third update round compacted. */
    assert_int_equal(round, 4);
    assert_int_equal(db->records, 90);
    assert_int_equal(size_of(f->path), (off_t)(sizeof(HEADER) - 1) + 90 * 71);
    tail_offsets_close(db);

    db = open_ok(f->path);
    assert_int_equal(tail_offsets_count(db), 90);
    for (uint64_t i = 0; i < 100; i++) {
        if (i < 10) {
            assert_false(has(db, i));
        } else {
            assert_int_equal(get_ok(db, i), 4000 + i);
        }
    }
    tail_offsets_close(db);
}

/* ---- damage --------------------------------------------------------------- */

static void test_offsets_torn_last_record_is_cut_at_every_byte(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    set_n(db, 1, 111);
    set_n(db, 2, 222);
    assert_int_equal(tail_offsets_sync(db), 0);
    size_t start = (size_t)size_of(f->path);
    set_n(db, 3, 333);
    assert_int_equal(tail_offsets_sync(db), 0);
    tail_offsets_close(db);
    size_t len;
    char *data = slurp(f->path, &len);

    for (size_t cut = start; cut < len; cut++) {
        spit(f->path, data, cut);
        db = open_ok(f->path);
        assert_int_equal(get_ok(db, 1), 111);
        assert_int_equal(get_ok(db, 2), 222);
        assert_false(has(db, 3));
        assert_int_equal(tail_offsets_discarded(db), cut - start);
        assert_int_equal(size_of(f->path), start);
        /* The next append lands on a clean boundary. */
        set_n(db, 4, 444);
        assert_int_equal(tail_offsets_sync(db), 0);
        tail_offsets_close(db);
        db = open_ok(f->path);
        assert_int_equal(get_ok(db, 4), 444);
        assert_int_equal(tail_offsets_discarded(db), 0);
        tail_offsets_close(db);
    }
    gl_free(data);
}

static void test_offsets_corrupt_crc_stops_replay_there(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    size_t starts[3];
    for (uint64_t i = 0; i < 3; i++) {
        starts[i] = (size_t)size_of(f->path);
        set_n(db, i, 10 + i);
        assert_int_equal(tail_offsets_sync(db), 0);
    }
    tail_offsets_close(db);
    size_t len;
    char *data = slurp(f->path, &len);
    data[starts[1]] = data[starts[1]] == '0' ? '1' : '0';
    spit(f->path, data, len);

    /* Records after a corrupt one are lost too: replay cannot trust what follows. */
    db = open_ok(f->path);
    assert_int_equal(get_ok(db, 0), 10);
    assert_false(has(db, 1));
    assert_false(has(db, 2));
    assert_int_equal(tail_offsets_discarded(db), len - starts[1]);
    assert_int_equal(size_of(f->path), starts[1]);
    tail_offsets_close(db);
    gl_free(data);
}

static void test_offsets_garbage_line_stops_replay_there(void **state)
{
    struct fixture *f = *state;
    const char *text = "gleaner-offsets 1\n00000000 S 1 2 3 4 x\n";
    spit(f->path, text, strlen(text));
    struct tail_offsets *db = open_ok(f->path);
    assert_int_equal(tail_offsets_count(db), 0);
    assert_int_equal(tail_offsets_discarded(db), strlen(text) - (sizeof(HEADER) - 1));
    tail_offsets_close(db);
}

static void test_offsets_header_prefix_is_completed(void **state)
{
    struct fixture *f = *state;
    spit(f->path, "gleaner-off", 11);
    struct tail_offsets *db = open_ok(f->path);
    assert_int_equal(tail_offsets_discarded(db), 11);
    tail_offsets_close(db);
    size_t len;
    char *data = slurp(f->path, &len);
    assert_string_equal(data, HEADER);
    gl_free(data);
}

static void test_offsets_unknown_header_is_refused_untouched(void **state)
{
    struct fixture *f = *state;
    const char *text = "SQLite format 3\0\0\0\0";
    spit(f->path, text, 19);
    char err[256] = "";
    assert_null(tail_offsets_open(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, "not an offsets database"));
    size_t len;
    char *data = slurp(f->path, &len);
    assert_int_equal(len, 19);
    assert_memory_equal(data, text, 19);
    gl_free(data);
}

static void test_offsets_other_version_is_refused(void **state)
{
    struct fixture *f = *state;
    spit(f->path, "gleaner-offsets 2\n", 18);
    char err[256] = "";
    assert_null(tail_offsets_open(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, "another format version"));
    assert_int_equal(size_of(f->path), 18);
}

static void test_offsets_reset_moves_file_aside(void **state)
{
    struct fixture *f = *state;
    spit(f->path, "junk\n", 5);
    char err[256] = "";
    assert_null(tail_offsets_open(f->path, err, sizeof(err)));
    assert_int_equal(tail_offsets_reset(f->path, err, sizeof(err)), 0);
    assert_int_equal(size_of(f->aside), 5);
    struct tail_offsets *db = open_ok(f->path);
    assert_int_equal(tail_offsets_count(db), 0);
    tail_offsets_close(db);
    /* A missing file needs no reset. */
    unlink(f->path);
    assert_int_equal(tail_offsets_reset(f->path, err, sizeof(err)), 0);
}

static void test_offsets_second_open_is_refused_while_locked(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    char err[256] = "";
    assert_null(tail_offsets_open(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, "in use by another process"));
    assert_int_equal(tail_offsets_reset(f->path, err, sizeof(err)), GL_ESTATE);
    /* The lock follows the file across compaction's rename. */
    assert_int_equal(rewrite(db), 0);
    assert_null(tail_offsets_open(f->path, err, sizeof(err)));
    tail_offsets_close(db);
    db = open_ok(f->path);
    tail_offsets_close(db);
}

/* ---- each ----------------------------------------------------------------- */

static void remove_odd(const struct tail_id *id, uint64_t offset, const char *path, void *arg)
{
    struct tail_offsets *db = arg;
    assert_string_equal(path, "/var/log/containers/app.log");
    if (offset % 2 == 1) {
        tail_offsets_remove(db, id);
    }
}

static void test_offsets_each_may_remove_current_entry(void **state)
{
    struct fixture *f = *state;
    struct tail_offsets *db = open_ok(f->path);
    for (uint64_t i = 0; i < 50; i++) {
        set_n(db, i, i);
    }
    assert_int_equal(tail_offsets_sync(db), 0);
    for (uint64_t i = 50; i < 100; i++) {
        set_n(db, i, i);    /* not yet on disk: removal frees them at once */
    }
    tail_offsets_each(db, remove_odd, db);
    assert_int_equal(tail_offsets_count(db), 50);
    assert_int_equal(tail_offsets_sync(db), 0);
    tail_offsets_close(db);

    db = open_ok(f->path);
    assert_int_equal(tail_offsets_count(db), 50);
    for (uint64_t i = 0; i < 100; i++) {
        assert_int_equal(has(db, i), i % 2 == 0);
    }
    tail_offsets_close(db);
}

/* ---- crash simulation ----------------------------------------------------- */

#define CRASH_KEYS 8
#define CRASH_STRIDE 16

/*
 * The child: resumes after the highest round found, then forever sets every
 * key to round * CRASH_STRIDE + key, syncs, and reports the round on fd.
 */
static void crash_child(const char *path, int fd)
{
    char err[256];
    struct tail_offsets *db = tail_offsets_open(path, err, sizeof(err));
    if (db == NULL) {
        _exit(2);
    }
    uint64_t round = 0;
    for (uint64_t k = 0; k < CRASH_KEYS; k++) {
        struct tail_id id = id_of(k);
        uint64_t off;
        if (tail_offsets_get(db, &id, &off) == 0 && off / CRASH_STRIDE > round) {
            round = off / CRASH_STRIDE;
        }
    }
    for (;;) {
        round++;
        for (uint64_t k = 0; k < CRASH_KEYS; k++) {
            set_n(db, k, round * CRASH_STRIDE + k);
        }
        if (tail_offsets_sync(db) < 0 || write(fd, &round, sizeof(round)) != sizeof(round)) {
            _exit(3);
        }
    }
}

/* The last round the child reported, or def when it reported none. */
static uint64_t last_report(int fd, uint64_t def)
{
    uint64_t r;
    while (read(fd, &r, sizeof(r)) == sizeof(r)) {
        def = r;
    }
    return def;
}

static void test_offsets_survive_sigkill_at_random_moments(void **state)
{
    struct fixture *f = *state;
    uint64_t seen[CRASH_KEYS] = { 0 }, synced = 0, top = 0;
    srand(12345);
    for (int iter = 0; iter < 20; iter++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(f->path, fds[1]);
        }
        close(fds[1]);
        struct timespec ts = { .tv_nsec = (rand() % 40) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        synced = last_report(fds[0], synced);
        close(fds[0]);

        /* Every key holds a round that was synced, or the one being synced. */
        uint64_t ceiling = (synced > top ? synced : top) + 1;
        struct tail_offsets *db = open_ok(f->path);
        for (uint64_t k = 0; k < CRASH_KEYS; k++) {
            struct tail_id id = id_of(k);
            uint64_t off;
            if (tail_offsets_get(db, &id, &off) < 0) {
                assert_int_equal(synced, 0);
                assert_int_equal(seen[k], 0);
                continue;
            }
            assert_int_equal(off % CRASH_STRIDE, k);
            uint64_t round = off / CRASH_STRIDE;
            assert_true(round >= seen[k] && round >= synced && round <= ceiling);
            seen[k] = round;
            top = round > top ? round : top;
        }
        tail_offsets_close(db);
    }
    assert_true(synced > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_offsets_round_trip_across_reopen),
        T(test_offsets_missing_file_is_created_with_header),
        T(test_offsets_missing_directory_is_an_error),
        T(test_offsets_record_format_is_text),
        T(test_offsets_path_with_spaces_and_newlines_round_trips),
        T(test_offsets_long_path_is_bounded),
        T(test_offsets_5000_entries_survive_reopen),
        T(test_offsets_sync_without_changes_writes_nothing),
        T(test_offsets_set_then_remove_before_sync_writes_nothing),
        T(test_offsets_remove_then_set_revives_entry),
        T(test_offsets_same_key_updates_compact_to_one),
        T(test_offsets_compaction_preserves_entries_and_removals),
        T(test_offsets_torn_last_record_is_cut_at_every_byte),
        T(test_offsets_corrupt_crc_stops_replay_there),
        T(test_offsets_garbage_line_stops_replay_there),
        T(test_offsets_header_prefix_is_completed),
        T(test_offsets_unknown_header_is_refused_untouched),
        T(test_offsets_other_version_is_refused),
        T(test_offsets_reset_moves_file_aside),
        T(test_offsets_second_open_is_refused_while_locked),
        T(test_offsets_each_may_remove_current_entry),
        T(test_offsets_survive_sigkill_at_random_moments),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
