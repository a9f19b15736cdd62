/*
 * Tests for agent/config/classic.c: Fluent Bit's classic format read into the
 * tree the YAML reader builds, with positions in the file where each line is
 * (included ones too), and a located error for each malformed form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/classic.h"
#include "config/config.h"
#include "config/convert.h"
#include "util/buf.h"
#include "util/mem.h"

static char dir[64];

static struct gl_config *load(const char *text)
{
    return gl_config_load_text("fb.conf", text, strlen(text));
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static struct gl_config *load_dir(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return gl_config_load_file(path);
}

/* The n-th section of pipeline.<list>. */
static const struct gl_node *section(const struct gl_config *cfg, const char *list, size_t n)
{
    const struct gl_node *seq = gl_node_get(gl_node_get(cfg->root, "pipeline"), list);
    assert_non_null(seq);
    assert_true(n < seq->count);
    return seq->items[n];
}

static void assert_errors(const struct gl_config *cfg, const char *const *want, size_t n)
{
    for (size_t i = 0; i < cfg->error_count && i < n; i++) {
        assert_string_equal(cfg->errors[i], want[i]);
    }
    assert_int_equal(cfg->error_count, n);
}

static void test_classic_detects_by_first_line(void **state)
{
    (void)state;
    const char *yes[] = { "[SERVICE]\n", "# c\n\n  [INPUT]\r\n", "@INCLUDE a.conf\n",
                          "@set x=1\n", "\xef\xbb\xbf[OUTPUT]\n", "[MULTILINE_PARSER]" };
    const char *no[] = { "service:\n  flush: 1\n", "", "# only\n", "[a, b]\n", "- [x]\n",
                         "@INCLUDEx\n" };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        assert_true(gl__classic_detect(yes[i], strlen(yes[i])));
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        assert_false(gl__classic_detect(no[i], strlen(no[i])));
    }
}

static void test_classic_builds_the_yaml_tree(void **state)
{
    (void)state;
    struct gl_config *cfg = load("[SERVICE]\n    Flush 5\n    Log_Level   error\n"
                                 "[INPUT]\n    Name tail\n    Path /var/log/a.log, /b.log\n"
                                 "[FILTER]\n    Name grep\n    Match *\n"
                                 "[OUTPUT]\n    Name  null\n    Match *\n"
                                 "[PARSER]\n    Name p\n    Format json\n");
    assert_int_equal(cfg->error_count, 0);
    assert_true(cfg->classic);
    const struct gl_node *svc = gl_node_get(cfg->root, "service");
    assert_int_equal(svc->type, GL_NODE_MAP);
    assert_string_equal(svc->items[0]->value, "flush");
    assert_string_equal(gl_node_get(svc, "log_level")->value, "error");
    const struct gl_node *in = section(cfg, "inputs", 0);
    assert_string_equal(gl_node_get(in, "name")->value, "tail");
    assert_string_equal(gl_node_get(in, "path")->value, "/var/log/a.log, /b.log");
    assert_int_equal(in->line, 4);
    assert_int_equal(in->col, 1);
    const struct gl_node *v = gl_node_get(in, "path");
    assert_int_equal(v->line, 6);
    assert_int_equal(v->col, 10);
    assert_null(v->file);
    assert_string_equal(gl_node_get(section(cfg, "filters", 0), "name")->value, "grep");
    assert_string_equal(gl_node_get(section(cfg, "outputs", 0), "name")->value, "null");
    const struct gl_node *parsers = gl_node_get(cfg->root, "parsers");
    assert_int_equal(parsers->type, GL_NODE_SEQ);
    assert_string_equal(gl_node_get(parsers->items[0], "format")->value, "json");
    gl_config_free(cfg);
}

static void test_classic_repeated_keys_become_a_list(void **state)
{
    (void)state;
    struct gl_config *cfg = load("[FILTER]\n  Name modify\n  Rename a b\n  Match *\n"
                                 "  RENAME c d\n  rename e f\n");
    assert_int_equal(cfg->error_count, 0);
    const struct gl_node *f = section(cfg, "filters", 0);
    assert_int_equal(f->count, 6);
    const struct gl_node *r = gl_node_get(f, "rename");
    assert_int_equal(r->type, GL_NODE_SEQ);
    assert_true(r->repeated);
    assert_int_equal(r->count, 3);
    assert_string_equal(r->items[0]->value, "a b");
    assert_string_equal(r->items[1]->value, "c d");
    assert_int_equal(r->items[1]->line, 5);
    assert_int_equal(r->items[2]->value[0], 'e');
    assert_int_equal(r->line, 3);
    gl_config_free(cfg);
}

static void test_classic_set_and_env_expand(void **state)
{
    (void)state;
    setenv("GL_TEST_CLASSIC", "from-env", 1);
    unsetenv("GL_TEST_CLASSIC_UNSET");
    struct gl_config *cfg = load("@SET tag = app\n@SET GL_TEST_CLASSIC=from-set\n[INPUT]\n"
                                 "  Name dummy\n  Tag ${tag}.*\n  Alias ${GL_TEST_CLASSIC}\n"
                                 "  Dummy ${GL_TEST_CLASSIC_UNSET:-d}\n");
    assert_int_equal(cfg->error_count, 0);
    const struct gl_node *in = section(cfg, "inputs", 0);
    assert_string_equal(gl_node_get(in, "tag")->value, "app.*");
    assert_string_equal(gl_node_get(in, "alias")->value, "from-set");
    assert_string_equal(gl_node_get(in, "dummy")->value, "d");
    gl_config_free(cfg);
}

