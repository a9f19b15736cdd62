"""Every panel of the Grafana dashboards returns data from a real Prometheus fed by the
agent, and every variable resolves to values there.

What runs, all on 127.0.0.1: the test app (lib_testapp.py) answering requests, with its
access log written where the kubelet would put a container's log; three more containers'
logs (a worker, a pod annotated gleaner.io/exclude, a batch job whose lines are 20 days
old); a Kubernetes API server and a CloudWatch Logs endpoint (the test servers); Prometheus
with its remote-write receiver. The agent tails the logs, enriches them (kubernetes),
drops health checks (grep) and sends them to CloudWatch Logs (the old lines are dropped
as too_old), and sends its own metrics (internal_metrics) with remote-write; a dummy input
whose tag no output matches gives input drops. Halfway, the app answers 8% of its requests
with 5xx in about 1 s for a while.

Each variable's label_values() query is asked with the values chosen before it (cluster
test, node node-a, namespace shop), then every target with those values in (range queries
over the run, instant ones at its end). A panel must return data; a target may be empty
only when its counter appears with a first event that did not happen (drops for a reason).

The Pods panels read a kubelet (lib_kubelet_server.py) serving cAdvisor's and the resource
metrics of the same containers, which the agent scrapes (prometheus_scrape, job kubelet);
the Logs panels over per-container volume read the tail input's per-container counters.
Sources a build lacks are said, not faked: the app is scraped by Prometheus itself while
`gleaner --plugins` does not list prometheus_scrape; the Nodes panels read the agent's
node_metrics when it is listed, and otherwise are checked on Debian's
prometheus-node-exporter, the reference node_metrics follows, scraped with the labels the
agent would give.

Pictures: each dashboard is drawn with gnuplot from these answers (lib_pictures.py) into a
temp dir, or into GLEANER_PICTURES (make dashboards-pictures: docs/) with a longer run
(GLEANER_DATA_SECONDS, 240 there, 75 here)."""
import atexit
import json
import math
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa: E402
from lib_kube_api import KubeApi, hexid  # noqa: E402
from lib_kubelet_server import Kubelet  # noqa: E402
from lib_observe import (PromError, Prometheus, Sources, agent_config,  # noqa: E402
                         metric_names, plugins_available, regex_value, substitute)
from lib_pictures import render  # noqa: E402
from lib_testapp import TestApp, control  # noqa: E402

need("prometheus", "prometheus")
need("gnuplot", "gnuplot-nox")
SECONDS = int(os.environ.get("GLEANER_DATA_SECONDS", "75"))
PICTURES = os.environ.get("GLEANER_PICTURES")
DIR = os.path.join(ROOT, "dashboards")
CHOSEN = {"cluster": "test", "node": "node-a", "namespace": "shop", "job": "shop-web"}
# Counters that appear with their first event: a target on them alone may be empty.
EVENT_COUNTERS = {"gleaner_input_dropped_records_total", "gleaner_filter_dropped_records_total",
                  "gleaner_output_dropped_records_total"}

t0 = time.time()
d = tmpdir("dashboards-data")
plugins = plugins_available()
deferred = []
logs = os.path.join(d, "containers")
os.makedirs(logs)


def container_log(pod, ns, container):
    return os.path.join(logs, "%s_%s_%s-%s.log" % (pod, ns, container, hexid(ns + pod + container)))


def cri(ts, line):
    return "%s stdout F %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) +
                                 ".%09dZ" % int((ts % 1) * 1e9), line)


# ---- the cluster's side ----
token = write(os.path.join(d, "token"), "token-1\n")
api = KubeApi(token="token-1", node="node-a").start()
api.add_pod("shop", "web-7d4b9c-x2x2x", containers=1)
api.add_pod("shop", "worker-5f6d7-abcde", containers=1)
api.add_pod("kube-system", "noisy-6c8d9-zzzzz", containers=1,
            annotations={"gleaner.io/exclude": "true"})
api.add_pod("jobs", "batch-4k2j7-qqqqq", containers=1)
app = TestApp(rate=25, error_share=0.005, latency=0.05,
              log_path=container_log("web-7d4b9c-x2x2x", "shop", "web")).start()
atexit.register(app.stop)
cwl = CwlServer(seed=5).start()
os.environ.update(cwl.env())

