/*
 * Tests for agent/aws/credentials*.c: the parsers of STS, JSON and shared
 * file answers on inline input, then each link of the chain against
 * tests/unit/agent/aws/aws_endpoints.py (STS with botocore checking AssumeRole
 * signatures, Pod Identity, IMDSv2) on 127.0.0.1 with an ephemeral port,
 * started by the group setup and killed by the group teardown. The peer
 * prints one "event ..." line per request; tests assert on them.
 *
 * Each test gets a fresh loop, a clean AWS environment (IMDS disabled,
 * shared files pointing nowhere) and stderr captured into a file; the
 * teardown frees the provider, asserts uv_loop_close() == 0 and that no
 * secret reached the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aws/credentials.h"
#include "aws/credentials_private.h"
#include "core/log.h"
#include "util/error.h"
#include "util/mem.h"

#define GUARD_MS 8000
#define REGION "us-west-2"

/* Strings the peer or the tests use as secrets: none may appear in a log line. */
static const char *const SECRETS[] = {
    "Secret",           "webToken",           "roleToken", "podToken",  "imdsToken",
    "pod-token-secret", "imds-session-token", "token-one", "token-two", "envSession",
};

static pid_t peer_pid;
static int peer_port;
static int peer_out = -1;
static char dir[64];

/* ---- peer process ---- */

static char pending[4096];
static size_t pending_len;

/* Reads one line of the peer's output within ms; false on timeout. */
static bool peer_line(char *line, size_t len, int ms)
{
    for (;;) {
        char *nl = memchr(pending, '\n', pending_len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - pending);
            snprintf(line, len, "%.*s", (int)n, pending);
            memmove(pending, nl + 1, pending_len - n - 1);
            pending_len -= n + 1;
            return true;
        }
        struct pollfd pfd = {.fd = peer_out, .events = POLLIN};
        if (pending_len == sizeof(pending) || poll(&pfd, 1, ms) <= 0) {
            return false;
        }
        ssize_t got = read(peer_out, pending + pending_len, sizeof(pending) - pending_len);
        if (got <= 0) {
            return false;
        }
        pending_len += (size_t)got;
    }
}

/* Discards the events already printed. */
static void drain_events(void)
{
    char line[1024];
    while (peer_line(line, sizeof(line), 0)) {
    }
}

/* Waits up to 3 s for the next event line; copies it without "event " into out. */
static bool next_event(char *out, size_t len)
{
    char line[1024];
    while (peer_line(line, sizeof(line), 3000)) {
        if (strncmp(line, "event ", 6) == 0) {
            snprintf(out, len, "%s", line + 6);
            return true;
        }
    }
    return false;
}

static void peer_kill(void)
{
    if (peer_pid > 0) {
        kill(peer_pid, SIGKILL);
        waitpid(peer_pid, NULL, 0);
        peer_pid = 0;
    }
    if (peer_out >= 0) {
        close(peer_out);
        peer_out = -1;
    }
}

/* The peer script sits beside this file. */
static void script_path(char *out, size_t len)
{
    const char *self = __FILE__;
    const char *slash = strrchr(self, '/');
    int n = slash != NULL ? (int)(slash - self + 1) : 0;
    snprintf(out, len, "%.*saws_endpoints.py", n, self);
}

