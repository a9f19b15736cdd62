"""cloudwatch_logs keeps delivering when its credentials change mid-run, for
each link of the chain that can hand out new ones:
- web identity (IRSA): a fake STS answers AssumeRoleWithWebIdentity;
- container credentials (EKS Pod Identity): a fake agent endpoint at
  AWS_CONTAINER_CREDENTIALS_FULL_URI, checked for the authorization token;
- the shared credentials file, rewritten with the new key.
While 3 containers write, the service starts answering ExpiredTokenException
for the first key and the source hands out a second one: the agent drops the
rejected credentials, fetches the new ones and sends again; every line
arrives once, in order per container. A last case gives web identity
credentials that expire 8 s after they are issued: the agent refreshes them
ahead of time, so the service never sees the expired key. And one where
STS refuses the web identity token until it is replaced: each refused fetch
is counted in gleaner_aws_credentials_refresh_failures_total{source=
"web_identity"} (exactly the calls STS refused), and once the token is good
every line arrives."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa
from lib_kubelet import Kubelet, sequence_report, summarize  # noqa

GROUP = "/aws/eks/creds"
ROLE = "arn:aws:iam::123456789012:role/gleaner"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.gleaner-test-token.c2ln"
CONTAINERS = 3
LINES = 3000
RATE = 600


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Issuer:
    """A fake STS and Pod Identity agent on one port. It hands out keys[n]
    with its lifetime, n moving on when the test calls next(); every call is
    recorded as (kind, ok)."""

    def __init__(self, keys):
        self.keys = keys
        self.n = 0
        self.calls = []
        self.issued = []
        self.lock = threading.Lock()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, body, ctype):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                ok = (form.get("Action") == ["AssumeRoleWithWebIdentity"]
                      and form.get("RoleArn") == [ROLE] and form.get("WebIdentityToken") == [TOKEN]
                      and form.get("RoleSessionName"))
                issuer.record("sts", ok)
                if not ok:
                    self.answer(400, "<ErrorResponse><Error><Code>InvalidIdentityToken</Code>"
                                "<Message>bad request</Message></Error></ErrorResponse>",
                                "text/xml")
                    return
                k, life = issuer.current()
                self.answer(200, """<AssumeRoleWithWebIdentityResponse \
xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>
<SubjectFromWebIdentityToken>system:serviceaccount:logging:gleaner</SubjectFromWebIdentityToken>
<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>
<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>
</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"""
                            % (k[0], k[1], k[2], iso(time.time() + life)), "text/xml")

            def do_GET(self):
                ok = self.path == "/v1/credentials" and self.headers.get("Authorization") == TOKEN
                issuer.record("container", ok)
                if not ok:
                    self.answer(401, '{"Code":"AccessDenied","Message":"bad token"}',
                                "application/json")
                    return
                k, life = issuer.current()
                self.answer(200, json.dumps({"AccessKeyId": k[0], "SecretAccessKey": k[1],
                                             "Token": k[2],
                                             "Expiration": iso(time.time() + life)}),
                            "application/json")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def record(self, kind, ok):
        with self.lock:
            self.calls.append((kind, bool(ok)))

    def current(self):
        with self.lock:
            self.issued.append(time.time())
            return self.keys[self.n]

    def next(self):
        with self.lock:
            self.n += 1

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def agent_env(d, srv, extra):
    """The process environment for one case: no AWS_* of the caller's, no
    IMDS, HOME in the temp dir, the server's region, and extra."""
    for k in list(os.environ):
        if k.startswith("AWS_"):
            del os.environ[k]
    os.environ.update({"HOME": d, "AWS_EC2_METADATA_DISABLED": "true",
                       "AWS_REGION": srv.region})
    os.environ.update(extra)


def case_config(d, root, srv, service="", output=""):
    """Writes d/g.yaml: tail on root's containers to cloudwatch_logs at srv, with more
    service and output settings."""
    return write(os.path.join(d, "g.yaml"), """
service:
  flush: 200ms
  storage.path: %s/storage
%spipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/containers/*.log
      multiline.parser: cri
      read_from_head: on
  outputs:
    - name: cloudwatch_logs
      match: 'kube.*'
      endpoint: %s
      log_group_name: %s
%s""" % (d, service, root, srv.endpoint, GROUP, output))


