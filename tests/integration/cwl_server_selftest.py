"""The CloudWatch Logs test endpoint, checked with botocore's own client: an
independent implementation of the protocol, signing and error parsing. If
this passes, the shapes, signatures and errors the agent's tests rely on are
the ones a real AWS SDK produces and understands."""
import faulthandler
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import check, fail, need, tmpdir  # noqa: E402

try:
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    import botocore.exceptions
    import botocore.session
    from botocore.config import Config
except ImportError:
    fail("botocore not found: install the Debian package python3-botocore")

from lib_cwl_server import CwlServer  # noqa: E402

faulthandler.dump_traceback_later(240, exit=True)
DAY = 86400 * 1000
HOUR = 3600 * 1000


def now_ms():
    return int(time.time() * 1000)


def client(s, key=None, secret=None, token=None, read_timeout=10):
    """A botocore logs client for server s that never retries."""
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                 connect_timeout=5, read_timeout=read_timeout)
    return botocore.session.get_session().create_client(
        "logs", endpoint_url=s.endpoint, region_name=s.region,
        aws_access_key_id=key or s.access_key, aws_secret_access_key=secret or s.secret_key,
        aws_session_token=token, config=cfg)


def error_of(fn):
    """Runs fn; returns (code, HTTP status, message) of the ClientError it
    raised, or (None, 200, None)."""
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
                e.response["Error"].get("Message"))
    return None, 200, None


def code_of(fn):
    return error_of(fn)[0]