static int peer_start(void **state)
{
    char script[512];
    char line[64];
    int fds[2];

    (void)state;
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    snprintf(dir, sizeof(dir), "/tmp/gl_aws_creds_XXXXXX");
    if (mkdtemp(dir) == NULL || pipe(fds) != 0) {
        return -1;
    }
    script_path(script, sizeof(script));
    peer_pid = fork();
    if (peer_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", script, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    peer_out = fds[0];
    if (peer_pid < 0 || !peer_line(line, sizeof(line), 10000) ||
        sscanf(line, "port %d", &peer_port) != 1) {
        fprintf(stderr,
                "test_aws_credentials: %s needs /usr/bin/python3 with botocore "
                "(packages python3, python3-botocore)\n",
                script);
        peer_kill();
        return -1;
    }
    return 0;
}

static int peer_stop(void **state)
{
    char cmd[128];

    (void)state;
    peer_kill();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- fixture: loop, HTTP, environment, captured stderr ---- */

struct got {
    int calls;
    char *akid;
    char *secret;
    char *token;
    int64_t expiration;
    char *err;
};

struct fixture {
    uv_loop_t loop;
    struct gl_http_client http;
    struct gl_aws_settings set;
    struct gl_aws_provider *p;
    int saved_stderr;
    char log_path[128];
};

static struct fixture F;

static const char *const AWS_VARS[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_STS",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
};

static void path_in_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    path_in_dir(path, sizeof(path), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void setenv_file(const char *var, const char *name)
{
    char path[256];
    path_in_dir(path, sizeof(path), name);
    setenv(var, path, 1);
}

static void setenv_url(const char *var, const char *path)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", peer_port, path);
    setenv(var, url, 1);
}

static int fixture_setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof(F));
    for (size_t i = 0; i < sizeof(AWS_VARS) / sizeof(AWS_VARS[0]); i++) {
        unsetenv(AWS_VARS[i]);
    }
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv_file("AWS_SHARED_CREDENTIALS_FILE", "absent-credentials");
    setenv_file("AWS_CONFIG_FILE", "absent-config");
    F.set.region = REGION;
    assert_int_equal(uv_loop_init(&F.loop), 0);
    assert_int_equal(gl_http_global_init(&F.loop), 0);
    F.http.tls_verify = true;
    F.http.connect_timeout_ms = 2000;
    F.http.timeout_ms = 5000;
    gl_log_configure(GL_LOG_DEBUG, GL_LOG_LOGFMT);
    snprintf(F.log_path, sizeof(F.log_path), "%s/stderr.log", dir);
    F.saved_stderr = dup(STDERR_FILENO);
    int fd = open(F.log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, STDERR_FILENO);
    close(fd);
    drain_events();
    return 0;
}

/* The log written by the current test, NUL-terminated; the caller frees it. */
static char *captured_log(void)
{
    char *text = NULL;
    size_t len = 0;
    if (gl__aws_read_file(F.log_path, 1 << 20, &text, &len) < 0) {
        return gl_strdup("");
    }
    return text;
}

static int fixture_teardown(void **state)
{
    (void)state;
    gl_aws_provider_free(F.p);
    F.p = NULL;
    gl_http_global_shutdown();
    uv_run(&F.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&F.loop), 0);
    dup2(F.saved_stderr, STDERR_FILENO);
    close(F.saved_stderr);
    char *log = captured_log();
    for (size_t i = 0; i < sizeof(SECRETS) / sizeof(SECRETS[0]); i++) {
        if (strstr(log, SECRETS[i]) != NULL) {
            fprintf(stderr, "secret %s in the log:\n%s\n", SECRETS[i], log);
            fail();
        }
    }
    gl_free(log);
    return 0;
}

static struct gl_aws_provider *provider(void)
{
    char err[256] = "";
    F.p = gl_aws_provider_new(&F.set, &F.loop, &F.http, NULL, err, sizeof(err));
    assert_non_null(F.p);
    return F.p;
}

static void got_free(struct got *g)
{
    gl_free(g->akid);
    gl_free(g->secret);
    gl_free(g->token);
    gl_free(g->err);
    memset(g, 0, sizeof(*g));
}

/* Copies what the assertions need: the credentials are borrowed. */
static void on_creds(void *data, const struct gl_aws_creds *c, const char *err)
{
    struct got *g = data;
    g->calls++;
    if (c != NULL) {
        g->akid = gl_strdup(c->access_key_id);
        g->secret = gl_strdup(c->secret_access_key);
        g->token = c->session_token != NULL ? gl_strdup(c->session_token) : NULL;
        g->expiration = c->expiration;
    }
    g->err = err != NULL ? gl_strdup(err) : NULL;
}

