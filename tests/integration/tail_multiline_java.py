"""multiline.parser: cri, java joins each Java stack trace (exception line,
"at" frames, "Caused by:", "... N more"), written one CRI line per trace
line, into one record with the exact text; ordinary log lines between the
traces stay one record each. Two containers, stdout and stderr, with the
traces' pieces and the plain lines interleaved across streams."""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kubelet import Container, java_trace, read_records, tail_config  # noqa

d = tmpdir("tail-java")
root = os.path.join(d, "node")
rng = random.Random(5)
cs = [Container(root, i, mode="none", seed=5) for i in range(2)]
traces = 0
for c in cs:
    for i in range(200):
        stream = rng.choice(("stdout", "stderr"))
        if rng.random() < 0.3:
            head = c.message(60, extra="java.lang.IllegalStateException: request %d failed " % i)
            c.write_trace(java_trace(rng, head, cause=rng.random() < 0.5), stream)
            traces += 1
        else:
            c.write_message(c.message(80, extra="INFO handled request %d " % i), stream)
    c.close()

cfg = tail_config(d, root, input_extra="""
read_from_head: on
exit_on_eof: on
""", parsers="cri, java")
p = start(cfg)
try:
    rc = p.wait(30)
except subprocess.TimeoutExpired:
    fail("exit_on_eof: the agent did not exit within 30s")
check(rc == 0, "agent exits 0 at end of input (rc=%s)" % rc)

by = {}
for r in read_records(os.path.join(d, "out.jsonl")):
    by.setdefault((r["kubernetes"]["container_name"], r.get("stream")), []).append(r["log"])
for c in cs:
    for stream in ("stdout", "stderr"):
        got = by.get((c.container, stream), [])
        want = [m for s, m in c.written if s == stream]
        bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
        first = ""
        if bad:
            first = "; first at #%d: got %r, want %r" % (bad[0], got[bad[0]][:120],
                                                        want[bad[0]][:120])
        check(len(got) == len(want) and not bad,
              "%s %s: %d records for %d messages (%d traces in all), all exact%s" % (
                  c.cid, stream, len(got), len(want), traces, first))
