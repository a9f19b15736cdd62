"""cloudwatch_logs under a service that throttles 20% of requests, answers
5% with 503 and closes 3% of connections without an answer (PutLogEvents,
CreateLogStream and CreateLogGroup alike): 100,000 lines from 20 container
logs still arrive exactly once and in order per stream, and the agent never
has two requests in flight for one stream. The server's counts (throttles
seen, most requests in flight) are printed."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa
from lib_kubelet import Container  # noqa

PODS = 20
LINES = 5000
DEADLINE = 180
d = tmpdir("cwl-throttling")
root = os.path.join(d, "node")


def write_pod(c, base_ns):
    """Writes the container's CRI lines (one millisecond each); returns the
    expected events: (timestamp ms, the line's text)."""
    out, want = [], []
    for j in range(LINES):
        ns = base_ns + j * 1000000
        s, frac = divmod(ns, 1000000000)
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%09dZ" % frac
        msg = "%s seq=%06d %s" % (c.cid, j, "q" * (30 + (j * 131) % 300))
        out.append("%s stdout F %s\n" % (t, msg))
        want.append((ns // 1000000, msg))
    with open(c.log, "w") as f:
        f.write("".join(out))
    return want


def compare(got, want):
    """'' when the stream holds exactly the expected lines in order, else the first difference."""
    logs = [json.loads(e["message"])["log"] for e in got]
    if len(logs) != len(want):
        return "%d events for %d lines (%d distinct)" % (len(logs), len(want), len(set(logs)))
    for i, (e, text, (ms, msg)) in enumerate(zip(got, logs, want)):
        if text != msg or e["timestamp"] != ms:
            return "event %d is %r at %d, expected %r at %d" % (i, text[:40], e["timestamp"],
                                                              msg[:40], ms)
    return ""


base_ns = time.time_ns() - 3600 * 10 ** 9
pods = []
for i in range(PODS):
    c = Container(root, i, mode="none", seed=12)
    c.close()
    pods.append((c, write_pod(c, base_ns)))

faults = dict(throttle_rate=0.2, unavailable_rate=0.05, drop_rate=0.03,
              fault_actions=["PutLogEvents", "CreateLogStream", "CreateLogGroup"])
with CwlServer(seed=5, **faults) as srv:
    cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 200ms
  grace: 30s
  log_level: info
  scheduler.base: 100ms
  scheduler.cap: 2s
  storage.path: %s/storage
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/containers/*.log
      multiline.parser: cri
      read_from_head: on
      exit_on_eof: on
      buffer_chunk_size: 32KiB
  outputs:
    - name: cloudwatch_logs
      match: 'kube.*'
      endpoint: %s
      log_group_name: /aws/eks/throttled
      log_stream_template: $kubernetes['pod_name']
      log_stream_name: unknown
      workers: 8
      max_concurrency: 16
""" % (d, root, srv.endpoint))
    os.environ.update(srv.env())
    t0 = time.time()
    p = start(cfg)
    try:
        rc = p.wait(DEADLINE)
    except Exception:
        rc = None
    secs = time.time() - t0
    stats = srv.stats()
    print("requests: %s" % json.dumps(stats["requests"], sort_keys=True))
    print("errors: %s" % json.dumps(stats["errors"], sort_keys=True))
    if rc != 0:
        fail("the agent did not exit 0 by itself within %ds (rc=%s)\n%s"
             % (DEADLINE, rc, stderr_of(p)[-3000:]))
    print("ok: the agent exits 0 by itself after the last line (%.1fs)" % secs)
    throttles = stats["errors"].get("ThrottlingException", 0)
    check(throttles >= 20 and stats["errors"].get("ServiceUnavailableException", 0) > 0
          and stats["dropped"] > 0,
          "faults were met: %d throttles, %d 503s, %d dropped connections"
          % (throttles, stats["errors"].get("ServiceUnavailableException", 0),
             stats["dropped"]))
    problems = []
    for c, want in pods:
        why = compare(srv.events("/aws/eks/throttled", c.pod), want)
        if why:
            problems.append("%s: %s" % (c.pod, why))
    check(not problems, "all %d lines exactly once and in order in %d streams%s"
          % (PODS * LINES, PODS, "" if not problems else ": " + "; ".join(problems[:5])))
    per_stream = max(stats["max_concurrent"].values())
    check(per_stream == 1, "at most one request in flight per stream (saw %d)" % per_stream)
    print("%d PutLogEvents for %d accepted batches; at most %d requests in flight at once"
          % (sum(stats["requests"]["PutLogEvents"].values()),
             stats["requests"]["PutLogEvents"].get("200", 0), stats["max_concurrent_total"]))
