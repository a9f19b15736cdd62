/*
 * AWS Signature Version 4: the AWS test suite's vectors, the path, query and
 * header rules one by one, the signing key cache, and a cross-check against
 * botocore on generated requests (sigv4_botocore.py, run with /usr/bin/python3).
 * The .c is included to reach the key cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/aws/sigv4.c"
#include "codec/json.h"

#define SUITE_TIME 1440938160 /* 20150830T123600Z */
#define BOTOCORE_COUNT 1200
#define BOTOCORE_SEED "20240501"

static struct gl_aws_creds suite_creds = {
    .access_key_id = "AKIDEXAMPLE",
    .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};

static struct gl_sigv4_request suite_request(const char *method, const char *query)
{
    return (struct gl_sigv4_request){
        .method = method,
        .host = "example.amazonaws.com",
        .path = "/",
        .query = query,
        .region = "us-east-1",
        .service = "service",
        .now = SUITE_TIME,
    };
}

/* Signature= of an Authorization header, for short asserts. */
static const char *signature_of(const struct gl_sigv4_result *r)
{
    const char *s = strstr(r->authorization, "Signature=");
    return s ? s + 10 : "";
}

static void assert_uri_path(const char *path, int s3, const char *want)
{
    struct gl_buf b;
    gl_buf_init(&b);
    gl_sigv4_uri_path(&b, path, s3);
    assert_string_equal(b.data, want);
    gl_buf_close(&b);
}

static void assert_prefix(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0) {
        fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
    }
}

/* The canonical request of req under suite_creds, for asserting on. */
static char *canonical_of(const struct gl_sigv4_request *req)
{
    struct gl_buf c, s;
    gl_buf_init(&c);
    gl_buf_init(&s);
    assert_int_equal(gl_sigv4_canonical(req, &suite_creds, &c, &s), 0);
    gl_buf_close(&s);
    return gl_buf_take(&c);
}

/* ---- the AWS test suite ----------------------------------------------- */

static void test_sigv4_get_vanilla_matches_aws_suite(void **state)
{
    (void)state;
    struct gl_sigv4_request req = suite_request("GET", NULL);
    struct gl_sigv4_result r;
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, &r), 0);
    assert_string_equal(r.authorization,
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                        "aws4_request, SignedHeaders=host;x-amz-date, Signature="
                        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    assert_string_equal(r.amz_date, "20150830T123600Z");
    assert_string_equal(r.content_sha256,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_null(r.security_token);

    struct gl_buf c, s;
    gl_buf_init(&c);
    gl_buf_init(&s);
    assert_int_equal(gl_sigv4_canonical(&req, &suite_creds, &c, &s), 0);
    assert_string_equal(c.data, "GET\n/\n\nhost:example.amazonaws.com\n"
                                "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(s.data, "AWS4-HMAC-SHA256\n20150830T123600Z\n"
                                "20150830/us-east-1/service/aws4_request\n"
                                "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    gl_buf_close(&c);
    gl_buf_close(&s);
}

static void test_sigv4_query_and_post_vectors_match_aws_suite(void **state)
{
    (void)state;
    struct gl_sigv4_header form = {"Content-Type", "application/x-www-form-urlencoded"};
    struct gl_sigv4_result r;

    struct gl_sigv4_request req = suite_request("GET", "Param2=value2&Param1=value1");
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, &r), 0);
    assert_string_equal(signature_of(&r),
                        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");

    req = suite_request("GET", "Param1=value1");
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, &r), 0);
    assert_string_equal(signature_of(&r),
                        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb");

    req = suite_request("POST", NULL);
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, &r), 0);
    assert_string_equal(signature_of(&r),
                        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");

    req = suite_request("POST", NULL);
    req.headers = &form;
    req.n_headers = 1;
    req.payload = "Param1=value1";
    req.payload_len = 13;
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, &r), 0);
    assert_string_equal(strstr(r.authorization, "SignedHeaders="),
                        "SignedHeaders=content-type;host;x-amz-date, Signature="
                        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

/* A body hashed in pieces and signed by its hash signs as the body itself does. */
static void test_sigv4_streamed_payload_hash_signs_as_the_payload(void **state)
{
    (void)state;
    static const struct gl_sigv4_header form = { "Content-Type",
                                                 "application/x-www-form-urlencoded" };
    struct gl_sigv4_request req = suite_request("POST", NULL);
    struct gl_sigv4_result whole, streamed;
    req.headers = &form;
    req.n_headers = 1;
    req.payload = "Param1=value1";
    req.payload_len = 13;
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, &whole), 0);

    struct gl_sha256 h;
    char hex[65];
    assert_int_equal(gl_sha256_begin(&h), 0);
    gl_sha256_add(&h, "Param1", 6);
    gl_sha256_add(&h, "", 0);
    gl_sha256_add(&h, "=value1", 7);
    assert_int_equal(gl_sha256_hex(&h, hex), 0);
    assert_string_equal(hex, whole.content_sha256);

    req.payload = NULL;
    req.payload_len = 0;
    req.payload_sha256 = hex;
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, &streamed), 0);
    assert_string_equal(streamed.authorization, whole.authorization);

    req.payload_sha256 = "abc"; /* not a SHA-256 in hex */
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, &streamed), GL_EINVAL);
}

