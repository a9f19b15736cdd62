"""tail -> cloudwatch_logs delivers 1,000,000 lines from 100 container logs
(10,000 each, in 4 namespaces) into 100 streams of 4 log groups named from
the records' kubernetes metadata: every line arrives once, in order per
stream, as the exact JSON the agent should send (log, stream, time,
kubernetes), with the line's time as the event's timestamp. The agent reads
the files from their head, exits by itself at their end (exit_on_eof), and
the test server checks every request's SigV4 signature."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa
from lib_kubelet import Container  # noqa

PODS = 100
LINES = 10000
NAMESPACES = 4
DEADLINE = 180
d = tmpdir("cwl-delivery")
root = os.path.join(d, "node")


def line_time(base_ns, j):
    """The CRI time of line j: three lines share each millisecond, so the
    agent's sort by time must keep file order among equal timestamps."""
    ns = base_ns + (j // 3) * 1000000 + (j % 3) * 1000
    s, frac = divmod(ns, 1000000000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%09dZ" % frac, ns // 1000000


def write_pod(c, base_ns):
    """Writes the container's 10,000 CRI lines; returns the events expected
    in its stream: (timestamp ms, exact message)."""
    meta = json.dumps(c.metadata(), separators=(",", ":"))
    out, want = [], []
    for j in range(LINES):
        t, ms = line_time(base_ns, j)
        msg = "%s seq=%06d %s" % (c.cid, j, "p" * (20 + (j * 7919) % 200))
        out.append("%s stdout F %s\n" % (t, msg))
        want.append((ms, '{"log":"%s","stream":"stdout","time":"%s","kubernetes":%s}'
                     % (msg, t, meta)))
    with open(c.log, "w") as f:
        f.write("".join(out))
    return want


def compare(got, want):
    """'' when the stored events are exactly the expected ones, else what differs first."""
    if len(got) != len(want):
        seen = [json.loads(e["message"])["log"].split(" ")[1] for e in got]
        dups = len(seen) - len(set(seen))
        return "%d events for %d lines (%d duplicated)" % (len(got), len(want), dups)
    for i, (e, (ms, msg)) in enumerate(zip(got, want)):
        if e["message"] != msg:
            return "event %d is %r, expected %r" % (i, e["message"][:120], msg[:120])
        if e["timestamp"] != ms:
            return "event %d has timestamp %d, expected %d" % (i, e["timestamp"], ms)
    return ""


t0 = time.time()
base_ns = time.time_ns() - 3600 * 10 ** 9
pods = []
for i in range(PODS):
    c = Container(root, i, namespace="ns%d" % (i % NAMESPACES), mode="none", seed=11)
    c.close()
    pods.append((c, write_pod(c, base_ns)))
print("wrote %d lines in %d files in %.1fs" % (PODS * LINES, PODS, time.time() - t0))

with CwlServer(seed=3) as srv:
    cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 500ms
  grace: 30s
  log_level: info
  storage.path: %s/storage
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/containers/*.log
      multiline.parser: cri
      read_from_head: on
      exit_on_eof: on
  outputs:
    - name: cloudwatch_logs
      match: 'kube.*'
      endpoint: %s
      log_group_template: /aws/eks/test/$kubernetes['namespace_name']
      log_group_name: /aws/eks/test/unknown
      log_stream_template: $kubernetes['pod_name']
      log_stream_name: unknown
      workers: 4
""" % (d, root, srv.endpoint))
    os.environ.update(srv.env())
    t1 = time.time()
    p = start(cfg)
    try:
        rc = p.wait(DEADLINE)
    except subprocess.TimeoutExpired:
        rc = None
    secs = time.time() - t1
    stats = srv.stats()
    print("requests: %s" % json.dumps(stats["requests"], sort_keys=True))
    if rc != 0:
        fail("the agent did not exit 0 by itself within %ds (rc=%s)\n%s"
             % (DEADLINE, rc, stderr_of(p)[-3000:]))
    print("ok: the agent exits 0 by itself after the last line (%.1fs)" % secs)
    groups = srv.groups()
    want_groups = {"/aws/eks/test/ns%d" % n for n in range(NAMESPACES)}
    check(set(groups) == want_groups, "log groups from the namespaces: %s" % sorted(groups))
    streams = sum(len(g["streams"]) for g in groups.values())
    check(streams == PODS, "%d streams, one per pod" % streams)
    problems = []
    for c, want in pods:
        why = compare(srv.events("/aws/eks/test/%s" % c.namespace, c.pod), want)
        if why:
            problems.append("%s: %s" % (c.pod, why))
    check(not problems, "every line once, in order, exact message and timestamp, in all %d "
          "streams%s" % (PODS, "" if not problems else ": " + "; ".join(problems[:5])))
    puts = [b for b in stats["batches"] if b["status"] == 200]
    check(all(b["bytes"] <= 1048576 and b["events"] <= 10000 for b in stats["batches"]),
          "no PutLogEvents over 1 MiB or 10,000 events")
    check(not stats["errors"].get("InvalidSignatureException"), "every signature verified")
    fill = sum(b["bytes"] for b in puts) / float(len(puts)) / 1048576
    print("delivered %d lines in %.1fs (%.0f lines/s): %d accepted batches, average fill "
          "%.1f%%, at most %d requests in flight" % (PODS * LINES, secs, PODS * LINES / secs,
                                                     len(puts), fill * 100,
                                                     stats["max_concurrent_total"]))
