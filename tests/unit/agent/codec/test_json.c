/* The JSON reader (text to msgpack), writer (msgpack to text), documents and record writer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec/json.h"
#include "util/error.h"

/* Reads json, unpacks it and writes it back; returns the text (caller frees) or NULL. */
static char *round_trip(const char *json)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    char *out = NULL;
    if (gl_json_read(json, strlen(json), &pk, 0, NULL) == 0) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        assert_int_equal(msgpack_unpack_next(&u, sbuf.data, sbuf.size, &off),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, sbuf.size);
        struct gl_buf b;
        gl_buf_init(&b);
        gl_json_write(&b, &u.data);
        out = gl_buf_take(&b);
        msgpack_unpacked_destroy(&u);
    }
    msgpack_sbuffer_destroy(&sbuf);
    return out;
}

static void assert_round_trip(const char *json, const char *expected)
{
    char *out = round_trip(json);
    assert_non_null(out);
    assert_string_equal(out, expected);
    free(out);
}

/* Reads text of len bytes expecting GL_EPARSE at offset with message what; nothing is packed. */
static void assert_read_fails(const char *text, size_t len, int depth, size_t offset,
                              const char *what)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    struct gl_json_error err = { 0 };
    assert_int_equal(gl_json_read(text, len, &pk, depth, &err), GL_EPARSE);
    assert_int_equal(err.offset, offset);
    assert_string_equal(err.what, what);
    assert_int_equal(sbuf.size, 0);
    msgpack_sbuffer_destroy(&sbuf);
}

static void assert_syntax_error(const char *text, size_t offset, const char *what)
{
    assert_read_fails(text, strlen(text), 0, offset, what);
}

/* Reads a JSON string literal and asserts the exact bytes of the packed string. */
static void assert_reads_str(const char *json, const char *expected, size_t expected_len)
{
    struct gl_json_doc doc;
    assert_int_equal(gl_json_doc_parse(&doc, json, strlen(json), NULL), 0);
    assert_int_equal(doc.root.type, MSGPACK_OBJECT_STR);
    assert_int_equal(doc.root.via.str.size, expected_len);
    assert_memory_equal(doc.root.via.str.ptr, expected, expected_len);
    gl_json_doc_free(&doc);
}

/* Writes s with gl_json_write_str and asserts the exact output. */
static void assert_writes_str(const char *s, size_t len, const char *expected)
{
    struct gl_buf b;
    gl_buf_init(&b);
    gl_json_write_str(&b, s, len);
    assert_int_equal(b.len, strlen(expected));
    assert_memory_equal(b.data, expected, b.len);
    gl_buf_close(&b);
}

/* Builds a string of n '[' followed by n ']'; the caller frees it. */
static char *nested_arrays(size_t n)
{
    char *s = malloc(2 * n + 1);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';
    return s;
}

static void test_json_round_trips_nested(void **state)
{
    (void)state;
    const char *json = "{\"a\":[1,2,{\"b\":null}],\"c\":{\"d\":true,\"e\":false},\"f\":[],"
                       "\"g\":{}}";
    assert_round_trip(json, json);
    assert_round_trip(" \t\r\n[ 1 , [ ] , { \"k\" : [ \"v\" ] } ]\n ",
                      "[1,[],{\"k\":[\"v\"]}]");
    assert_round_trip("[[[[\"deep\"]]]]", "[[[[\"deep\"]]]]");
}

static void test_json_round_trips_scalars(void **state)
{
    (void)state;
    assert_round_trip("null", "null");
    assert_round_trip("true", "true");
    assert_round_trip("false", "false");
    assert_round_trip("0", "0");
    assert_round_trip("-0", "0");
    assert_round_trip("42", "42");
    assert_round_trip("-17", "-17");
    assert_round_trip("\"text\"", "\"text\"");
    assert_round_trip("\"\"", "\"\"");
    assert_round_trip("1.5", "1.5");
    assert_round_trip("-0.25", "-0.25");
    assert_round_trip("1e3", "1000.0");
    assert_round_trip("1E-2", "0.01");
    assert_round_trip("2.5e+1", "25.0");
    assert_round_trip("-0.0", "-0.0");
}