static void on_guard(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Turns the loop until g has been called (or, with g NULL, for ms). */
static void run_until(struct got *g, uint64_t ms)
{
    uv_timer_t guard;
    bool expired = false;

    uv_timer_init(&F.loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, on_guard, ms, 0);
    while ((g == NULL || g->calls == 0) && !expired) {
        uv_run(&F.loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&F.loop, UV_RUN_NOWAIT);
}

/* Gets credentials and waits for the answer. */
static void get(struct got *g)
{
    got_free(g);
    gl_aws_provider_get(F.p, on_creds, g);
    run_until(g, GUARD_MS);
    assert_int_equal(g->calls, 1);
}

static void web_identity_env(const char *role, const char *token)
{
    setenv("AWS_ROLE_ARN", role, 1);
    write_file("token", token);
    setenv_file("AWS_WEB_IDENTITY_TOKEN_FILE", "token");
    setenv_url("AWS_ENDPOINT_URL_STS", "/sts");
}

static void assert_event_prefix(const char *prefix)
{
    char ev[1024] = "";
    assert_true(next_event(ev, sizeof(ev)));
    if (strncmp(ev, prefix, strlen(prefix)) != 0) {
        fail_msg("event \"%s\" does not start with \"%s\"", ev, prefix);
    }
}

/* ---- parsers ---- */

static void test_sts_parse_reads_credentials_and_entities(void **state)
{
    static const char xml[] =
        "<?xml version=\"1.0\"?>\n<!-- c -->"
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        "<AssumeRoleResult><AssumedRoleUser><Arn>x</Arn></AssumedRoleUser><Credentials>"
        "<AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>a&amp;b&lt;c&gt;&quot;&apos;&#65;"
        "&#x42;</SecretAccessKey><SessionToken>tok</SessionToken>"
        "<Expiration>2024-05-01T13:00:00Z</Expiration></Credentials></AssumeRoleResult>"
        "</AssumeRoleResponse>\n";
    struct gl_aws_creds c;
    char err[128] = "";

    (void)state;
    assert_int_equal(gl__aws_sts_parse(xml, strlen(xml), "AssumeRole", &c, err, sizeof(err)), 0);
    assert_string_equal(c.access_key_id, "ASIA1");
    assert_string_equal(c.secret_access_key, "a&b<c>\"'AB");
    assert_string_equal(c.session_token, "tok");
    assert_int_equal(c.expiration, 1714568400);
    gl_aws_creds_clear(&c);
}

static void test_sts_parse_error_gives_code_and_message(void **state)
{
    static const char xml[] = "<ErrorResponse><Error><Type>Sender</Type>"
                              "<Code>ExpiredTokenException</Code><Message>Token expired: "
                              "1 &lt; 2</Message></Error><RequestId>r</RequestId></ErrorResponse>";
    struct gl_aws_creds c;
    char err[128] = "";

    (void)state;
    assert_int_equal(gl__aws_sts_parse(xml, strlen(xml), "AssumeRole", &c, err, sizeof(err)),
                     GL_EINVAL);
    assert_string_equal(err, "ExpiredTokenException: Token expired: 1 < 2");
    assert_null(c.access_key_id);
}

static void test_sts_parse_rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "<A>",
        "<A></B>",
        "text",
        "<A>&bogus;</A>",
        "<A>&#0;</A>",
        "<A/><B/>",
        "<!DOCTYPE x><A/>",
        "<A x=1/>",
        "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>a</AccessKeyId>"
        "</Credentials></AssumeRoleResult></AssumeRoleResponse>",
        "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>a</AccessKeyId>"
        "<AccessKeyId>b</AccessKeyId></Credentials></AssumeRoleResult></AssumeRoleResponse>",
        "<A><B><C><D><E><F><G><H><I/></H></G></F></E></D></C></B></A>",
    };
    struct gl_aws_creds c;
    char err[128];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = gl__aws_sts_parse(bad[i], strlen(bad[i]), "AssumeRole", &c, err, sizeof(err));
        if (rc != GL_EPARSE) {
            fail_msg("accepted \"%s\" (%d)", bad[i], rc);
        }
        assert_null(c.access_key_id);
    }
}