old = time.time() - 20 * 86400
with open(container_log("batch-4k2j7-qqqqq", "jobs", "batch"), "w") as f:
    for i in range(40):
        f.write(cri(old + i, '{"level":"info","msg":"batch step %d"}' % i))
stop_writing = threading.Event()


def writer():
    """The worker logs steadily (health checks among its lines); the excluded pod more."""
    n = 0
    while not stop_writing.wait(0.1):
        now = time.time()
        with open(container_log("worker-5f6d7-abcde", "shop", "worker"), "a") as f:
            for k in range(4):
                f.write(cri(now, "GET /healthz 200" if k == 0 else
                            '{"level":"info","msg":"job %d done"}' % (n + k)))
        with open(container_log("noisy-6c8d9-zzzzz", "kube-system", "noisy"), "a") as f:
            for k in range(8):
                f.write(cri(now, "noisy line %d" % (n + k)))
        n += 8


threading.Thread(target=writer, daemon=True).start()
atexit.register(stop_writing.set)

# The node's kubelet: cAdvisor and resource metrics of the same containers, scraped by the
# agent as the chart does (job kubelet). shop/web is throttled; shop/worker restarts after
# an OOM kill halfway through.
need("openssl", "openssl")
kubelet = Kubelet(d, token="kubelet-token", event_after=SECONDS * 0.5, containers=[
    ("shop", "web-7d4b9c-x2x2x", "web"), ("kube-system", "noisy-6c8d9-zzzzz", "noisy"),
    ("jobs", "batch-4k2j7-qqqqq", "batch"), ("shop", "worker-5f6d7-abcde", "worker")])
atexit.register(kubelet.stop)
kubelet_token = write(os.path.join(d, "kubelet-token"), "kubelet-token\n")

# ---- Prometheus and what it scrapes itself ----
src = Sources(app.port, plugins, node_reference=True)
deferred += src.deferred
prom = Prometheus("dashboards", scrape_configs=src.scrape_configs).start()

# ---- the agent ----
cfg, _ = agent_config(d, """
  inputs:
    - name: tail
      alias: containers
      tag: kube.*
      path: %s/*.log
      multiline.parser: cri
      read_from_head: on
    - name: internal_metrics
      alias: agent
      tag: metrics.agent
      scrape_interval: 1s
      scrape_on_start: on
    - name: prometheus_scrape
      alias: kubelet
      tag: metrics.kubelet
      job_name: kubelet
      kubelet: on
      kubelet_url: %s
      kubelet_endpoints: /metrics/cadvisor, /metrics/resource
      kubelet.tls.verify: off
      kubelet.bearer_token_file: %s
      node_name: node-a
      scrape_interval: 1s
    - name: dummy
      alias: orphan
      tag: orphan
      rate: 2%s
  filters:
    - name: kubernetes
      alias: kubernetes
      match: kube.*
      kube_url: %s
      kube_token_file: %s
      node_name: node-a
      merge_log: on
    - name: grep
      alias: healthchecks
      match: kube.*
      exclude: log ^GET /healthz%s
  outputs:
    - name: cloudwatch_logs
      alias: cloudwatch
      match: kube.*
      endpoint: %s
      log_group_template: /aws/eks/test/$kubernetes['namespace_name']
      log_group_name: /aws/eks/test/other
      log_stream_template: $kubernetes['pod_name']/$kubernetes['container_name']
      log_stream_name: other
    - name: prometheus_remote_write
      alias: remote_write
      match: metrics.*
      host: 127.0.0.1
      port: %d
      batch_send_deadline: 1s
      add_label:
        - cluster test
        - node node-a
""" % (logs, kubelet.url, kubelet_token, src.inputs, api.url, token, src.filters, cwl.endpoint,
       prom.port))
agent = start(cfg)
wait_for("the agent's metrics in Prometheus", lambda: (agent.poll() is None or fail(
    "the agent exited:\n" + stderr_of(agent))) and prom.query('gleaner_build_info{node="node-a"}'),
    timeout=60)
start_t = time.time()
print("running %d s of traffic and logs (%.0fs to start)" % (SECONDS, start_t - t0))
time.sleep(SECONDS * 0.4)
control(app.url, error_share=0.08, latency=1.0)
time.sleep(SECONDS * 0.3)
control(app.url, error_share=0.005, latency=0.05)
time.sleep(SECONDS * 0.3)
end_t = time.time()