static void test_json_reads_big_integers(void **state)
{
    (void)state;
    struct gl_json_doc doc;
    const char *json = "[18446744073709551615,-9223372036854775808,18446744073709551616,"
                       "-9223372036854775809,9223372036854775807]";
    assert_int_equal(gl_json_doc_parse(&doc, json, strlen(json), NULL), 0);
    const msgpack_object *v = doc.root.via.array.ptr;
    assert_int_equal(v[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_true(v[0].via.u64 == UINT64_MAX);
    assert_int_equal(v[1].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_true(v[1].via.i64 == INT64_MIN);
    assert_int_equal(v[2].type, MSGPACK_OBJECT_FLOAT64);
    assert_true(v[2].via.f64 == 18446744073709551616.0);
    assert_int_equal(v[3].type, MSGPACK_OBJECT_FLOAT64);
    assert_true(v[3].via.f64 == -9223372036854775809.0);
    assert_int_equal(v[4].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_true(v[4].via.u64 == INT64_MAX);
    gl_json_doc_free(&doc);

    assert_round_trip("18446744073709551615", "18446744073709551615");
    assert_round_trip("-9223372036854775808", "-9223372036854775808");
    assert_round_trip("18446744073709551616", "1.8446744073709552e+19");
    assert_round_trip("123456789012345678901234567890", "1.2345678901234568e+29");
}

static void test_json_round_trips_floats(void **state)
{
    (void)state;
    assert_round_trip("0.1", "0.1");
    assert_round_trip("1.0", "1.0");
    assert_round_trip("3.141592653589793", "3.141592653589793");
    assert_round_trip("0.30000000000000004", "0.30000000000000004");
    assert_round_trip("1e300", "1e+300");
    assert_round_trip("5e-324", "4.94065645841247e-324");
    assert_round_trip("1e400", "null");
    assert_round_trip("123456789.0", "123456789.0");
}

static void test_json_writes_float32_nan_and_infinity(void **state)
{
    (void)state;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_float(&pk, 0.1f);
    msgpack_pack_float(&pk, 2.0f);
    msgpack_pack_double(&pk, NAN);
    msgpack_pack_double(&pk, INFINITY);
    msgpack_pack_float(&pk, -INFINITY);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, sbuf.data, sbuf.size, &off), MSGPACK_UNPACK_SUCCESS);
    struct gl_buf b;
    gl_buf_init(&b);
    gl_json_write(&b, &u.data);
    assert_string_equal(b.data, "[0.1,2.0,null,null,null]");
    gl_buf_close(&b);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sbuf);
}

static void test_json_reads_escapes(void **state)
{
    (void)state;
    assert_reads_str("\"a\\nb\\\"c\\\\d\\/e\\u00e9\"", "a\nb\"c\\d/e\xc3\xa9", 11);
    assert_reads_str("\"\\b\\f\\r\\t\"", "\b\f\r\t", 4);
    assert_reads_str("\"\\u0041\\u20AC\"", "A\xe2\x82\xac", 4);
    assert_reads_str("\"x\\u0000y\"", "x\0y", 3);
}

static void test_json_reads_surrogates(void **state)
{
    (void)state;
    assert_reads_str("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
    assert_reads_str("\"\\ud800x\"", "\xef\xbf\xbdx", 4);
    assert_reads_str("\"\\udc00\"", "\xef\xbf\xbd", 3);
    assert_reads_str("\"\\ud800\\ud800\"", "\xef\xbf\xbd\xef\xbf\xbd", 6);
    assert_reads_str("\"\\ud800\\n\"", "\xef\xbf\xbd\n", 4);
    assert_reads_str("\"\\ud800\"", "\xef\xbf\xbd", 3);
}

static void test_json_reads_invalid_utf8_as_replacement(void **state)
{
    (void)state;
    assert_reads_str("\"a\xff" "b\"", "a\xef\xbf\xbd" "b", 5);
    assert_reads_str("\"\xe2\x82\"", "\xef\xbf\xbd", 3);
    assert_reads_str("\"\xc0\xaf\"", "\xef\xbf\xbd\xef\xbf\xbd", 6);
    assert_reads_str("\"\xed\xa0\x80\\n\"", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\n", 10);
    assert_reads_str("\"caf\xc3\xa9\"", "caf\xc3\xa9", 5);
}

static void test_json_writes_escapes(void **state)
{
    (void)state;
    assert_writes_str("a\"b\\c\n\r\t\b\f\x01\x1f/", 13,
                      "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f/\"");
    assert_writes_str("x\0y", 3, "\"x\\u0000y\"");
    assert_writes_str("", 0, "\"\"");
    assert_writes_str("plain text", 10, "\"plain text\"");
    assert_round_trip("\"\\u00e9\\ud83d\\ude00 \\\" \\\\ \\/ \\n\"",
                      "\"\xc3\xa9\xf0\x9f\x98\x80 \\\" \\\\ / \\n\"");
}

static void test_json_writes_invalid_utf8_as_replacement(void **state)
{
    (void)state;
    assert_writes_str("\xff", 1, "\"\xef\xbf\xbd\"");
    assert_writes_str("a\xc3", 2, "\"a\xef\xbf\xbd\"");
    assert_writes_str("\xe2\x82x", 3, "\"\xef\xbf\xbdx\"");
    assert_writes_str("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_writes_str("\xe0\x80\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_writes_str("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_writes_str("\xf4\x90\x80\x80", 4,
                      "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_writes_str("\xf0\x9f\x98", 3, "\"\xef\xbf\xbd\"");
    assert_writes_str("\x80" "a", 2, "\"\xef\xbf\xbd" "a\"");
    assert_writes_str("\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9", 9,
                      "\"\xf0\x9f\x98\x80\xe2\x82\xac\xc3\xa9\"");
    assert_writes_str("\xf4\x8f\xbf\xbf", 4, "\"\xf4\x8f\xbf\xbf\"");
}

/* The quoted writer must equal writing the JSON, then escaping it as string content. */
static void assert_quoted_is_escaped_json(const msgpack_object *o)
{
    struct gl_buf plain, escaped, quoted;
    gl_buf_init(&plain);
    gl_buf_init(&escaped);
    gl_buf_init(&quoted);
    gl_json_write(&plain, o);
    assert_int_equal(gl_json_escape(&escaped, plain.data, plain.len), plain.len);
    assert_int_equal(gl_json_write_quoted(&quoted, o), plain.len);
    assert_int_equal(quoted.len, escaped.len);
    assert_memory_equal(quoted.data, escaped.data, escaped.len);
    gl_buf_close(&plain);
    gl_buf_close(&escaped);
    gl_buf_close(&quoted);
}

static void test_json_quoted_writer_is_escaped_json(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{\"log\":\"GET /a?b=\\\"c\\\" 200\\n\\t\\u0001 \\u00e9 \\\\x\",\"n\":-12,"
        "\"f\":1.5,\"t\":true,\"z\":null,\"a\":[1,\"x\",{\"k\\\"\":[]}]}",
        "\"just a string with a \\\" quote\"",
        "[]", "{}", "12345", "{\"\":\"\"}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct gl_json_doc doc;
        assert_int_equal(gl_json_doc_parse(&doc, docs[i], strlen(docs[i]), NULL), 0);
        assert_quoted_is_escaped_json(&doc.root);
        gl_json_doc_free(&doc);
    }
    /* Invalid UTF-8 and control bytes in a binary value: replaced and escaped alike. */
    msgpack_object bin = { .type = MSGPACK_OBJECT_BIN };
    bin.via.bin.ptr = "a\xff\"\x01\\\xc3";
    bin.via.bin.size = 6;
    assert_quoted_is_escaped_json(&bin);
    struct gl_buf b;
    gl_buf_init(&b);
    assert_int_equal(gl_json_escape(&b, "a\xff" "b", 3), 5); /* the byte became 3 */
    assert_string_equal(b.data, "a\xef\xbf\xbd" "b");
    gl_buf_close(&b);
}

static void test_json_depth_limit(void **state)
{
    (void)state;
    char *ok = nested_arrays(GL_JSON_MAX_DEPTH);
    char *deep = nested_arrays(GL_JSON_MAX_DEPTH + 1);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    assert_int_equal(gl_json_read(ok, strlen(ok), &pk, 0, NULL), 0);
    /* 27 one-member arrays (fixarray 0x91) around an empty one (0x90). */
    assert_int_equal(sbuf.size, GL_JSON_MAX_DEPTH);
    assert_int_equal((unsigned char)sbuf.data[GL_JSON_MAX_DEPTH - 2], 0x91);
    assert_int_equal((unsigned char)sbuf.data[GL_JSON_MAX_DEPTH - 1], 0x90);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, sbuf.data, sbuf.size, NULL),
                     MSGPACK_UNPACK_SUCCESS);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sbuf);
    assert_read_fails(deep, strlen(deep), 0, GL_JSON_MAX_DEPTH, "nesting too deep");
    assert_read_fails("{\"a\":{\"b\":{}}}", 14, 2, 10, "nesting too deep");
    free(ok);
    free(deep);
}

static void test_json_doc_depth_fits_unpacker(void **state)
{
    (void)state;
    struct gl_json_doc doc;
    struct gl_json_error err = { 0 };
    char *ok = nested_arrays(GL_JSON_MAX_DEPTH);
    char *deep = nested_arrays(GL_JSON_MAX_DEPTH + 1);
    assert_int_equal(gl_json_doc_parse(&doc, ok, strlen(ok), &err), 0);
    assert_int_equal(doc.root.type, MSGPACK_OBJECT_ARRAY);
    gl_json_doc_free(&doc);
    assert_int_equal(gl_json_doc_parse(&doc, deep, strlen(deep), &err), GL_EPARSE);
    assert_int_equal(err.offset, GL_JSON_MAX_DEPTH);
    assert_string_equal(err.what, "nesting too deep");
    gl_json_doc_free(&doc);
    free(ok);
    free(deep);
}

static void test_json_rejects_syntax_errors(void **state)
{
    (void)state;
    assert_syntax_error("[1,]", 3, "trailing comma");
    assert_syntax_error("{\"a\":1,}", 7, "trailing comma");
    assert_syntax_error("{a:1}", 1, "expected string key");
    assert_syntax_error("{\"a\" 1}", 5, "expected ':'");
    assert_syntax_error("{\"a\":1 \"b\":2}", 7, "expected ',' or '}'");
    assert_syntax_error("[1 2]", 3, "expected ',' or ']'");
    assert_syntax_error("[1] x", 4, "unexpected character after value");
    assert_syntax_error("1 2", 2, "unexpected character after value");
    assert_syntax_error("\"abc", 4, "unterminated string");
    assert_syntax_error("\"ab\\", 4, "unterminated string");
    assert_syntax_error("\"a\nb\"", 2, "control character in string");
    assert_syntax_error("\"\\x\"", 2, "invalid escape");
    assert_syntax_error("\"\\u12g4\"", 5, "invalid \\u escape");
    assert_syntax_error("01", 1, "leading zero in number");
    assert_syntax_error("[-012]", 3, "leading zero in number");
    assert_syntax_error("-", 1, "invalid number");
    assert_syntax_error("1.", 2, "invalid number");
    assert_syntax_error("1e+", 3, "invalid number");
    assert_syntax_error(".5", 0, "unexpected character");
    assert_syntax_error("+1", 0, "unexpected character");
    assert_syntax_error("tru", 0, "invalid literal");
    assert_syntax_error("nul1", 0, "invalid literal");
    assert_syntax_error("", 0, "unexpected end of input");
    assert_syntax_error("  \n", 3, "unexpected end of input");
    assert_syntax_error("[1,2", 4, "unexpected end of input");
    assert_syntax_error("{\"a\"", 4, "unexpected end of input");
    assert_syntax_error("// c\n1", 0, "unexpected character");
    assert_read_fails("[1]\0", 4, 0, 3, "unexpected character after value");
}

static void test_json_map_get_finds_str_and_bin_keys(void **state)
{
    (void)state;
    struct gl_json_doc doc;
    const char *json = "{\"a\":1,\"b\":\"x\",\"\":true}";
    assert_int_equal(gl_json_doc_parse(&doc, json, strlen(json), NULL), 0);
    const msgpack_object *v = gl_json_map_get(&doc.root, "b");
    assert_non_null(v);
    assert_int_equal(v->type, MSGPACK_OBJECT_STR);
    assert_memory_equal(v->via.str.ptr, "x", 1);
    assert_int_equal(gl_json_map_get(&doc.root, "a")->via.u64, 1);
    assert_int_equal(gl_json_map_get(&doc.root, "")->type, MSGPACK_OBJECT_BOOLEAN);
    assert_null(gl_json_map_get(&doc.root, "c"));
    assert_null(gl_json_map_get(&doc.root, "ab"));
    assert_null(gl_json_map_get(&doc.root.via.map.ptr[0].val, "a"));
    gl_json_doc_free(&doc);

    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_int(&pk, 7);
    msgpack_pack_nil(&pk);
    msgpack_pack_bin(&pk, 3);
    msgpack_pack_bin_body(&pk, "key", 3);
    msgpack_pack_int(&pk, 9);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, sbuf.data, sbuf.size, &off), MSGPACK_UNPACK_SUCCESS);
    v = gl_json_map_get(&u.data, "key");
    assert_non_null(v);
    assert_int_equal(v->via.u64, 9);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sbuf);
}

