"""What the alert and dashboard tests share: a real Prometheus on 127.0.0.1 (Debian's
prometheus), the alert rules as the Helm chart renders them from alerts/ with given values,
the metric families this build of the agent exports, and the plugins it has. A library,
not a test (run.sh skips files named lib*).

The rules are rendered by the chart itself (tools/chart-package.sh, then the shared
helm-template tool), so what Prometheus evaluates here is what a PrometheusRule carries.
"""
import glob
import http.server
import json
import os
import re
import socketserver
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request

import lib
from lib import GLEANER, ROOT, fail, free_port, http_get, start, tmpdir, wait_for, write

try:
    import yaml
except ImportError:
    fail("python3 cannot import yaml: install the Debian package python3-yaml (make deps does)")

TOOLS = os.environ.get("GLEANER_SHARED_TOOLS", os.path.join(ROOT, "..", "shared", "tools"))
HELM_TEMPLATE = os.path.join(TOOLS, "helm-template", "helm-template")
ALERTS = os.path.join(ROOT, "alerts")


# ---- what this build has ----

def plugins_available():
    """The plugin names `gleaner --plugins` lists."""
    out = subprocess.run([GLEANER, "--plugins"], capture_output=True, text=True, check=True)
    return {line.split()[1] for line in out.stdout.splitlines() if line.strip()}


def families_of(text):
    """The metric family names of a Prometheus text exposition (its # TYPE lines)."""
    return {m.group(1) for m in re.finditer(r"^# TYPE (\S+) \S+$", text, re.M)}


def agent_config(d, pipeline):
    """Writes d/g.yaml: the service section the tests share (flush 500ms, the HTTP server on
    a free port of 127.0.0.1, storage in d) and the pipeline given (the YAML below
    "pipeline:"). Returns (path, HTTP port)."""
    port = free_port()
    path = write(os.path.join(d, "g.yaml"), """
service:
  flush: 500ms
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
  storage.path: %s
pipeline:%s""" % (port, d, pipeline))
    return path, port


def agent_families():
    """Every metric family this build's /metrics can show: the agent run with an instance of
    each plugin that registers metrics of its own (tail, kubernetes, cloudwatch_logs,
    prometheus_remote_write, prometheus_exporter) beside the counters every instance has.
    The outputs point at closed ports and the pod cache at nothing: only the names count."""
    d = tmpdir("families")
    os.makedirs(os.path.join(d, "logs"))
    dead = free_port()
    token = write(os.path.join(d, "token"), "t\n")
    cfg, port = agent_config(d, """
  inputs:
    - name: tail
      tag: kube.*
      path: %s/logs/*.log
    - name: internal_metrics
      tag: metrics.agent
  filters:
    - name: kubernetes
      match: kube.*
      kube_url: http://127.0.0.1:%d
      kube_token_file: %s
      node_name: node-a
    - name: grep
      match: kube.*
      exclude: log ^x
  outputs:
    - name: cloudwatch_logs
      match: kube.*
      region: us-east-1
      endpoint: http://127.0.0.1:%d
      log_group_name: g
      log_stream_name: s
    - name: prometheus_remote_write
      match: metrics.*
      host: 127.0.0.1
      port: %d
    - name: prometheus_exporter
      match: metrics.*
      host: 127.0.0.1
      port: %d
""" % (d, dead, token, dead, dead, free_port()))
    # Credentials in the environment keep the chain from looking for more (IMDS is off
    # 127.0.0.1); they are never used, the endpoints being closed.
    old = os.environ.copy()
    os.environ.update(AWS_ACCESS_KEY_ID="AKIDFAMILIES", AWS_SECRET_ACCESS_KEY="unused",
                      AWS_EC2_METADATA_DISABLED="true")
    try:
        p = start(cfg)
    finally:
        os.environ.clear()
        os.environ.update(old)
    text = wait_for("the agent's /metrics", lambda: (p.poll() is None or
                    fail("the agent exited:\n" + lib.stderr_of(p))) and
                    http_get(port, "/metrics")[1], timeout=20)
    p.terminate()
    p.wait(30)
    return families_of(text)


# ---- the alert rules, rendered by the chart ----

