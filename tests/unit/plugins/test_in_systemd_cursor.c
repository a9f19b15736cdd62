/*
 * Tests for plugins/in_systemd/in_systemd_cursor.c: the cursor advances only
 * over entries acknowledged without a gap, whatever the order of the acks
 * across sources, and the cursor file keeps the last whole line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "plugins/in_systemd/in_systemd.h"
#include "util/mem.h"

static void add(struct systemd_pending *p, uint64_t source, uint64_t seq, const char *c)
{
    systemd_pending_add(p, source, seq, gl_strdup(c));
}

static void test_systemd_cursor_waits_for_earlier_entries(void **state)
{
    (void)state;
    struct systemd_pending p = { 0 };
    add(&p, 1, 1, "c1");
    add(&p, 2, 1, "c2");
    add(&p, 1, 2, "c3");
    add(&p, 2, 2, "c4");
    /* Source 2's chunk is delivered first: c1 is not, so nothing is committed. */
    assert_null(systemd_pending_ack(&p, 2, 0, 2));
    char *c = systemd_pending_ack(&p, 1, 0, 1);
    assert_string_equal(c, "c2");
    gl_free(c);
    c = systemd_pending_ack(&p, 1, 1, 2);
    assert_string_equal(c, "c4");
    gl_free(c);
    assert_int_equal(p.count, 0);
    systemd_pending_free(&p);
}

static void test_systemd_cursor_ring_grows_in_order(void **state)
{
    (void)state;
    struct systemd_pending p = { 0 };
    char name[16];
    for (int i = 1; i <= 50; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        add(&p, 1, (uint64_t)i, name);
    }
    char *c = systemd_pending_ack(&p, 1, 0, 40);
    assert_string_equal(c, "c40");
    gl_free(c);
    for (int i = 51; i <= 200; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        add(&p, 1, (uint64_t)i, name);
    }
    c = systemd_pending_ack(&p, 1, 40, 200);
    assert_string_equal(c, "c200");
    gl_free(c);
    systemd_pending_free(&p);
}

static void test_systemd_cursor_file_keeps_last_whole_line(void **state)
{
    (void)state;
    char path[] = "/tmp/gl-cursor-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "C s=1;i=1\nC s=1;i=2\nC s=1;i=3 cut by a cra";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char err[128];
    char *last = NULL;
    struct systemd_cursor *db = systemd_cursor_open(path, &last, err, sizeof(err));
    assert_non_null(db);
    assert_string_equal(last, "s=1;i=2");
    gl_free(last);
    assert_int_equal(systemd_cursor_write(db, "s=1;i=9"), 0);
    systemd_cursor_close(db);
    db = systemd_cursor_open(path, &last, err, sizeof(err));
    assert_string_equal(last, "s=1;i=9");
    gl_free(last);
    systemd_cursor_close(db);
    FILE *f = fopen(path, "r");
    char line[64] = "";
    assert_non_null(fgets(line, sizeof(line), f));
    assert_string_equal(line, "C s=1;i=9\n");
    assert_null(fgets(line, sizeof(line), f));
    fclose(f);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_systemd_cursor_waits_for_earlier_entries),
        cmocka_unit_test(test_systemd_cursor_ring_grows_in_order),
        cmocka_unit_test(test_systemd_cursor_file_keeps_last_whole_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