/* ---- canonical request rules ------------------------------------------ */

static void test_sigv4_uri_path_encodes_and_normalises(void **state)
{
    (void)state;
    assert_uri_path(NULL, 0, "/");
    assert_uri_path("", 0, "/");
    assert_uri_path("//", 0, "/");
    assert_uri_path("/my index/../a b//c/", 0, "/a%20b/c/");
    assert_uri_path("/a/./b/../../..", 0, "/");
    assert_uri_path("/a/b/..", 0, "/a");
    assert_uri_path("/\xc3\xa9/%2F/~x_-./q?#", 0, "/%C3%A9/%252F/~x_-./q%3F%23");
    assert_uri_path("/a/../b/./", 1, "/a/../b/./");
    assert_uri_path("/key with space", 1, "/key%20with%20space");
}

static void test_sigv4_canonical_uri_is_encoded_twice_except_s3(void **state)
{
    (void)state;
    struct gl_sigv4_request req = suite_request("GET", NULL);
    req.path = "/my index/./a%b/";
    char *c = canonical_of(&req);
    assert_prefix(c, "GET\n/my%2520index/a%2525b/\n\n");
    gl_free(c);

    req.s3_path_rules = 1;
    c = canonical_of(&req);
    assert_prefix(c, "GET\n/my%20index/./a%25b/\n\n");
    gl_free(c);
}

static void test_sigv4_canonical_query_decodes_and_sorts(void **state)
{
    (void)state;
    struct gl_sigv4_request req =
        suite_request("get", "b=2&a=z&a=%41&%61-b=x&flag&e=&p=a+b%2f%zz&&sp=%20%7e%C3%A9");
    char *c = canonical_of(&req);
    assert_prefix(c, "GET\n/\n=&a=A&a=z&a-b=x&b=2&e=&flag=&p=a%2Bb%2F%25zz&sp=%20~%C3%A9\nhost:");
    gl_free(c);
}

