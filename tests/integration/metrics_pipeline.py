"""Metrics events through the pipeline, beside logs: internal_metrics goes
through metrics_selector and labels into the file output (JSON lines, one per
series) and into cloudwatch_logs as Embedded Metric Format documents (the
test server checks every signature); a log input routed to the same outputs
stays logs, and its records never meet the metrics filters; --dry-run says
what each hop carries; a metrics output whose match covers only log inputs is
a --check error at that match."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa

d = tmpdir("metrics-pipeline")
logs = os.path.join(d, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "app.log"), "w") as f:
    for i in range(50):
        f.write("2024-05-01T12:00:00.%09dZ stdout F line %d\n" % (i, i))

with CwlServer(seed=5) as srv:
    os.environ.update(srv.env())
    os.environ["CLUSTER_NAME"] = "test-cluster"
    cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 200ms
  log_level: info
  storage.path: %s/state
pipeline:
  inputs:
    - name: internal_metrics
      tag: metrics.self
      scrape_interval: 300ms
      scrape_on_start: on
    - name: tail
      tag: kube.app
      path: %s/*.log
      multiline.parser: cri
      read_from_head: on
  filters:
    - name: metrics_selector
      match: '*'
      metric_name: /^gleaner_(input|output)_records_total$/
      action: include
    - name: labels
      match: 'metrics.*'
      insert: cluster ${CLUSTER_NAME}
      rename: plugin kind
  outputs:
    - name: file
      match: '*'
      path: %s
      file: out.jsonl
    - name: cloudwatch_logs
      match: 'metrics.*'
      endpoint: %s
      log_group_name: /gleaner/metrics
      log_stream_name: node-a
      metric_namespace: Gleaner
      metric_dimensions: [cluster, name]
""" % (d, logs, d, srv.endpoint))

    r = subprocess.run([GLEANER, "--dry-run", "-c", cfg], capture_output=True, text=True)
    graph = r.stdout
    check(r.returncode == 0 and
          "input internal_metrics.0 (internal_metrics) tag=metrics.self emits=metrics" in graph
          and "-> filter metrics_selector.0 (metrics_selector) match=* carries=metrics" in graph
          and "-> filter metrics_selector.0 (metrics_selector) match=* carries=nothing "
              "(takes metrics only)" in graph
          and "=> output file.0 (file) match=* carries=logs" in graph,
          "--dry-run says what each hop carries:\n" + graph)

    p = start(cfg)
    out = os.path.join(d, "out.jsonl")

    def metric_lines():
        if not os.path.exists(out):
            return []
        with open(out) as f:
            return [json.loads(l) for l in f if '"name"' in l]

    wait_for("metrics in the file", lambda: len(metric_lines()) >= 6, timeout=20)
    wait_for("EMF documents", lambda: srv.events("/gleaner/metrics", "node-a"), timeout=20)
    time.sleep(0.5)
    rc = stop(p)
    check(rc == 0, "exit 0 (rc=%s)" % rc)

    with open(out) as f:
        recs = [json.loads(l) for l in f]
    lines = [r for r in recs if "log" in r]
    series = [r for r in recs if "name" in r]
    check(sorted(r["log"] for r in lines) == sorted("line %d" % i for i in range(50)) and
          all(set(r) <= {"log", "stream", "time", "@timestamp"} for r in lines),
          "the 50 log lines arrive as log records, untouched by the metrics filters")
    names = {s["name"] for s in series}
    check(names == {"gleaner_input_records_total", "gleaner_output_records_total"},
          "metrics_selector keeps only what its regex names: %s" % sorted(names))
    check(all(s["labels"].get("cluster") == "test-cluster" and "kind" in s["labels"]
              and "plugin" not in s["labels"] for s in series),
          "labels inserted cluster from ${CLUSTER_NAME} and renamed plugin to kind")
    check(all(s["type"] == "counter" and isinstance(s["value"], float) for s in series),
          "series carry type and value")

    docs = [json.loads(e["message"]) for e in srv.events("/gleaner/metrics", "node-a")]
    cwm = docs[0]["_aws"]["CloudWatchMetrics"][0]
    check(cwm["Namespace"] == "Gleaner" and cwm["Dimensions"] == [["cluster", "name"]],
          "EMF documents with the namespace and the dimensions asked: %s" % cwm)
    check(all(isinstance(doc[m["Name"]], float) and m["Unit"] == "Count"
              for doc in docs for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]),
          "every metric named in a document has its value there (%d documents)" % len(docs))
    stats = srv.stats()
    check(not stats["errors"].get("InvalidSignatureException"), "every signature verified")

# A metrics output fed only by a log input is refused, at its match.
bad = write(os.path.join(d, "bad.yaml"), """pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: /nonexistent/*.log
  outputs:
    - name: prometheus_exporter
      match: 'kube.*'
""")
r = subprocess.run([GLEANER, "--check", "-c", bad], capture_output=True, text=True)
check(r.returncode == 1 and "bad.yaml:8:14: output prometheus_exporter.0: match covers only "
      "inputs emitting logs (tail.0...), but prometheus_exporter takes metrics" in r.stderr,
      "--check refuses a route that can carry nothing: %s" % r.stderr.strip())
