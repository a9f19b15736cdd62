"""dummy -> file delivers exactly the N records generated (N = 1,000,000),
each a JSON object with the body and @timestamp."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

N = 1000000
d = tmpdir("exact")
cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 200ms
  grace: 30s
  log_level: info
pipeline:
  inputs:
    - name: dummy
      tag: app.exact
      dummy: '{"log":"a line with \\"quotes\\" and \\u00e9","n":1}'
      rate: 1000000
      samples: %d
  outputs:
    - name: file
      match: app.*
      path: %s
""" % (N, d))
out = os.path.join(d, "app.exact")
p = start(cfg)
wait_for("%d lines in %s" % (N, out), lambda: count_lines(out) >= N or p.poll() is not None,
         timeout=240)
rc = stop(p)
check(rc == 0, "agent exits 0 on SIGTERM (rc=%s)" % rc)
n = count_lines(out)
check(n == N, "file holds exactly %d records (got %d)" % (N, n))
with open(out) as f:
    first = json.loads(f.readline())
check(first["log"] == 'a line with "quotes" and \u00e9' and first["n"] == 1,
      "record body survives the round trip: %r" % first)
check(first["@timestamp"].endswith("Z") and len(first["@timestamp"]) == 30,
      "@timestamp is RFC 3339 with nanoseconds: %s" % first["@timestamp"])
bad = 0
with open(out) as f:
    for line in f:
        if not line.startswith('{"log":"a line with \\"quotes\\" and \u00e9","n":1,"@timestamp":"'):
            bad += 1
check(bad == 0, "every line has the same body (%d differ)" % bad)