def control(s, **kw):
    req = urllib.request.Request(s.endpoint + "/_control", data=json.dumps(kw).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def get(s, path):
    with urllib.request.urlopen(s.endpoint + path, timeout=5) as r:
        return json.load(r)


def put(c, group, stream, events, **kw):
    return c.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": t, "message": m} for t, m in events], **kw)


def raw(s, target, body, headers=None, signed_extra=(), secret=None, tamper=None):
    """Sends one request signed with botocore's SigV4 over host, x-amz-date,
    x-amz-target and content-type plus signed_extra; tamper(body) changes the
    body after signing. Returns (status, parsed body)."""
    h = {"Content-Type": "application/x-amz-json-1.1",
         "X-Amz-Target": "Logs_20140328." + target, "Host": "127.0.0.1:%d" % s.port}
    h.update(headers or {})
    req = botocore.awsrequest.AWSRequest(method="POST", url=s.endpoint + "/", data=body,
                                         headers=h)
    cred = botocore.credentials.Credentials(s.access_key, secret or s.secret_key)
    botocore.auth.SigV4Auth(cred, "logs", s.region).add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    out = dict(req.headers.items())
    if tamper:
        body = tamper(body)
    out["Content-Length"] = str(len(body))
    conn.request("POST", "/", body=body, headers=out)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


def check_resources(s, c):
    c.create_log_group(logGroupName="/gleaner/test")
    c.create_log_stream(logGroupName="/gleaner/test", logStreamName="node-1")
    check(code_of(lambda: c.create_log_group(logGroupName="/gleaner/test"))
          == "ResourceAlreadyExistsException", "CreateLogGroup twice: ResourceAlreadyExists")
    check(code_of(lambda: c.create_log_stream(logGroupName="/gleaner/test",
                                              logStreamName="node-1"))
          == "ResourceAlreadyExistsException", "CreateLogStream twice: ResourceAlreadyExists")
    check(code_of(lambda: c.create_log_stream(logGroupName="/nope", logStreamName="s"))
          == "ResourceNotFoundException", "CreateLogStream in a missing group: NotFound")
    for bad in ("bad name!", "x" * 513, "a:b"):
        check(code_of(lambda: c.create_log_group(logGroupName=bad))
              == "InvalidParameterException", "group name %.20r rejected" % bad)
    for bad in ("a:b", "a*b", "y" * 513):
        check(code_of(lambda: c.create_log_stream(logGroupName="/gleaner/test",
                                                  logStreamName=bad))
              == "InvalidParameterException", "stream name %.20r rejected" % bad)
    ok = "A-z_0.9/#x" + "g" * 502
    c.create_log_group(logGroupName=ok)
    check(ok in s.groups(), "a 512-character group name of every allowed class accepted")
    c.tag_resource(resourceArn="arn:aws:logs:us-east-1:123456789012:log-group:/gleaner/test",
                   tags={"team": "obs"})
    check(s.groups()["/gleaner/test"]["tags"] == {"team": "obs"}, "TagResource stores tags")


def check_put(s, c):
    t = now_ms()
    r = put(c, "/gleaner/test", "node-1", [(t, "one"), (t, "two"), (t + 1, "thr\u00e9e")])
    check("rejectedLogEventsInfo" not in r and len(r["nextSequenceToken"]) > 0,
          "PutLogEvents accepted, nextSequenceToken answered")
    r = put(c, "/gleaner/test", "node-1", [(t + 2, "four")], sequenceToken="bogus-token")
    check("rejectedLogEventsInfo" not in r, "a stale sequenceToken is ignored")
    got = get(s, "/_events?group=/gleaner/test&stream=node-1")["events"]
    check([(e["timestamp"], e["message"]) for e in got]
          == [(t, "one"), (t, "two"), (t + 1, "thr\u00e9e"), (t + 2, "four")],
          "/_events returns exactly what was put, in order")
    check(code_of(lambda: put(c, "/gleaner/test", "missing", [(t, "x")]))
          == "ResourceNotFoundException", "PutLogEvents to a missing stream: NotFound")
    check(code_of(lambda: put(c, "/missing", "node-1", [(t, "x")]))
          == "ResourceNotFoundException", "PutLogEvents to a missing group: NotFound")


def check_rejected(s, c):
    c.create_log_stream(logGroupName="/gleaner/test", logStreamName="age")
    t = now_ms()
    edge = t - 14 * DAY
    r = put(c, "/gleaner/test", "age", [(edge - HOUR, "old0"), (edge - 60000, "old1"),
                                        (edge + HOUR, "fine")])
    info = r.get("rejectedLogEventsInfo", {})
    check(info == {"tooOldLogEventEndIndex": 2},
          "events over 14 days old rejected: [0, 2), the end exclusive (%s)" % info)
    r = put(c, "/gleaner/test", "age", [(t, "now"), (t + HOUR, "soon"), (t + 3 * HOUR, "new0"),
                                        (t + 4 * HOUR, "new1")])
    info = r.get("rejectedLogEventsInfo", {})
    check(info == {"tooNewLogEventStartIndex": 2},
          "events over 2 h ahead rejected from index 2 (%s)" % info)
    check([e["message"] for e in s.events("/gleaner/test", "age")] == ["fine", "now", "soon"],
          "only the in-range events are stored")
    c.create_log_group(logGroupName="/gleaner/short")
    c.create_log_stream(logGroupName="/gleaner/short", logStreamName="s")
    check(code_of(lambda: c.put_retention_policy(logGroupName="/gleaner/short",
                                                 retentionInDays=2))
          == "InvalidParameterException", "retentionInDays 2 is not an allowed value")
    c.put_retention_policy(logGroupName="/gleaner/short", retentionInDays=1)
    r = put(c, "/gleaner/short", "s", [(t - DAY - 2 * HOUR, "expired"),
                                       (t - DAY + HOUR, "kept")])
    check(r.get("rejectedLogEventsInfo") == {"expiredLogEventEndIndex": 1},
          "an event older than the group's retention is expired (%s)"
          % r.get("rejectedLogEventsInfo"))


def check_limits(s, c):
    g, st = "/gleaner/test", "limits"
    c.create_log_stream(logGroupName=g, logStreamName=st)
    t = now_ms()
    code, status, msg = error_of(lambda: put(c, g, st, [(t, "z" * 250000)] * 5))
    check(code == "InvalidParameterException" and status == 400,
          "a 1.25 MB batch is rejected: %s" % msg)
    r = put(c, g, st, [(t, "z" * (262144 - 26))] * 4)
    check("rejectedLogEventsInfo" not in r,
          "a batch of exactly 1,048,576 bytes (4 x 262,118 + 26 each) is accepted")
    code, _, msg = error_of(lambda: put(c, g, st, [(t, "\u00e9" * 131060)]))
    check(code == "InvalidParameterException",
          "an event of 262,146 bytes with overhead (2-byte UTF-8) is rejected: %s" % msg)
    code, _, msg = error_of(lambda: put(c, g, st, [(t, "a"), (t - 1, "b")]))
    check(code == "InvalidParameterException" and "chronological" in msg,
          "out-of-order batch rejected: %s" % msg)
    code, _, msg = error_of(lambda: put(c, g, st, [(t - 25 * HOUR, "a"), (t, "b")]))
    check(code == "InvalidParameterException" and "24 hours" in msg,
          "a batch spanning 25 h rejected: %s" % msg)
    check(code_of(lambda: put(c, g, st, [(t, "m")] * 10001)) == "InvalidParameterException",
          "10,001 events rejected")
    r = put(c, g, st, [(t, "m")] * 10000)
    check("rejectedLogEventsInfo" not in r, "10,000 events accepted")
    check(len(s.events(g, st)) == 10004, "nothing of the rejected batches was stored")


def check_describe(s, c):
    c.create_log_group(logGroupName="/gleaner/d")
    for n in ("b-2", "b-1", "a-1"):
        c.create_log_stream(logGroupName="/gleaner/d", logStreamName=n)
    t = now_ms()
    put(c, "/gleaner/d", "b-1", [(t - 10, "x"), (t, "y")])
    r = c.describe_log_streams(logGroupName="/gleaner/d")
    names = [x["logStreamName"] for x in r["logStreams"]]
    check(names == ["a-1", "b-1", "b-2"], "DescribeLogStreams sorted by name: %s" % names)
    b1 = r["logStreams"][1]
    check(b1["firstEventTimestamp"] == t - 10 and b1["lastEventTimestamp"] == t
          and b1["arn"].endswith(":log-group:/gleaner/d:log-stream:b-1"),
          "describe shows first/last event timestamps and the ARN")
    r = c.describe_log_streams(logGroupName="/gleaner/d", logStreamNamePrefix="b-")
    check([x["logStreamName"] for x in r["logStreams"]] == ["b-1", "b-2"], "prefix filter")
    pages = c.get_paginator("describe_log_streams").paginate(logGroupName="/gleaner/d",
                                                             limit=1)
    names = [x["logStreamName"] for p in pages for x in p["logStreams"]]
    check(names == ["a-1", "b-1", "b-2"], "pagination with limit 1 via nextToken")
    r = c.describe_log_streams(logGroupName="/gleaner/d", orderBy="LastEventTime",
                               descending=True)
    check(r["logStreams"][0]["logStreamName"] == "b-1", "orderBy LastEventTime descending")
    check(code_of(lambda: c.describe_log_streams(logGroupName="/nope"))
          == "ResourceNotFoundException", "describe of a missing group: NotFound")


def check_auth(s, c):
    bad = client(s, secret="not-the-secret")
    code, status, _ = error_of(lambda: bad.create_log_group(logGroupName="/x"))
    check(code == "InvalidSignatureException" and status == 403,
          "a wrong secret gets 403 InvalidSignatureException")
    stranger = client(s, key="AKIDUNKNOWN000000000")
    code, status, _ = error_of(lambda: stranger.create_log_group(logGroupName="/x"))
    check(code == "UnrecognizedClientException" and status == 400,
          "an unknown access key gets 400 UnrecognizedClientException")
    body = json.dumps({"logGroupName": "/gleaner/raw"}).encode()
    status, r = raw(s, "CreateLogGroup", body, headers={"User-Agent": "gleaner/1"})
    check(status == 200, "a request signing its own header set (with User-Agent) is accepted")
    status, r = raw(s, "CreateLogGroup", json.dumps({"logGroupName": "/gleaner/t"}).encode(),
                    tamper=lambda b: b.replace(b"/t", b"/u"))
    check(status == 403 and r["__type"] == "InvalidSignatureException",
          "a body changed after signing gets InvalidSignatureException")
    status, r = raw(s, "CreateLogGroup", body, headers={"Content-Type": "application/json"})
    check(status == 400 and r["__type"] == "SerializationException",
          "a wrong Content-Type is refused")
    status, r = raw(s, "DeleteEverything", b"{}")
    check(status == 400 and r["__type"] == "UnknownOperationException",
          "an unknown action gets UnknownOperationException")
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    conn.request("POST", "/", body=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Logs_20140328.CreateLogGroup"})
    r = conn.getresponse()
    check(r.status == 400 and json.loads(r.read())["__type"]
          == "MissingAuthenticationTokenException", "an unsigned request is refused")
    conn.close()
    with CwlServer(session_token="tok-1", seed=3) as st:
        ok = client(st, token="tok-1")
        ok.create_log_group(logGroupName="/t")
        check(True, "a session token signed in is accepted")
        check(code_of(lambda: client(st).create_log_group(logGroupName="/u"))
              == "UnrecognizedClientException", "a missing session token is refused")
        control(st, expire=True)
        code, status, _ = error_of(lambda: ok.create_log_group(logGroupName="/v"))
        check(code == "ExpiredTokenException" and status == 400,
              "after /_control expire the token gets 400 ExpiredTokenException")
        control(st, credentials=[{"access_key": "AKIDROTATED000000001",
                                  "secret_key": "s2", "session_token": "tok-2"}])
        client(st, key="AKIDROTATED000000001", secret="s2", token="tok-2") \
            .create_log_group(logGroupName="/w")
        check(True, "rotated credentials added through /_control are accepted")


def check_faults(s, c):
    g, st = "/gleaner/test", "faults"
    c.create_log_stream(logGroupName=g, logStreamName=st)
    t = now_ms()
    control(s, throttle_rate=1.0)
    code, status, msg = error_of(lambda: put(c, g, st, [(t, "x")]))
    check((code, status, msg) == ("ThrottlingException", 400, "Rate exceeded"),
          "throttle_rate 1: 400 ThrottlingException 'Rate exceeded'")
    check(c.describe_log_streams(logGroupName=g) is not None,
          "faults apply only to fault_actions (DescribeLogStreams passes)")
    control(s, throttle_rate=0.0, unavailable_rate=1.0)
    code, status, _ = error_of(lambda: put(c, g, st, [(t, "x")]))
    check((code, status) == ("ServiceUnavailableException", 503),
          "unavailable_rate 1: 503 ServiceUnavailableException")
    control(s, unavailable_rate=0.0, fail_first=2, fail_with="internal")
    codes = [code_of(lambda: put(c, g, st, [(t, "f%d" % i)])) for i in range(3)]
    check(codes == ["InternalFailure", "InternalFailure", None],
          "fail_first 2: two failures then success (%s)" % codes)
    control(s, fail_first=0, drop_rate=1.0, reset_stats=True)
    try:
        put(c, g, st, [(t, "dropped")])
        fail("a dropped connection raised nothing")
    except (botocore.exceptions.ConnectionClosedError,
            botocore.exceptions.EndpointConnectionError):
        pass
    check(get(s, "/_stats")["dropped"] == 1, "drop_rate 1: connection closed, counted")
    control(s, drop_rate=0.0, delay=1.5)
    slow = client(s, read_timeout=0.5)
    try:
        put(slow, g, st, [(t, "slow")])
        fail("a slow answer did not time out")
    except botocore.exceptions.ReadTimeoutError:
        check(True, "delay 1.5 s: a 0.5 s read timeout fires")
    time.sleep(1.2)
    check(get(s, "/_stats")["client_closed"] == 1,
          "the answer the timed-out client never read is counted as client_closed")
    control(s, delay=1.0, reset_stats=True)
    threads = [threading.Thread(target=put, args=(client(s), g, st, [(t, "c%d" % i)]))
               for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    stats = get(s, "/_stats")
    check(stats["max_concurrent"]["%s/%s" % (g, st)] == 4,
          "4 parallel PutLogEvents on one stream seen at once (%s)" % stats["max_concurrent"])
    check(stats["requests"]["PutLogEvents"] == {"200": 4}
          and [b["events"] for b in stats["batches"]] == [1, 1, 1, 1]
          and stats["batches"][0]["bytes"] == 28,
          "stats count requests and batch sizes (%s)" % stats)
    control(s, delay=0.0, rps={"PutLogEvents": 3})
    codes = [code_of(lambda: put(c, g, st, [(t, "r")])) for _ in range(5)]
    check(codes == [None, None, None, "ThrottlingException", "ThrottlingException"],
          "rps 3: the 4th and 5th request within a second are throttled (%s)" % codes)
    time.sleep(1.1)
    check(code_of(lambda: put(c, g, st, [(t, "r")])) is None, "the next second passes again")
    control(s, rps={})


def outcomes(seed, n=24):
    with CwlServer(seed=seed, throttle_rate=0.5) as s:
        c = client(s)
        c.create_log_group(logGroupName="/g")
        c.create_log_stream(logGroupName="/g", logStreamName="s")
        return [code_of(lambda: put(c, "/g", "s", [(now_ms(), "x")])) for _ in range(n)]


def check_determinism():
    a, b = outcomes(7), outcomes(7)
    check(a == b and None in a and "ThrottlingException" in a,
          "throttle_rate 0.5 with seed 7 gives the same mixed outcomes twice")


def check_stop():
    s = CwlServer(delay=30).start()
    c = client(s, read_timeout=60)
    c.create_log_group(logGroupName="/g")
    c.create_log_stream(logGroupName="/g", logStreamName="s")
    def slow_put():
        try:
            put(c, "/g", "s", [(now_ms(), "x")])
        except botocore.exceptions.ConnectionClosedError:
            pass
    th = threading.Thread(target=slow_put, daemon=True)
    th.start()
    time.sleep(0.3)
    t0 = time.time()
    s.stop()
    check(time.time() - t0 < 3, "stop() returns promptly with a delayed request in flight")
    try:
        http.client.HTTPConnection("127.0.0.1", s.port, timeout=1).request("GET", "/_stats")
        fail("the port still accepts connections after stop()")
    except OSError:
        check(True, "the port is closed after stop()")


def check_curl(s):
    """curl's own SigV4 (a third implementation) and Expect: 100-continue, as
    libcurl sends for large bodies, on an 800 KB batch."""
    need("curl", "curl")
    s.call("CreateLogStream", {"logGroupName": "/gleaner/test", "logStreamName": "curl"})
    body = os.path.join(tmpdir("cwl-curl"), "body.json")
    with open(body, "w") as f:
        json.dump({"logGroupName": "/gleaner/test", "logStreamName": "curl",
                   "logEvents": [{"timestamp": now_ms(), "message": "c" * 200000}] * 4}, f)
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--aws-sigv4",
                        "aws:amz:%s:logs" % s.region,
                        "--user", "%s:%s" % (s.access_key, s.secret_key),
                        "-H", "Content-Type: application/x-amz-json-1.1",
                        "-H", "X-Amz-Target: Logs_20140328.PutLogEvents",
                        "-H", "Expect: 100-continue", "--data-binary", "@" + body,
                        s.endpoint + "/"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and "nextSequenceToken" in r.stdout
          and len(s.events("/gleaner/test", "curl")) == 4,
          "curl --aws-sigv4 with Expect: 100-continue is accepted (%s)" % r.stdout[:80])


def check_cli():
    d = tmpdir("cwl")
    pf = os.path.join(d, "port")
    here = os.path.dirname(os.path.abspath(__file__))
    p = subprocess.Popen([sys.executable, os.path.join(here, "lib_cwl_server.py"),
                          "--port-file", pf, "--throttle-rate", "1"],
                         stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while not os.path.exists(pf) and time.time() < deadline:
            time.sleep(0.05)
        port = int(open(pf).read())

        class Peer:
            endpoint = "http://127.0.0.1:%d" % port
            region = "us-east-1"
            access_key = "AKIDGLEANERTEST00001"
            secret_key = "gleaner-test-secret"
        c = client(Peer)
        c.create_log_group(logGroupName="/cli")
        c.create_log_stream(logGroupName="/cli", logStreamName="s")
        check(code_of(lambda: put(c, "/cli", "s", [(now_ms(), "x")])) == "ThrottlingException",
              "the command line server applies --throttle-rate")
        p.terminate()
        check(p.wait(10) == 0, "the command line server exits 0 on SIGTERM")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    t0 = time.time()
    with CwlServer(seed=1) as s:
        c = client(s)
        check_resources(s, c)
        check_put(s, c)
        check_rejected(s, c)
        check_limits(s, c)
        check_describe(s, c)
        check_auth(s, c)
        check_curl(s)
        check_faults(s, c)
    check_determinism()
    check_stop()
    check_cli()
    print("cwl server self-test passed in %.1fs" % (time.time() - t0))


main()