def render_rules(values, out_dir):
    """Renders the PrometheusRule of the packaged chart with the values (a dict, merged over
    values.yaml as helm does) and writes its groups back as the rule files of alerts/ they
    came from, under out_dir with the same names. Returns {file name: groups}."""
    if not os.path.isfile(HELM_TEMPLATE):
        fail("helm-template not found at %s: set GLEANER_SHARED_TOOLS to the folder holding "
             "it (the chart tests use it too)" % HELM_TEMPLATE)
    d = tmpdir("rules")
    empty = os.path.join(d, "no-dashboards")
    os.makedirs(empty)
    p = subprocess.run(["sh", os.path.join(ROOT, "tools", "chart-package.sh"), d, ALERTS,
                        empty], capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        fail("tools/chart-package.sh fails:\n" + p.stderr)
    package = p.stdout.strip().splitlines()[-1]
    vals = write(os.path.join(d, "values.yaml"), yaml.safe_dump(
        {"prometheusRule": dict(values.get("prometheusRule", {}), enabled=True)}))
    p = subprocess.run(["sh", HELM_TEMPLATE, "gleaner", package, "-n", "monitoring", "-f", vals,
                        "-s", "templates/prometheusrule.yaml"], capture_output=True, text=True)
    if p.returncode != 0:
        fail("the chart does not render its PrometheusRule:\n" + p.stderr)
    rule = [x for x in yaml.safe_load_all(p.stdout) if x][0]
    groups = {g["name"]: g for g in rule["spec"]["groups"]}
    files = {}
    os.makedirs(out_dir, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(ALERTS, "*.yaml"))):
        with open(path) as f:
            names = [g["name"] for g in yaml.safe_load(f)["groups"]]
        mine = [groups.pop(n) for n in names if n in groups]
        files[os.path.basename(path)] = mine
        with open(os.path.join(out_dir, os.path.basename(path)), "w") as f:
            yaml.safe_dump({"groups": mine}, f, sort_keys=False)
    if groups:
        fail("rendered groups that come from no file of alerts/: %s" % sorted(groups))
    return files


def rules_of(files):
    """[(file, rule)] of the alerting rules in render_rules' answer."""
    return [(f, r) for f, gs in sorted(files.items()) for g in gs for r in g["rules"]
            if "alert" in r]


# ---- Prometheus ----

class Prometheus:
    """A Prometheus of its own in a temp dir: the scrape configs and rule files given,
    1 s scrapes and rule evaluations, the remote-write receiver on, alerts sent to the
    Alertmanagers given (host:port)."""

    def __init__(self, name, scrape_configs=(), rule_files=(), interval="1s",
                 alertmanagers=()):
        lib.need("prometheus", "prometheus")
        self.dir = tmpdir("prom-" + name)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        config = {"global": {"scrape_interval": interval, "evaluation_interval": interval},
                  "rule_files": list(rule_files), "scrape_configs": list(scrape_configs)}
        if alertmanagers:
            config["alerting"] = {"alertmanagers": [
                {"static_configs": [{"targets": list(alertmanagers)}]}]}
        self.config = write(os.path.join(self.dir, "prometheus.yml"), yaml.safe_dump(config))
        self.proc = None

    def start(self):
        log = open(os.path.join(self.dir, "prometheus.log"), "a")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + self.config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--web.enable-remote-write-receiver", "--web.enable-lifecycle"],
            stdout=subprocess.DEVNULL, stderr=log)
        lib._procs.append(self.proc)
        wait_for("Prometheus ready", lambda: self._alive() and
                 http_get(self.port, "/-/ready")[0] == 200, timeout=60)
        return self

    def _alive(self):
        if self.proc.poll() is not None:
            with open(os.path.join(self.dir, "prometheus.log")) as f:
                fail("Prometheus exited:\n" + f.read()[-3000:])
        return True

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)

    def api(self, path, **params):
        url = "%s/api/v1/%s?%s" % (self.url, path, urllib.parse.urlencode(params, doseq=True))
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"{}")
            raise PromError(body.get("error") or "HTTP %d" % e.code)
        if body.get("status") != "success":
            raise PromError(body.get("error", "no answer"))
        return body["data"]

    def query(self, q, at=None):
        params = {"query": q}
        if at is not None:
            params["time"] = "%.3f" % at
        return self.api("query", **params)["result"]

    def query_range(self, q, start, end, step):
        return self.api("query_range", query=q, start="%.3f" % start, end="%.3f" % end,
                        step="%g" % step)["result"]

    def alerts(self):
        """The alerts pending or firing now: [{labels, annotations, state, value}]."""
        return self.api("alerts")["alerts"]

    def label_values(self, label, match=None):
        params = {"match[]": [match]} if match else {}
        return self.api("label/%s/values" % label, **params)


