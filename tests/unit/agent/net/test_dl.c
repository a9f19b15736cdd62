/* Optional libraries: tables filled whole on first use; a missing library names its package. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/net/dl.c"

/* Whether every slot of a table that syms describes holds a pointer. */
static int all_set(const void *table, const struct sym *syms)
{
    for (const struct sym *s = syms; s->name != NULL; s++) {
        void *p;
        memcpy(&p, (const char *)table + s->offset, sizeof(p));
        if (p == NULL) {
            return 0;
        }
    }
    return 1;
}

static int all_zero(const void *table, size_t n)
{
    const unsigned char *p = table;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }
    return 1;
}

static void test_dl_curl_fills_every_slot(void **state)
{
    char err[256] = "";
    (void)state;
    assert_int_equal(gl_dl_curl(err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_true(all_set(gl_curl, curl_syms));
    assert_string_equal(gl_curl->easy_strerror(CURLE_OK), "No error");
}

static void test_dl_mhd_fills_every_slot(void **state)
{
    (void)state;
    assert_int_equal(gl_dl_mhd(NULL, 0), 0);
    assert_true(all_set(gl_mhd, mhd_syms));
}

static void test_dl_crypto_hashes(void **state)
{
    unsigned char md[32];
    unsigned int len = 0;
    (void)state;
    assert_int_equal(gl_dl_crypto(NULL, 0), 0);
    assert_true(all_set(gl_crypto, crypto_syms));
    assert_int_equal(gl_crypto->evp_digest("abc", 3, md, &len, gl_crypto->evp_sha256(), NULL), 1);
    assert_int_equal(len, 32);
    assert_int_equal(md[0], 0xba);
    assert_int_equal(md[31], 0xad);
}

static void test_dl_sd_fills_every_slot(void **state)
{
    (void)state;
    assert_int_equal(gl_dl_sd(NULL, 0), 0);
    assert_true(all_set(gl_sd, sd_syms));
}

static void test_dl_second_call_keeps_table(void **state)
{
    struct gl_curl_api before;
    (void)state;
    assert_int_equal(gl_dl_curl(NULL, 0), 0);
    before = *gl_curl;
    assert_int_equal(gl_dl_curl(NULL, 0), 0);
    assert_memory_equal(&before, gl_curl, sizeof(before));
}

static void test_dl_missing_library_names_package(void **state)
{
    struct gl_crypto_api table = { 0 };
    struct lib l = { .soname = "libgleaner-absent.so.9", .package = "gleaner-absent",
                     .syms = crypto_syms, .table = &table, .table_size = sizeof(table) };
    char err[256] = "";
    (void)state;
    load(&l);
    assert_int_equal(outcome(&l, err, sizeof(err)), GL_ENOENT);
    assert_string_equal(err, "cannot load libgleaner-absent.so.9 (Debian package gleaner-absent): "
                             "libgleaner-absent.so.9: cannot open shared object file: "
                             "No such file or directory");
    assert_true(all_zero(&table, sizeof(table)));
}

/* The symbol found before the missing one must not be left in the table either. */
static void test_dl_missing_symbol_leaves_table_empty(void **state)
{
    static const struct sym syms[] = {
        { "EVP_sha256", offsetof(struct gl_crypto_api, evp_sha256) },
        { "gleaner_no_such_symbol", offsetof(struct gl_crypto_api, hmac) },
        { NULL, 0 },
    };
    struct gl_crypto_api table = { 0 };
    struct lib l = { .soname = "libcrypto.so.3", .package = "libssl3", .syms = syms,
                     .table = &table, .table_size = sizeof(table) };
    char err[256] = "";
    (void)state;
    load(&l);
    assert_int_equal(outcome(&l, err, sizeof(err)), GL_ENOENT);
    assert_non_null(strstr(err, "cannot load libcrypto.so.3 (Debian package libssl3): "));
    assert_non_null(strstr(err, "undefined symbol: gleaner_no_such_symbol"));
    assert_true(all_zero(&table, sizeof(table)));
}

static void test_dl_failure_without_buffer(void **state)
{
    struct lib l = { .soname = "libgleaner-absent.so.9", .package = "gleaner-absent",
                     .rc = GL_ENOENT };
    (void)state;
    assert_int_equal(outcome(&l, NULL, 0), GL_ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dl_curl_fills_every_slot),
        cmocka_unit_test(test_dl_mhd_fills_every_slot),
        cmocka_unit_test(test_dl_crypto_hashes),
        cmocka_unit_test(test_dl_sd_fills_every_slot),
        cmocka_unit_test(test_dl_second_call_keeps_table),
        cmocka_unit_test(test_dl_missing_library_names_package),
        cmocka_unit_test(test_dl_missing_symbol_leaves_table_empty),
        cmocka_unit_test(test_dl_failure_without_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
