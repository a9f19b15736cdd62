"""Records whose tag no output matches are counted, and said once: a dummy
input tagged `lost` runs next to one that reaches the null output, a chunk
every 100 ms for two seconds. Every lost record is in
gleaner_input_dropped_records_total{reason="no_output_matched"}, the
warning naming the tag is logged once (not once per chunk), and the other
input's records are not touched."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

N = 2000
d = tmpdir("unrouted")
port = free_port()
cfg = write(os.path.join(d, "unrouted.yaml"), """service:
  flush: 100ms
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
pipeline:
  inputs:
    - name: dummy
      alias: lost
      tag: lost
      rate: 1000
      samples: %d
    - name: dummy
      alias: kept
      tag: kept
      rate: 1000
      samples: %d
  outputs:
    - name: null
      alias: sink
      match: kept
""" % (port, N, N))


p = start(cfg)
wait_for("/readyz 200", lambda: http_get(port, "/readyz")[0] == 200, timeout=10)


def done():
    body = http_get(port, "/metrics")[1]
    lost = metric_value(body, "gleaner_input_dropped_records_total", 'name="lost"',
                        'reason="no_output_matched"')
    kept = metric_value(body, "gleaner_output_records_total", 'name="sink"')
    return lost == N and kept == N and (lost, kept)


wait_for("every record of both inputs counted", done, timeout=20,
         why=lambda: http_get(port, "/metrics")[1][-3000:])
print("ok: %d records of tag lost counted as dropped (no_output_matched), %d of kept sent" % (N, N))
check(stop(p) == 0, "exit 0")
warned = re.findall(r'tag lost: no output matches it', stderr_of(p))
check(len(warned) == 1, "the unrouted tag is logged once (%d lines for about 20 chunks)"
      % len(warned))
check("tag kept" not in stderr_of(p), "nothing said of the routed tag")