static void test_json_writes_every_msgpack_type(void **state)
{
    (void)state;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    msgpack_pack_int(&pk, -3);
    msgpack_pack_str_with_body(&pk, "neg key", 7);
    msgpack_pack_nil(&pk);
    msgpack_pack_true(&pk);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_str_with_body(&pk, "\"", 1);
    msgpack_pack_false(&pk);
    msgpack_pack_str_with_body(&pk, "bin", 3);
    msgpack_pack_bin_with_body(&pk, "a\xff\n", 3);
    msgpack_pack_str_with_body(&pk, "ext", 3);
    msgpack_pack_ext_with_body(&pk, "xy", 2, 5);
    msgpack_pack_str_with_body(&pk, "n", 1);
    msgpack_pack_int64(&pk, INT64_MIN);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, sbuf.data, sbuf.size, &off), MSGPACK_UNPACK_SUCCESS);
    struct gl_buf b;
    gl_buf_init(&b);
    gl_json_write(&b, &u.data);
    assert_string_equal(b.data, "{\"-3\":\"neg key\",\"null\":true,\"[1,\\\"\\\\\\\"\\\"]\":false,"
                                "\"bin\":\"a\xef\xbf\xbd\\n\",\"ext\":null,"
                                "\"n\":-9223372036854775808}");
    gl_buf_close(&b);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sbuf);
}

