"""/metrics passes `promtool check metrics` with no complaint; /healthz,
/readyz and /api/v1/status answer; only GET is served."""
import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

need("promtool", "prometheus")
d = tmpdir("metrics")
port = free_port()
cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 100ms
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
pipeline:
  inputs:
    - name: dummy
      alias: demo
      dummy: '{"log":"GET /index.html 200","level":"info"}'
      rate: 1000
  filters:
    - name: grep
      match: '*'
      exclude: log ^DEBUG
  outputs:
    - name: null
      alias: sink
      match: '*'
    - name: file
      match: '*'
      path: %s
""" % (port, d))
p = start(cfg)
wait_for("/readyz", lambda: http_get(port, "/readyz")[0] == 200)
wait_for("records delivered", lambda: 'gleaner_output_records_total{name="sink",plugin="null"} 0'
         not in http_get(port, "/metrics")[1])
status, text = http_get(port, "/metrics")
check(status == 200, "/metrics answers 200")
r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                   capture_output=True)
out = (r.stdout + r.stderr).decode().strip()
check(r.returncode == 0 and out == "", "promtool check metrics has no complaint: %r" % out)
for name in ["gleaner_input_records_total", "gleaner_output_records_total",
             "gleaner_output_dropped_records_total", "gleaner_output_retries_total",
             "gleaner_output_buffer_bytes", "gleaner_output_flush_duration_seconds_bucket",
             "process_cpu_seconds_total", "process_resident_memory_bytes",
             "gleaner_filter_input_records_total"]:
    check(name in text, "/metrics has %s" % name)
check(http_get(port, "/healthz")[0] == 200, "/healthz answers 200")
status, body = http_get(port, "/api/v1/status")
st = json.loads(body)
check(status == 200 and st["state"] == "running" and st["inputs"][0]["name"] == "demo",
      "/api/v1/status is JSON describing the pipeline")
req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port, data=b"x", method="POST")
try:
    urllib.request.urlopen(req, timeout=5)
    code = 200
except urllib.error.HTTPError as e:
    code = e.code
check(code in (405, 413), "POST is refused (%d)" % code)
check(stop(p) == 0, "exit 0")
