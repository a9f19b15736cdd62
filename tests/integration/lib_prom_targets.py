"""Prometheus targets for the prometheus_scrape tests: HTTP servers on
127.0.0.1 (or another loopback address) that serve a body of exposition the
test sets and can change, the way client libraries serve them: OpenMetrics
when the scraper's Accept prefers it and the target has such a body, the
text format otherwise, gzip when Accept-Encoding allows and the target is
set to. Bad targets too: one that never answers, one that sends without
end, one that answers 500. A library, not a test (run.sh skips lib*).

    t = Target(text="a 1\\n")                 # serves on an ephemeral port
    t.set(text="a 2\\n", om="a 2\\n# EOF\\n")   # the next scrape gets this
    t.requests                                 # (path, headers) of each scrape
    t.times                                    # and when it came
"""
import gzip
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OM_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def prefers_openmetrics(accept):
    """Whether an Accept header ranks OpenMetrics above the text format (q values)."""
    best = {"om": -1.0, "text": -1.0}
    for part in (accept or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                q = float(f[2:])
        kind = "om" if fields[0] == "application/openmetrics-text" else \
            "text" if fields[0] == "text/plain" else None
        if kind:
            best[kind] = max(best[kind], q)
    return best["om"] > best["text"]


class QuietServer(ThreadingHTTPServer):
    """A threaded test server that says nothing about clients going away."""
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, addr):
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        t = self.server.target
        with t.lock:
            t.requests.append((self.path, dict(self.headers)))
            t.times.append(time.time())
            mode, text, om, gz, status, ctype = (t.mode, t.text, t.om, t.gzip, t.status,
                                                  t.content_type)
        if mode == "hang":
            time.sleep(t.hang_s)
            self.close_connection = True
            return
        if mode == "endless":
            return self.endless()
        if mode == "raw":
            return self.raw(t.raw, t.headers)
        use_om = om is not None and prefers_openmetrics(self.headers.get("Accept"))
        body = (om if use_om else text).encode()
        ctype = ctype or (OM_TYPE if use_om else TEXT_TYPE)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if gz and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def raw(self, body, headers):
        """Sends bytes as they are, with the headers given (a gzip bomb, a wrong type)."""
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def endless(self):
        """Sends a body that never ends (about 1 GB before the test ends, unless cut)."""
        self.send_response(200)
        self.send_header("Content-Type", TEXT_TYPE)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        line = b"".join(b"big_series{i=\"%d\"} %d\n" % (i, i) for i in range(4000))
        sent = 0
        try:
            while sent < (1 << 30):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                sent += len(line)
        except OSError:
            pass
        self.close_connection = True


class Target:
    """One scrape target: an HTTP server whose body the test sets."""

    def __init__(self, text="", om=None, host="127.0.0.1", port=0, gzip=False, status=200,
                 mode="serve", content_type=None, raw=b"", headers=None):
        self.lock = threading.Lock()
        self.raw, self.headers = raw, headers or {}
        self.text, self.om, self.gzip, self.status = text, om, gzip, status
        self.mode, self.content_type, self.hang_s = mode, content_type, 3600
        self.requests = []
        self.times = []
        self.server = QuietServer((host, port), _Handler)
        self.server.target = self
        self.host = host
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def set(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, v)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def refused_port(host="127.0.0.1"):
    """A port on host where nothing listens (bound, then closed)."""
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port
