/*
 * The big-buffer pool (agent/util/buf.h): what it keeps and what it frees.
 * A buffer the pool kept comes back with its capacity; one it freed comes
 * back from gl_buf_pool_take() as a fresh buffer of exactly the size asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/mem.h"

/* A buffer of exactly cap bytes, as the pool would get back from a chunk. */
static struct gl_buf sized(size_t cap)
{
    struct gl_buf b;
    b.data = gl_malloc(cap);
    b.len = 0;
    b.cap = cap;
    memset(b.data, 'x', cap); /* touched, as a used buffer is */
    return b;
}

static int reset(void **state)
{
    (void)state;
    gl_buf_pool_drain();
    return 0;
}

/* Takes n buffers and returns how many were the pool's (capacity over 1 byte). */
static int take_kept(int n)
{
    int kept = 0;
    for (int i = 0; i < n; i++) {
        struct gl_buf b;
        gl_buf_pool_take(&b, 0);
        kept += b.cap > 1;
        assert_int_equal(b.len, 0);
        gl_buf_close(&b);
    }
    return kept;
}

static void test_buf_pool_keeps_up_to_its_count(void **state)
{
    (void)state;
    for (int i = 0; i < GL_BUF_POOL_MAX + 1; i++) {
        struct gl_buf b = sized(GL_BUF_POOL_MIN);
        gl_buf_pool_give(&b);
        assert_null(b.data); /* given away or freed: never the caller's again */
    }
    assert_int_equal(take_kept(GL_BUF_POOL_MAX + 1), GL_BUF_POOL_MAX);
}

static void test_buf_pool_keeps_up_to_its_bytes(void **state)
{
    (void)state;
    /* Two of the largest fill GL_BUF_POOL_BYTES: the third buffer is freed, however small. */
    assert_true(2 * (size_t)GL_BUF_POOL_LARGEST == GL_BUF_POOL_BYTES);
    struct gl_buf a = sized(GL_BUF_POOL_LARGEST), b = sized(GL_BUF_POOL_LARGEST);
    struct gl_buf c = sized(GL_BUF_POOL_MIN);
    gl_buf_pool_give(&a);
    gl_buf_pool_give(&b);
    gl_buf_pool_give(&c);
    assert_int_equal(take_kept(3), 2);
    /* Taken back, their bytes no longer count: the pool keeps a full set again. */
    for (int i = 0; i < GL_BUF_POOL_MAX; i++) {
        struct gl_buf d = sized(GL_BUF_POOL_MIN);
        gl_buf_pool_give(&d);
    }
    assert_int_equal(take_kept(GL_BUF_POOL_MAX), GL_BUF_POOL_MAX);
}

static void test_buf_pool_frees_small_and_huge_buffers(void **state)
{
    (void)state;
    struct gl_buf small = sized(GL_BUF_POOL_MIN - 1), huge = sized(GL_BUF_POOL_LARGEST + 1);
    gl_buf_pool_give(&small);
    gl_buf_pool_give(&huge);
    assert_int_equal(take_kept(2), 0);
}

static void test_buf_pool_take_gives_one_big_enough(void **state)
{
    (void)state;
    struct gl_buf a = sized(GL_BUF_POOL_MIN), b = sized(4u << 20);
    gl_buf_pool_give(&a);
    gl_buf_pool_give(&b);
    struct gl_buf t;
    gl_buf_pool_take(&t, 2u << 20);
    assert_int_equal(t.cap, 4u << 20);
    gl_buf_close(&t);
    /* None big enough: the biggest, grown to exactly what is asked. */
    gl_buf_pool_take(&t, 3u << 20);
    assert_int_equal(t.cap, (3u << 20) + 1);
    gl_buf_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_buf_pool_keeps_up_to_its_count, reset),
        cmocka_unit_test_setup(test_buf_pool_keeps_up_to_its_bytes, reset),
        cmocka_unit_test_setup(test_buf_pool_frees_small_and_huge_buffers, reset),
        cmocka_unit_test_setup(test_buf_pool_take_gives_one_big_enough, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gl_buf_pool_drain();
    return rc;
}