static void test_ini_profile_finds_section_and_keys(void **state)
{
    static const char creds[] = "# comment\n[default]\naws_access_key_id = AKD\n"
                                "aws_secret_access_key=SKD\n\n[other]  \r\n"
                                "aws_access_key_id\t=  AKO  \r\naws_secret_access_key = SKO\n"
                                "s3 =\n  aws_access_key_id = nested\naws_session_token = TO";
    static const char config[] = "[profile cfg]\naws_access_key_id = AKC\n"
                                 "aws_secret_access_key = SKC\n[cfg]\naws_access_key_id = no\n";
    struct gl_aws_creds c;

    (void)state;
    assert_int_equal(gl__aws_ini_profile(creds, strlen(creds), "other", false, &c), 0);
    assert_string_equal(c.access_key_id, "AKO");
    assert_string_equal(c.secret_access_key, "SKO");
    assert_string_equal(c.session_token, "TO");
    gl_aws_creds_clear(&c);
    assert_int_equal(gl__aws_ini_profile(creds, strlen(creds), "default", false, &c), 0);
    assert_string_equal(c.access_key_id, "AKD");
    assert_null(c.session_token);
    gl_aws_creds_clear(&c);
    assert_int_equal(gl__aws_ini_profile(config, strlen(config), "cfg", true, &c), 0);
    assert_string_equal(c.access_key_id, "AKC");
    gl_aws_creds_clear(&c);
    assert_int_equal(gl__aws_ini_profile(config, strlen(config), "cfg", false, &c), GL_ENOENT);
    assert_int_equal(gl__aws_ini_profile(creds, strlen(creds), "none", false, &c), GL_ENOENT);
}

static void test_json_creds_requires_success_code(void **state)
{
    static const char ok[] = "{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
                             "\"S\",\"Token\":\"T\",\"Expiration\":\"2024-05-01T13:00:00Z\"}";
    static const char failed[] = "{\"Code\":\"Failure\",\"AccessKeyId\":\"A\"}";
    struct gl_aws_creds c;
    char err[128] = "";

    (void)state;
    assert_int_equal(gl__aws_json_creds(ok, strlen(ok), &c, err, sizeof(err)), 0);
    assert_string_equal(c.session_token, "T");
    assert_int_equal(c.expiration, 1714568400);
    gl_aws_creds_clear(&c);
    assert_int_equal(gl__aws_json_creds(failed, strlen(failed), &c, err, sizeof(err)), GL_EPARSE);
    assert_string_equal(err, "the answer's Code is Failure");
}

/* ---- the chain ---- */

static void test_new_without_region_fails(void **state)
{
    struct gl_aws_settings s = {0};
    char err[128] = "";

    (void)state;
    assert_null(gl_aws_provider_new(&s, &F.loop, &F.http, NULL, err, sizeof(err)));
    assert_string_equal(err, "no AWS region: set region, AWS_REGION or AWS_DEFAULT_REGION "
                             "(instance metadata, which would tell it, is disabled)");
    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    F.p = gl_aws_provider_new(&s, &F.loop, &F.http, NULL, err, sizeof(err));
    assert_string_equal(gl_aws_provider_region(F.p), "eu-west-1");
}

static void test_env_credentials_answer_at_once(void **state)
{
    struct got g = {0};

    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envSecret", 1);
    setenv("AWS_SESSION_TOKEN", "envSession", 1);
    gl_aws_provider_get(provider(), on_creds, &g);
    assert_int_equal(g.calls, 1);
    assert_string_equal(g.akid, "AKIDENV");
    assert_string_equal(g.secret, "envSecret");
    assert_string_equal(g.token, "envSession");
    assert_int_equal(g.expiration, 0);
    assert_string_equal(gl_aws_provider_source(F.p), "env");
    got_free(&g);
}

static void test_web_identity_exchanges_token(void **state)
{
    struct got g = {0};
    char host[64], want[256], ev[1024] = "";

    (void)state;
    web_identity_env("arn:aws:iam::123456789012:role/web", "token-one\n");
    provider();
    get(&g);
    assert_null(g.err);
    assert_true(strncmp(g.akid, "ASIAWEB", 7) == 0);
    assert_true(strncmp(g.token, "webToken", 8) == 0);
    assert_in_range(g.expiration - time(NULL), 3590, 3601);
    assert_string_equal(gl_aws_provider_source(F.p), "web_identity");
    gethostname(host, sizeof(host));
    snprintf(want, sizeof(want),
             "web_identity token=token-one role=arn:aws:iam::123456789012:role/web "
             "session=gleaner-%s signed=False",
             host);
    assert_true(next_event(ev, sizeof(ev)));
    assert_string_equal(ev, want);
    got_free(&g);
}

