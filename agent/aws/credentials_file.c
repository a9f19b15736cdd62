/*
 * The synchronous links of the credential chain: the environment
 * (AWS_ACCESS_KEY_ID...) and the shared files (AWS_SHARED_CREDENTIALS_FILE,
 * AWS_CONFIG_FILE, by default under ~/.aws), plus the small helpers every
 * link uses: bounded file reads and form encoding.
 *
 * The INI reader takes outside input and is fuzzed: it never reads past len
 * and copies only the three keys of the profile asked for.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aws/credentials_private.h"
#include "util/error.h"
#include "util/mem.h"

#define SHARED_FILE_MAX (1024 * 1024)

const char *gl__aws_getenv(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

void gl__aws_urlencode(struct gl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            gl_buf_putc(b, (char)c);
        } else {
            gl_buf_putc(b, '%');
            gl_buf_putc(b, hex[c >> 4]);
            gl_buf_putc(b, hex[c & 15]);
        }
    }
}

/*
 * Reads a regular file of at most max bytes into *out (NUL-terminated, the
 * caller frees it), trailing white space cut. Returns 0, GL_ENOENT when it
 * does not exist, GL_ELIMIT when larger than max, GL_EIO otherwise.
 */
int gl__aws_read_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return errno == ENOENT ? GL_ENOENT : GL_EIO;
    }
    char *data = gl_malloc(max + 1);
    size_t n = fread(data, 1, max + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || n > max) {
        gl_free(data);
        return failed ? GL_EIO : GL_ELIMIT;
    }
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' ' ||
                     data[n - 1] == '\t')) {
        n--;
    }
    data[n] = '\0';
    *out = data;
    *len = n;
    return 0;
}

/* ---- environment ---- */

bool gl__aws_env_configured(void)
{
    return gl__aws_getenv("AWS_ACCESS_KEY_ID") != NULL &&
           gl__aws_getenv("AWS_SECRET_ACCESS_KEY") != NULL;
}

void gl__aws_env_fetch(struct gl_aws_provider *p)
{
    struct gl_aws_creds c = {0};
    const char *token = gl__aws_getenv("AWS_SESSION_TOKEN");

    c.access_key_id = gl_strdup(gl__aws_getenv("AWS_ACCESS_KEY_ID"));
    c.secret_access_key = gl_strdup(gl__aws_getenv("AWS_SECRET_ACCESS_KEY"));
    c.session_token = token != NULL ? gl_strdup(token) : NULL;
    gl__aws_link_done(p, &c, NULL);
}

/* ---- shared files ---- */

static const char *skip_space(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t')) {
        s++;
    }
    return s;
}

static const char *trim_end(const char *start, const char *end)
{
    while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) {
        end--;
    }
    return end;
}

static bool equals(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

/*
 * Whether the section header between s and end ("[...]" contents) names
 * profile: "name" in a credentials file; "profile name" in a config file,
 * where "default" is also accepted bare.
 */
static bool section_matches(const char *s, const char *end, const char *profile, bool config)
{
    s = skip_space(s, end);
    end = trim_end(s, end);
    if (config && (size_t)(end - s) > 8 && memcmp(s, "profile", 7) == 0 &&
        (s[7] == ' ' || s[7] == '\t')) {
        s = skip_space(s + 7, end);
    } else if (config && !equals(s, (size_t)(end - s), "default")) {
        return false;
    }
    return equals(s, (size_t)(end - s), profile);
}

/* Stores one key = value line of the matching profile when it is one of the three keys. */
static void take_key(const char *line, const char *end, struct gl_aws_creds *out)
{
    const char *eq = memchr(line, '=', (size_t)(end - line));
    if (eq == NULL) {
        return;
    }
    const char *kend = trim_end(line, eq);
    const char *v = skip_space(eq + 1, end);
    const char *vend = trim_end(v, end);
    size_t kn = (size_t)(kend - line);
    char **slot = NULL;
    if (equals(line, kn, "aws_access_key_id")) {
        slot = &out->access_key_id;
    } else if (equals(line, kn, "aws_secret_access_key")) {
        slot = &out->secret_access_key;
    } else if (equals(line, kn, "aws_session_token")) {
        slot = &out->session_token;
    }
    if (slot != NULL && vend > v) {
        gl_free(*slot);
        *slot = gl_strndup(v, (size_t)(vend - v));
    }
}

/*
 * Walks the lines: section headers switch matching on and off; comments
 * (# and ;) and indented lines (sub-sections such as `s3 =`) are skipped.
 */
int gl__aws_ini_profile(const char *text, size_t len, const char *profile, bool config,
                        struct gl_aws_creds *out)
{
    const char *p = text, *end = text + len;
    bool in = false;

    memset(out, 0, sizeof(*out));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *lend = nl != NULL ? nl : end;
        const char *s = p;
        p = nl != NULL ? nl + 1 : end;
        if (s == lend || *s == ' ' || *s == '\t') {
            continue;
        }
        const char *e = trim_end(s, lend);
        if (s == e || *s == '#' || *s == ';') {
            continue;
        }
        if (*s == '[') {
            in = e[-1] == ']' && e - s >= 2 && section_matches(s + 1, e - 1, profile, config);
            continue;
        }
        if (in) {
            take_key(s, e, out);
        }
    }
    if (out->access_key_id == NULL || out->secret_access_key == NULL) {
        gl_aws_creds_clear(out);
        return GL_ENOENT;
    }
    return 0;
}

/* The file named by env, or ~/.aws/<name>; NULL when neither can be formed. */
static char *shared_path(const char *env, const char *name)
{
    const char *v = gl__aws_getenv(env);
    const char *home = gl__aws_getenv("HOME");
    struct gl_buf b;

    gl_buf_init(&b);
    if (v != NULL && strncmp(v, "~/", 2) == 0 && home != NULL) {
        gl_buf_printf(&b, "%s%s", home, v + 1);
    } else if (v != NULL) {
        gl_buf_puts(&b, v);
    } else if (home != NULL) {
        gl_buf_printf(&b, "%s/.aws/%s", home, name);
    } else {
        return NULL;
    }
    return gl_buf_take(&b);
}

/* Looks profile up in one shared file; 0 when found with keys. */
static int lookup(const char *env, const char *name, const char *profile, bool config,
                  struct gl_aws_creds *out)
{
    char *path = shared_path(env, name);
    char *text = NULL;
    size_t len = 0;
    int rc = GL_ENOENT;

    if (path != NULL && gl__aws_read_file(path, SHARED_FILE_MAX, &text, &len) == 0) {
        rc = gl__aws_ini_profile(text, len, profile, config, out);
        memset(text, 0, len);
        gl_free(text);
    }
    gl_free(path);
    return rc;
}

/*
 * The shared files' link: the profile (settings, AWS_PROFILE, "default") in
 * the credentials file, then in the config file. Returns false, without
 * finishing the link, when neither has it with keys.
 */
bool gl__aws_file_fetch(struct gl_aws_provider *p)
{
    const char *profile = p->set.profile;
    struct gl_aws_creds c;

    if (profile == NULL) {
        profile = gl__aws_getenv("AWS_PROFILE");
    }
    if (profile == NULL) {
        profile = "default";
    }
    if (lookup("AWS_SHARED_CREDENTIALS_FILE", "credentials", profile, false, &c) != 0 &&
        lookup("AWS_CONFIG_FILE", "config", profile, true, &c) != 0) {
        return false;
    }
    gl__aws_link_done(p, &c, NULL);
    return true;
}