/* Writes the record for the JSON body text at ts_ns and compares with expected. */
static void assert_record(const char *body, uint64_t ts_ns, const char *expected)
{
    struct gl_json_doc doc;
    assert_int_equal(gl_json_doc_parse(&doc, body, strlen(body), NULL), 0);
    struct gl_buf b;
    gl_buf_init(&b);
    gl_json_write_record(&b, ts_ns, &doc.root);
    assert_string_equal(b.data, expected);
    gl_buf_close(&b);
    gl_json_doc_free(&doc);
}

static void test_json_record_appends_timestamp(void **state)
{
    (void)state;
    uint64_t ts = 1714564800123456789ull;
    assert_record("{\"log\":\"hi\",\"n\":1}", ts,
                  "{\"log\":\"hi\",\"n\":1,\"@timestamp\":\"2024-05-01T12:00:00.123456789Z\"}");
    assert_record("{}", ts, "{\"@timestamp\":\"2024-05-01T12:00:00.123456789Z\"}");
    assert_record("\"hello\"", ts,
                  "{\"@timestamp\":\"2024-05-01T12:00:00.123456789Z\",\"log\":\"hello\"}");
    assert_record("[1,2]", ts,
                  "{\"@timestamp\":\"2024-05-01T12:00:00.123456789Z\",\"log\":[1,2]}");
}