static void test_web_identity_error_reports_code_and_message(void **state)
{
    struct got g = {0};

    (void)state;
    web_identity_env("arn:aws:iam::123456789012:role/web", "bad-token");
    provider();
    get(&g);
    assert_null(g.akid);
    assert_string_equal(g.err, "STS AssumeRoleWithWebIdentity: InvalidIdentityToken: "
                               "Token \"bad\" rejected & logged (HTTP 400)");
    /* During the back-off a caller gets the last error at once. */
    got_free(&g);
    gl_aws_provider_get(F.p, on_creds, &g);
    assert_int_equal(g.calls, 1);
    assert_non_null(strstr(g.err, "InvalidIdentityToken"));
    assert_non_null(strstr(g.err, "(next attempt in "));
    assert_string_equal(gl_aws_provider_source(F.p), "");
    got_free(&g);
}

static void test_web_identity_rereads_token_file_on_refresh(void **state)
{
    struct got g = {0};
    char first[64];

    (void)state;
    web_identity_env("arn:aws:iam::123456789012:role/web", "token-one");
    provider();
    get(&g);
    snprintf(first, sizeof(first), "%s", g.akid);
    assert_event_prefix("web_identity token=token-one ");
    write_file("token", "token-two");
    gl_aws_provider_invalidate(F.p);
    get(&g);
    assert_null(g.err);
    assert_string_not_equal(g.akid, first);
    assert_event_prefix("web_identity token=token-two ");
    got_free(&g);
}

static void test_pod_identity_sends_token_from_file(void **state)
{
    struct got g = {0};

    (void)state;
    setenv_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/pod/creds");
    write_file("pod-token", "pod-token-secret\n");
    setenv_file("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "pod-token");
    provider();
    get(&g);
    assert_null(g.err);
    assert_true(strncmp(g.akid, "ASIAPOD", 7) == 0);
    assert_true(strncmp(g.token, "podToken", 8) == 0);
    assert_string_equal(gl_aws_provider_source(F.p), "container");
    assert_event_prefix("pod auth=ok");
    got_free(&g);
}

static void test_pod_identity_rejection_reports_code(void **state)
{
    struct got g = {0};

    (void)state;
    setenv_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/pod/creds");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong", 1);
    provider();
    get(&g);
    assert_string_equal(g.err, "container credentials: HTTP 401, AccessDeniedException: bad token");
    assert_event_prefix("pod auth=bad");
    got_free(&g);
}

static void test_pod_identity_refuses_plain_http_elsewhere(void **state)
{
    struct got g = {0};

    (void)state;
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
    provider();
    get(&g);
    assert_string_equal(g.err, "container credentials URI http://example.com/creds: plain "
                               "HTTP only to loopback or the EKS/ECS agent addresses");
    got_free(&g);
}

static void test_shared_file_reads_profile(void **state)
{
    struct got g = {0};

    (void)state;
    write_file("credentials", "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = "
                              "fileSecretD\n[team]\naws_access_key_id = AKTEAM\n"
                              "aws_secret_access_key = fileSecretT\n");
    write_file("config", "[profile cfg]\naws_access_key_id = AKCFG\naws_secret_access_key = "
                         "cfgSecret\naws_session_token = cfgSession\n");
    setenv_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    setenv_file("AWS_CONFIG_FILE", "config");
    setenv("AWS_PROFILE", "team", 1);
    provider();
    get(&g);
    assert_string_equal(g.akid, "AKTEAM");
    assert_string_equal(g.secret, "fileSecretT");
    assert_string_equal(gl_aws_provider_source(F.p), "shared_file");
    gl_aws_provider_free(F.p);
    F.set.profile = "cfg";
    provider();
    get(&g);
    assert_string_equal(g.akid, "AKCFG");
    assert_string_equal(g.token, "cfgSession");
    F.set.profile = NULL;
    got_free(&g);
}

static void test_imds_v2_token_flow(void **state)
{
    char url[64];
    struct got g = {0};

    (void)state;
    unsetenv("AWS_EC2_METADATA_DISABLED");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", peer_port);
    F.set.imds_endpoint = url;
    provider();
    get(&g);
    assert_null(g.err);
    assert_true(strncmp(g.akid, "ASIAIMDS", 8) == 0);
    assert_string_equal(gl_aws_provider_source(F.p), "imds");
    assert_event_prefix("imds token ttl=21600");
    assert_event_prefix("imds role");
    assert_event_prefix("imds creds");
    F.set.imds_endpoint = NULL;
    got_free(&g);
}