static void test_sigv4_headers_fold_whitespace_and_join_repeats(void **state)
{
    (void)state;
    struct gl_sigv4_header headers[] = {
        {"X-B", "  two   words\t here "},
        {"x-a", "1"},
        {"User-Agent", "not signed"},
        {"X-A", " 2 "},
        {"X-Amz-Date", "20000101T000000Z"},
        {"Expect", "100-continue"},
        {"x-e", ""},
        {"Authorization", "stale"},
    };
    struct gl_sigv4_request req = suite_request("GET", NULL);
    req.host = "Example.AmazonAWS.com:8443";
    req.headers = headers;
    req.n_headers = sizeof(headers) / sizeof(headers[0]);
    char *c = canonical_of(&req);
    assert_string_equal(c, "GET\n/\n\nhost:example.amazonaws.com:8443\nx-a:1,2\n"
                           "x-amz-date:20150830T123600Z\nx-b:two words here\nx-e:\n\n"
                           "host;x-a;x-amz-date;x-b;x-e\n"
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    gl_free(c);
}

static void test_sigv4_content_sha256_header_is_the_payload_line(void **state)
{
    (void)state;
    struct gl_sigv4_header h = {"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"};
    struct gl_sigv4_request req = suite_request("PUT", NULL);
    req.headers = &h;
    req.n_headers = 1;
    req.payload = "abc";
    req.payload_len = 3;
    char *c = canonical_of(&req);
    assert_non_null(strstr(c, "\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"));
    assert_non_null(strstr(c, "\n\nhost;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD"));
    gl_free(c);

    struct gl_sigv4_result r;
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, &r), 0);
    assert_string_equal(r.content_sha256,
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_sigv4_session_token_is_signed_and_returned(void **state)
{
    (void)state;
    struct gl_sigv4_header given = {"X-Amz-Security-Token", "old"};
    struct gl_aws_creds creds = suite_creds;
    creds.session_token = "  tok  en ";
    struct gl_sigv4_request req = suite_request("GET", NULL);
    req.headers = &given;
    req.n_headers = 1;
    struct gl_sigv4_result r;
    assert_int_equal(gl_sigv4_sign(&req, &creds, &r), 0);
    assert_ptr_equal(r.security_token, creds.session_token);
    assert_non_null(strstr(r.authorization, "SignedHeaders=host;x-amz-date;x-amz-security-token,"));

    struct gl_buf c, s;
    gl_buf_init(&c);
    gl_buf_init(&s);
    assert_int_equal(gl_sigv4_canonical(&req, &creds, &c, &s), 0);
    assert_non_null(strstr(c.data, "\nx-amz-security-token:tok en\n\n"));
    assert_null(strstr(c.data, "old"));
    gl_buf_close(&c);
    gl_buf_close(&s);

    creds.session_token = "";
    assert_int_equal(gl_sigv4_sign(&req, &creds, &r), 0);
    assert_null(r.security_token);
    assert_non_null(strstr(r.authorization, "x-amz-security-token")); /* the given one */
}

static void test_sigv4_rejects_missing_or_invalid_arguments(void **state)
{
    (void)state;
    struct gl_sigv4_result r;
    struct gl_sigv4_request req = suite_request("GET", NULL);
    struct gl_aws_creds creds = suite_creds;
    assert_int_equal(gl_sigv4_sign(NULL, &creds, &r), GL_EINVAL);
    assert_int_equal(gl_sigv4_sign(&req, NULL, &r), GL_EINVAL);
    req.region = NULL;
    assert_int_equal(gl_sigv4_sign(&req, &creds, &r), GL_EINVAL);
    assert_string_equal(r.authorization, "");
    req = suite_request("GET", NULL);
    req.path = "relative";
    assert_int_equal(gl_sigv4_sign(&req, &creds, &r), GL_EINVAL);
    req = suite_request("GET", NULL);
    req.payload_len = 1;
    assert_int_equal(gl_sigv4_sign(&req, &creds, &r), GL_EINVAL);
    creds.secret_access_key = NULL;
    assert_int_equal(gl_sigv4_sign(&req, &creds, &r), GL_EINVAL);
}

static void test_sigv4_date_header_is_refused(void **state)
{
    (void)state;
    struct gl_sigv4_header h[] = {{"x-a", "1"}, {"Date", "Sun, 30 Aug 2015 12:36:00 GMT"}};
    struct gl_sigv4_request req = suite_request("GET", NULL);
    req.headers = h;
    req.n_headers = 2;
    struct gl_sigv4_result r;
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, &r), GL_EINVAL);
}

static void test_sigv4_authorization_too_long_is_elimit(void **state)
{
    (void)state;
    char name[400];
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    struct gl_sigv4_header h = {name, "1"};
    struct gl_sigv4_request req = suite_request("GET", NULL);
    req.headers = &h;
    req.n_headers = 1;
    struct gl_sigv4_result r;
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, &r), GL_ELIMIT);
    assert_string_equal(r.authorization, "");
}

/* ---- signing key cache ------------------------------------------------ */

static int slots_in_use(void)
{
    int n = 0;
    for (int i = 0; i < KEY_SLOTS; i++) {
        n += key_cache[i].used != 0;
    }
    return n;
}

static struct key_slot *slot_for(const char *date, const char *region, const char *service)
{
    unsigned char id[32];
    const char *secret = suite_creds.secret_access_key;
    assert_int_equal(sha256(secret, strlen(secret), id), 0);
    return find_slot(id, date, region, service);
}

static void sign_at(time_t now, const char *region, const char *service, struct gl_sigv4_result *r)
{
    struct gl_sigv4_request req = suite_request("GET", NULL);
    req.now = now;
    req.region = region;
    req.service = service;
    assert_int_equal(gl_sigv4_sign(&req, &suite_creds, r), 0);
}

