"""SIGTERM flushes everything buffered: records still in open chunks (the
flush interval is far away) reach the output before the agent exits 0."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

N = 20000
d = tmpdir("sigterm")
cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 60s
  grace: 20s
pipeline:
  inputs:
    - name: dummy
      tag: held
      rate: 100000
      samples: %d
  outputs:
    - name: file
      match: '*'
      path: %s
      file: out.jsonl
""" % (N, d))
out = os.path.join(d, "out.jsonl")
p = start(cfg)
wait_for("the input to emit %d records" % N,
         lambda: "samples reached" in stderr_of(p), timeout=30)
check(count_lines(out) == 0, "nothing written before the flush interval")
rc = stop(p)
check(rc == 0, "exit code 0 after SIGTERM (rc=%s)" % rc)
n = count_lines(out)
check(n == N, "all %d buffered records flushed on SIGTERM (got %d)" % (N, n))
check("exited cleanly" in stderr_of(p), "the loop closed cleanly")
