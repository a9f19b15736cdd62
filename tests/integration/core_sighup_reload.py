"""SIGHUP with a bad config keeps the old pipeline running and says why
(FILE:LINE:COL); SIGHUP with a good config switches to the new pipeline."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

d = tmpdir("sighup")
port = free_port()
good = """
service:
  flush: 100ms
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
pipeline:
  inputs:
    - name: dummy
      tag: t
      rate: 200
  outputs:
    - name: file
      match: '*'
      path: %s
      file: %s
"""
cfg = write(os.path.join(d, "g.yaml"), good % (port, d, "first.jsonl"))
first = os.path.join(d, "first.jsonl")
second = os.path.join(d, "second.jsonl")
p = start(cfg)
wait_for("records in the first file", lambda: count_lines(first) > 50)

write(cfg, """
service:
  flush: 100ms
pipeline:
  inputs:
    - name: dummy
      rate: often
  outputs:
    - name: fiel
      match: '*'
""")
p.send_signal(signal.SIGHUP)
wait_for("the reload to be rejected", lambda: "reload rejected" in stderr_of(p))
err = stderr_of(p)
check("g.yaml:7:13: dummy.rate: expected an integer" in err,
      "the bad value is reported with FILE:LINE:COL")
check("g.yaml:9:13: unknown output plugin 'fiel' (did you mean 'file'?)" in err,
      "the unknown plugin is reported with a suggestion")
check(p.poll() is None, "the agent keeps running")
before = count_lines(first)
time.sleep(1.0)
check(count_lines(first) > before, "the old pipeline keeps delivering (%d -> %d)"
      % (before, count_lines(first)))
status, body = http_get(port, "/readyz")
check(status == 200, "still ready after a rejected reload")
status, body = http_get(port, "/api/v1/status")
check('"reload_failures":1' in body, "status counts the failed reload")

write(cfg, good % (port, d, "second.jsonl"))
p.send_signal(signal.SIGHUP)
wait_for("records in the second file", lambda: count_lines(second) > 20)
check("configuration reloaded" in stderr_of(p), "a valid config is swapped in")
n = count_lines(first)
time.sleep(0.5)
check(count_lines(first) == n, "the old pipeline stopped writing")
rc = stop(p)
check(rc == 0, "exit 0 after SIGTERM (rc=%s)" % rc)