static void test_classic_comments_crlf_and_indentation(void **state)
{
    (void)state;
    struct gl_config *cfg = load("# top\r\n[INPUT]\r\n\t# about the name\r\n\tName   dummy  \r\n"
                                 "        Tag\tt # not a comment\r\n  \r\n# a\n# b\n[OUTPUT]\n"
                                 "Name null\n   Match t*\n");
    assert_int_equal(cfg->error_count, 0);
    const struct gl_node *in = section(cfg, "inputs", 0);
    assert_string_equal(in->comment, "top\n");
    assert_string_equal(in->items[0]->comment, "about the name\n");
    assert_string_equal(gl_node_get(in, "name")->value, "dummy");
    assert_string_equal(gl_node_get(in, "tag")->value, "t # not a comment");
    assert_int_equal(gl_node_get(in, "tag")->col, 13);
    const struct gl_node *out = section(cfg, "outputs", 0);
    assert_string_equal(out->comment, "a\nb\n");
    assert_string_equal(gl_node_get(out, "match")->value, "t*");
    gl_config_free(cfg);
}

static void test_classic_service_sections_merge(void **state)
{
    (void)state;
    struct gl_config *cfg = load("[SERVICE]\n  Flush 1\n[INPUT]\n  Name dummy\n"
                                 "[service]\n  Grace 3\n");
    assert_int_equal(cfg->error_count, 0);
    const struct gl_node *svc = gl_node_get(cfg->root, "service");
    assert_int_equal(svc->count, 4);
    assert_string_equal(gl_node_get(svc, "grace")->value, "3");
    gl_config_free(cfg);
}

static void test_classic_reports_each_malformed_line(void **state)
{
    (void)state;
    unsetenv("GL_TEST_CLASSIC_UNSET");
    struct gl_config *cfg = load("@SET ok=1\nFlush 1\n[INPUT\n[INPUTS]\n[INPUT]\n    Name\n"
                                 "    Tag ${GL_TEST_CLASSIC_UNSET}\n@SET 1x=2\n@SET novalue\n"
                                 "@FOO bar\n@INCLUDE\n  Tag ${oops\n[]\n");
    const char *want[] = {
        "fb.conf:2:1: 'Flush' is outside any section: put it under a header such as [SERVICE] "
        "or [INPUT]",
        "fb.conf:3:1: malformed section header: expected [NAME] alone on the line, e.g. [INPUT]",
        "fb.conf:4:1: unknown section [INPUTS]: expected SERVICE, INPUT, FILTER, OUTPUT, PARSER "
        "or MULTILINE_PARSER",
        "fb.conf:6:5: 'Name' has no value: write the key, spaces, then its value",
        "fb.conf:7:9: environment variable GL_TEST_CLASSIC_UNSET is not set (use "
        "${GL_TEST_CLASSIC_UNSET:-default} to give a default)",
        "fb.conf:8:6: malformed @SET: expected @SET NAME=VALUE",
        "fb.conf:9:6: malformed @SET: expected @SET NAME=VALUE",
        "fb.conf:10:1: unknown directive: expected @INCLUDE FILE or @SET NAME=VALUE",
        "fb.conf:11:9: @INCLUDE needs a file name",
        "fb.conf:12:7: malformed ${...}: expected ${NAME} or ${NAME:-default} (write $$ for a "
        "literal $)",
        "fb.conf:13:1: unknown section []: expected SERVICE, INPUT, FILTER, OUTPUT, PARSER or "
        "MULTILINE_PARSER",
    };
    assert_errors(cfg, want, sizeof(want) / sizeof(want[0]));
    assert_non_null(cfg->root);
    gl_config_free(cfg);
}

static void test_classic_includes_relative_and_globbed(void **state)
{
    (void)state;
    write_file("main.conf", "@SET unit=kubelet\n[SERVICE]\n    Flush 1\n@INCLUDE sub/*.conf\n"
                            "@INCLUDE out.conf\n");
    mkdir(strcat(strcpy((char[128]){ 0 }, dir), "/sub"), 0755);
    write_file("sub/b.conf", "[INPUT]\n    Name dummy\n    Tag b.${unit}\n");
    write_file("sub/a.conf", "[INPUT]\n    Name dummy\n    Tag a\n");
    write_file("out.conf", "# the output\n[OUTPUT]\n    Name null\n    Match *\n    Bad\n");
    struct gl_config *cfg = load_dir("main.conf");
    char want[256];
    snprintf(want, sizeof(want), "%s/out.conf:5:5: 'Bad' has no value: write the key, spaces, "
             "then its value", dir);
    const char *w[] = { want };
    assert_errors(cfg, w, 1);
    assert_string_equal(gl_node_get(section(cfg, "inputs", 0), "tag")->value, "a");
    const struct gl_node *b = gl_node_get(section(cfg, "inputs", 1), "tag");
    assert_string_equal(b->value, "b.kubelet");
    assert_non_null(b->file);
    assert_non_null(strstr(b->file, "/sub/b.conf"));
    assert_int_equal(b->line, 3);
    assert_non_null(strstr(section(cfg, "outputs", 0)->comment, "the output"));
    gl_config_free(cfg);
}

