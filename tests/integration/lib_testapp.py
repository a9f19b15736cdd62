"""A small web service for the dashboard and alert tests: it serves a few endpoints, sends
itself steady traffic, counts what it answered in Prometheus' way and writes an access log
the way a container's log reaches a node. A library and a command line tool, not a test
(run.sh skips files named lib*).

Metrics (GET /metrics, Prometheus text format 0.0.4):
    http_requests_total{method, path, status}             counter
    http_request_duration_seconds{method, path}           histogram (le 0.005 .. 10)
Every request the traffic makes goes through the real HTTP server, and its duration is the
time the handler took: a configured latency is slept, not made up.

Endpoints: GET /api/orders, POST /api/orders, GET /api/cart, GET /api/search (the work),
GET /healthz (200), GET /metrics. Test-only: POST /_control with JSON
{"error_share": 0.2, "latency": 1.5, "rate": 20} answers the settings now in force:
error_share is the share of work requests answered 500, 502 or 503, spread evenly (one in
every 1/error_share requests, not at random, so a short window never sees a burst); latency
is the seconds
a work request takes (each within +-20%); rate is the requests per second the traffic aims
at (spread over a few threads, so slow answers lower it).

Access log: with log_path, every work request appends one CRI line (kubelet's format,
"<RFC 3339 time> stdout F <message>") whose message is one JSON object:
{"time", "level", "method", "path", "status", "duration_seconds", "msg"}; level is "error"
for 5xx answers. Name the file as kubelet links it (<pod>_<namespace>_<container>-<id>.log)
and the tail input reads it as that container's log.

Command line: python3 lib_testapp.py [--port P] [--log FILE] [--rate N]
[--error-share X] [--latency S]; prints the port on the first line of stdout.
"""
import argparse
import datetime
import json
import random
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WORK = (("GET", "/api/orders", 4), ("POST", "/api/orders", 1), ("GET", "/api/cart", 3),
        ("GET", "/api/search", 2))
THREADS = 8