static void test_json_record_keeps_existing_timestamp(void **state)
{
    (void)state;
    assert_record("{\"a\":1,\"@timestamp\":\"mine\"}", 1714564800123456789ull,
                  "{\"a\":1,\"@timestamp\":\"mine\"}");
}

static void test_json_format_time(void **state)
{
    (void)state;
    char out[31];
    assert_int_equal(gl_json_format_time(out, 0), 30);
    assert_string_equal(out, "1970-01-01T00:00:00.000000000Z");
    assert_int_equal(gl_json_format_time(out, 1714564800123456789ull), 30);
    assert_string_equal(out, "2024-05-01T12:00:00.123456789Z");
    gl_json_format_time(out, 1714564800000000001ull);
    assert_string_equal(out, "2024-05-01T12:00:00.000000001Z");
    gl_json_format_time(out, 1709251199999999999ull);
    assert_string_equal(out, "2024-02-29T23:59:59.999999999Z");
}

static int refuse_write(void *data, const char *buf, size_t len)
{
    (void)data;
    (void)buf;
    (void)len;
    return -1;
}

static void test_json_read_reports_refused_output(void **state)
{
    (void)state;
    msgpack_packer pk;
    msgpack_packer_init(&pk, NULL, refuse_write);
    struct gl_json_error err = { 0 };
    assert_int_equal(gl_json_read("[1]", 3, &pk, 0, &err), GL_ENOMEM);
    assert_non_null(err.what);
}