static void test_sigv4_key_cache_reuses_key_same_day(void **state)
{
    (void)state;
    struct gl_sigv4_result first, again;
    gl_sigv4_forget();
    sign_at(SUITE_TIME, "us-east-1", "service", &first);
    assert_int_equal(slots_in_use(), 1);
    struct key_slot *s = slot_for("20150830", "us-east-1", "service");
    assert_non_null(s);
    unsigned char want[32];
    assert_int_equal(
        derive_key(suite_creds.secret_access_key, "20150830", "us-east-1", "service", want), 0);
    assert_memory_equal(s->key, want, 32);

    /* A spoiled cached key changes the signature: proof it is used, not derived again. */
    s->key[0] ^= 1;
    sign_at(SUITE_TIME, "us-east-1", "service", &again);
    assert_string_not_equal(again.authorization, first.authorization);
    s->key[0] ^= 1;
    sign_at(SUITE_TIME + 3600, "us-east-1", "service", &again);
    assert_int_equal(slots_in_use(), 1);
    sign_at(SUITE_TIME, "us-east-1", "service", &again);
    assert_string_equal(again.authorization, first.authorization);
    gl_sigv4_forget();
}

static void test_sigv4_key_cache_derives_anew_for_new_day(void **state)
{
    (void)state;
    struct gl_sigv4_result r;
    gl_sigv4_forget();
    sign_at(SUITE_TIME, "us-east-1", "service", &r);
    sign_at(SUITE_TIME + 86400, "us-east-1", "service", &r);
    assert_int_equal(slots_in_use(), 2);
    struct key_slot *s = slot_for("20150831", "us-east-1", "service");
    assert_non_null(s);
    unsigned char want[32];
    assert_int_equal(
        derive_key(suite_creds.secret_access_key, "20150831", "us-east-1", "service", want), 0);
    assert_memory_equal(s->key, want, 32);
    assert_non_null(slot_for("20150830", "us-east-1", "service"));
    gl_sigv4_forget();
}

static void test_sigv4_key_cache_evicts_least_recently_used(void **state)
{
    (void)state;
    struct gl_sigv4_result r;
    gl_sigv4_forget();
    sign_at(SUITE_TIME, "us-east-1", "logs", &r);
    sign_at(SUITE_TIME, "us-east-1", "sts", &r);
    sign_at(SUITE_TIME, "eu-west-1", "logs", &r);
    sign_at(SUITE_TIME, "eu-west-1", "sts", &r);
    sign_at(SUITE_TIME, "us-east-1", "logs", &r);
    sign_at(SUITE_TIME, "us-east-1", "es", &r);
    assert_int_equal(slots_in_use(), 4);
    assert_null(slot_for("20150830", "us-east-1", "sts"));
    assert_non_null(slot_for("20150830", "us-east-1", "logs"));
    assert_non_null(slot_for("20150830", "us-east-1", "es"));

    gl_sigv4_forget();
    assert_int_equal(slots_in_use(), 0);
    static const struct key_slot zero;
    assert_memory_equal(&key_cache[0], &zero, sizeof(zero));
}

static void test_sigv4_long_scope_names_are_signed_uncached(void **state)
{
    (void)state;
    struct gl_sigv4_result r;
    gl_sigv4_forget();
    sign_at(SUITE_TIME, "a-region-name-longer-than-a-cache-slot", "service", &r);
    assert_int_equal(slots_in_use(), 0);
    assert_non_null(strstr(r.authorization, "/a-region-name-longer-than-a-cache-slot/service/"));
}

/* ---- credentials ------------------------------------------------------ */

static void test_aws_creds_copy_and_clear(void **state)
{
    (void)state;
    struct gl_aws_creds src = {
        .access_key_id = "AKID",
        .secret_access_key = "secret",
        .session_token = "token",
        .expiration = 42,
    };
    struct gl_aws_creds dst = {0};
    gl_aws_creds_copy(&dst, &src);
    assert_string_equal(dst.access_key_id, "AKID");
    assert_string_equal(dst.secret_access_key, "secret");
    assert_string_equal(dst.session_token, "token");
    assert_ptr_not_equal(dst.secret_access_key, src.secret_access_key);
    assert_int_equal(dst.expiration, 42);

    src.session_token = NULL;
    src.access_key_id = "AKID2";
    gl_aws_creds_copy(&dst, &src); /* the old strings are freed (the leak check sees it) */
    assert_string_equal(dst.access_key_id, "AKID2");
    assert_null(dst.session_token);
    gl_aws_creds_copy(&dst, &dst);
    assert_string_equal(dst.access_key_id, "AKID2");

    gl_aws_creds_clear(&dst);
    assert_null(dst.access_key_id);
    assert_null(dst.secret_access_key);
    assert_int_equal(dst.expiration, 0);
    gl_aws_creds_clear(NULL);
}