class TestApp:
    def __init__(self, port=0, log_path=None, rate=20.0, error_share=0.0, latency=0.02,
                 seed=1):
        self.settings = {"rate": float(rate), "error_share": float(error_share),
                         "latency": float(latency)}
        self.log_path = log_path
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._rnd = random.Random(seed)
        self._errors_due = 0.0  # error_share accumulated per request; a 5xx at each whole one
        self._failed = 0
        self._counts = {}       # (method, path, status) -> n
        self._hist = {}         # (method, path) -> [bucket counts..., sum, count]
        self._stop = threading.Event()
        self._threads = []
        self._conns = set()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.app = self
        self.port = self._httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port

    # ---- lifecycle ----

    def start(self):
        t = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True)
        t.start()
        self._threads.append(t)
        for i in range(THREADS):
            t = threading.Thread(target=self._traffic, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        """Stops the traffic and the server; its port refuses connections afterwards, and
        connections kept alive (a scraper's) are closed too."""
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(15)
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def set(self, **kw):
        """Changes error_share, latency or rate; returns the settings in force."""
        with self._lock:
            for k, v in kw.items():
                if k not in self.settings:
                    raise KeyError(k)
                self.settings[k] = float(v)
            return dict(self.settings)

    # ---- what it counted ----

    def totals(self):
        """{(method, path, status): requests answered} so far."""
        with self._lock:
            return dict(self._counts)

    def metrics_text(self):
        with self._lock:
            counts = sorted(self._counts.items())
            hist = sorted((k, list(v)) for k, v in self._hist.items())
        out = ["# HELP http_requests_total Requests answered, by method, path and status.",
               "# TYPE http_requests_total counter"]
        for (method, path, status), n in counts:
            out.append('http_requests_total{method="%s",path="%s",status="%d"} %d'
                       % (method, path, status, n))
        out += ["# HELP http_request_duration_seconds Time taken to answer a request.",
                "# TYPE http_request_duration_seconds histogram"]
        for (method, path), h in hist:
            labels = 'method="%s",path="%s"' % (method, path)
            for le, n in zip(BUCKETS, h):
                out.append('http_request_duration_seconds_bucket{%s,le="%g"} %d'
                           % (labels, le, n))
            out.append('http_request_duration_seconds_bucket{%s,le="+Inf"} %d'
                       % (labels, h[-1]))
            out.append("http_request_duration_seconds_sum{%s} %.6f" % (labels, h[-2]))
            out.append("http_request_duration_seconds_count{%s} %d" % (labels, h[-1]))
        return "\n".join(out) + "\n"

    # ---- serving ----

    def work(self, method, path):
        """Answers one work request as the settings say; returns its status."""
        started = time.monotonic()
        with self._lock:
            latency = self.settings["latency"] * self._rnd.uniform(0.8, 1.2)
            self._errors_due += self.settings["error_share"]
            failing = self._errors_due >= 1.0
            status = 200
            if failing:
                self._errors_due -= 1.0
                self._failed += 1
                status = (500, 502, 503)[self._failed % 3]
        if self._stop.wait(latency):
            status = 503
        took = time.monotonic() - started
        with self._lock:
            key = (method, path, status)
            self._counts[key] = self._counts.get(key, 0) + 1
            h = self._hist.setdefault((method, path), [0] * (len(BUCKETS) + 2))
            for i, le in enumerate(BUCKETS):
                if took <= le:
                    h[i] += 1
            h[-2] += took
            h[-1] += 1
        self._access_log(method, path, status, took)
        return status

    def _access_log(self, method, path, status, took):
        if not self.log_path:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + "%09dZ" % (now.microsecond * 1000)
        message = json.dumps({
            "time": stamp, "level": "error" if status >= 500 else "info", "method": method,
            "path": path, "status": status, "duration_seconds": round(took, 6),
            "msg": "%s %s %d" % (method, path, status)}, separators=(",", ":"))
        with self._log_lock:
            with open(self.log_path, "a") as f:
                f.write("%s stdout F %s\n" % (stamp, message))

    # ---- traffic ----

    def _traffic(self, i):
        rnd = random.Random(1000 + i)
        choices = [(m, p) for m, p, w in WORK for _ in range(w)]
        while not self._stop.is_set():
            with self._lock:
                rate = self.settings["rate"]
            started = time.monotonic()
            method, path = rnd.choice(choices)
            req = urllib.request.Request(self.url + path, method=method,
                                         data=b"{}" if method == "POST" else None)
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    r.read()
            except (urllib.error.URLError, OSError):
                pass
            pause = THREADS / rate - (time.monotonic() - started) if rate > 0 else 1.0
            self._stop.wait(max(0.0, pause) * rnd.uniform(0.5, 1.5))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.server.app._lock:
            self.server.app._conns.add(self.connection)

    def finish(self):
        with self.server.app._lock:
            self.server.app._conns.discard(self.connection)
        super().finish()

    def log_message(self, *args):
        pass

    def _answer(self, status, body, ctype="text/plain; charset=utf-8"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _work(self, method):
        app = self.server.app
        path = self.path.split("?", 1)[0]
        if (method, path) not in [(m, p) for m, p, _ in WORK]:
            self._answer(404, "not found\n")
            return
        status = app.work(method, path)
        self._answer(status, '{"status":%d}\n' % status, "application/json")

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._answer(200, self.server.app.metrics_text(), "text/plain; version=0.0.4")
        elif path == "/healthz":
            self._answer(200, "ok\n")
        else:
            self._work("GET")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/_control":
            try:
                settings = self.server.app.set(**json.loads(body or b"{}"))
            except (ValueError, KeyError, TypeError) as e:
                self._answer(400, "bad control request: %s\n" % e)
                return
            self._answer(200, json.dumps(settings) + "\n", "application/json")
            return
        self._work("POST")


def control(url, **settings):
    """POSTs settings to a running test app's /_control; returns the settings in force."""
    req = urllib.request.Request(url + "/_control", data=json.dumps(settings).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--error-share", type=float, default=0.0)
    ap.add_argument("--latency", type=float, default=0.02)
    a = ap.parse_args()
    app = TestApp(a.port, a.log, a.rate, a.error_share, a.latency).start()
    print(app.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        app.stop()


if __name__ == "__main__":
    main()
