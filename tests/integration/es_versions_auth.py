"""The es output asks the server's version once (GET /) and sends _type only
where it still exists: Elasticsearch 7.17 gets the configured type, 8.x and
OpenSearch 2 none (8.x would refuse the whole request), and server_version
says it without asking. Authentication: Basic with the password from a file
(a mounted Secret) or from the environment, an API key; a wrong password is
named in the log at start (GET / answers 401) and the records are dropped
under http_401, the password never printed."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import check, stderr_of, tmpdir, write  # noqa: E402
from lib_es_server import EsServer, dummy_to_es, run_agent  # noqa: E402

N = 400
PASSWORD = "file-secret-2291"
d = tmpdir("es-versions")
pwfile = write(os.path.join(d, "password"), PASSWORD + "\n")


def run(srv, name, extra, want=N):
    """Sends N dummy records to index `name` with the es options in extra; returns
    (stderr, /metrics)."""
    srv.reset_stats()

    def answered(p):
        return sum(srv.stats()["items"].values()) >= want or "dropped" in stderr_of(p)
    p, metrics = run_agent(d, name, dummy_to_es(srv, '{"log":"a line","n":1}', N,
                                                "      index: %s\n%s" % (name, extra)),
                           answered)
    return stderr_of(p), metrics


def roots(srv):
    return sum(srv.stats()["requests"].get("root", {}).values())


# ---- versions and _type ----
with EsServer(flavor="es7") as srv:
    err, _ = run(srv, "es7", "      type: mytype\n")
    check(srv.count("es7") == N and srv.index_type("es7") == "mytype",
          "Elasticsearch 7.17: the configured type is sent as _type")
    check("Elasticsearch 7.17.21" in err, "the version is logged once at start")
    run(srv, "es7b", "      type: mytype\n      server_version: '8.0'\n")
    check(srv.count("es7b") == N and srv.index_type("es7b") is None and roots(srv) == 0,
          "server_version says the version: GET / not asked, no _type for 8")
with EsServer(flavor="es8") as srv:
    err, _ = run(srv, "es8", "      type: _doc\n")
    check(srv.count("es8") == N, "Elasticsearch 8: no _type sent, so nothing refused (%d)"
          % srv.count("es8"))
    check(err.count("type _doc is not sent: Elasticsearch 8.13.4 has no mapping types") == 1,
          "the ignored type is said once")
with EsServer(flavor="os2") as srv:
    err, _ = run(srv, "os2", "      type: _doc\n      suppress_type_name: on\n")
    check(srv.count("os2") == N and "not sent" not in err and "OpenSearch 2.11.1" in err,
          "OpenSearch 2 with suppress_type_name")

# ---- authentication ----
with EsServer(flavor="es8", users={"gleaner": PASSWORD},
              api_keys=["Z2xlYW5lcjprZXktMQ=="]) as srv:
    err, _ = run(srv, "file", "      http_user: gleaner\n      http_passwd_file: %s\n" % pwfile)
    check(srv.count("file") == N and srv.stats()["auth_failures"] == 0 and roots(srv) == 1,
          "Basic auth with the password read from a file (its newline left out)")
    os.environ["ES_PW"] = PASSWORD
    run(srv, "env", "      http_user: gleaner\n      http_passwd: ${ES_PW}\n")
    check(srv.count("env") == N, "Basic auth with the password from the environment")
    run(srv, "key", "      http_api_key: Z2xlYW5lcjprZXktMQ==\n")
    check(srv.count("key") == N and srv.stats()["auth_failures"] == 0, "API key")
    err, metrics = run(srv, "wrong", "      http_user: gleaner\n      http_passwd: nope-%s\n"
                       % PASSWORD[:4], want=1)
    check("GET / answered HTTP 401" in err and "check the credentials" in err,
          "a wrong password is named at start")
    m = re.search(r'gleaner_output_dropped_records_total\{[^}]*reason="http_401"[^}]*\} (\d+)',
                  metrics)
    check(m and int(m.group(1)) > 0 and srv.count("wrong") == 0,
          "records refused with 401 are dropped under http_401 (%s)" % (m and m.group(1)))
    check(PASSWORD not in err, "the password never appears in the log")
