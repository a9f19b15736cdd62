/*
 * Fuzzes the parsers of the AWS credential chain that read outside input:
 * the STS XML answer reader (gl__aws_sts_parse), the shared credentials and
 * config file reader (gl__aws_ini_profile), the JSON answers of Pod Identity
 * and IMDS (gl__aws_json_creds) and the Expiration timestamps. The first
 * byte picks the parser (and the STS action or the profile looked up), the
 * rest is the input. A parser that succeeds must return complete credentials.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/credentials_private.h"
#include "codec/timefmt.h"
#include "util/error.h"

static void check(int rc, const struct gl_aws_creds *c)
{
    if (rc == 0 && (c->access_key_id == NULL || c->secret_access_key == NULL)) {
        abort();
    }
    if (rc < 0 && (c->access_key_id != NULL || c->secret_access_key != NULL)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const actions[] = {"AssumeRole", "AssumeRoleWithWebIdentity"};
    static const char *const profiles[] = {"default", "team"};
    struct gl_aws_creds c;
    char err[256];
    int64_t t;

    if (size == 0) {
        return 0;
    }
    unsigned sel = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int rc = 0;
    switch (sel & 3) {
    case 0:
        rc = gl__aws_sts_parse(text, len, actions[(sel >> 2) & 1], &c, err, sizeof(err));
        if (rc < 0 && strlen(err) == 0) {
            abort();
        }
        break;
    case 1:
        rc = gl__aws_ini_profile(text, len, profiles[(sel >> 2) & 1], (sel >> 3) & 1, &c);
        break;
    case 2:
        rc = gl__aws_json_creds(text, len, &c, err, sizeof(err));
        break;
    default:
        /* Any time that parses lies within the 4-digit years. */
        if (gl_timefmt_parse_rfc3339_sec(text, len, &t) == 0 &&
            (t < -62167305600 || t > 253402387140)) {
            abort();
        }
        return 0;
    }
    check(rc, &c);
    gl_aws_creds_clear(&c);
    return 0;
}