/* ---- botocore cross-check --------------------------------------------- */

/* A botocore request read from one generated line; every string owned. */
struct boto_case {
    struct gl_sigv4_request req;
    struct gl_aws_creds creds;
    struct gl_sigv4_header *headers;
    char *want_authorization, *want_amz_date, *want_canonical;
};

static char *str_dup(const msgpack_object *o)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_STR) {
        return NULL;
    }
    return gl_strndup(o->via.str.ptr, o->via.str.size);
}

static char *field(const msgpack_object *root, const char *key)
{
    return str_dup(gl_json_map_get(root, key));
}

static char *hex_decode(const msgpack_object *o, size_t *len)
{
    size_t n = o->via.str.size / 2;
    char *out = gl_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        out[i] =
            (char)(hex_value(o->via.str.ptr[2 * i]) * 16 + hex_value(o->via.str.ptr[2 * i + 1]));
    }
    *len = n;
    return out;
}

/* Fills c from one JSON line. Returns 0, or -1 when a field is missing. */
static int boto_case_read(struct boto_case *c, const msgpack_object *root)
{
    const msgpack_object *hs = gl_json_map_get(root, "headers");
    const msgpack_object *body = gl_json_map_get(root, "body_hex");
    const msgpack_object *when = gl_json_map_get(root, "time");
    const msgpack_object *s3 = gl_json_map_get(root, "s3");
    if (hs == NULL || hs->type != MSGPACK_OBJECT_ARRAY || body == NULL ||
        body->type != MSGPACK_OBJECT_STR || when == NULL ||
        when->type != MSGPACK_OBJECT_POSITIVE_INTEGER || s3 == NULL) {
        return -1;
    }
    memset(c, 0, sizeof(*c));
    c->headers = gl_calloc(hs->via.array.size + 1, sizeof(*c->headers));
    for (uint32_t i = 0; i < hs->via.array.size; i++) {
        const msgpack_object *pair = &hs->via.array.ptr[i];
        c->headers[i].name = str_dup(&pair->via.array.ptr[0]);
        c->headers[i].value = str_dup(&pair->via.array.ptr[1]);
    }
    c->req = (struct gl_sigv4_request){
        .method = field(root, "method"),
        .host = field(root, "host"),
        .path = field(root, "path"),
        .query = field(root, "query"),
        .headers = c->headers,
        .n_headers = hs->via.array.size,
        .region = field(root, "region"),
        .service = field(root, "service"),
        .now = (time_t)when->via.u64,
        .s3_path_rules = s3->via.u64 != 0,
    };
    c->req.payload = hex_decode(body, &c->req.payload_len);
    c->creds.access_key_id = field(root, "akid");
    c->creds.secret_access_key = field(root, "secret");
    c->creds.session_token = field(root, "token");
    c->want_authorization = field(root, "expected_authorization");
    c->want_amz_date = field(root, "expected_amz_date");
    c->want_canonical = field(root, "expected_canonical");
    return c->want_authorization && c->want_amz_date && c->want_canonical ? 0 : -1;
}

static void boto_case_free(struct boto_case *c)
{
    for (size_t i = 0; i < c->req.n_headers; i++) {
        gl_free((char *)c->headers[i].name);
        gl_free((char *)c->headers[i].value);
    }
    gl_free(c->headers);
    gl_free((char *)c->req.method);
    gl_free((char *)c->req.host);
    gl_free((char *)c->req.path);
    gl_free((char *)c->req.query);
    gl_free((char *)c->req.region);
    gl_free((char *)c->req.service);
    gl_free((char *)c->req.payload);
    gl_aws_creds_clear(&c->creds);
    gl_free(c->want_authorization);
    gl_free(c->want_amz_date);
    gl_free(c->want_canonical);
}