def run_case(name, keys, setup, rotate_at=None, lines=LINES):
    """Runs the agent on 3 containers' logs with credentials from the source
    setup(d, issuer, srv) configures. rotate_at(srv, issuer) is called once a
    quarter of the lines are stored. Returns the server's stats and the agent's log."""
    d = tmpdir("cwl-creds-" + name)
    root = os.path.join(d, "node")
    issuer = Issuer(keys)
    with CwlServer(seed=9) as srv:
        for k, _ in keys:
            srv.add_credentials(*k)
        cfg = case_config(d, root, srv, """  grace: 20s
  log_level: info
  scheduler.base: 200ms
  scheduler.cap: 2s
""", """      log_stream_template: $kubernetes['pod_name']
      log_stream_name: unknown
""")
        agent_env(d, srv, setup(d, issuer, srv))
        kube = Kubelet(root, CONTAINERS, seed=21, mode="none")
        p = start(cfg)
        wait_for("the agent to start", lambda: "running" in stderr_of(p), timeout=10)
        kube.start(lines, RATE)
        total = CONTAINERS * lines

        def stored():
            return sum(len(v) for v in srv.events(GROUP).values())

        if rotate_at is not None:
            wait_for("a quarter of the lines stored", lambda: stored() >= total // 4
                     or p.poll() is not None, timeout=30)
            rotate_at(srv, issuer)
        kube.join(timeout=60)
        wait_for("%d events stored" % total, lambda: stored() >= total or p.poll() is not None,
                 timeout=60)
        time.sleep(1.0)  # anything sent twice would land now
        records = []
        for events in srv.events(GROUP).values():
            records.extend(json.loads(e["message"]) for e in events)
        rep = sequence_report(records, kube.containers)
        print("%s: %s" % (name, summarize(rep)))
        check(not (rep["missing"] or rep["duplicates"] or rep["out_of_order"]
                   or rep["wrong_text"] or rep["unknown"]) and rep["records"] == total,
              "%s: all %d lines once, in order per container" % (name, total))
        stats = srv.stats()
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = "none within 20 s"
        exits.append((name, rc))
        log = stderr_of(p)
    issuer.close()
    print("%s: errors %s, credential calls %s" % (name, json.dumps(stats["errors"]),
                                                  issuer.calls))
    return stats, log, issuer


exits = []
KEY1 = ("ASIAGLEANERKEY000001", "secret-one", "session-token-one")
KEY2 = ("ASIAGLEANERKEY000002", "secret-two", "session-token-two")


def expire_first(srv, issuer):
    """The first key stops working and the source has the second one."""
    issuer.next()
    srv.expire(KEY1[0])


def web_identity(d, issuer, srv):
    token = write(os.path.join(d, "token"), TOKEN + "\n")
    return {"AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": token,
            "AWS_ENDPOINT_URL_STS": issuer.url}


def pod_identity(d, issuer, srv):
    token = write(os.path.join(d, "pod-identity-token"), TOKEN)
    return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": issuer.url + "/v1/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": token}


def shared_file(d, issuer, srv):
    path = os.path.join(d, "credentials")
    write_profile(path, KEY1)
    issuer.file = path
    return {"AWS_SHARED_CREDENTIALS_FILE": path}


def write_profile(path, key):
    write(path + ".tmp", "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
          "aws_session_token = %s\n" % key)
    os.rename(path + ".tmp", path)


def rewrite_file(srv, issuer):
    write_profile(issuer.file, KEY2)
    srv.expire(KEY1[0])


