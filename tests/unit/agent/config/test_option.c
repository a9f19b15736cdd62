/*
 * Tests for agent/config/option.c: the size, duration and boolean parsers, and
 * gl_option_apply() on a sample table read from inline YAML, checking every
 * error message with its FILE:LINE:COL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/regex.h"
#include "config/config.h"
#include "config/option.h"
#include "util/error.h"

/* ---- parsers ------------------------------------------------------------------ */

static void test_size_parses_units(void **state)
{
    (void)state;
    size_t n = 0;
    assert_int_equal(gl_parse_size("64MiB", &n), 0);
    assert_int_equal(n, 64 << 20);
    assert_int_equal(gl_parse_size("64M", &n), 0);
    assert_int_equal(n, 64 << 20);
    assert_int_equal(gl_parse_size("64MB", &n), 0);
    assert_int_equal(n, 64 << 20);
    assert_int_equal(gl_parse_size("64k", &n), 0);
    assert_int_equal(n, 64 << 10);
    assert_int_equal(gl_parse_size("64KiB", &n), 0);
    assert_int_equal(n, 64 << 10);
    assert_int_equal(gl_parse_size("65536", &n), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(gl_parse_size("1.5K", &n), 0);
    assert_int_equal(n, 1536);
    assert_int_equal(gl_parse_size(" 2 GiB", &n), 0);
    assert_int_equal(n, 2ull << 30);
    assert_int_equal(gl_parse_size("3gb", &n), 0);
    assert_int_equal(n, 3ull << 30);
    assert_int_equal(gl_parse_size("0", &n), 0);
    assert_int_equal(n, 0);
}

static void test_size_rejects_bad_input(void **state)
{
    (void)state;
    size_t n = 7;
    assert_int_equal(gl_parse_size("abc", &n), GL_EINVAL);
    assert_int_equal(gl_parse_size("-1", &n), GL_EINVAL);
    assert_int_equal(gl_parse_size("+1", &n), GL_EINVAL);
    assert_int_equal(gl_parse_size("10X", &n), GL_EINVAL);
    assert_int_equal(gl_parse_size("", &n), GL_EINVAL);
    assert_int_equal(gl_parse_size("1.K", &n), GL_EINVAL);
    assert_int_equal(gl_parse_size("K", &n), GL_EINVAL);
    assert_int_equal(gl_parse_size("99999999999999999999G", &n), GL_EINVAL);
    assert_int_equal(gl_parse_size("99999999999G", &n), GL_EINVAL);
    assert_int_equal(n, 7);
}

static void test_duration_parses_units(void **state)
{
    (void)state;
    uint64_t ms = 0;
    assert_int_equal(gl_parse_duration("500ms", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(gl_parse_duration("5s", &ms), 0);
    assert_int_equal(ms, 5000);
    assert_int_equal(gl_parse_duration("1m", &ms), 0);
    assert_int_equal(ms, 60000);
    assert_int_equal(gl_parse_duration("2h", &ms), 0);
    assert_int_equal(ms, 7200000);
    assert_int_equal(gl_parse_duration("10", &ms), 0);
    assert_int_equal(ms, 10000);
    assert_int_equal(gl_parse_duration("1.5s", &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(gl_parse_duration("0.25", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(gl_parse_duration("3 S", &ms), 0);
    assert_int_equal(ms, 3000);
}

static void test_duration_rejects_bad_input(void **state)
{
    (void)state;
    uint64_t ms = 9;
    assert_int_equal(gl_parse_duration("5x", &ms), GL_EINVAL);
    assert_int_equal(gl_parse_duration("-1s", &ms), GL_EINVAL);
    assert_int_equal(gl_parse_duration("", &ms), GL_EINVAL);
    assert_int_equal(gl_parse_duration("s", &ms), GL_EINVAL);
    assert_int_equal(gl_parse_duration("99999999999999999999h", &ms), GL_EINVAL);
    assert_int_equal(gl_parse_duration("9999999999999999h", &ms), GL_EINVAL);
    assert_int_equal(ms, 9);
}

static void test_bool_parses_all_spellings(void **state)
{
    (void)state;
    static const char *const yes[] = { "on", "ON", "true", "True", "yes", "YES", "1" };
    static const char *const no[] = { "off", "Off", "false", "FALSE", "no", "No", "0" };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        bool b = false;
        assert_int_equal(gl_parse_bool(yes[i], &b), 0);
        assert_true(b);
        assert_int_equal(gl_parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    bool b = true;
    assert_int_equal(gl_parse_bool("enabled", &b), GL_EINVAL);
    assert_int_equal(gl_parse_bool("", &b), GL_EINVAL);
    assert_int_equal(gl_parse_bool("2", &b), GL_EINVAL);
    assert_true(b);
}

/* ---- a sample table ----------------------------------------------------------- */

struct sample {
    char *tag;
    struct gl_strlist paths;
    size_t buffer;
    uint64_t refresh_ms;
    bool skip_long;
    int64_t workers;
    double ratio;
    char *format;
    struct gl_regex *exclude;
    int64_t retries;
    struct gl_maplist rules;
};

static const char *check_buffer(const void *value)
{
    return *(const size_t *)value < 1024 ? "must be at least 1KiB" : NULL;
}

static const char *const formats[] = { "json", "logfmt", "text", NULL };

static const struct gl_option sample_options[] = {
    { .name = "tag", .type = GL_OPT_STR, .def = "kube.*", .offset = offsetof(struct sample, tag),
      .help = "Tag of the records." },
    { .name = "path", .type = GL_OPT_LIST, .required = true,
      .offset = offsetof(struct sample, paths), .help = "Globs." },
    { .name = "buffer_max_size", .type = GL_OPT_SIZE, .def = "2MiB", .check = check_buffer,
      .offset = offsetof(struct sample, buffer), .help = "Longest line." },
    { .name = "refresh_interval", .type = GL_OPT_DURATION, .def = "60s",
      .offset = offsetof(struct sample, refresh_ms), .help = "Glob refresh." },
    { .name = "skip_long_lines", .type = GL_OPT_BOOL, .def = "off",
      .offset = offsetof(struct sample, skip_long), .help = "Skip long lines." },
    { .name = "workers", .type = GL_OPT_INT, .def = "1",
      .offset = offsetof(struct sample, workers), .help = "Workers." },
    { .name = "ratio", .type = GL_OPT_DOUBLE, .def = "0.5",
      .offset = offsetof(struct sample, ratio), .help = "Ratio." },
    { .name = "format", .type = GL_OPT_STR, .def = "json", .choices = formats,
      .offset = offsetof(struct sample, format), .help = "Format." },
    { .name = "exclude", .type = GL_OPT_REGEX, .offset = offsetof(struct sample, exclude),
      .help = "Paths to skip." },
    { .name = "retry_limit", .type = GL_OPT_RETRIES, .def = "1",
      .offset = offsetof(struct sample, retries), .help = "Retries." },
    { .name = "rules", .type = GL_OPT_MAPS, .offset = offsetof(struct sample, rules),
      .help = "Rules." },
    { 0 }
};

struct common {
    char *alias;
    char *match;
};

static const struct gl_option common_options[] = {
    { .name = "alias", .type = GL_OPT_STR, .offset = offsetof(struct common, alias),
      .help = "Name in metrics." },
    { 0 }
};

static const struct gl_option *const sample_tables[] = { sample_options, NULL };
static const char *const skip_name[] = { "name", NULL };

/* Loads text, applies the sample table to its root and returns gl_option_apply()'s code. */
static int apply(const char *text, struct gl_config **cfg, struct sample *s)
{
    memset(s, 0, sizeof(*s));
    *cfg = gl_config_load_text("test.yaml", text, strlen(text));
    assert_int_equal((*cfg)->error_count, 0);
    return gl_option_apply(*cfg, "tail", sample_tables, skip_name, (*cfg)->root, s);
}

/* Applies text and asserts exactly one error, with that text. */
static void expect_error(const char *text, const char *message)
{
    struct gl_config *cfg;
    struct sample s;
    assert_int_equal(apply(text, &cfg, &s), GL_ECONFIG);
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0], message);
    gl_option_free(sample_options, &s);
    gl_config_free(cfg);
}

/* ---- gl_option_apply ------------------------------------------------------------ */

static void test_apply_writes_values_and_defaults(void **state)
{
    (void)state;
    struct gl_config *cfg;
    struct sample s;
    assert_int_equal(apply("name: tail\npath: /var/log/*.log\nbuffer_max_size: 64k\n"
                           "skip_long_lines: on\nworkers: -3\nratio: 2.5\nformat: LOGFMT\n"
                           "exclude: '\\.gz$'\n",
                           &cfg, &s),
                     0);
    assert_int_equal(cfg->error_count, 0);
    assert_string_equal(s.tag, "kube.*");
    assert_int_equal(s.paths.count, 1);
    assert_string_equal(s.paths.items[0], "/var/log/*.log");
    assert_int_equal(s.buffer, 64 << 10);
    assert_int_equal(s.refresh_ms, 60000);
    assert_true(s.skip_long);
    assert_int_equal(s.workers, -3);
    assert_true(s.ratio == 2.5);
    assert_string_equal(s.format, "logfmt");
    assert_non_null(s.exclude);
    assert_true(gl_regex_match(s.exclude, "a.log.gz", 8));
    assert_false(gl_regex_match(s.exclude, "a.log", 5));
    assert_int_equal(s.retries, 1);
    gl_option_free(sample_options, &s);
    gl_config_free(cfg);
}

static void test_apply_keys_are_case_insensitive(void **state)
{
    (void)state;
    struct gl_config *cfg;
    struct sample s;
    assert_int_equal(apply("Path: /a\nBuffer_Max_Size: 8KiB\nTAG: app\n", &cfg, &s), 0);
    assert_string_equal(s.paths.items[0], "/a");
    assert_int_equal(s.buffer, 8192);
    assert_string_equal(s.tag, "app");
    gl_option_free(sample_options, &s);
    gl_config_free(cfg);
}

static void test_apply_splits_comma_list(void **state)
{
    (void)state;
    struct gl_config *cfg;
    struct sample s;
    assert_int_equal(apply("path: ' /a/*.log , /b ,, /c,'\n", &cfg, &s), 0);
    assert_int_equal(s.paths.count, 3);
    assert_string_equal(s.paths.items[0], "/a/*.log");
    assert_string_equal(s.paths.items[1], "/b");
    assert_string_equal(s.paths.items[2], "/c");
    gl_option_free(sample_options, &s);
    assert_null(s.paths.items);
    assert_int_equal(s.paths.count, 0);
    gl_config_free(cfg);
}

static void test_apply_reads_list_from_sequence(void **state)
{
    (void)state;
    struct gl_config *cfg;
    struct sample s;
    assert_int_equal(apply("path:\n  - /a\n  - ' /b '\n  - ''\n", &cfg, &s), 0);
    assert_int_equal(s.paths.count, 2);
    assert_string_equal(s.paths.items[0], "/a");
    assert_string_equal(s.paths.items[1], "/b");
    gl_option_free(sample_options, &s);
    gl_config_free(cfg);
}

static void test_apply_parses_retries(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t want;
    } cases[] = {
        { "path: a\nretry_limit: 5\n", 5 },
        { "path: a\nretry_limit: no_limits\n", -1 },
        { "path: a\nretry_limit: false\n", -1 },
        { "path: a\nretry_limit: -1\n", -1 },
        { "path: a\nretry_limit: no_retries\n", 0 },
        { "path: a\nretry_limit: 0\n", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gl_config *cfg;
        struct sample s;
        assert_int_equal(apply(cases[i].text, &cfg, &s), 0);
        assert_int_equal(s.retries, cases[i].want);
        gl_option_free(sample_options, &s);
        gl_config_free(cfg);
    }
    expect_error("path: a\nretry_limit: -2\n",
                 "test.yaml:2:14: tail.retry_limit: expected a number of retries, no_limits or "
                 "no_retries");
}

static void test_apply_reports_unknown_key_with_suggestion(void **state)
{
    (void)state;
    expect_error("path: a\npahts: b\n",
                 "test.yaml:2:1: tail: unknown key 'pahts' (did you mean 'path'?)");
    expect_error("path: a\n  # comment\nrefresh_intervall: 5s\n",
                 "test.yaml:3:1: tail: unknown key 'refresh_intervall' "
                 "(did you mean 'refresh_interval'?)");
    expect_error("path: a\nTga: x\n",
                 "test.yaml:2:1: tail: unknown key 'Tga' (did you mean 'tag'?)");
}

static void test_apply_reports_unknown_key_without_suggestion(void **state)
{
    (void)state;
    expect_error("path: a\ncolour: red\n", "test.yaml:2:1: tail: unknown key 'colour'");
    /* Names of four characters or fewer allow one edit: "tbb" is two edits from "tag". */
    expect_error("path: a\ntbb: 1\n", "test.yaml:2:1: tail: unknown key 'tbb'");
}

static void test_apply_reports_type_errors_at_value(void **state)
{
    (void)state;
    expect_error("path: a\nworkers: many\n", "test.yaml:2:10: tail.workers: expected an integer");
    expect_error("path: a\nworkers: 99999999999999999999\n",
                 "test.yaml:2:10: tail.workers: expected an integer");
    expect_error("path: a\nratio: half\n", "test.yaml:2:8: tail.ratio: expected a number");
    expect_error("path: a\nratio: nan\n", "test.yaml:2:8: tail.ratio: expected a number");
    expect_error("path: a\nskip_long_lines: maybe\n",
                 "test.yaml:2:18: tail.skip_long_lines: expected on or off");
}

static void test_apply_reports_bad_size(void **state)
{
    (void)state;
    expect_error("path: a\nbuffer_max_size: abc\n",
                 "test.yaml:2:18: tail.buffer_max_size: expected a size like 64MiB, got 'abc'");
}

static void test_apply_reports_bad_duration(void **state)
{
    (void)state;
    expect_error("path: a\nrefresh_interval: 5x\n",
                 "test.yaml:2:19: tail.refresh_interval: expected a duration like 500ms, 5s or 1m");
}

static void test_apply_reports_bad_choice(void **state)
{
    (void)state;
    expect_error("path: a\nformat: xml\n",
                 "test.yaml:2:9: tail.format: expected one of: json, logfmt, text");
}

static void test_apply_reports_check_failure(void **state)
{
    (void)state;
    expect_error("path: a\nbuffer_max_size: 512\n",
                 "test.yaml:2:18: tail.buffer_max_size: must be at least 1KiB");
}

static void test_apply_reports_missing_required(void **state)
{
    (void)state;
    expect_error("\ntag: x\n", "test.yaml:2:1: tail: missing required option 'path'");
}

static void test_apply_reports_missing_required_without_section(void **state)
{
    (void)state;
    struct gl_config *cfg = gl_config_load_text("test.yaml", "", 0);
    struct sample s = { 0 };
    assert_int_equal(gl_option_apply(cfg, "tail", sample_tables, NULL, NULL, &s), GL_ECONFIG);
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0], "test.yaml: tail: missing required option 'path'");
    assert_string_equal(s.tag, "kube.*");
    gl_option_free(sample_options, &s);
    gl_config_free(cfg);
}

static void test_apply_reports_bad_regex(void **state)
{
    (void)state;
    expect_error("path: a\nexclude: 'abc('\n",
                 "test.yaml:2:10: tail.exclude: bad regex: "
                 "missing closing parenthesis at offset 4");
}

static void test_apply_reports_duplicate_key(void **state)
{
    (void)state;
    expect_error("Path: a\npath: b\n",
                 "test.yaml:2:1: tail: duplicate key 'path' (first at 1:1)");
}

static void test_apply_reports_list_given_to_scalar(void **state)
{
    (void)state;
    expect_error("path: a\ntag: [a, b]\n",
                 "test.yaml:2:6: tail.tag: expected a single value, got a list");
    expect_error("path: a\ntag:\n  x: 1\n",
                 "test.yaml:3:3: tail.tag: expected a single value, got a mapping");
    expect_error("path:\n  - a\n  - [b]\n",
                 "test.yaml:3:5: tail.path: expected a list of single values");
}

static void test_apply_reads_a_list_of_mappings(void **state)
{
    (void)state;
    struct gl_config *cfg;
    struct sample s;
    assert_int_equal(apply("path: a\nrules:\n  - source_labels: [a, b]\n    separator: ' '\n"
                           "    regex: ''\n  - action: drop\n",
                           &cfg, &s),
                     0);
    assert_int_equal(s.rules.count, 2);
    const struct gl_map *m = &s.rules.items[0];
    assert_int_equal(m->count, 3);
    assert_int_equal(m->line, 3);
    assert_string_equal(m->entries[0].key, "source_labels");
    assert_true(m->entries[0].list);
    assert_int_equal(m->entries[0].values.count, 2);
    assert_string_equal(m->entries[0].values.items[1], "b");
    assert_false(m->entries[1].list);
    assert_string_equal(m->entries[1].values.items[0], " ");
    assert_string_equal(m->entries[2].values.items[0], "");
    assert_int_equal(m->entries[2].line, 5);
    assert_string_equal(s.rules.items[1].entries[0].values.items[0], "drop");
    gl_option_free(sample_options, &s);
    assert_null(s.rules.items);
    gl_config_free(cfg);
    assert_int_equal(apply("path: a\nrules:\n", &cfg, &s), 0);
    assert_int_equal(s.rules.count, 0);
    gl_option_free(sample_options, &s);
    gl_config_free(cfg);
}

static void test_apply_reports_what_is_not_a_list_of_mappings(void **state)
{
    (void)state;
    expect_error("path: a\nrules: x\n", "test.yaml:2:8: tail.rules: expected a list of mappings");
    expect_error("path: a\nrules: [x]\n", "test.yaml:2:9: tail.rules: expected a mapping");
    expect_error("path: a\nrules:\n  - a:\n      b: c\n",
                 "test.yaml:4:7: tail.rules: a: expected a value or a list");
    expect_error("path: a\nrules:\n  - a: [[b]]\n",
                 "test.yaml:3:9: tail.rules: a: expected single values");
}

static void test_apply_rejects_section_that_is_not_a_mapping(void **state)
{
    (void)state;
    expect_error("- a\n", "test.yaml:1:1: tail: expected a mapping of options, got a list");
}

static void test_apply_reports_every_error(void **state)
{
    (void)state;
    struct gl_config *cfg;
    struct sample s;
    assert_int_equal(apply("pahts: a\nworkers: x\nformat: y\n", &cfg, &s), GL_ECONFIG);
    assert_int_equal(cfg->error_count, 4);
    assert_string_equal(cfg->errors[0],
                        "test.yaml:1:1: tail: unknown key 'pahts' (did you mean 'path'?)");
    assert_string_equal(cfg->errors[1], "test.yaml:2:10: tail.workers: expected an integer");
    assert_string_equal(cfg->errors[2],
                        "test.yaml:3:9: tail.format: expected one of: json, logfmt, text");
    assert_string_equal(cfg->errors[3], "test.yaml:1:1: tail: missing required option 'path'");
    assert_int_equal(s.workers, 1);
    assert_string_equal(s.format, "json");
    gl_option_free(sample_options, &s);
    gl_config_free(cfg);
}

static void test_apply_reads_several_tables(void **state)
{
    (void)state;
    static const struct gl_option *const tables[] = { common_options, NULL };
    struct gl_config *cfg = gl_config_load_text("t.yaml", "name: x\nalias: front\n", 21);
    struct common c = { 0 };
    assert_int_equal(gl_option_apply(cfg, "input tail", tables, skip_name, cfg->root, &c), 0);
    assert_string_equal(c.alias, "front");
    gl_option_free(common_options, &c);
    assert_null(c.alias);
    gl_config_free(cfg);
}

static void test_defaults_apply_without_section(void **state)
{
    (void)state;
    struct sample s = { 0 };
    assert_int_equal(gl_option_defaults(sample_options, &s), 0);
    assert_string_equal(s.tag, "kube.*");
    assert_int_equal(s.buffer, 2 << 20);
    assert_int_equal(s.refresh_ms, 60000);
    assert_false(s.skip_long);
    assert_true(s.ratio == 0.5);
    assert_null(s.exclude);
    assert_int_equal(s.paths.count, 0);
    gl_option_free(sample_options, &s);
    assert_null(s.tag);
    assert_null(s.format);
    assert_int_equal(s.buffer, 0);
}

static void test_find_and_suggest(void **state)
{
    (void)state;
    assert_ptr_equal(gl_option_find(sample_options, "PATH"), &sample_options[1]);
    assert_null(gl_option_find(sample_options, "paths"));
    assert_string_equal(gl_option_suggest(sample_tables, "paths"), "path");
    assert_string_equal(gl_option_suggest(sample_tables, "Buffer_Max_Sise"), "buffer_max_size");
    assert_string_equal(gl_option_suggest(sample_tables, "wrokers"), "workers");
    assert_string_equal(gl_option_suggest(sample_tables, "ta"), "tag");
    assert_null(gl_option_suggest(sample_tables, "tbb"));
    assert_null(gl_option_suggest(sample_tables, "completely_different"));
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(gl_option_type_name(GL_OPT_STR), "string");
    assert_string_equal(gl_option_type_name(GL_OPT_INT), "integer");
    assert_string_equal(gl_option_type_name(GL_OPT_DOUBLE), "number");
    assert_string_equal(gl_option_type_name(GL_OPT_BOOL), "bool");
    assert_string_equal(gl_option_type_name(GL_OPT_SIZE), "size");
    assert_string_equal(gl_option_type_name(GL_OPT_DURATION), "duration");
    assert_string_equal(gl_option_type_name(GL_OPT_LIST), "list");
    assert_string_equal(gl_option_type_name(GL_OPT_REGEX), "regex");
    assert_string_equal(gl_option_type_name(GL_OPT_RETRIES), "retries");
    assert_string_equal(gl_option_type_name(GL_OPT_MAPS), "mappings");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_parses_units),
        cmocka_unit_test(test_size_rejects_bad_input),
        cmocka_unit_test(test_duration_parses_units),
        cmocka_unit_test(test_duration_rejects_bad_input),
        cmocka_unit_test(test_bool_parses_all_spellings),
        cmocka_unit_test(test_apply_writes_values_and_defaults),
        cmocka_unit_test(test_apply_keys_are_case_insensitive),
        cmocka_unit_test(test_apply_splits_comma_list),
        cmocka_unit_test(test_apply_reads_list_from_sequence),
        cmocka_unit_test(test_apply_parses_retries),
        cmocka_unit_test(test_apply_reports_unknown_key_with_suggestion),
        cmocka_unit_test(test_apply_reports_unknown_key_without_suggestion),
        cmocka_unit_test(test_apply_reports_type_errors_at_value),
        cmocka_unit_test(test_apply_reports_bad_size),
        cmocka_unit_test(test_apply_reports_bad_duration),
        cmocka_unit_test(test_apply_reports_bad_choice),
        cmocka_unit_test(test_apply_reports_check_failure),
        cmocka_unit_test(test_apply_reports_missing_required),
        cmocka_unit_test(test_apply_reports_missing_required_without_section),
        cmocka_unit_test(test_apply_reports_bad_regex),
        cmocka_unit_test(test_apply_reports_duplicate_key),
        cmocka_unit_test(test_apply_reports_list_given_to_scalar),
        cmocka_unit_test(test_apply_reads_a_list_of_mappings),
        cmocka_unit_test(test_apply_reports_what_is_not_a_list_of_mappings),
        cmocka_unit_test(test_apply_rejects_section_that_is_not_a_mapping),
        cmocka_unit_test(test_apply_reports_every_error),
        cmocka_unit_test(test_apply_reads_several_tables),
        cmocka_unit_test(test_defaults_apply_without_section),
        cmocka_unit_test(test_find_and_suggest),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
