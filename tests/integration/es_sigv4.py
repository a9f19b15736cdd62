"""SigV4 for Amazon OpenSearch Service (aws_service_name es) and OpenSearch
Serverless (aoss), through the agent's signer and credential chain (here the
environment's keys with a session token): the test server recomputes every
signature with botocore over the headers the agent says it signed, with the
body as sent (gzip) and the query (filter_path, pipeline). GET / is signed
too; Serverless is never asked it. A wrong secret is refused with 403 and the
records are dropped under http_403, the secret never logged."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import check, stderr_of, tmpdir  # noqa: E402
from lib_es_server import EsServer, dummy_to_es, run_agent  # noqa: E402

N = 3000
KEY, SECRET, TOKEN = "AKIDGLEANERES0000001", "es-test-secret-value", "session-token-xyz"
d = tmpdir("es-sigv4")
os.environ.update({"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
                   "AWS_SESSION_TOKEN": TOKEN, "AWS_EC2_METADATA_DISABLED": "true"})
for k in ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_PROFILE",
          "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
    os.environ.pop(k, None)


def run(srv, name, service, extra="", want=N):
    """Sends N signed records for service; returns (process, /metrics)."""
    def answered(p):
        return sum(srv.stats()["items"].values()) >= want or "dropped" in stderr_of(p)
    return run_agent(d, name, dummy_to_es(srv, '{"log":"signed line","level":"info"}', N, """\
      index: signed
      aws_auth: on
      aws_region: eu-west-1
      aws_service_name: %s
      compress: gzip
      pipeline: add-pipeline-field
%s""" % (service, extra)), answered)


AWS = {"region": "eu-west-1", "access_key": KEY, "secret_key": SECRET, "session_token": TOKEN}
for service in ("es", "aoss"):
    with EsServer(flavor="os2", aws=dict(AWS, service=service)) as srv:
        p, _ = run(srv, service, service)
        st = srv.stats()
        docs = srv.docs("signed")
        check(len(docs) == N and all(x.get("pipeline") == "add-pipeline-field"
                                     for x in docs.values()),
              "%s: %d records stored through the pipeline" % (service, len(docs)))
        n = sum(sum(v.values()) for v in st["requests"].values())
        check(st["auth_failures"] == 0 and st["signatures"] == n and n > 1,
              "%s: all %d requests signed as botocore signs them" % (service, n))
        root = sum(st["requests"].get("root", {}).values())
        check(root == (1 if service == "es" else 0), "%s: GET / asked %d times" % (service, root))
        check(all(b["gzip"] for b in st["bulks"]), "%s: gzip bodies, signed as sent" % service)

with EsServer(flavor="os2", aws=dict(AWS, service="es", secret_key="another-secret")) as srv:
    p, metrics = run(srv, "wrong", "es", want=1)
    err = stderr_of(p)
    m = re.search(r'gleaner_output_dropped_records_total\{[^}]*reason="http_403"[^}]*\} (\d+)',
                  metrics)
    check(m and int(m.group(1)) > 0 and srv.count("signed") == 0,
          "a signature the server does not accept: 403, the records dropped under http_403 (%s)"
          % (m.group(1) if m else "none"))
    check("HTTP 403" in err and SECRET not in err and TOKEN not in err,
          "the answer is logged, the secret and token never")