static void test_region_from_instance_metadata_before_credentials(void **state)
{
    char url[64];
    struct got g = {0};

    (void)state;
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envSecret", 1);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", peer_port);
    F.set.imds_endpoint = url;
    F.set.region = NULL;
    provider();
    assert_null(gl_aws_provider_region(F.p));
    get(&g);
    assert_null(g.err);
    assert_string_equal(g.akid, "AKIDENV");
    assert_string_equal(gl_aws_provider_region(F.p), "eu-north-1");
    assert_event_prefix("imds token ttl=21600");
    assert_event_prefix("imds region");
    F.set.imds_endpoint = NULL;
    got_free(&g);
}

/* Returns a 127.0.0.1 port nothing listens on: bound, then released. */
static int closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_imds_unreachable_fails_fast(void **state)
{
    char url[64];
    struct got g = {0};
    uint64_t start = uv_hrtime();

    (void)state;
    unsetenv("AWS_EC2_METADATA_DISABLED");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", closed_port());
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
    provider();
    get(&g);
    assert_true(uv_hrtime() - start < 2000000000ull);
    assert_true(strncmp(g.err, "IMDS session token: ", 20) == 0);
    got_free(&g);
}

static void test_no_credentials_anywhere_says_so(void **state)
{
    struct got g = {0};

    (void)state;
    provider();
    get(&g);
    assert_true(strncmp(g.err, "no AWS credentials: ", 20) == 0);
    got_free(&g);
}

static void test_assume_role_signed_with_env_credentials(void **state)
{
    char sts[64];
    struct got g = {0};

    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDENVEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envSecretKeyExample/+=", 1);
    snprintf(sts, sizeof(sts), "http://127.0.0.1:%d/sts", peer_port);
    F.set.sts_endpoint = sts;
    F.set.role_arn = "arn:aws:iam::123456789012:role/target";
    F.set.external_id = "ext id/1";
    provider();
    get(&g);
    assert_null(g.err);
    assert_true(strncmp(g.akid, "ASIAROLE", 8) == 0);
    assert_string_equal(gl_aws_provider_source(F.p), "env+assume_role");
    assert_event_prefix("assume_role ok key=AKIDENVEXAMPLE "
                        "role=arn:aws:iam::123456789012:role/target external_id=ext id/1");
    memset(&F.set, 0, sizeof(F.set));
    F.set.region = REGION;
    got_free(&g);
}

static void test_assume_role_on_web_identity_signs_with_session_token(void **state)
{
    struct got g = {0};

    (void)state;
    web_identity_env("arn:aws:iam::123456789012:role/web", "token-one");
    F.set.role_arn = "arn:aws:iam::123456789012:role/target";
    provider();
    get(&g);
    assert_null(g.err);
    assert_true(strncmp(g.akid, "ASIAROLE", 8) == 0);
    assert_string_equal(gl_aws_provider_source(F.p), "web_identity+assume_role");
    assert_event_prefix("web_identity token=token-one ");
    assert_event_prefix("assume_role ok key=ASIAWEB");
    F.set.role_arn = NULL;
    got_free(&g);
}

static void test_expiry_refreshes_ahead(void **state)
{
    struct got g = {0};
    char first[64];

    (void)state;
    web_identity_env("arn:aws:iam::123456789012:role/short", "token-one");
    provider();
    get(&g);
    assert_in_range(g.expiration - time(NULL), 2, 5);
    snprintf(first, sizeof(first), "%s", g.akid);
    assert_event_prefix("web_identity token=token-one ");
    /* No caller asks: the timer refreshes before the 4 s are over. */
    run_until(NULL, 4500);
    assert_event_prefix("web_identity token=token-one ");
    get(&g);
    assert_null(g.err);
    assert_string_not_equal(g.akid, first);
    got_free(&g);
}

static void test_invalidate_refreshes_once_a_minute(void **state)
{
    struct got g = {0};
    char second[64], ev[256];

    (void)state;
    web_identity_env("arn:aws:iam::123456789012:role/web", "token-one");
    provider();
    get(&g);
    gl_aws_provider_invalidate(F.p);
    get(&g);
    snprintf(second, sizeof(second), "%s", g.akid);
    assert_event_prefix("web_identity ");
    assert_event_prefix("web_identity ");
    gl_aws_provider_invalidate(F.p);
    got_free(&g);
    gl_aws_provider_get(F.p, on_creds, &g);
    assert_int_equal(g.calls, 1);
    assert_string_equal(g.akid, second);
    assert_false(peer_line(ev, sizeof(ev), 200));
    got_free(&g);
}