class PromError(Exception):
    pass


# ---- the node_exporter node_metrics follows ----

def start_node_exporter():
    """Debian's prometheus-node-exporter on 127.0.0.1 (its default collectors; textfile
    off); returns (process, port) once /metrics answers."""
    lib.need("prometheus-node-exporter", "prometheus-node-exporter")
    port = free_port()
    p = subprocess.Popen(["prometheus-node-exporter", "--web.listen-address=127.0.0.1:%d" % port,
                          "--no-collector.textfile"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lib._procs.append(p)
    wait_for("prometheus-node-exporter", lambda: (p.poll() is None or
             fail("prometheus-node-exporter exited")) and http_get(port, "/metrics")[0] == 200,
             timeout=20)
    return p, port


def node_exporter_families():
    p, port = start_node_exporter()
    text = http_get(port, "/metrics")[1]
    p.terminate()
    p.wait(10)
    return families_of(text)


# ---- PromQL as the dashboards and rules write it ----

PROMQL_WORDS = {"sum", "by", "without", "rate", "increase", "histogram_quantile", "label_replace",
                "or", "and", "unless", "on", "ignoring", "offset", "max", "min", "avg", "count",
                "avg_over_time", "group", "group_left", "group_right", "bool", "topk",
                "sort_desc", "scalar", "vector", "changes", "time", "label_values"}
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__range": "1h", "__interval": "30s"}


def metric_names(expr):
    """The metric names a PromQL expression reads (label values and strings left out)."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b\s*(?=[{\[)\s,]|$)", expr))
    return {n for n in names if ("_" in n or n == "up") and n not in PROMQL_WORDS and
            not n.startswith("__")}


def family_of(name):
    return re.sub(r"_(bucket|count|sum)$", "", name)


def substitute(expr, values=None):
    """A dashboard query with Grafana's variables replaced: $__rate_interval and the other
    built-ins by fixed durations, $var and ${var} by values[var] (default .*)."""
    values = values or {}

    def one(m):
        name = m.group(1) or m.group(2)
        if name in values:
            return values[name]
        return GRAFANA_BUILTINS.get(name, ".*")
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


def regex_value(value):
    """A variable's value as Grafana writes it into a =~ matcher: regex characters escaped,
    the escape itself escaped for the PromQL string."""
    return re.sub(r"([.*+?^${}()|\[\]\\])", r"\\\\\1", value)


def promtool_parse(exprs):
    """promtool check rules on the expressions written as recording rules: the error text,
    or "" when every one parses."""
    d = tmpdir("parse")
    path = os.path.join(d, "queries.yaml")
    rules = [{"record": "query_%d" % i, "expr": e} for i, e in enumerate(exprs)]
    with open(path, "w") as f:
        yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}, f)
    p = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    if p.returncode == 0:
        return ""
    return (p.stdout + p.stderr).strip()


# ---- where Alertmanager's notifications go ----

class WebhookSink:
    """An HTTP endpoint on 127.0.0.1 standing in for Slack's incoming webhook: it answers
    200 "ok" and keeps each POST's JSON body (channel, username, attachments...)."""

    def __init__(self):
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink.lock:
                    sink.posts.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.lock = threading.Lock()
        self.posts = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/services/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self):
        with self.lock:
            return list(self.posts)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """An SMTP server on 127.0.0.1 that accepts every message (no TLS, no AUTH) and keeps
    (envelope recipients, message text)."""

    def __init__(self):
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                rcpt, data = [], None
                self.wfile.write(b"220 sink ESMTP\r\n")
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    if data is not None:
                        if line in (b".\r\n", b".\n"):
                            with sink.lock:
                                sink.messages.append((rcpt, b"".join(data).decode()))
                            rcpt, data = [], None
                            self.wfile.write(b"250 queued\r\n")
                        else:
                            data.append(line[1:] if line.startswith(b"..") else line)
                        continue
                    verb = line[:4].upper()
                    if verb in (b"EHLO", b"HELO"):
                        self.wfile.write(b"250-sink\r\n250 8BITMIME\r\n")
                    elif verb == b"RCPT":
                        rcpt.append(line.split(b":", 1)[1].strip(b" <>\r\n").decode())
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == b"DATA":
                        data = []
                        self.wfile.write(b"354 go on\r\n")
                    elif verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.lock = threading.Lock()
        self.messages = []
        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self):
        with self.lock:
            return list(self.messages)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def start_alertmanager(config_text, d):
    """Debian's Alertmanager on 127.0.0.1 with the config given (clustering off); returns
    (process, port) once it is ready."""
    lib.need("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    cfg = write(os.path.join(d, "alertmanager.yml"), config_text)
    log = open(os.path.join(d, "alertmanager.log"), "a")
    p = subprocess.Popen(["prometheus-alertmanager", "--config.file=" + cfg,
                          "--storage.path=" + os.path.join(d, "am-data"),
                          "--web.listen-address=127.0.0.1:%d" % port,
                          "--cluster.listen-address="], stdout=subprocess.DEVNULL, stderr=log)
    lib._procs.append(p)
    wait_for("Alertmanager ready", lambda: (p.poll() is None or fail(
        "Alertmanager exited:\n" + open(os.path.join(d, "alertmanager.log")).read()[-2000:]))
        and http_get(port, "/-/ready")[0] == 200, timeout=30)
    return p, port


# ---- what feeds the test Prometheus, with what this build has ----

APP_JOB = "shop-web"
APP_LABELS = {"cluster": "test", "node": "node-a", "namespace": "shop"}


class Sources:
    """How the test app's metrics and the node's reach Prometheus with the plugins this
    build has, and what is deferred. With prometheus_scrape the agent scrapes the app (the
    labels filter sets job and namespace, as pod discovery would, and remote-write adds
    cluster and node); without it,
    Prometheus scrapes the app itself with the same labels. With node_metrics the agent
    collects the node; without it, and node_reference, Prometheus scrapes Debian's
    prometheus-node-exporter with the labels the agent would give."""

    def __init__(self, app_port, plugins, node_reference=False):
        self.scrape_configs = []
        self.inputs = ""
        self.filters = ""
        self.deferred = []
        self.node_source = "node_metrics"
        if "prometheus_scrape" in plugins:
            self.inputs += """
    - name: prometheus_scrape
      tag: metrics.app
      host: 127.0.0.1
      port: %d
      metrics_path: /metrics
      scrape_interval: 1s""" % app_port
            self.filters += """
    - name: labels
      match: metrics.app
      upsert:
        - job %s
        - namespace %s""" % (APP_JOB, APP_LABELS["namespace"])
        else:
            self.deferred.append("the test app is scraped by Prometheus itself (job %s, labels "
                                 "%s): prometheus_scrape is not in gleaner --plugins yet"
                                 % (APP_JOB, ", ".join(sorted(APP_LABELS))))
            self.scrape_configs.append({"job_name": APP_JOB, "static_configs": [
                {"targets": ["127.0.0.1:%d" % app_port], "labels": APP_LABELS}]})
        if "node_metrics" in plugins:
            self.inputs += """
    - name: node_metrics
      tag: metrics.node
      scrape_interval: 2s"""
        elif node_reference:
            self.node_source = "prometheus-node-exporter"
            _, port = start_node_exporter()
            self.scrape_configs.append({"job_name": "node-reference", "static_configs": [
                {"targets": ["127.0.0.1:%d" % port],
                 "labels": {"cluster": APP_LABELS["cluster"], "node": APP_LABELS["node"]}}]})
            self.deferred.append("node metrics come from Debian's prometheus-node-exporter "
                                 "scraped by Prometheus (labels cluster, node), not from the "
                                 "agent: node_metrics is not in gleaner --plugins yet")
        else:
            self.deferred.append("no node_metrics input in the agent: it is not in gleaner "
                                 "--plugins yet")
