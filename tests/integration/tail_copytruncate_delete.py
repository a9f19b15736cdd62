"""tail across copytruncate and across a file deleted while it is read.

c0 is rotated the logrotate way: 0.log is copied to 0.log.1 (not matched by
the glob, so never read) and truncated in place. What the real world can
lose there, and this test allows: the lines written after the agent's last
read of 0.log and before the truncation. They are in the copy, which nobody
follows, and gone from 0.log. Here the writer truncates right after the
write that crossed the size limit, so each truncation may lose that last
stretch. Lost lines must be exactly such a stretch: a run of lines ending
right before a truncation, at most what is written in 1 s; every other line
arrives exactly once, in order. (Nothing may be read twice: the agent sees
the size drop below its offset and starts the new content at 0 once.)

c1 is deleted while it is read: 0.log is unlinked and a new 0.log starts.
The agent holds the old file open and reads it to its end, then follows
the new one: every line exactly once, in order."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kubelet import (Kubelet, read_records, seq_of, sequence_report, summarize,  # noqa
                         tail_config)

LINES = 15000
RATE = 600
d = tmpdir("tail-copytruncate")
root = os.path.join(d, "node")
ct = Kubelet(root, 1, seed=3, first=0, mode="copytruncate", rotate_size=256 * 1024)
dl = Kubelet(root, 1, seed=3, first=1, mode="delete", rotate_size=256 * 1024)
cfg = tail_config(d, root, input_extra="""
read_from_head: on
refresh_interval: 1s
""")
out = os.path.join(d, "out.jsonl")
p = start(cfg)
wait_for("the agent to start", lambda: "running" in stderr_of(p), timeout=10)
ct.start(LINES, RATE)
dl.start(LINES, RATE)
ct.join(60)
dl.join(60)
c0, c1 = ct.containers[0], dl.containers[0]
check(len(c0.truncations) >= 5 and c1.rotations >= 5,
      "%d truncations of c0, %d deletions of c1" % (len(c0.truncations), c1.rotations))
total = ct.total() + dl.total()
wait_for("c1's %d lines in the output" % LINES,
         lambda: sum(1 for r in read_records(out)
                     if r["kubernetes"]["container_name"] == c1.container) >= LINES,
         timeout=30)
time.sleep(1.5)    # c0's lines after its last truncation, and any late duplicate
rc = stop(p)
check(rc == 0, "agent exits 0 on SIGTERM (rc=%s)" % rc)

records = read_records(out)
check(all(seq_of(r["log"]) and r["kubernetes"] in (c0.metadata(), c1.metadata())
          for r in records), "every record is a numbered line, with its container's metadata")
failures = []


def soft(cond, msg):
    """Reports every result before the test fails, so that both cases are seen."""
    print(("ok: " if cond else "BAD: ") + msg)
    if not cond:
        failures.append(msg)


for c in (c0, c1):
    rep = sequence_report(records, [c])
    rep["unknown"] = []   # the other container's records
    print("%s (%s): %s" % (c.cid, c.mode, summarize(rep)))
    soft(not rep["wrong_text"], "%s: each record's text and stream are the line's" % c.cid)
    soft(not rep["duplicates"],
         "%s: no line delivered twice (%d)" % (c.cid, len(rep["duplicates"])))
    soft(not rep["out_of_order"], "%s: lines in order" % c.cid)
    if c is c1:
        soft(not rep["missing"], "%s: deleted while read, no line lost (%d of %d)" % (
            c.cid, len(rep["missing"]), len(c.written)))
        continue
    # c0's missing lines, by index in c0.written (seq n is index n-1), grouped
    # by the truncation that follows them.
    missing = sorted(int(m.split("seq=")[1]) - 1 for m in rep["missing"])
    runs, bad = {}, []
    for i in missing:
        ends = [t for t in c0.truncations if t > i]
        if not ends:
            bad.append("seq=%d after the last truncation" % (i + 1))
            continue
        runs.setdefault(ends[0], []).append(i)
    for t, idx in sorted(runs.items()):
        if idx != list(range(t - len(idx), t)) or len(idx) > RATE:
            bad.append("%d lost before the truncation at seq=%d, not a run ending there "
                       "of at most %d" % (len(idx), t + 1, RATE))
    print("copytruncate: %d lines lost over %d truncations (runs: %s)" % (
        len(missing), len(c0.truncations), sorted(len(v) for v in runs.values())))
    soft(not bad, "c0: only lines written between the last read and a truncation are lost"
         + ("" if not bad else ": " + "; ".join(bad[:5])))
check(not failures, "copytruncate and delete-while-reading: %d problems" % len(failures))
