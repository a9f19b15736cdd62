"""internal_metrics emits the agent's own metrics as metrics events through
the pipeline, which the file output writes as JSON lines, one per series; the agent's log is JSON lines with log_format json; a repeated
error is limited to 10 lines per 10 s from one place (the rest counted)
instead of flooding stderr."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

d = tmpdir("internal")
cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 100ms
  log_format: json
  log_level: info
  scheduler.base: 1ms
  scheduler.cap: 5ms
pipeline:
  inputs:
    - name: internal_metrics
      tag: self
      scrape_interval: 200ms
      scrape_on_start: on
    - name: dummy
      tag: doomed
      rate: 50
  outputs:
    - name: file
      match: self
      path: %s
      file: metrics.jsonl
    - name: file
      alias: broken
      match: doomed
      path: %s/missing-dir
""" % (d, d))
p = start(cfg)
out = os.path.join(d, "metrics.jsonl")
wait_for("metrics records", lambda: count_lines(out) >= 3, timeout=20)
time.sleep(1.5)
rc = stop(p)
check(rc == 0, "exit 0 (rc=%s)" % rc)
with open(out) as f:
    recs = [json.loads(line) for line in f]
first = [r for r in recs if r["@timestamp"] == recs[0]["@timestamp"]]
series = {m["name"]: m for m in first}
check("gleaner_input_records_total" in series and "process_cpu_seconds_total" in series,
      "one scrape holds the agent's series (%d families)" % len(series))
m = [s for s in first if s["name"] == "gleaner_input_records_total"
     and s["labels"].get("name") == "dummy.0"]
check(len(m) == 1 and m[0]["type"] == "counter" and "value" in m[0] and "help" in m[0],
      "series have name, type, help, labels and value: %r" % m)
h = [s for s in first if s["name"] == "gleaner_output_flush_duration_seconds"]
check(len(h) == 2 and h[0]["type"] == "histogram" and "+Inf" in h[0]["buckets"]
      and "count" in h[0] and "sum" in h[0], "the flush latency is one histogram per output")
err = stderr_of(p).splitlines()
lines = [json.loads(l) for l in err if l.strip()]
check(all({"time", "level", "plugin", "msg"} <= set(l) for l in lines),
      "every log line is a JSON object with time, level, plugin, msg (%d lines)" % len(lines))
opens = [l for l in lines if "missing-dir" in l["msg"] and l["level"] == "error"]
retries = [l for l in lines if "retried" in l["msg"]]
check(0 < len(opens) <= 10, "the failing open is logged %d time(s), not once per retry" % len(opens))
check(len(lines) < 100, "the log does not flood (%d lines in 2 s of failing retries)" % len(lines))
check(0 < len(retries) <= 10, "retry warnings are limited too (%d shown)" % len(retries))
print("log lines: %d, open errors shown: %d" % (len(lines), len(opens)))