def reactive(name, setup, rotate, kind):
    stats, log, issuer = run_case(name, [(KEY1, 3600), (KEY2, 3600)], setup, rotate)
    check(stats["errors"].get("ExpiredTokenException", 0) >= 1,
          "%s: the service refused the first key (%d ExpiredTokenException)"
          % (name, stats["errors"].get("ExpiredTokenException", 0)))
    check("rejected: refreshing" in log, "%s: the agent dropped the rejected credentials" % name)
    if kind is not None:
        calls = [ok for k, ok in issuer.calls if k == kind]
        check(len(calls) == 2 and all(calls),
              "%s: credentials fetched twice, each request well formed (%s)" % (name, calls))


t0 = time.time()
reactive("web_identity", web_identity, expire_first, "sts")
reactive("pod_identity", pod_identity, expire_first, "container")
reactive("shared_file", shared_file, rewrite_file, None)



def expire_on_time(srv, issuer):
    """The source has the second key from now on; the service refuses the
    first one from its Expiration on."""
    issuer.next()
    threading.Timer(max(0.0, issuer.issued[0] + 8 - time.time()), srv.expire,
                    args=(KEY1[0],)).start()


# Ahead of expiry: the first key lives 8 s, so the agent refreshes it after
# about 6 s (a quarter of its life before the end); the service refuses it
# from 8 s on, by which time the agent uses the second key. The containers
# write for 10 s.
stats, log, issuer = run_case("web_identity_ahead", [(KEY1, 8), (KEY2, 3600)], web_identity,
                              expire_on_time, lines=6000)
calls = [ok for k, ok in issuer.calls if k == "sts"]
check(len(calls) == 2, "web_identity_ahead: refreshed once ahead of expiry (%d STS calls)"
      % len(calls))
check(not stats["errors"].get("ExpiredTokenException"),
      "web_identity_ahead: no request signed with the expired key")


def failures_counted(port):
    """gleaner_aws_credentials_refresh_failures_total's series on the agent's /metrics."""
    status, text = http_get(port, "/metrics")
    out = {}
    for line in text.splitlines() if status == 200 else ():
        if line.startswith("gleaner_aws_credentials_refresh_failures_total{"):
            labels, value = line[line.index("{") + 1:].rsplit("} ", 1)
            out[labels] = float(value)
    return out


def failing_source():
    """STS refuses the token until the file holds the right one."""
    name = "web_identity_failing"
    d = tmpdir("cwl-creds-" + name)
    root = os.path.join(d, "node")
    issuer = Issuer([(KEY1, 3600)])
    port = free_port()
    with CwlServer(seed=9) as srv:
        srv.add_credentials(*KEY1)
        cfg = case_config(d, root, srv, """  grace: 5s
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
""" % port, """      alias: cwl
      log_stream_name: all
""")
        env = web_identity(d, issuer, srv)
        write(env["AWS_WEB_IDENTITY_TOKEN_FILE"], "not-the-token\n")
        agent_env(d, srv, env)
        kube = Kubelet(root, 1, seed=5, mode="none")
        p = start(cfg)
        kube.start(200, 400)
        kube.join(timeout=30)
        wait_for("STS to refuse 3 fetches", lambda: sum(
            1 for k, ok in issuer.calls if k == "sts" and not ok) >= 3, timeout=30)
        write(env["AWS_WEB_IDENTITY_TOKEN_FILE"], TOKEN + "\n")
        wait_for("200 events stored", lambda: sum(
            len(v) for v in srv.events(GROUP).values()) >= 200, timeout=60)
        refused = sum(1 for k, ok in issuer.calls if k == "sts" and not ok)
        got = failures_counted(port)
        want = 'name="cwl",plugin="cloudwatch_logs",source="web_identity"'
        check(got == {want: float(refused)},
              "%s: gleaner_aws_credentials_refresh_failures_total{%s} %s, STS refused %d"
              % (name, want, got, refused))
        check([ok for k, ok in issuer.calls if k == "sts"][-1],
              "%s: the fetch after the token was replaced succeeded" % name)
        exits.append((name, stop(p, timeout=20)))
    issuer.close()


failing_source()
print("5 cases in %.1fs" % (time.time() - t0))
check(all(rc == 0 for _, rc in exits),
      "the agent exits 0 on SIGTERM in every case (exit status: %s)"
      % ", ".join("%s %s" % x for x in exits))