/* Signs one case; on a mismatch prints both canonical requests when print is set. */
static int boto_case_check(const struct boto_case *c, long line, int print)
{
    struct gl_sigv4_result r;
    int rc = gl_sigv4_sign(&c->req, &c->creds, &r);
    if (rc == 0 && strcmp(r.authorization, c->want_authorization) == 0 &&
        strcmp(r.amz_date, c->want_amz_date) == 0) {
        return 0;
    }
    if (print) {
        struct gl_buf canon, sts;
        gl_buf_init(&canon);
        gl_buf_init(&sts);
        gl_sigv4_canonical(&c->req, &c->creds, &canon, &sts);
        fprintf(stderr,
                "botocore line %ld: rc %d\n  got:  %s\n  want: %s\n"
                "--- our canonical request\n%s\n--- botocore's\n%s\n---\n",
                line, rc, r.authorization, c->want_authorization, canon.data ? canon.data : "",
                c->want_canonical);
        gl_buf_close(&canon);
        gl_buf_close(&sts);
    }
    return -1;
}

/* The generator: from the repository root, or beside this file. */
static const char *generator_path(char *out, size_t n)
{
    static const char rel[] = "tests/unit/agent/aws/sigv4_botocore.py";
    if (access(rel, R_OK) == 0) {
        return rel;
    }
    const char *slash = strrchr(__FILE__, '/');
    snprintf(out, n, "%.*s/sigv4_botocore.py", slash ? (int)(slash - __FILE__) : 1,
             slash ? __FILE__ : ".");
    return out;
}

static void test_sigv4_matches_botocore_on_generated_requests(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0) {
        fail_msg("/usr/bin/python3 is missing: install python3 and python3-botocore");
    }
    const char *seed = getenv("GL_SIGV4_SEED");
    char where[4096], cmd[4300];
    const char *script = generator_path(where, sizeof(where));
    if (access(script, R_OK) != 0) {
        fail_msg("%s not found: run the test from the repository root", script);
    }
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' --count %d --seed %s", script, BOTOCORE_COUNT,
             seed ? seed : BOTOCORE_SEED);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lines = 0, bad = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        struct gl_json_doc doc;
        struct boto_case c;
        lines++;
        if (gl_json_doc_parse(&doc, line, (size_t)len, NULL) != 0 ||
            boto_case_read(&c, &doc.root) != 0) {
            gl_json_doc_free(&doc);
            fail_msg("generated line %ld is not a request: %.200s", lines, line);
        }
        bad += boto_case_check(&c, lines, bad == 0) != 0;
        boto_case_free(&c);
        gl_json_doc_free(&doc);
    }
    free(line);
    int status = pclose(f);
    if (status != 0) {
        fail_msg("%s exited with status %d: does /usr/bin/python3 have botocore "
                 "(Debian package python3-botocore)?",
                 cmd, WEXITSTATUS(status));
    }
    printf("botocore cross-check: %ld requests, %ld mismatches\n", lines, bad);
    assert_int_equal(lines, BOTOCORE_COUNT);
    assert_int_equal(bad, 0);
    gl_sigv4_forget();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigv4_get_vanilla_matches_aws_suite),
        cmocka_unit_test(test_sigv4_query_and_post_vectors_match_aws_suite),
        cmocka_unit_test(test_sigv4_streamed_payload_hash_signs_as_the_payload),
        cmocka_unit_test(test_sigv4_uri_path_encodes_and_normalises),
        cmocka_unit_test(test_sigv4_canonical_uri_is_encoded_twice_except_s3),
        cmocka_unit_test(test_sigv4_canonical_query_decodes_and_sorts),
        cmocka_unit_test(test_sigv4_headers_fold_whitespace_and_join_repeats),
        cmocka_unit_test(test_sigv4_content_sha256_header_is_the_payload_line),
        cmocka_unit_test(test_sigv4_session_token_is_signed_and_returned),
        cmocka_unit_test(test_sigv4_rejects_missing_or_invalid_arguments),
        cmocka_unit_test(test_sigv4_date_header_is_refused),
        cmocka_unit_test(test_sigv4_authorization_too_long_is_elimit),
        cmocka_unit_test(test_sigv4_key_cache_reuses_key_same_day),
        cmocka_unit_test(test_sigv4_key_cache_derives_anew_for_new_day),
        cmocka_unit_test(test_sigv4_key_cache_evicts_least_recently_used),
        cmocka_unit_test(test_sigv4_long_scope_names_are_signed_uncached),
        cmocka_unit_test(test_aws_creds_copy_and_clear),
        cmocka_unit_test(test_sigv4_matches_botocore_on_generated_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
