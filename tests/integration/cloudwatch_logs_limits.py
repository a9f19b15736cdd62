"""cloudwatch_logs keeps to the PutLogEvents limits:
- an event over 256 KiB - 26 bytes is cut on its JSON to at most that size,
  on a UTF-8 character boundary, ending with the [truncated] marker, and
  counted;
- an event older than 14 days (or more than 2 h ahead) is not sent and is
  counted in gleaner_output_dropped_records_total{reason="too_old"/"too_new"};
- 3 MB of lines for one stream go in batches of at most 1,048,576 bytes, the
  largest close to it, and every line arrives once, in order.
The agent's /metrics is read on a free port."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa
from lib_kubelet import Container  # noqa

EVENT_MAX = 262144 - 26
MARKER = "[truncated]"
BULK = 3000
GROUP = "/aws/eks/limits"
d = tmpdir("cwl-limits")
root = os.path.join(d, "node")
PORT = free_port()


def cri_time(ns):
    s, frac = divmod(ns, 1000000000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%09dZ" % frac


def record(c, msg, t):
    """The exact JSON message the agent sends for a CRI stdout line."""
    return '{"log":"%s","stream":"stdout","time":"%s","kubernetes":%s}' % (
        msg, t, json.dumps(c.metadata(), separators=(",", ":")))


now = time.time_ns()
odd = Container(root, 0, mode="none", seed=13)
odd.close()
bulk = Container(root, 1, mode="none", seed=13)
bulk.close()

# c0: a small line, one of 300,000 bytes, one 15 days old, one 3 h ahead, a small
# one, one of 300,000 bytes of 2-byte characters.
t = [cri_time(now - (60 - i) * 10 ** 9) for i in range(6)]
t[2] = cri_time(now - 15 * 86400 * 10 ** 9)
t[3] = cri_time(now + 3 * 3600 * 10 ** 9)
big = "c0 seq=000001 " + "".join("abcdefghij"[(i * 7) % 10] for i in range(300000))
wide = "c0 seq=000005 " + "\u00e9" * 150000
msgs = ["c0 seq=000000 first", big, "c0 seq=000002 too old", "c0 seq=000003 too new",
        "c0 seq=000004 small", wide]
with open(odd.log, "w", encoding="utf-8") as f:
    f.write("".join("%s stdout F %s\n" % (t[i], m) for i, m in enumerate(msgs)))
want_big = record(odd, big, t[1])[:EVENT_MAX - len(MARKER)] + MARKER
# The 2-byte characters start at an odd offset after '{"log":"c0 seq=000005 ' (22
# bytes), so the cut at EVENT_MAX - 11 (an odd number) falls inside one: one byte less.
want_wide = (record(odd, wide, t[5]).encode()[:EVENT_MAX - len(MARKER) - 1].decode()
             + MARKER)

# c1: 3,000 lines of about 1 KB, 3 MB in all, for one stream.
bulk_lines = []
for j in range(BULK):
    ns = now - 600 * 10 ** 9 + j * 1000000
    bulk_lines.append((cri_time(ns), "c1 seq=%06d %s" % (j, "b" * (900 + j % 100))))
with open(bulk.log, "w") as f:
    f.write("".join("%s stdout F %s\n" % x for x in bulk_lines))

with CwlServer(seed=7) as srv:
    cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 1s
  grace: 20s
  log_level: info
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
  storage.path: %s/storage
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/containers/*.log
      multiline.parser: cri
      read_from_head: on
  outputs:
    - name: cloudwatch_logs
      alias: cwl
      match: 'kube.*'
      endpoint: %s
      log_group_name: %s
      log_stream_template: $kubernetes['pod_name']
      log_stream_name: unknown
""" % (PORT, d, root, srv.endpoint, GROUP))
    os.environ.update(srv.env())
    p = start(cfg)
    wait_for("4 events in %s and %d in %s" % (odd.pod, BULK, bulk.pod),
             lambda: (len(srv.events(GROUP, odd.pod)) >= 4 and
                      len(srv.events(GROUP, bulk.pod)) >= BULK) or p.poll() is not None,
             timeout=30)

    def drops():
        status, body = http_get(PORT, "/metrics")
        out = {}
        for line in body.splitlines():
            if 'name="cwl"' in line and line.startswith((
                    "gleaner_output_dropped_records_total{",
                    "gleaner_output_cloudwatch_events_truncated_total{",
                    "gleaner_output_cloudwatch_events_sent_total{")):
                out[line.rsplit(" ", 1)[0]] = float(line.rsplit(" ", 1)[1])
        return out

    m = wait_for("the drops in /metrics",
                 lambda: (lambda x: x if any('reason="too_old"' in k for k in x) else None)(
                     drops()), timeout=10)
    time.sleep(1.0)  # anything sent twice would land now
    events = srv.events(GROUP, odd.pod)
    rc = stop(p)
    stats = srv.stats()
    check(rc == 0, "agent exits 0 on SIGTERM (rc=%s)" % rc)
    print("metrics: %s" % json.dumps(m, sort_keys=True))

    msgs_got = [e["message"] for e in events]
    check(len(msgs_got) == 4, "4 of the 6 events of %s stored (got %d)" % (odd.pod,
                                                                       len(msgs_got)))
    check(msgs_got[0] == record(odd, msgs[0], t[0]) and msgs_got[2] == record(odd, msgs[4], t[4]),
          "the small events as sent, in order")
    check(msgs_got[3] == want_wide and len(msgs_got[3].encode()) == EVENT_MAX - 1,
          "the large UTF-8 event is cut before the character that would be split (%d bytes)"
          % len(msgs_got[3].encode()))
    got_big = msgs_got[1]
    check(len(got_big.encode()) == EVENT_MAX,
          "the large event is cut to %d bytes (got %d)" % (EVENT_MAX, len(got_big.encode())))
    check(got_big == want_big, "it is the record's JSON up to the cut, then %s" % MARKER)
    check(any('reason="too_old"' in k and v == 1 for k, v in m.items()),
          "the 15-day-old event counted as dropped, reason too_old")
    check(any('reason="too_new"' in k and v == 1 for k, v in m.items()),
          "the event 3 h ahead counted as dropped, reason too_new")
    check(any("truncated" in k and v == 2 for k, v in m.items()),
          "both cut events counted in gleaner_output_cloudwatch_events_truncated_total")

    got = [e["message"] for e in srv.events(GROUP, bulk.pod)]
    check(got == [record(bulk, m, t) for t, m in bulk_lines],
          "all %d bulk lines once and in order (got %d)" % (BULK, len(got)))
    sizes = [b["bytes"] for b in stats["batches"] if b["stream"] == bulk.pod]
    check(max(sizes) <= 1048576, "no batch over 1,048,576 bytes (largest %d)" % max(sizes))
    check(max(sizes) > 1048576 - 2000,
          "3 MB for one stream cut at the limit: batches of %s bytes" % sizes)
    check(not stats["errors"].get("InvalidParameterException"),
          "no request refused as invalid")