static void test_json_reads_many_containers(void **state)
{
    (void)state;
    /* More containers than the reader keeps on its stack, plus a long escaped string. */
    struct gl_buf in, want;
    gl_buf_init(&in);
    gl_buf_init(&want);
    gl_buf_putc(&in, '[');
    for (int i = 0; i < 300; i++) {
        gl_buf_printf(&in, "%s{\"i\":[%d]}", i ? "," : "", i);
    }
    gl_buf_puts(&in, ",\"");
    for (int i = 0; i < 400; i++) {
        gl_buf_puts(&in, "\\t\xff");
    }
    gl_buf_puts(&in, "\"]");
    gl_buf_append(&want, in.data, in.len - 1202);
    for (int i = 0; i < 400; i++) {
        gl_buf_puts(&want, "\\t\xef\xbf\xbd");
    }
    gl_buf_puts(&want, "\"]");
    char *out = round_trip(in.data);
    assert_non_null(out);
    assert_string_equal(out, want.data);
    free(out);
    gl_buf_close(&in);
    gl_buf_close(&want);
}

/*
 * Strings are scanned a word at a time: a character that needs escaping (or
 * is not ASCII) is found at every position of a word, next to others or not.
 */
static void test_json_writes_specials_at_every_position(void **state)
{
    (void)state;
    static const struct { const char *in; const char *out; } specials[] = {
        { "\"", "\\\"" }, { "\\", "\\\\" }, { "\n", "\\n" }, { "\x01", "\\u0001" },
        { "\x1f", "\\u001f" }, { "\xc3\xa9", "\xc3\xa9" }, { "\xff", "\xef\xbf\xbd" },
        { " ", " " }, { "~", "~" }, { "\x7f", "\x7f" },
    };
    for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++) {
        for (size_t at = 0; at < 20; at++) {
            char in[64], want[64];
            size_t n = 0, w = 0;
            want[w++] = '"';
            for (size_t i = 0; i < at; i++) {
                in[n++] = 'a';
                want[w++] = 'a';
            }
            memcpy(in + n, specials[k].in, strlen(specials[k].in));
            n += strlen(specials[k].in);
            memcpy(want + w, specials[k].out, strlen(specials[k].out));
            w += strlen(specials[k].out);
            for (size_t i = 0; i < 11; i++) {
                in[n++] = 'z';
                want[w++] = 'z';
            }
            want[w++] = '"';
            want[w] = '\0';
            struct gl_buf b;
            gl_buf_init(&b);
            gl_json_write_str(&b, in, n);
            assert_string_equal(b.data, want);
            gl_buf_close(&b);
        }
    }
}

/* The escape of an ASCII string, byte by byte, to check the word-at-a-time writer against. */
static void reference_escape(struct gl_buf *b, const char *s, size_t n)
{
    gl_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            gl_buf_putc(b, '\\');
            gl_buf_putc(b, (char)c);
        } else if (c == '\n') {
            gl_buf_puts(b, "\\n");
        } else if (c == '\t') {
            gl_buf_puts(b, "\\t");
        } else if (c < 0x20) {
            gl_buf_printf(b, "\\u%04x", c);
        } else {
            gl_buf_putc(b, (char)c);
        }
    }
    gl_buf_putc(b, '"');
}

/*
 * Several specials in one block, next to each other or apart, anywhere, over
 * strings of several blocks: as byte by byte. Each string is alone in an
 * allocation of its size, so a sanitizer sees any read past it.
 */
