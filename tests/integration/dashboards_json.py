"""The Grafana dashboards of dashboards/ are what tools/dashboards.py makes, and hold what
Grafana needs to import them: a stable uid each (unique), the current schemaVersion (and
nothing the later schema migrations would change), a Prometheus data source variable that
every panel and query uses, the cluster/namespace/node variables their queries use and
nothing undefined, panels with ids unique in their dashboard and gridPos inside the 24
columns without overlaps. Every query and every variable query parses (promtool). The
Workloads panels the product asks for are there with their thresholds. Every metric name
a query reads is one its source really exports: gleaner_* ones this build's /metrics
(asked of the agent), node_* ones Debian's prometheus-node-exporter (the reference
node_metrics follows), the kubelet's cAdvisor and resource families from the list below."""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_observe import (GRAFANA_BUILTINS, agent_families, family_of, metric_names,  # noqa
                         node_exporter_families, promtool_parse, substitute)

need("promtool", "prometheus")
t0 = time.time()
DIR = os.path.join(ROOT, "dashboards")
SCHEMA_VERSION = 41
PANEL_TYPES = {"row", "timeseries", "stat", "gauge", "bargauge", "heatmap"}

# What the kubelet serves on /metrics/cadvisor (cAdvisor) and /metrics/resource, as the
# Pods dashboard reads it. restarts are not among them: kube_pod_container_status_restarts_
# total is kube-state-metrics'; the dashboard counts changes of container_start_time_seconds.
KUBELET_FAMILIES = {
    "container_cpu_usage_seconds_total": "cadvisor and resource",
    "container_memory_working_set_bytes": "cadvisor and resource",
    "container_cpu_cfs_periods_total": "cadvisor",
    "container_cpu_cfs_throttled_periods_total": "cadvisor",
    "container_oom_events_total": "cadvisor",
    "container_start_time_seconds": "cadvisor and resource",
}
WORKLOAD_FAMILIES = {"http_requests_total", "http_request_duration_seconds", "up"}

# ---- the files are the generator's ----
p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "dashboards.py"), "--check"],
                   capture_output=True, text=True)
check(p.returncode == 0, "dashboards/*.json are what tools/dashboards.py makes%s"
      % (": " + p.stderr.strip() if p.returncode else ""))

boards = {}
for name in sorted(os.listdir(DIR)):
    if name.endswith(".json"):
        with open(os.path.join(DIR, name)) as f:
            boards[name] = json.load(f)
check(set(boards) == {"workloads.json", "nodes.json", "pods.json", "agent.json", "logs.json"},
      "five dashboards: %s" % ", ".join(sorted(boards)))
uids = [b["uid"] for b in boards.values()]
check(len(set(uids)) == len(uids) and all(re.fullmatch(r"[a-z0-9-]{1,40}", u) for u in uids),
      "uids unique and stable: %s" % ", ".join(uids))


def panels_of(board):
    for p in board["panels"]:
        yield p
        for q in p.get("panels", []):
            yield q


def walk(obj):
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk(v)