static void test_concurrent_gets_share_one_refresh(void **state)
{
    struct got a = {0}, b = {0};
    char ev[256];

    (void)state;
    web_identity_env("arn:aws:iam::123456789012:role/web", "token-one");
    provider();
    gl_aws_provider_get(F.p, on_creds, &a);
    gl_aws_provider_get(F.p, on_creds, &b);
    run_until(&b, GUARD_MS);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_string_equal(a.akid, b.akid);
    assert_event_prefix("web_identity ");
    assert_false(peer_line(ev, sizeof(ev), 200));
    got_free(&a);
    got_free(&b);
}

static void test_chain_order_env_then_web_identity_then_container(void **state)
{
    struct got g = {0};

    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envSecret", 1);
    web_identity_env("arn:aws:iam::123456789012:role/web", "token-one");
    setenv_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/pod/creds");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "pod-token-secret", 1);
    provider();
    get(&g);
    assert_string_equal(gl_aws_provider_source(F.p), "env");
    gl_aws_provider_free(F.p);
    unsetenv("AWS_ACCESS_KEY_ID");
    provider();
    get(&g);
    assert_string_equal(gl_aws_provider_source(F.p), "web_identity");
    assert_event_prefix("web_identity ");
    gl_aws_provider_free(F.p);
    unsetenv("AWS_ROLE_ARN");
    provider();
    get(&g);
    assert_string_equal(gl_aws_provider_source(F.p), "container");
    assert_event_prefix("pod auth=ok");
    got_free(&g);
}

static void test_free_with_refresh_in_flight_tells_waiters(void **state)
{
    struct got g = {0};

    (void)state;
    web_identity_env("arn:aws:iam::123456789012:role/web", "token-one");
    gl_aws_provider_get(provider(), on_creds, &g);
    assert_int_equal(g.calls, 0);
    gl_aws_provider_free(F.p);
    F.p = NULL;
    assert_int_equal(g.calls, 1);
    assert_string_equal(g.err, "credential provider closed");
    got_free(&g);
}

static void test_log_names_source_and_expiry_without_secrets(void **state)
{
    struct got g = {0};

    (void)state;
    web_identity_env("arn:aws:iam::123456789012:role/web", "token-one");
    provider();
    get(&g);
    char *log = captured_log();
    assert_non_null(strstr(log, "AWS credentials from web_identity, expire at 20"));
    assert_null(strstr(log, g.secret));
    assert_null(strstr(log, g.token));
    gl_free(log);
    got_free(&g);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sts_parse_reads_credentials_and_entities),
        T(test_sts_parse_error_gives_code_and_message),
        T(test_sts_parse_rejects_malformed),
        T(test_ini_profile_finds_section_and_keys),
        T(test_json_creds_requires_success_code),
        T(test_new_without_region_fails),
        T(test_env_credentials_answer_at_once),
        T(test_web_identity_exchanges_token),
        T(test_web_identity_error_reports_code_and_message),
        T(test_web_identity_rereads_token_file_on_refresh),
        T(test_pod_identity_sends_token_from_file),
        T(test_pod_identity_rejection_reports_code),
        T(test_pod_identity_refuses_plain_http_elsewhere),
        T(test_shared_file_reads_profile),
        T(test_imds_v2_token_flow),
        T(test_imds_unreachable_fails_fast),
        T(test_region_from_instance_metadata_before_credentials),
        T(test_no_credentials_anywhere_says_so),
        T(test_assume_role_signed_with_env_credentials),
        T(test_assume_role_on_web_identity_signs_with_session_token),
        T(test_expiry_refreshes_ahead),
        T(test_invalidate_refreshes_once_a_minute),
        T(test_concurrent_gets_share_one_refresh),
        T(test_chain_order_env_then_web_identity_then_container),
        T(test_free_with_refresh_in_flight_tells_waiters),
        T(test_log_names_source_and_expiry_without_secrets),
    };
    return cmocka_run_group_tests(tests, peer_start, peer_stop);
}
