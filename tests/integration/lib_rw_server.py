"""A Prometheus remote-write receiver for the integration tests, built on
independent decoders: Debian's python3-snappy for the body and
python3-protobuf (message classes made at run time from a descriptor of
Prometheus' prompb WriteRequest, no generated code) for the WriteRequest.
It checks what the specification asks of a sender (headers, labels sorted
and unique, __name__ present, samples in time order per series across
requests), can check SigV4 with botocore, and answers as told: 204, or 400
for every request, or 429 (with Retry-After) / 503 for a share of them
(fail_status may be a list: the failed requests take its statuses in turn).
Faults as a receiver fails: reset_rate of the requests are stored, then the
answer is cut halfway and the connection reset; down() closes the listening
socket (connections refused) and resets open connections, up() listens
again on the same port with what was stored.
A library, not a test (run.sh skips files named lib*).

    with RwServer(statuses=[...]) as s:
        s.url, s.port
        s.series()     {labels tuple: [(ts, value), ...]}
        s.stats()      {"requests", "by_status", "errors", "max_concurrent", ...}
"""
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import lib_sigv4
from lib_cwl_server import _reset

try:
    import snappy
except ImportError:  # named by the test that needs it
    snappy = None

STALE_NAN = 0x7ff0000000000002


def _write_request_class():
    """WriteRequest as prompb defines it (remote.proto, types.proto)."""
    f = descriptor_pb2.FileDescriptorProto(name="gleaner_test_prompb.proto", package="prompb",
                                           syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto

    def msg(name, fields):
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, tname in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if tname:
                fd.type_name = tname
    opt, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED
    msg("Label", [("name", 1, T.TYPE_STRING, opt, None), ("value", 2, T.TYPE_STRING, opt, None)])
    msg("Sample", [("value", 1, T.TYPE_DOUBLE, opt, None),
                   ("timestamp", 2, T.TYPE_INT64, opt, None)])
    msg("TimeSeries", [("labels", 1, T.TYPE_MESSAGE, rep, ".prompb.Label"),
                       ("samples", 2, T.TYPE_MESSAGE, rep, ".prompb.Sample")])
    msg("MetricMetadata", [("type", 1, T.TYPE_INT32, opt, None),
                           ("metric_family_name", 2, T.TYPE_STRING, opt, None),
                           ("help", 4, T.TYPE_STRING, opt, None),
                           ("unit", 5, T.TYPE_STRING, opt, None)])
    msg("WriteRequest", [("timeseries", 1, T.TYPE_MESSAGE, rep, ".prompb.TimeSeries"),
                         ("metadata", 3, T.TYPE_MESSAGE, rep, ".prompb.MetricMetadata")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    desc = pool.FindMessageTypeByName("prompb.WriteRequest")
    return message_factory.MessageFactory(pool).GetPrototype(desc)


WriteRequest = _write_request_class()


def is_stale(v):
    return struct.unpack("<Q", struct.pack("<d", v))[0] == STALE_NAN


class RwServer:
    def __init__(self, status=204, fail_rate=0.0, fail_status=503, retry_after=None,
                 delay=0.0, sigv4=None, region="us-east-1", service="aps", reset_rate=0.0):
        """status: the answer to every accepted request (400 refuses them all);
        fail_rate of the requests are answered fail_status (429 with retry_after);
        sigv4: {akid: (secret, token)} to check signatures with."""
        self.status, self.fail_rate, self.fail_status = status, fail_rate, fail_status
        self.retry_after, self.delay = retry_after, delay
        self.reset_rate = reset_rate
        self._conns = set()
        self._thread = None
        self.port = 0
        self.sigv4, self.region, self.service = sigv4, region, service
        self._lock = threading.Lock()
        self._series = {}
        self._metadata = {}
        self._stats = {"requests": 0, "by_status": {}, "errors": [], "max_concurrent": 0,
                       "samples": 0, "request_times": [], "answers": []}
        self._inflight = 0
        self._n = 0
        self._http = None

    # ---- checking ----

    def _check(self, h, body):
        """Decodes and checks one request; returns the WriteRequest or raises ValueError."""
        if h.headers.get("Content-Encoding") != "snappy":
            raise ValueError("Content-Encoding %r" % h.headers.get("Content-Encoding"))
        if h.headers.get("Content-Type") != "application/x-protobuf":
            raise ValueError("Content-Type %r" % h.headers.get("Content-Type"))
        if h.headers.get("X-Prometheus-Remote-Write-Version") != "0.1.0":
            raise ValueError("X-Prometheus-Remote-Write-Version missing")
        if not (h.headers.get("User-Agent") or "").startswith("gleaner/"):
            raise ValueError("User-Agent %r" % h.headers.get("User-Agent"))
        if self.sigv4 is not None:
            why = lib_sigv4.valid(h.headers.get("Authorization"), h.headers, "POST", h.path,
                                  body, self.sigv4, self.region, self.service,
                                  h.headers.get("Host"))
            if why:
                raise PermissionError(why)
        req = WriteRequest()
        req.ParseFromString(snappy.uncompress(body))
        for ts in req.timeseries:
            names = [l.name for l in ts.labels]
            if names != sorted(names) or len(set(names)) != len(names):
                raise ValueError("labels not sorted and unique: %s" % names)
            if "__name__" not in names or any(not l.value for l in ts.labels):
                raise ValueError("no __name__, or an empty value: %s" % names)
            stamps = [s.timestamp for s in ts.samples]
            if stamps != sorted(stamps) or not stamps:
                raise ValueError("samples out of order in a series")
        return req

    def _store(self, req):
        """Stores samples; a sample older than the series' last is out of order."""
        for ts in req.timeseries:
            key = tuple((l.name, l.value) for l in ts.labels)
            got = self._series.setdefault(key, [])
            for s in ts.samples:
                if got and s.timestamp < got[-1][0]:
                    self._stats["errors"].append("out of order: %s" % (key,))
                got.append((s.timestamp, s.value))
                self._stats["samples"] += 1
        for m in req.metadata:
            self._metadata[m.metric_family_name] = (m.type, m.help, m.unit)

    def handle(self, h, body):
        with self._lock:
            self._n += 1
            n = self._n
            self._inflight += 1
            self._stats["max_concurrent"] = max(self._stats["max_concurrent"], self._inflight)
            self._stats["request_times"].append(time.time())
        try:
            if self.delay:
                time.sleep(self.delay)
            try:
                req = self._check(h, body)
            except PermissionError as e:
                return 403, {}, "signature: %s" % e
            except Exception as e:  # noqa: BLE001 (any decoding failure is the sender's)
                with self._lock:
                    self._stats["errors"].append(str(e))
                return 400, {}, "bad request: %s" % e
            if self.fail_rate and (n * 7919 % 1000) < self.fail_rate * 1000:
                status = self.fail_status
                if isinstance(status, (list, tuple)):
                    with self._lock:
                        self._failed = getattr(self, "_failed", -1) + 1
                        status = status[self._failed % len(status)]
                extra = {"Retry-After": str(self.retry_after)} if (
                    self.retry_after and status == 429) else {}
                return status, extra, "try again"
            if self.status >= 300:
                return self.status, {}, "out of order sample"
            with self._lock:
                self._store(req)
            if self.reset_rate and (n * 104729 % 1000) < self.reset_rate * 1000:
                return self.status, {}, None  # stored, the answer cut
            return self.status, {}, ""
        finally:
            with self._lock:
                self._inflight -= 1

    # ---- views ----

    def series(self):
        with self._lock:
            return {k: list(v) for k, v in self._series.items()}

    def metadata(self):
        with self._lock:
            return dict(self._metadata)

    def stats(self):
        with self._lock:
            return dict(self._stats, by_status=dict(self._stats["by_status"]),
                        answers=list(self._stats["answers"]),
                        request_times=list(self._stats["request_times"]))

    # ---- HTTP ----

    def start(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with server._lock:
                    server._conns.add(self.connection)

            def finish(self):
                try:
                    super().finish()
                except OSError:
                    pass
                with server._lock:
                    server._conns.discard(self.connection)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, text = server.handle(self, body)
                if text is None:
                    # Prometheus answers 204 without a body, so the cut falls in the headers:
                    # the status line and half a header, then a reset.
                    head = "HTTP/1.1 %d No Content\r\nContent-Length: 0\r\n\r\n" % status
                    self.close_connection = True
                    self.wfile.write(head.encode()[:len(head) - 12])
                    self.wfile.flush()
                    _reset(self.connection)
                    with server._lock:
                        server._stats["reset"] = server._stats.get("reset", 0) + 1
                    return
                with server._lock:
                    server._stats["requests"] += 1
                    server._stats["answers"].append((time.time(), status))
                    by = server._stats["by_status"]
                    by[status] = by.get(status, 0) + 1
                data = text.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._http = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self.url = "http://127.0.0.1:%d/api/v1/write" % self.port
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def down(self):
        """Goes away as a crashed receiver: connections refused, open ones reset."""
        self.stop()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            _reset(c)

    def up(self):
        """Listens again on the same port, with what was stored."""
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