queries = []          # (board, panel title, expr)
variable_queries = []
for name, b in sorted(boards.items()):
    problems = []
    # Schema: the version Grafana 12 writes; nothing migrations 40 to 43 would rewrite
    # (refresh a string, no timepicker.time_options, no hideFrom.viz overrides, no
    # formatTime transformation), so a newer Grafana loads it unchanged.
    if b.get("schemaVersion") != SCHEMA_VERSION:
        problems.append("schemaVersion %s" % b.get("schemaVersion"))
    if not isinstance(b.get("refresh"), str) or "time_options" in b.get("timepicker", {}):
        problems.append("refresh or timepicker as older schemas had them")
    for o in walk(b):
        if o.get("id") == "custom.hideFrom" and (o.get("value") or {}).get("viz"):
            problems.append("a hideFrom.viz override")
        if o.get("id") == "formatTime":
            problems.append("a formatTime transformation")
    if b.get("id") is not None or not b.get("title") or "gleaner" not in b.get("tags", []):
        problems.append("id must be null, a title and the gleaner tag set")

    # Variables.
    tvars = {v["name"]: v for v in b["templating"]["list"]}
    ds = tvars.get("datasource")
    if not ds or ds["type"] != "datasource" or ds["query"] != "prometheus":
        problems.append("no Prometheus data source variable")
    for v in tvars.values():
        if v["type"] == "query":
            if v["datasource"] != {"type": "prometheus", "uid": "${datasource}"}:
                problems.append("variable %s not on ${datasource}" % v["name"])
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.+), (\w+)\)", q)
            if not m or v.get("definition") != q:
                problems.append("variable %s: %r is not label_values(selector, label)"
                                % (v["name"], q))
            else:
                variable_queries.append((name, v["name"], substitute(m.group(1))))
    for need_var in ("cluster", "node"):
        if need_var not in tvars:
            problems.append("no %s variable" % need_var)

    # Panels and their queries.
    ids, cells = set(), {}
    for p in panels_of(b):
        title = p.get("title", "?")
        if p.get("type") not in PANEL_TYPES:
            problems.append("%s: panel type %s" % (title, p.get("type")))
        if p.get("id") in ids or not isinstance(p.get("id"), int):
            problems.append("%s: id %s not unique" % (title, p.get("id")))
        ids.add(p.get("id"))
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] < 0 or \
                g["x"] + g["w"] > 24 or g["w"] < 1 or g["h"] < 1 or g["y"] < 0:
            problems.append("%s: gridPos %s" % (title, g))
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    problems.append("%s overlaps %s" % (title, cells[(x, y)]))
                cells[(x, y)] = title
        if p["type"] == "row":
            continue
        if p.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            problems.append("%s: panel data source %s" % (title, p.get("datasource")))
        if not p.get("targets"):
            problems.append("%s: no targets" % title)
        refs = [t.get("refId") for t in p.get("targets", [])]
        if len(set(refs)) != len(refs) or not all(refs):
            problems.append("%s: refIds %s" % (title, refs))
        for t in p.get("targets", []):
            if t.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
                problems.append("%s: target data source %s" % (title, t.get("datasource")))
            if not t.get("expr"):
                problems.append("%s: a target without expr" % title)
                continue
            for used in re.findall(r"\$\{?(\w+)\}?", t["expr"]):
                if used not in tvars and used not in GRAFANA_BUILTINS:
                    problems.append("%s: $%s is no variable" % (title, used))
            queries.append((name, title, t["expr"]))
    if problems:
        fail("%s: %s" % (name, "; ".join(problems)))
    n = sum(1 for p in panels_of(b) if p["type"] != "row")
    check(True, "%s (%s): schemaVersion %d, variables %s, %d panels with unique ids, gridPos "
          "within 24 columns and no overlap, every target on ${datasource}"
          % (name, b["uid"], SCHEMA_VERSION, ", ".join(v for v in tvars), n))

# ---- the product's Workloads panels ----
wl = {p["title"]: p for p in panels_of(boards["workloads.json"])}


def steps(p):
    return [(s["color"], s["value"]) for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]


want = {"Request rate by status code": "timeseries", "Error rate (5xx)": "gauge",
        "p95 latency by job": "timeseries", "Requests by endpoint": "bargauge",
        "Active instances": "stat", "Latency heatmap": "heatmap"}
check(all(wl.get(t, {}).get("type") == k for t, k in want.items()),
      "Workloads has %s" % ", ".join("%s (%s)" % kv for kv in want.items()))
check(steps(wl["Error rate (5xx)"]) == [("green", None), ("yellow", 0.01), ("red", 0.05)] and
      wl["Error rate (5xx)"]["fieldConfig"]["defaults"]["unit"] == "percentunit",
      "the error-rate gauge is green under 1%, yellow under 5%, red from 5%")
p95 = wl["p95 latency by job"]
check(steps(p95) == [("green", None), ("red", 1)] and
      p95["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line" and
      "histogram_quantile(0.95" in p95["targets"][0]["expr"],
      "p95 latency is drawn against the 1 s objective as a threshold line")
check(wl["Latency heatmap"]["targets"][0].get("format") == "heatmap",
      "the latency heatmap reads the histogram's buckets as a heatmap")

# ---- everything parses ----
err = promtool_parse([substitute(q) for _, _, q in queries] +
                     [s for _, _, s in variable_queries])
if err:
    fail("a dashboard query does not parse:\n" + err)
check(True, "all %d queries and %d variable queries parse (promtool check rules)"
      % (len(queries), len(variable_queries)))

# ---- the names are real ----
have = agent_families()
node = node_exporter_families()
for board, title, expr in queries + [(b, "variable " + v, q) for b, v, q in variable_queries]:
    for n in sorted(metric_names(expr)):
        f = family_of(n)
        if n.startswith("gleaner_") or n.startswith("process_"):
            if f in have or n in have:
                continue
            fail("%s, %s: reads %s, which this build of the agent does not export"
                 % (board, title, n))
        elif n.startswith("node_"):
            if f not in node and n not in node:
                fail("%s, %s: %s is not a prometheus-node-exporter family" % (board, title, n))
        elif n in KUBELET_FAMILIES or f in WORKLOAD_FAMILIES:
            continue
        else:
            fail("%s, %s: %s comes from where? (list it)" % (board, title, n))
check(True, "every gleaner_* name is in this build's /metrics (%d families), every node_* "
      "name is a family of prometheus-node-exporter (%d), every other name is the kubelet's "
      "or the workloads'" % (len(have), len(node)))
print("dashboards: checked in %.1fs" % (time.time() - t0))