static void test_json_writes_mixed_specials_as_reference(void **state)
{
    (void)state;
    static const char alphabet[] = "ab\"\\\n\t\x01 {}:";
    uint32_t seed = 12345;
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(round % 80);
        char *in = malloc(n > 0 ? n : 1);
        assert_non_null(in);
        /* Some strings mostly plain, some mostly specials. */
        unsigned plain = (unsigned)(round / 80) % 4;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 16;
            in[i] = r % 4 < plain ? 'p' : alphabet[r / 4 % (sizeof(alphabet) - 1)];
        }
        struct gl_buf got, want;
        gl_buf_init(&got);
        gl_buf_init(&want);
        gl_json_write_str(&got, in, n);
        reference_escape(&want, in, n);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
        gl_buf_close(&got);
        gl_buf_close(&want);
        free(in);
    }
}

/* Long strings are escaped in segments: a UTF-8 sequence across a segment's end stays whole. */
static void test_json_writes_long_strings_across_segments(void **state)
{
    (void)state;
    struct gl_buf empty;
    gl_buf_init(&empty);
    gl_json_write_str(&empty, NULL, 0); /* msgpack's empty string has no pointer */
    assert_string_equal(empty.data, "\"\"");
    gl_buf_close(&empty);
    static const struct { const char *tail; const char *out; } cases[] = {
        { "\xc3\xa9z", "\xc3\xa9z" },                 /* 2 bytes */
        { "\xe2\x82\xacz", "\xe2\x82\xacz" },         /* 3 bytes */
        { "\xf0\x9f\x98\x80z", "\xf0\x9f\x98\x80z" }, /* 4 bytes */
        { "\xe2\x82z", "\xef\xbf\xbdz" },             /* cut: one U+FFFD */
        { "\"\\z", "\\\"\\\\z" },
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        for (size_t pad = 4090; pad < 4100; pad++) {
            struct gl_buf in, want, got;
            gl_buf_init(&in);
            gl_buf_init(&want);
            gl_buf_init(&got);
            gl_buf_putc(&want, '"');
            for (size_t i = 0; i < pad; i++) {
                gl_buf_putc(&in, (char)('a' + i % 26));
                gl_buf_putc(&want, (char)('a' + i % 26));
            }
            gl_buf_puts(&in, cases[k].tail);
            gl_buf_puts(&want, cases[k].out);
            gl_buf_putc(&want, '"');
            gl_json_write_str(&got, in.data, in.len);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.data, want.data, want.len);
            gl_buf_close(&in);
            gl_buf_close(&want);
            gl_buf_close(&got);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trips_nested),
        cmocka_unit_test(test_json_writes_specials_at_every_position),
        cmocka_unit_test(test_json_writes_mixed_specials_as_reference),
        cmocka_unit_test(test_json_writes_long_strings_across_segments),
        cmocka_unit_test(test_json_round_trips_scalars),
        cmocka_unit_test(test_json_reads_big_integers),
        cmocka_unit_test(test_json_round_trips_floats),
        cmocka_unit_test(test_json_writes_float32_nan_and_infinity),
        cmocka_unit_test(test_json_reads_escapes),
        cmocka_unit_test(test_json_reads_surrogates),
        cmocka_unit_test(test_json_reads_invalid_utf8_as_replacement),
        cmocka_unit_test(test_json_writes_escapes),
        cmocka_unit_test(test_json_writes_invalid_utf8_as_replacement),
        cmocka_unit_test(test_json_depth_limit),
        cmocka_unit_test(test_json_doc_depth_fits_unpacker),
        cmocka_unit_test(test_json_rejects_syntax_errors),
        cmocka_unit_test(test_json_map_get_finds_str_and_bin_keys),
        cmocka_unit_test(test_json_writes_every_msgpack_type),
        cmocka_unit_test(test_json_record_appends_timestamp),
        cmocka_unit_test(test_json_record_keeps_existing_timestamp),
        cmocka_unit_test(test_json_format_time),
        cmocka_unit_test(test_json_read_reports_refused_output),
        cmocka_unit_test(test_json_reads_many_containers),
        cmocka_unit_test(test_json_quoted_writer_is_escaped_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