# ---- the dashboards' variables and panels ----
boards = {}
for name in sorted(os.listdir(DIR)):
    if name.endswith(".json"):
        with open(os.path.join(DIR, name)) as f:
            boards[name] = json.load(f)


def has_data(result):
    for s in result:
        vals = [v for _, v in s.get("values", [])] or ([s["value"][1]] if "value" in s else [])
        if any(not math.isnan(float(v)) for v in vals):
            return True
    return False


failures = []
answers = {}
step = max(1.0, (end_t - start_t) / 150.0)
for name, b in sorted(boards.items()):
    chosen = {}
    resolved = []
    for v in b["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.+), (\w+)\)", q)
        values = prom.label_values(m.group(2), substitute(m.group(1), chosen))
        if not values:
            failures.append("%s: variable %s resolves to nothing: %s" % (name, v["name"],
                                                                         substitute(q, chosen)))
            continue
        pick = CHOSEN.get(v["name"]) if CHOSEN.get(v["name"]) in values else values[0]
        chosen[v["name"]] = regex_value(pick)
        resolved.append("%s=%s (%d)" % (v["name"], pick, len(values)))
    panels = [p for p in b["panels"] if p["type"] != "row"]
    ok = 0
    for p in panels:
        answers[p["id"], name] = []
        got_any, empty = False, []
        for t in p["targets"]:
            expr = substitute(t["expr"], dict(chosen, __range="%ds" % int(end_t - start_t),
                                              __rate_interval="20s"))
            try:
                if t.get("instant"):
                    r = prom.query(expr, at=end_t)
                else:
                    r = prom.query_range(expr, start_t, end_t, step)
            except PromError as e:
                failures.append("%s, %s: %s: %s" % (name, p["title"], e, expr))
                continue
            answers[p["id"], name].append((t, r))
            if has_data(r):
                got_any = True
            elif not (metric_names(t["expr"]) <= EVENT_COUNTERS):
                empty.append(expr)
        if not got_any:
            failures.append("%s, %s: no data from any of its queries: %s"
                            % (name, p["title"], [t["expr"] for t in p["targets"]]))
        elif empty:
            failures.append("%s, %s: a query without data: %s" % (name, p["title"], empty))
        else:
            ok += 1
    print("%s: %s: variables %s; %d of %d panels return data" % (
        "FAIL" if [f for f in failures if f.startswith(name)] else "ok", name,
        ", ".join(resolved), ok, len(panels)))

if failures:
    fail("\n  ".join(["panels or variables without data:"] + failures))

# ---- pictures ----
out = PICTURES or tmpdir("pictures")
drawn = []
stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(end_t))
for name, b in sorted(boards.items()):
    mine = {pid: a for (pid, n), a in answers.items() if n == name}
    if not any(has_data(r) for a in mine.values() for _, r in a if r):
        deferred.append("%s: no picture, none of its panels has data here" % name)
        continue
    source = {"nodes.json": "node metrics from %s" % src.node_source,
              "workloads.json": "the test app, %s" % ("scraped by the agent"
                                                      if "prometheus_scrape" in plugins else
                                                      "scraped by Prometheus"),
              "pods.json": "a test kubelet's cAdvisor and resource metrics, scraped by the "
                           "agent"}.get(
        name, "the agent's own metrics, remote-written")
    png = os.path.join(out, "dashboard-%s.png" % name[:-5])
    # The first 20 s are left out: rates over 20 s windows are still filling there.
    render(b, mine, png, "%d s of test data (%s), %s; drawn from Prometheus' answers to the "
           "dashboard's queries" % (int(end_t - start_t - 20), source, stamp), start_t + 20,
           end_t)
    with open(png, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or os.path.getsize(png) < 10000:
        fail("%s is not a picture" % png)
    drawn.append(os.path.basename(png))
check(True, "drawn with gnuplot into %s: %s" % (PICTURES or "a temp dir", ", ".join(drawn)))

rc = stop(agent)
check(rc == 0, "the agent stops cleanly (rc=%s)" % rc)
prom.stop()
cwl.stop()
api.stop()
print("deferred:")
for line in deferred or ["none"]:
    print("  " + line)
print("dashboards: every panel checked on real data in %.0fs" % (time.time() - t0))
