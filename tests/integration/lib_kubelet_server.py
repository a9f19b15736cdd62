"""A kubelet's metrics endpoints for the prometheus_scrape tests: HTTPS with a
self-signed serving certificate (as kubelets on EKS have one), the bearer
token checked on every request (401 without it, as the kubelet's webhook
authentication answers), and bodies shaped as the kubelet's:

    /metrics            the kubelet's own (kubelet_running_pods...)
    /metrics/cadvisor   cAdvisor's container_* series, long label sets (id, image, name,
                        namespace, pod, container), machine_* series
    /metrics/resource   node_ and container_ CPU and memory, with their own timestamps
    /metrics/probes     prober_probe_total

By default the bodies are fixed: `pods` pods app-N in namespaces ns-0..3, one container
each. Given `containers` ([(namespace, pod, container)]), the bodies follow those
containers as time goes on, as a node's kubelet does for the dashboards' queries: CPU and
CFS periods that grow (the first container throttled a third of its periods), a working
set that moves, a pod-level cgroup and a pause container beside them (container "" and
"POD"), the last container restarting (its start time moves) and OOM-killed once
`event_after` seconds from the start.

A library and a command line tool, not a test (run.sh skips lib*):
python3 lib_kubelet_server.py DIR --token T [--pods N]; prints the port.
"""
import argparse
import math
import os
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler

from lib_prom_targets import QuietServer


