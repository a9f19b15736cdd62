"""tail across a copytruncate refilled at once: the file is truncated and,
before the agent's next look, written with more bytes than it had read. The
size never drops below the agent's offset; the changed first bytes show the
truncation. Every line of the new content must arrive (those of the old
content too): nothing lost. Lines of the new content read before the agent
noticed may come twice."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

d = tmpdir("tail-refill")
log = os.path.join(d, "app.log")
out = os.path.join(d, "out.jsonl")
cfg = os.path.join(d, "gleaner.yaml")
write(cfg, """service:
  flush: 200ms
  log_level: info
  storage.path: %s/db
pipeline:
  inputs:
    - name: tail
      path: %s
      read_from_head: on
      refresh_interval: 1s
  outputs:
    - name: file
      match: '*'
      path: %s
      file: out.jsonl
""" % (d, log, d))


def lines(prefix, n):
    return "".join("%s %06d %s\n" % (prefix, i, "x" * 80) for i in range(n))


def logs():
    if not os.path.exists(out):
        return []
    with open(out) as f:
        return [json.loads(line)["log"] for line in f if line.strip()]


with open(log, "w") as f:
    f.write(lines("old", 1000))
p = start(cfg)
wait_for("the old content read", lambda: len(logs()) >= 1000, timeout=20)
# Truncate and refill with twice as much while the agent cannot look (stopped),
# so that it never sees the file shorter than what it read.
os.kill(p.pid, signal.SIGSTOP)
with open(log, "r+") as f:
    f.truncate(0)
    f.write(lines("new", 2000))
os.kill(p.pid, signal.SIGCONT)
want = set(lines("new", 2000).splitlines())
wait_for("every new line", lambda: want <= set(logs()), timeout=20)
time.sleep(0.5)
rc = stop(p)
check(rc == 0, "agent exits 0 on SIGTERM (rc=%s)" % rc)
got = logs()
old = [l for l in got if l.startswith("old ")]
new = [l for l in got if l.startswith("new ")]
check(sorted(set(old)) == sorted(lines("old", 1000).splitlines()) and len(old) == 1000,
      "the old content arrived once (%d lines)" % len(old))
check(set(new) == want, "all 2000 new lines arrived (%d distinct)" % len(set(new)))
check("new first bytes" in stderr_of(p), "the truncation is logged as seen in the first bytes")
print("refill: %d new records for 2000 lines (%d read twice)" % (len(new), len(new) - 2000))
print("tail_truncate_refill: ok")
