/*
 * Fuzzes the tail input's offsets database with arbitrary file contents: the
 * file lives on disk between runs, so a corrupt one must never crash the
 * agent. Each input is written as the database, opened, read, changed,
 * synced and reopened; a database that opened once must reopen cleanly
 * after a sync with every entry kept.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugins/in_tail/in_tail.h"

static char dir[64];
static char path[96];
static char tmp[112];

static void cleanup(void)
{
    unlink(path);
    unlink(tmp);
    rmdir(dir);
}

static void prepare(void)
{
    if (dir[0] != '\0') {
        return;
    }
    snprintf(dir, sizeof(dir), "/tmp/gl-fuzz-offsets-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    snprintf(path, sizeof(path), "%s/offsets.db", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    atexit(cleanup);
}

static void write_input(const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (fp == NULL || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
        abort();
    }
}

/* Reads every entry back through get, so both views must agree. */
static void check_entry(const struct tail_id *id, uint64_t offset, const char *p, void *arg)
{
    uint64_t got = 0;
    if (tail_offsets_get(arg, id, &got) != 0 || got != offset || p == NULL) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    prepare();
    write_input(data, size);
    struct tail_offsets *db = tail_offsets_open(path, err, sizeof(err));
    if (db == NULL) {
        return 0;
    }
    tail_offsets_each(db, check_entry, db);
    struct tail_id fresh = { .dev = 1, .ino = size, .fp = 0x5eed };
    struct tail_id gone = { .dev = 2, .ino = 3, .fp = 4 };
    tail_offsets_set(db, &fresh, size * 3, "/var/log/fuzz.log");
    tail_offsets_remove(db, &gone);
    if (tail_offsets_sync(db) != 0) {
        abort();
    }
    size_t count = tail_offsets_count(db);
    tail_offsets_close(db);

    db = tail_offsets_open(path, err, sizeof(err));
    uint64_t offset = 0;
    if (db == NULL || tail_offsets_discarded(db) != 0 || tail_offsets_count(db) != count ||
        tail_offsets_get(db, &fresh, &offset) != 0 || offset != size * 3) {
        abort();
    }
    tail_offsets_close(db);
    return 0;
}
