"""Writes the Grafana dashboards of dashboards/*.json: Workloads, Nodes, Pods, Agent and
Logs. Each is described below as rows of panels with their PromQL; this script lays them
out on Grafana's 24-column grid, numbers the panels, and writes the JSON model Grafana
imports (and the chart's ConfigMaps carry). The JSON files are the product, kept in the
repository; this is how they are made and kept consistent.

    python3 tools/dashboards.py [--check] [DIR]      (make dashboards; DIR: dashboards)

With --check nothing is written and the exit is 1 when a file differs from what this
script makes (the dashboard test runs it).

Queries use Grafana's variables: $datasource (a Prometheus data source), $cluster, $node,
$namespace and $job as each dashboard has them (all multi-value with "All" = .*), and
$__rate_interval.
"""
import json
import os
import sys

SCHEMA_VERSION = 41
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"

# ---- panels ----------------------------------------------------------------


def target(expr, legend="", instant=False, fmt=None):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto",
         "range": not instant, "instant": instant}
    if fmt:
        t["format"] = fmt
    return t


def thresholds(*steps):
    """steps: (color, value) from the lowest; the first value is None (the base)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def timeseries(title, targets, unit="short", desc="", w=12, h=8, stack=False, min_=None,
               max_=None, threshold_line=None, legend_table=False):
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if not stack else 60,
              "showPoints": "never", "spanNulls": False,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"},
              "thresholdsStyle": {"mode": "line" if threshold_line else "off"}}
    defaults = {"unit": unit, "custom": custom,
                "thresholds": threshold_line or thresholds(("green", None))}
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    legend = {"showLegend": True, "placement": "bottom", "calcs": [],
              "displayMode": "list"}
    if legend_table:
        legend.update(displayMode="table", placement="right", calcs=["mean", "lastNotNull"])
    return {"type": "timeseries", "title": title, "description": desc, "w": w, "h": h,
            "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": legend, "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(title, targets, unit="short", desc="", w=6, h=4, steps=None, graph=True):
    return {"type": "stat", "title": title, "description": desc, "w": w, "h": h,
            "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit,
                                         "thresholds": steps or thresholds(("green", None)),
                                         "color": {"mode": "thresholds"}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                          "values": False},
                        "colorMode": "value", "graphMode": "area" if graph else "none",
                        "justifyMode": "auto", "orientation": "auto", "textMode": "auto"}}


def gauge(title, targets, unit, steps, min_, max_, desc="", w=6, h=8):
    return {"type": "gauge", "title": title, "description": desc, "w": w, "h": h,
            "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit, "min": min_, "max": max_,
                                         "thresholds": steps,
                                         "color": {"mode": "thresholds"}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                          "values": False},
                        "showThresholdMarkers": True, "showThresholdLabels": False,
                        "orientation": "auto"}}


def bargauge(title, targets, unit="short", desc="", w=12, h=8, steps=None, max_=None):
    defaults = {"unit": unit, "min": 0, "thresholds": steps or thresholds(("green", None)),
                "color": {"mode": "thresholds"}}
    if max_ is not None:
        defaults["max"] = max_
    return {"type": "bargauge", "title": title, "description": desc, "w": w, "h": h,
            "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                          "values": False},
                        "displayMode": "gradient", "orientation": "horizontal",
                        "showUnfilled": True, "valueMode": "color", "namePlacement": "auto",
                        "sizing": "auto", "minVizHeight": 16, "maxVizHeight": 300}}


def heatmap(title, targets, unit, desc="", w=12, h=8):
    return {"type": "heatmap", "title": title, "description": desc, "w": w, "h": h,
            "targets": targets,
            "fieldConfig": {"defaults": {"custom": {"hideFrom": {"legend": False,
                                                                 "tooltip": False,
                                                                 "viz": False},
                                                    "scaleDistribution": {"type": "linear"}}},
                            "overrides": []},
            "options": {"calculate": False, "cellGap": 1,
                        "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange",
                                  "scale": "exponential", "exponent": 0.5, "steps": 64,
                                  "reverse": False},
                        "yAxis": {"axisPlacement": "left", "unit": unit, "reverse": False},
                        "rowsFrame": {"layout": "auto"}, "showValue": "never",
                        "tooltip": {"mode": "single", "yHistogram": True, "showColorScale": False},
                        "legend": {"show": True}, "exemplars": {"color": "rgba(255,0,255,0.7)"},
                        "filterValues": {"le": 1e-9}, "cellValues": {"unit": "short"}}}


# ---- variables -------------------------------------------------------------


def datasource_var():
    return {"type": "datasource", "name": "datasource", "label": "Data source",
            "query": "prometheus", "regex": "", "refresh": 1, "hide": 0,
            "includeAll": False, "multi": False, "current": {}, "options": []}


def query_var(name, label, query):
    return {"type": "query", "name": name, "label": label, "datasource": DS,
            "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery",
                      "qryType": 1},
            "definition": query, "refresh": 2, "regex": "", "sort": 1, "hide": 0,
            "includeAll": True, "allValue": ".*", "multi": True,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": []}


# ---- layout ----------------------------------------------------------------


def dashboard(uid, title, description, variables, rows, tags=()):
    """rows: [(row title, [panel, ...]), ...]; panels flow left to right on the 24-column
    grid and wrap, each row starting below the tallest panel of the one before."""
    panels = []
    y = 0
    next_id = 1
    for row_title, row_panels in rows:
        panels.append({"type": "row", "title": row_title, "collapsed": False, "panels": [],
                       "id": next_id, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
        next_id += 1
        y += 1
        x, line_h = 0, 0
        for p in row_panels:
            w, h = p.pop("w"), p.pop("h")
            if x + w > 24:
                x, y, line_h = 0, y + line_h, 0
            p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
            p["id"] = next_id
            p["datasource"] = DS
            for i, t in enumerate(p["targets"]):
                t["refId"] = chr(ord("A") + i)
            next_id += 1
            x += w
            line_h = max(line_h, h)
            panels.append(p)
        y += line_h
    return {
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [{"type": "dashboards", "tags": ["gleaner"], "asDropdown": True,
                   "title": "gleaner", "includeVars": True, "keepTime": True,
                   "icon": "external link", "targetBlank": False, "tooltip": "",
                   "url": ""}],
        "panels": panels,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["gleaner"] + list(tags),
        "templating": {"list": [datasource_var()] + variables},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


# ---- Workloads -------------------------------------------------------------

W = 'cluster=~"$cluster", namespace=~"$namespace", job=~"$job", node=~"$node"'
REQ = "rate(http_requests_total{%s}[%s])" % (W, RATE)
ERR = 'rate(http_requests_total{%s, status=~"5.."}[%s])' % (W, RATE)
BUCKET = "rate(http_request_duration_seconds_bucket{%s}[%s])" % (W, RATE)
ERROR_STEPS = thresholds(("green", None), ("yellow", 0.01), ("red", 0.05))
SLA_STEPS = thresholds(("green", None), ("red", 1))


def workloads():
    variables = [
        query_var("cluster", "Cluster", "label_values(http_requests_total, cluster)"),
        query_var("namespace", "Namespace",
                  'label_values(http_requests_total{cluster=~"$cluster"}, namespace)'),
        query_var("job", "Job", 'label_values(http_requests_total{cluster=~"$cluster", '
                  'namespace=~"$namespace"}, job)'),
        query_var("node", "Node", 'label_values(http_requests_total{cluster=~"$cluster", '
                  'namespace=~"$namespace"}, node)'),
    ]
    rows = [
        ("Now", [
            stat("Request rate", [target("sum(%s)" % REQ, "requests/s")], "reqps",
                 "HTTP requests answered per second (http_requests_total).", w=5, h=8),
            gauge("Error rate (5xx)",
                  [target("(sum(%s) or vector(0)) / sum(%s)" % (ERR, REQ), "5xx")],
                  "percentunit", ERROR_STEPS, 0, 0.1,
                  "Share of requests answered 5xx: green under 1%, yellow under 5%, red from "
                  "5% (HighErrorRate's threshold).", w=5, h=8),
            stat("p95 latency",
                 [target("histogram_quantile(0.95, sum by (le) (%s))" % BUCKET, "p95")], "s",
                 "95th percentile of http_request_duration_seconds; red above the 1 s "
                 "objective (HighLatency's threshold).", w=5, h=8, steps=SLA_STEPS),
            stat("Active instances",
                 [target("sum(up{%s})" % W, "up"),
                  target("count(up{%s} == 0) or vector(0)" % W, "down")],
                 "short", "Scrape targets answering (up == 1) and not answering.", w=9, h=8,
                 steps=thresholds(("green", None)), graph=False),
        ]),
        ("Requests", [
            timeseries("Request rate by status code",
                       [target("sum by (status) (%s)" % REQ, "{{status}}")], "reqps",
                       "Requests per second by HTTP status.", stack=True),
            timeseries("Error rate by job",
                       [target("(sum by (namespace, job) (%s) or 0 * sum by (namespace, job) "
                               "(%s)) / sum by (namespace, job) (%s)" % (ERR, REQ, REQ),
                               "{{namespace}}/{{job}}")],
                       "percentunit", "Share of 5xx answers per job, with the 1% and 5% "
                       "thresholds.", min_=0, threshold_line=ERROR_STEPS),
            timeseries("p95 latency by job",
                       [target("histogram_quantile(0.95, sum by (namespace, job, le) (%s))"
                               % BUCKET, "{{namespace}}/{{job}} p95"),
                        target("histogram_quantile(0.5, sum by (le) (%s))" % BUCKET,
                               "all p50")],
                       "s", "95th percentile per job against the 1 s objective (the line).",
                       min_=0, threshold_line=SLA_STEPS),
            bargauge("Requests by endpoint",
                     [target("sort_desc(sum by (method, path) (%s))" % REQ,
                             "{{method}} {{path}}", instant=True)], "reqps",
                     "Requests per second by method and path, busiest first."),
            heatmap("Latency heatmap",
                    [target("sum by (le) (increase(http_request_duration_seconds_bucket{%s}"
                            "[%s]))" % (W, RATE), "{{le}}", fmt="heatmap")], "s",
                    "How many requests took how long, per interval (the histogram's "
                    "buckets).", w=24),
        ]),
    ]
    return dashboard("gleaner-workloads", "gleaner / Workloads",
                     "HTTP traffic of the services whose metrics gleaner collects: rate, "
                     "errors, latency (http_requests_total, http_request_duration_seconds).",
                     variables, rows, tags=("workloads",))


# ---- Nodes -----------------------------------------------------------------

N = 'cluster=~"$cluster", node=~"$node"'
FS = 'fstype!~"tmpfs|overlay|squashfs|nsfs|fuse.*|autofs|proc|sysfs|devtmpfs|ramfs"'
NIC = 'device!~"lo|veth.*|eni.*|cali.*|cni.*|flannel.*|docker.*|br-.*|vxlan.*|tunl.*"'


def nodes():
    variables = [
        query_var("cluster", "Cluster", "label_values(node_uname_info, cluster)"),
        query_var("node", "Node", 'label_values(node_uname_info{cluster=~"$cluster"}, node)'),
    ]
    rows = [
        ("Now", [
            stat("Nodes", [target("count(node_uname_info{%s})" % N, "nodes")], "short",
                 "Nodes whose node metrics arrive.", w=4, graph=False),
            stat("CPUs", [target('count(node_cpu_seconds_total{%s, mode="idle"})' % N,
                                 "CPUs")], "short", "Logical CPUs of those nodes.", w=4,
                 graph=False),
            stat("Memory", [target("sum(node_memory_MemTotal_bytes{%s})" % N, "total")],
                 "bytes", "Memory of those nodes.", w=4, graph=False),
            stat("CPU busy", [target('1 - avg(rate(node_cpu_seconds_total{%s, mode="idle"}[%s]))'
                                     % (N, RATE), "busy")], "percentunit",
                 "Share of CPU time not idle, over all CPUs.", w=4,
                 steps=thresholds(("green", None), ("yellow", 0.7), ("red", 0.9))),
            stat("Memory used", [target("1 - sum(node_memory_MemAvailable_bytes{%s}) / "
                                        "sum(node_memory_MemTotal_bytes{%s})" % (N, N), "used")],
                 "percentunit", "Memory not available (MemAvailable) over MemTotal.", w=4,
                 steps=thresholds(("green", None), ("yellow", 0.8), ("red", 0.9))),
            stat("Uptime", [target("min(time() - node_boot_time_seconds{%s})" % N, "uptime")],
                 "s", "Time since the most recent boot among the nodes.", w=4, graph=False),
        ]),
        ("CPU and memory", [
            timeseries("CPU busy by node",
                       [target('1 - avg by (node) (rate(node_cpu_seconds_total{%s, mode="idle"}'
                               '[%s]))' % (N, RATE), "{{node}}")],
                       "percentunit", "Share of CPU time not idle, per node.", min_=0, max_=1),
            timeseries("CPU by mode",
                       [target('sum by (mode) (rate(node_cpu_seconds_total{%s, mode!="idle"}'
                               '[%s])) / scalar(count(node_cpu_seconds_total{%s, mode="idle"}))'
                               % (N, RATE, N), "{{mode}}")],
                       "percentunit", "Where the CPU time goes (user, system, iowait, steal...), "
                       "over all CPUs.", stack=True, min_=0),
            timeseries("Memory used by node",
                       [target("1 - node_memory_MemAvailable_bytes{%s} / "
                               "node_memory_MemTotal_bytes{%s}" % (N, N), "{{node}}")],
                       "percentunit", "Memory not available over MemTotal, per node.", min_=0,
                       max_=1),
            timeseries("Load per CPU",
                       [target('node_load1{%s} / on (cluster, node) group_left count by '
                               '(cluster, node) (node_cpu_seconds_total{%s, mode="idle"})'
                               % (N, N), "{{node}} 1m"),
                        target('node_load15{%s} / on (cluster, node) group_left count by '
                               '(cluster, node) (node_cpu_seconds_total{%s, mode="idle"})'
                               % (N, N), "{{node}} 15m")],
                       "short", "Load average divided by the node's CPUs: above 1, tasks wait.",
                       min_=0),
        ]),
        ("Disk and network", [
            timeseries("Disk I/O",
                       [target("sum by (node, device) (rate(node_disk_read_bytes_total{%s}[%s]))"
                               % (N, RATE), "{{node}} {{device}} read"),
                        target("sum by (node, device) (rate(node_disk_written_bytes_total{%s}"
                               "[%s]))" % (N, RATE), "{{node}} {{device}} written")],
                       "Bps", "Bytes read and written per disk."),
            timeseries("Disk busy",
                       [target("rate(node_disk_io_time_seconds_total{%s}[%s])" % (N, RATE),
                               "{{node}} {{device}}")],
                       "percentunit", "Share of time each disk had I/O in progress.", min_=0,
                       max_=1),
            bargauge("Filesystem space used",
                     [target("1 - node_filesystem_avail_bytes{%s, %s} / "
                             "node_filesystem_size_bytes{%s, %s}" % (N, FS, N, FS),
                             "{{node}} {{mountpoint}}", instant=True)],
                     "percentunit", "Space used on each filesystem (not tmpfs or overlay).",
                     steps=thresholds(("green", None), ("yellow", 0.8), ("red", 0.9)), max_=1),
            timeseries("Network",
                       [target("sum by (node) (rate(node_network_receive_bytes_total{%s, %s}"
                               "[%s]))" % (N, NIC, RATE), "{{node}} received"),
                        target("sum by (node) (rate(node_network_transmit_bytes_total{%s, %s}"
                               "[%s]))" % (N, NIC, RATE), "{{node}} sent")],
                       "Bps", "Bytes received and sent on the node's own interfaces (not "
                       "loopback or pods' veth/eni)."),
        ]),
    ]
    return dashboard("gleaner-nodes", "gleaner / Nodes",
                     "The nodes, from the node_metrics input (node_exporter's names): CPU, "
                     "memory, load, disks, filesystems, network.", variables, rows,
                     tags=("nodes",))


# ---- Pods ------------------------------------------------------------------

P = 'cluster=~"$cluster", node=~"$node", namespace=~"$namespace"'
# cAdvisor's series (/metrics/cadvisor) carry the cgroup as id; the resource endpoint's
# (/metrics/resource) do not. Both name container_cpu_usage_seconds_total, so every query
# says which one it reads.
CADV = 'container!="", container!="POD", id!=""'


def pods():
    variables = [
        query_var("cluster", "Cluster", "label_values(container_cpu_usage_seconds_total, cluster)"),
        query_var("node", "Node", 'label_values(container_cpu_usage_seconds_total'
                  '{cluster=~"$cluster"}, node)'),
        query_var("namespace", "Namespace", 'label_values(container_cpu_usage_seconds_total'
                  '{cluster=~"$cluster", node=~"$node"}, namespace)'),
    ]
    cpu = "rate(container_cpu_usage_seconds_total{%s, %s}[%s])" % (P, CADV, RATE)
    mem = "container_memory_working_set_bytes{%s, %s}" % (P, CADV)
    rows = [
        ("CPU", [
            timeseries("CPU by pod", [target("sum by (namespace, pod) (%s)" % cpu,
                                             "{{namespace}}/{{pod}}")],
                       "short", "CPU cores used per pod (container_cpu_usage_seconds_total, "
                       "cAdvisor).", min_=0),
            timeseries("CPU by container", [target("sum by (namespace, pod, container) (%s)"
                                                   % cpu, "{{pod}}/{{container}}")],
                       "short", "CPU cores used per container.", min_=0),
            timeseries("CPU throttling",
                       [target("sum by (namespace, pod, container) (rate("
                               "container_cpu_cfs_throttled_periods_total{%s, %s}[%s])) / "
                               "sum by (namespace, pod, container) (rate("
                               "container_cpu_cfs_periods_total{%s, %s}[%s]))"
                               % (P, CADV, RATE, P, CADV, RATE), "{{pod}}/{{container}}")],
                       "percentunit", "Share of CFS periods in which a container was throttled "
                       "by its CPU limit.", min_=0, max_=1,
                       threshold_line=thresholds(("green", None), ("red", 0.25))),
        ]),
        ("Memory", [
            timeseries("Memory by pod", [target("sum by (namespace, pod) (%s)" % mem,
                                                "{{namespace}}/{{pod}}")],
                       "bytes", "Working set per pod (what the kubelet evicts and the OOM "
                       "killer look at).", min_=0),
            timeseries("Memory by container", [target("sum by (namespace, pod, container) (%s)"
                                                      % mem, "{{pod}}/{{container}}")],
                       "bytes", "Working set per container.", min_=0),
        ]),
        ("Restarts", [
            bargauge("Container restarts",
                     [target("sort_desc(sum by (namespace, pod, container) (changes("
                             'container_start_time_seconds{%s, container!="", id=""}'
                             "[$__range])))" % P, "{{pod}}/{{container}}", instant=True)],
                     "short", "Times each container started again in the time range: changes "
                     "of its start time on the kubelet's /metrics/resource (the kubelet "
                     "exports no restart counter; kube-state-metrics does).",
                     steps=thresholds(("green", None), ("red", 1))),
            bargauge("OOM kills",
                     [target("sort_desc(sum by (namespace, pod, container) (increase("
                             "container_oom_events_total{%s, %s}[$__range])))" % (P, CADV),
                             "{{pod}}/{{container}}", instant=True)],
                     "short", "Out-of-memory kills per container in the time range (cAdvisor).",
                     steps=thresholds(("green", None), ("red", 1))),
        ]),
    ]
    return dashboard("gleaner-pods", "gleaner / Pods",
                     "Pods and containers from the kubelet (cAdvisor's /metrics/cadvisor and "
                     "/metrics/resource): CPU, memory, throttling, restarts.", variables, rows,
                     tags=("pods",))


# ---- Agent -----------------------------------------------------------------

A = 'cluster=~"$cluster", node=~"$node"'
# The agent's process_* series, told apart from other processes' by the labels they share
# with its gleaner_build_info (node and cluster; job and instance when scraped).
SELF = "and on (cluster, node, job, instance) gleaner_build_info{%s}" % A


def agent_vars():
    return [
        query_var("cluster", "Cluster", "label_values(gleaner_build_info, cluster)"),
        query_var("node", "Node", 'label_values(gleaner_build_info{cluster=~"$cluster"}, node)'),
    ]


def agent():
    def by_instance(metric, legend="{{name}}"):
        return target("sum by (name, plugin) (rate(%s{%s}[%s]))" % (metric, A, RATE), legend)

    def drops(kind, only=""):
        return target('sum by (name, reason) (rate(gleaner_%s_dropped_records_total{%s%s}[%s]))'
                      % (kind, A, only, RATE), "%s {{name}} {{reason}}" % kind)

    rows = [
        ("Agents", [
            stat("Agents reporting", [target("count(count by (cluster, node) "
                                             "(gleaner_build_info{%s}))" % A, "agents")],
                 "short", "Nodes whose agent's metrics arrive.", w=6, graph=False),
            stat("Records in", [target("sum(rate(gleaner_input_records_total{%s}[%s]))"
                                       % (A, RATE), "in")], "cps",
                 "Records (and metric series) the inputs emit, per second.", w=6),
            stat("Records out", [target("sum(rate(gleaner_output_records_total{%s}[%s]))"
                                        % (A, RATE), "out")], "cps",
                 "Records the outputs delivered, per second.", w=6),
            stat("Dropped", [target("(sum(rate(gleaner_output_dropped_records_total{%s}[%s])) "
                                    "or vector(0)) + (sum(rate(gleaner_input_dropped_records_"
                                    "total{%s}[%s])) or vector(0)) + (sum(rate(gleaner_filter_"
                                    'dropped_records_total{%s, reason!="filtered"}[%s])) or '
                                    "vector(0))" % (A, RATE, A, RATE, A, RATE), "dropped")],
                 "cps", "Records given up per second, by inputs, filters (not counting "
                 "intentional filtering) and outputs.", w=6,
                 steps=thresholds(("green", None), ("red", 1e-9))),
        ]),
        ("Throughput per plugin", [
            timeseries("Records in per input",
                       [by_instance("gleaner_input_records_total", "{{name}} ({{plugin}})")],
                       "cps", "Records emitted per input instance."),
            timeseries("Records out per output",
                       [by_instance("gleaner_output_records_total", "{{name}} ({{plugin}})")],
                       "cps", "Records delivered per output instance."),
            timeseries("Bytes in per input",
                       [by_instance("gleaner_input_bytes_total", "{{name}} ({{plugin}})")],
                       "Bps", "Bytes of the records emitted per input instance."),
            timeseries("Bytes out per output",
                       [by_instance("gleaner_output_bytes_total", "{{name}} ({{plugin}})")],
                       "Bps", "Bytes delivered per output instance."),
        ]),
        ("Delivery", [
            timeseries("Errors and retries",
                       [target("sum by (name) (rate(gleaner_output_errors_total{%s}[%s]))"
                               % (A, RATE), "{{name}} errors"),
                        target("sum by (name) (rate(gleaner_output_retries_total{%s}[%s]))"
                               % (A, RATE), "{{name}} retries"),
                        target("sum by (name) (rate(gleaner_output_cloudwatch_put_log_events_"
                               "failed_total{%s}[%s]))" % (A, RATE), "{{name}} PutLogEvents "
                               "failed"),
                        target("sum by (name) (rate(gleaner_output_remote_write_requests_"
                               "failed_total{%s}[%s]))" % (A, RATE), "{{name}} remote-write "
                               "failed")],
                       "ops", "Failed flushes and retries per output; cloudwatch_logs and "
                       "prometheus_remote_write count their failed requests apart."),
            timeseries("Drops by reason",
                       [drops("input"), drops("filter", ', reason!="filtered"'),
                        drops("output")],
                       "cps", "Records given up per second, by where and why (grep's "
                       "intentional drops are on the Logs dashboard)."),
            timeseries("Buffer use",
                       [target("max by (name) (gleaner_output_buffer_bytes{%s} / "
                               "(gleaner_output_buffer_limit_bytes{%s} > 0))" % (A, A),
                               "output {{name}}"),
                        target("max by (name) (gleaner_input_pending_bytes{%s} / "
                               "(gleaner_input_pending_limit_bytes{%s} > 0))" % (A, A),
                               "input {{name}}")],
                       "percentunit", "Bytes held over mem_buf_limit: an output's buffer, an "
                       "input's records not yet delivered. At 100% the inputs pause.", min_=0,
                       max_=1, threshold_line=thresholds(("green", None), ("red", 0.8))),
            timeseries("Output latency",
                       [target("histogram_quantile(0.95, sum by (name, le) (rate("
                               "gleaner_output_flush_duration_seconds_bucket{%s}[%s])))"
                               % (A, RATE), "{{name}} p95"),
                        target("histogram_quantile(0.5, sum by (name, le) (rate("
                               "gleaner_output_flush_duration_seconds_bucket{%s}[%s])))"
                               % (A, RATE), "{{name}} p50")],
                       "s", "Time from a flush's start to its outcome, per output.", min_=0),
            timeseries("Inputs paused",
                       [target("max by (name) (gleaner_input_paused{%s})" % A, "{{name}}")],
                       "short", "1 while an input is paused by back-pressure.", min_=0, max_=1),
            timeseries("Files tailed",
                       [target('sum by (node) (gleaner_input_files_open{%s, plugin="tail"})' % A,
                               "{{node}}")],
                       "short", "Log files the tail inputs hold open, per node.", min_=0),
        ]),
        ("Process", [
            timeseries("Agent CPU per node",
                       [target("max by (node) (rate(process_cpu_seconds_total{%s}[%s]) %s)"
                               % (A, RATE, SELF), "{{node}}")],
                       "short", "CPU cores the agent uses, per node.", min_=0),
            timeseries("Agent memory per node",
                       [target("max by (node) (process_resident_memory_bytes{%s} %s)"
                               % (A, SELF), "{{node}}")],
                       "bytes", "The agent's resident memory, per node.", min_=0),
        ]),
    ]
    return dashboard("gleaner-agent", "gleaner / Agent",
                     "gleaner itself: records and bytes in and out per plugin, errors, "
                     "retries, drops, buffers, latency, files, CPU and memory (its own "
                     "gleaner_* metrics).", agent_vars(), rows, tags=("agent",))


# ---- Logs ------------------------------------------------------------------


def per_node(metric, legend, fn="rate"):
    """A target summing one of the agent's counters per node: fn (rate or increase) over
    $__rate_interval, or the gauge as it is when fn is None."""
    sel = "%s{%s}" % (metric, A)
    return target("sum by (node) (%s)" % ("%s(%s[%s])" % (fn, sel, RATE) if fn else sel),
                  "{{node}}" + (" " + legend if legend else ""))


def logs():
    variables = agent_vars() + [
        query_var("namespace", "Namespace", 'label_values(gleaner_input_container_bytes_total'
                  '{cluster=~"$cluster", node=~"$node"}, namespace)'),
    ]
    C = '%s, namespace=~"$namespace"' % A
    rows = [
        ("Volume", [
            timeseries("Lines read per node",
                       [per_node("gleaner_input_read_lines_total", "")],
                       "cps", "Container log lines the tail inputs read, per node."),
            timeseries("Bytes read per node",
                       [per_node("gleaner_input_read_bytes_total", "")],
                       "Bps", "Container log bytes read, per node."),
            timeseries("Volume by namespace",
                       [target("sum by (namespace) (rate(gleaner_input_container_bytes_total"
                               "{%s}[%s]))" % (C, RATE), "{{namespace}}")],
                       "Bps", "Log bytes per namespace (the tail input's per-container "
                       "counters).", stack=True),
            bargauge("Top talkers",
                     [target("topk(10, sum by (namespace, pod, container) (rate("
                             "gleaner_input_container_lines_total{%s}[%s])))" % (C, RATE),
                             "{{namespace}}/{{pod}}/{{container}}", instant=True)],
                     "cps", "The ten containers writing the most lines per second."),
        ]),
        ("Kept out", [
            timeseries("Excluded by annotation",
                       [per_node("gleaner_filter_records_excluded_total", "")],
                       "cps", "Lines dropped on purpose: pods annotated gleaner.io/exclude."),
            timeseries("Filtered out",
                       [target('sum by (name) (rate(gleaner_filter_dropped_records_total{%s, '
                               'reason="filtered", plugin!="kubernetes"}[%s]))' % (A, RATE),
                               "{{name}}")],
                       "cps", "Lines grep (or another filter) dropped on purpose (the "
                       "kubernetes filter's exclusions are the panel beside)."),
            timeseries("Dropped",
                       [target("sum by (name, reason) (rate(gleaner_output_dropped_records_total"
                               "{%s}[%s]))" % (A, RATE), "{{name}} {{reason}}"),
                        target('sum by (name, reason) (rate(gleaner_input_dropped_records_total'
                               '{%s}[%s]))' % (A, RATE), "{{name}} {{reason}}")],
                       "cps", "Lines given up: refused by the destination (too old, too new, "
                       "rejected), retries exhausted, no output matched."),
            timeseries("Lines cut, skipped or not parsed",
                       [per_node("gleaner_input_lines_split_total", "split"),
                        per_node("gleaner_input_lines_skipped_total", "skipped"),
                        per_node("gleaner_input_lines_invalid_total", "invalid")],
                       "cps", "Lines over buffer_max_size (split or skipped) and lines not in "
                       "their file's format."),
        ]),
        ("Files", [
            timeseries("Rotations",
                       [per_node("gleaner_input_rotations_total", "rotated", "increase"),
                        per_node("gleaner_input_truncations_total", "truncated", "increase")],
                       "short", "Log files rotated (kubelet) or truncated (copytruncate)."),
            timeseries("Unacknowledged and lost bytes",
                       [per_node("gleaner_input_commit_lag_bytes", "read, not yet delivered",
                                 None),
                        per_node("gleaner_input_rotated_lost_bytes_total", "lost", "increase")],
                       "bytes", "Bytes read but not yet acknowledged by every output, and "
                       "bytes of rotated files given up unread."),
            timeseries("Records without pod metadata",
                       [per_node("gleaner_filter_records_unknown_pod_total", "")],
                       "cps", "Records the kubernetes filter could not enrich "
                       "(kubernetes.meta_missing)."),
            timeseries("CloudWatch Logs",
                       [per_node("gleaner_output_cloudwatch_events_sent_total", "events/s"),
                        target("avg by (node) (gleaner_output_cloudwatch_batch_fill_percent"
                               "{%s})" % A, "{{node}} batch fill %")],
                       "short", "Events accepted by CloudWatch Logs per second, and how full "
                       "the batches are (percent of 1 MiB)."),
        ]),
    ]
    return dashboard("gleaner-logs", "gleaner / Logs",
                     "Container logs through gleaner: volume by node, namespace and container, "
                     "top talkers, what was excluded, filtered and dropped.", variables, rows,
                     tags=("logs",))


DASHBOARDS = {"workloads.json": workloads, "nodes.json": nodes, "pods.json": pods,
              "agent.json": agent, "logs.json": logs}


def render(make):
    return json.dumps(make(), indent=2, sort_keys=False) + "\n"


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    out = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "dashboards")
    stale = []
    for name, make in DASHBOARDS.items():
        path = os.path.join(out, name)
        text = render(make)
        try:
            with open(path) as f:
                old = f.read()
        except FileNotFoundError:
            old = None
        if old == text:
            continue
        if check:
            stale.append(name)
        else:
            os.makedirs(out, exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            print("wrote %s" % os.path.relpath(path))
    if stale:
        print("dashboards: %s differ from tools/dashboards.py: run make dashboards"
              % ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