def self_signed(directory):
    """Writes a self-signed certificate for 127.0.0.1 and its key; returns (cert, key)."""
    cert = os.path.join(directory, "kubelet.crt")
    key = os.path.join(directory, "kubelet.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=ip-127-0-0-1.kubelet", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def cadvisor(pods):
    """cAdvisor's shape: per container a handful of families with long labels."""
    out = ["# HELP machine_cpu_cores Number of logical CPU cores.",
           "# TYPE machine_cpu_cores gauge", "machine_cpu_cores{machine_id=\"m1\"} 4"]
    families = [("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time."),
                ("container_memory_working_set_bytes", "gauge", "Current working set."),
                ("container_fs_reads_total", "counter", "Cumulative reads completed."),
                ("container_network_receive_bytes_total", "counter", "Bytes received.")]
    for name, kind, help_ in families:
        out += ["# HELP %s %s" % (name, help_), "# TYPE %s %s" % (name, kind)]
        for p in range(pods):
            cid = "%064x" % (p * 7919 + 17)
            labels = ('container="app",id="/kubepods/burstable/pod%08d/%s",'
                      'image="registry.example.com/app:1.%d",name="%s",namespace="ns-%d",'
                      'pod="app-%d"' % (p, cid, p % 3, cid, p % 4, p))
            out.append("%s{%s} %d" % (name, labels, 1000 + p))
    return "\n".join(out) + "\n"


def resource(pods):
    ms = int(time.time() * 1000) - 5000
    out = ["# HELP node_cpu_usage_seconds_total Cumulative cpu time of the node.",
           "# TYPE node_cpu_usage_seconds_total counter",
           "node_cpu_usage_seconds_total 12345.6 %d" % ms,
           "# HELP container_cpu_usage_seconds_total Cumulative cpu time.",
           "# TYPE container_cpu_usage_seconds_total counter"]
    for p in range(pods):
        out.append('container_cpu_usage_seconds_total{container="app",namespace="ns-%d",'
                   'pod="app-%d"} %d.5 %d' % (p % 4, p, p, ms))
    return "\n".join(out) + "\n"


def family(out, name, kind, help_):
    out += ["# HELP %s %s" % (name, help_), "# TYPE %s %s" % (name, kind)]


def cadvisor_live(k):
    """cAdvisor's series for k.containers at this moment."""
    t = time.time() - k.t0
    out = ["# HELP machine_cpu_cores Number of logical CPU cores.",
           "# TYPE machine_cpu_cores gauge", "machine_cpu_cores{machine_id=\"m1\"} 4"]

    pods = sorted({(ns, pod) for ns, pod, _ in k.containers})

    def series(ns, pod, c):
        """Labels of a container's cgroup; c "" is the pod's own cgroup, "POD" the pause one."""
        uid = pods.index((ns, pod))
        cid = "" if c == "" else "/%064x" % (uid * 7919 + sum(map(ord, c)))
        image = "" if c == "" else "registry.example.com/%s:1.0" % ("pause" if c == "POD" else c)
        return ('container="%s",id="/kubepods/burstable/pod%08d%s",image="%s",name="%s",'
                'namespace="%s",pod="%s"' % (c, uid, cid, image, cid[1:], ns, pod))
    family(out, "container_cpu_usage_seconds_total", "counter", "Cumulative cpu time.")
    for i, (ns, pod, c) in enumerate(k.containers):
        out.append("container_cpu_usage_seconds_total{%s} %.6f"
                   % (series(ns, pod, c), (0.05 + 0.07 * i) * t))
    for ns, pod in pods:
        cpu = sum((0.05 + 0.07 * i) * t for i, x in enumerate(k.containers) if x[:2] == (ns, pod))
        out.append("container_cpu_usage_seconds_total{%s} %.6f" % (series(ns, pod, ""),
                                                                  cpu + 0.001 * t))
        out.append("container_cpu_usage_seconds_total{%s} %.6f" % (series(ns, pod, "POD"),
                                                                  0.001 * t))
    family(out, "container_memory_working_set_bytes", "gauge", "Current working set.")
    for i, (ns, pod, c) in enumerate(k.containers):
        mib = 40 + 25 * i + 8 * math.sin(t / 10.0 + i)
        out.append("container_memory_working_set_bytes{%s} %d" % (series(ns, pod, c),
                                                                  int(mib * 1048576)))
    family(out, "container_cpu_cfs_periods_total", "counter", "Elapsed enforcement periods.")
    for i, (ns, pod, c) in enumerate(k.containers):
        out.append("container_cpu_cfs_periods_total{%s} %d" % (series(ns, pod, c), 10 * t))
    family(out, "container_cpu_cfs_throttled_periods_total", "counter",
           "Throttled period intervals.")
    for i, (ns, pod, c) in enumerate(k.containers):
        share = 0.33 if i == 0 else 0.02 * i
        out.append("container_cpu_cfs_throttled_periods_total{%s} %d"
                   % (series(ns, pod, c), 10 * t * share))
    family(out, "container_oom_events_total", "counter", "Count of out of memory events.")
    last = len(k.containers) - 1
    for i, (ns, pod, c) in enumerate(k.containers):
        out.append("container_oom_events_total{%s} %d"
                   % (series(ns, pod, c), 1 if i == last and t >= k.event_after else 0))
    return "\n".join(out) + "\n"


def resource_live(k):
    """The resource endpoint's series for k.containers, with their own timestamps."""
    now = time.time()
    t, ms = now - k.t0, int(now * 1000) - 500
    out = []
    family(out, "node_cpu_usage_seconds_total", "counter", "Cumulative cpu time of the node.")
    out.append("node_cpu_usage_seconds_total %.3f %d" % (1000 + 0.8 * t, ms))
    family(out, "container_cpu_usage_seconds_total", "counter", "Cumulative cpu time.")
    for i, (ns, pod, c) in enumerate(k.containers):
        out.append('container_cpu_usage_seconds_total{container="%s",namespace="%s",pod="%s"} '
                   '%.6f %d' % (c, ns, pod, (0.05 + 0.07 * i) * t, ms))
    family(out, "container_start_time_seconds", "gauge",
           "Start time of the container since unix epoch in seconds.")
    last = len(k.containers) - 1
    for i, (ns, pod, c) in enumerate(k.containers):
        started = k.t0 - 3600 if i != last or t < k.event_after else k.t0 + k.event_after
        out.append('container_start_time_seconds{container="%s",namespace="%s",pod="%s"} '
                   '%.3f %d' % (c, ns, pod, started, ms))
    return "\n".join(out) + "\n"


BODIES = {
    "/metrics": lambda k: ("# TYPE kubelet_running_pods gauge\nkubelet_running_pods %d\n"
                           % k.pods),
    "/metrics/cadvisor": lambda k: cadvisor_live(k) if k.containers else cadvisor(k.pods),
    "/metrics/resource": lambda k: resource_live(k) if k.containers else resource(k.pods),
    "/metrics/probes": lambda k: ("# TYPE prober_probe_total counter\n"
                                  "prober_probe_total{probe_type=\"Readiness\","
                                  "result=\"successful\"} %d\n" % k.pods),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        k = self.server.kubelet
        ok = self.headers.get("Authorization") == "Bearer " + k.token
        with k.lock:
            k.requests.append((self.path, ok))
        body_of = BODIES.get(self.path)
        if not ok or body_of is None:
            code, body = (401, b"Unauthorized\n") if not ok else (404, b"404 page not found\n")
        else:
            code, body = 200, body_of(k).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Kubelet:
    """The kubelet's HTTPS endpoints on 127.0.0.1, with a certificate made for them."""

    def __init__(self, directory, token="kubelet-token", pods=50, containers=None,
                 event_after=30.0):
        self.token, self.pods = token, pods
        self.containers = list(containers or [])
        if self.containers:
            self.pods = len({(ns, pod) for ns, pod, _ in self.containers})
        self.t0, self.event_after = time.time(), event_after
        self.lock = threading.Lock()
        self.requests = []
        self.cert, self.key = self_signed(directory)
        self.server = QuietServer(("127.0.0.1", 0), _Handler)
        self.server.kubelet = self
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--token", default="kubelet-token")
    ap.add_argument("--pods", type=int, default=50)
    ap.add_argument("--lifetime", type=float, default=600)
    a = ap.parse_args()
    k = Kubelet(a.dir, a.token, a.pods)
    print(k.port, flush=True)
    time.sleep(a.lifetime)
    k.stop()


if __name__ == "__main__":
    main()