static void test_classic_include_errors_are_located(void **state)
{
    (void)state;
    write_file("loop.conf", "[SERVICE]\n    Flush 1\n@INCLUDE loop2.conf\n"
                            "@INCLUDE missing.conf\n@INCLUDE none-*.conf\n");
    write_file("loop2.conf", "\n@INCLUDE loop.conf\n");
    struct gl_config *cfg = load_dir("loop.conf");
    char w0[256], w1[256];
    snprintf(w0, sizeof(w0), "%s/loop2.conf:2:10: @INCLUDE %s/loop.conf: the file includes "
             "itself", dir, dir);
    snprintf(w1, sizeof(w1), "%s/loop.conf:4:10: @INCLUDE %s/missing.conf: cannot open: No such "
             "file or directory", dir, dir);
    const char *w[] = { w0, w1 };
    assert_errors(cfg, w, 2);
    gl_config_free(cfg);
}

static void test_classic_convert_writes_yaml_that_reads_the_same(void **state)
{
    (void)state;
    setenv("GL_TEST_CLASSIC", "kept", 1);
    write_file("conv.conf", "# service\n[SERVICE]\n    Flush 5\n@SET g=grp\n[INPUT]\n"
                            "    Tag  a.*\n    # the plugin\n    Name tail\n"
                            "    Path ${GL_TEST_CLASSIC}/x.log\n[FILTER]\n    Name modify\n"
                            "    Match *\n    Rename a b\n    Rename c d\n"
                            "    Remove_regex ^((?!x).)*$\n[OUTPUT]\n    Name file\n"
                            "    Match *\n    Path 'q': #x\n    File ${g}\n");
    struct gl_buf out;
    gl_buf_init(&out);
    char path[128];
    snprintf(path, sizeof(path), "%s/conv.conf", dir);
    struct gl_config *cfg = gl_convert_classic(path, &out);
    assert_int_equal(cfg->error_count, 0);
    const char *yaml = strchr(out.data, '\n') + 1;
    assert_string_equal(yaml,
                        "# service\n"
                        "service:\n"
                        "  flush: 5\n"
                        "pipeline:\n"
                        "  inputs:\n"
                        "    # the plugin\n"
                        "    - name: tail\n"
                        "      tag: a.*\n"
                        "      path: ${GL_TEST_CLASSIC}/x.log\n"
                        "  filters:\n"
                        "    - name: modify\n"
                        "      match: '*'\n"
                        "      rename:\n"
                        "        - a b\n"
                        "        - c d\n"
                        "      remove_regex: ^((?!x).)*$\n"
                        "  outputs:\n"
                        "    - name: file\n"
                        "      match: '*'\n"
                        "      path: '''q'': #x'\n"
                        "      file: grp\n");
    struct gl_config *y = gl_config_load_text("c.yaml", out.data, out.len);
    assert_int_equal(y->error_count, 0);
    assert_false(y->classic);
    const struct gl_node *f = gl_node_get(section(y, "outputs", 0), "path");
    assert_string_equal(f->value, "'q': #x");
    assert_string_equal(gl_node_get(section(y, "inputs", 0), "path")->value, "kept/x.log");
    gl_config_free(y);
    gl_config_free(cfg);
    gl_buf_close(&out);
}

static void test_classic_convert_refuses_yaml(void **state)
{
    (void)state;
    write_file("y.yaml", "service:\n  flush: 1\n");
    struct gl_buf out;
    gl_buf_init(&out);
    char path[128];
    snprintf(path, sizeof(path), "%s/y.yaml", dir);
    struct gl_config *cfg = gl_convert_classic(path, &out);
    assert_int_equal(cfg->error_count, 1);
    assert_non_null(strstr(cfg->errors[0], "not in Fluent Bit's classic format"));
    assert_int_equal(out.len, 0);
    gl_config_free(cfg);
    gl_buf_close(&out);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/gl-classic-XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classic_detects_by_first_line),
        cmocka_unit_test(test_classic_builds_the_yaml_tree),
        cmocka_unit_test(test_classic_repeated_keys_become_a_list),
        cmocka_unit_test(test_classic_set_and_env_expand),
        cmocka_unit_test(test_classic_comments_crlf_and_indentation),
        cmocka_unit_test(test_classic_service_sections_merge),
        cmocka_unit_test(test_classic_reports_each_malformed_line),
        cmocka_unit_test(test_classic_includes_relative_and_globbed),
        cmocka_unit_test(test_classic_include_errors_are_located),
        cmocka_unit_test(test_classic_convert_writes_yaml_that_reads_the_same),
        cmocka_unit_test(test_classic_convert_refuses_yaml),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
