"""The HTTP client's TLS options and proxy variables, seen through the
cloudwatch_logs output (a dummy input, the CloudWatch Logs test server):
1. https with a CA made for the test: tls.ca_file delivers;
2. without tls.ca_file (the system's CAs) verification fails: nothing is
   stored, the failure is logged as TLS and retried, the agent keeps running;
   tls.verify off delivers;
3. a server requiring a client certificate: tls.crt_file/tls.key_file
   deliver, without them nothing does;
4. a forward proxy written here (counts what it sees): http_proxy carries
   http:// requests as absolute URIs, NO_PROXY=127.0.0.1 bypasses it, and
   HTTPS_PROXY tunnels https:// with CONNECT; HTTP_PROXY in capitals works
   for http:// too (libcurl alone ignores that name; the agent reads it) and
   NO_PROXY still bypasses it.
Certificates come from the openssl command line, in a temp dir; every
socket is on 127.0.0.1."""
import os
import select
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa

OPENSSL = "/usr/bin/openssl"
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY")
STREAM = "s"
WANT = 5  # events that show a case delivers
# The output retries a failed batch itself, so the core's flush error and
# retry counters stay still; its own counters tell.
FAILED = "gleaner_output_cloudwatch_put_log_events_failed_total"
SENT = "gleaner_output_cloudwatch_put_log_events_total"

if not os.access(OPENSSL, os.X_OK):
    fail("%s not found: install the Debian package openssl (make deps does)" % OPENSSL)
d = tmpdir("http-tls-proxy")
# Neither the agent nor this script's own HTTP calls may meet a proxy or a CA
# bundle of the caller's.
for k in PROXY_VARS + ("SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE"):
    os.environ.pop(k, None)


def openssl(*args):
    r = subprocess.run([OPENSSL] + list(args), cwd=d, capture_output=True, timeout=30)
    if r.returncode != 0:
        fail("openssl %s: %s" % (" ".join(args[:2]), r.stderr.decode()[-500:]))


def make_certs():
    """A CA; a server certificate for IP 127.0.0.1 and a client certificate,
    both signed by it. Returns the paths by name."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=gleaner test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, cn, ext in (("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\n"
                           "extendedKeyUsage=serverAuth\n"),
                          ("client", "gleaner test client", "extendedKeyUsage=clientAuth\n")):
        write(os.path.join(d, name + ".ext"), "basicConstraints=CA:FALSE\n" + ext)
        openssl("req", "-new", *key, "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + cn)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-set_serial", str(int(time.time() * 1000)), "-days", "2",
                "-extfile", name + ".ext", "-out", name + ".crt")
    return {n: os.path.join(d, n) for n in ("ca.crt", "server.crt", "server.key",
                                            "client.crt", "client.key")}


class Proxy:
    """A forward HTTP proxy on 127.0.0.1 that records each request line:
    absolute-URI requests are relayed to their origin, CONNECT opens a
    tunnel. It only reaches 127.0.0.1."""

    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def refuse(self, status):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True

            def do_CONNECT(self):
                proxy.record(self.command, self.path)
                host, _, port = self.path.rpartition(":")
                if host != "127.0.0.1":
                    self.refuse(403)
                    return
                try:
                    up = socket.create_connection((host, int(port)), timeout=5)
                except OSError:
                    self.refuse(502)
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                self.close_connection = True
                tunnel(self.connection, up)

            def relay(self):
                proxy.record(self.command, self.path)
                u = urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                if u.scheme != "http" or u.hostname != "127.0.0.1":
                    self.refuse(403)
                    return
                head = ["%s %s HTTP/1.1" % (self.command, u.path or "/")]
                head += ["%s: %s" % (k, v) for k, v in self.headers.items()
                         if k.lower() not in ("proxy-connection", "connection", "keep-alive")]
                head.append("Connection: close")
                up = socket.create_connection((u.hostname, u.port), timeout=10)
                up.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
                answer = b""
                while True:
                    b = up.recv(65536)
                    if not b:
                        break
                    answer += b
                up.close()
                self.wfile.write(answer)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = relay

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def record(self, method, target):
        with self.lock:
            self.seen.append((method, target))

    def take(self):
        """The request lines seen since the last take()."""
        with self.lock:
            seen, self.seen = self.seen, []
        return seen

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def tunnel(a, b):
    """Copies bytes both ways until either side closes."""
    socks = [a, b]
    try:
        while True:
            ready, _, _ = select.select(socks, [], [], 10)
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        pass
    finally:
        b.close()


def run_agent(name, srv, options="", env=None):
    """Starts the agent: a dummy input (its record names the case) into a
    cloudwatch_logs output for srv, with extra output options and extra
    environment. Returns the process, its /metrics port in p.metrics_port."""
    port = free_port()
    cfg = write(os.path.join(d, name + ".yaml"), """
service:
  flush: 200ms
  grace: 2s
  log_level: info
  scheduler.base: 200ms
  scheduler.cap: 1s
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
pipeline:
  inputs:
    - name: dummy
      tag: app
      dummy: '{"log":"case %s"}'
      rate: 20
  outputs:
    - name: cloudwatch_logs
      alias: cwl
      match: app
      endpoint: %s
      log_group_name: /gleaner/%s
      log_stream_name: %s
%s""" % (port, name, srv.endpoint, name, STREAM,
         "".join("      %s\n" % line for line in options.strip().splitlines())))
    env = dict(srv.env(), **(env or {}))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        p = start(cfg)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    p.metrics_port = port
    return p


def stored(srv, name):
    return srv.events("/gleaner/" + name, STREAM)


def output_counter(p, metric):
    """The cwl output's value of a /metrics counter (0 when absent)."""
    v = metric_value(http_get(p.metrics_port, "/metrics")[1], metric, 'name="cwl"')
    return v if v is not None else 0.0


def delivers(name, srv, options="", env=None):
    """The case's records reach srv; the agent exits 0 on SIGTERM."""
    p = run_agent(name, srv, options, env)
    wait_for("%s: %d events stored" % (name, WANT),
             lambda: len(stored(srv, name)) >= WANT or p.poll() is not None, timeout=15)
    got = stored(srv, name)
    check(len(got) >= WANT and all('"case %s"' % name in e["message"] for e in got),
          "%s: the records arrive (%d events)" % (name, len(got)))
    rc = stop(p, timeout=15)
    check(rc == 0, "%s: the agent exits 0 on SIGTERM (rc=%s)" % (name, rc))


def refused(name, srv, why, options="", errs=("tls failed",)):
    """The handshake fails (the server's reason contains why): nothing is
    stored, the failure is logged as one of errs and counted, the agent
    retries and keeps running. Returns the first failure's log line."""
    before = srv.stats()
    p = run_agent(name, srv, options)

    def failed_lines():
        return [x for x in stderr_of(p).splitlines()
                if "PutLogEvents" in x and any(": %s: " % e in x for e in errs)]

    def failures():
        return len(failed_lines())

    wait_for("%s: two failures logged" % name,
             lambda: failures() >= 2 or p.poll() is not None, timeout=15)
    wait_for("%s: the failures in /metrics" % name,
             lambda: output_counter(p, FAILED) >= 2 or p.poll() is not None, timeout=10)
    lines = failed_lines()
    line = lines[0] if lines else ""
    print("%s: %s" % (name, "\n    ".join(x.split(" msg=", 1)[-1] for x in lines[:4])))
    check(p.poll() is None, "%s: the agent keeps running" % name)
    check(not stored(srv, name), "%s: nothing stored" % name)
    check(failures() >= 2, "%s: the failure is logged as %s and retried (%d times)"
          % (name, " or ".join(errs), failures()))
    check(output_counter(p, FAILED) >= 2 and output_counter(p, SENT) == 0,
          "%s: /metrics counts the failed PutLogEvents (%d) and no sent one"
          % (name, output_counter(p, FAILED)))
    st = srv.stats()
    reached = ("/gleaner/" + name in srv.groups()
               or any(b["group"] == "/gleaner/" + name for b in st["batches"]))
    check(st["tls_failures"] > before["tls_failures"] and not reached
          and why in (st["tls_last_failure"] or ""),
          "%s: the server saw failed handshakes (%d, %s) and no request"
          % (name, st["tls_failures"] - before["tls_failures"], st["tls_last_failure"]))
    stop(p, timeout=15)
    return line


t0 = time.time()
certs = make_certs()
ca = certs["ca.crt"]
print("certificates made in %.1fs" % (time.time() - t0))
proxy = Proxy()

with CwlServer(seed=1, tls_cert=certs["server.crt"], tls_key=certs["server.key"]) as tls:
    # 1. A CA of one's own.
    delivers("ca_file", tls, "tls.ca_file: %s" % ca)
    check(tls.stats()["tls_handshakes"] >= 1, "ca_file: the records came over TLS")

    # 2. The system's CAs do not know it; verification off accepts anything.
    line = refused("system_cas", tls, "unknown ca")
    check("certificate" in line, "system_cas: the log line says why (certificate)")
    delivers("verify_off", tls, "tls.verify: off")

    # 4c. https through the proxy: CONNECT, then TLS with the test CA end to end.
    proxy.take()
    delivers("https_proxy", tls, "tls.ca_file: %s" % ca, {"HTTPS_PROXY": proxy.url})
    seen = proxy.take()
    check(seen and all(s == ("CONNECT", "127.0.0.1:%d" % tls.port) for s in seen),
          "https_proxy: HTTPS_PROXY tunnels with CONNECT 127.0.0.1:%d (%d tunnels)"
          % (tls.port, len(seen)))

with CwlServer(seed=2, tls_cert=certs["server.crt"], tls_key=certs["server.key"],
               tls_client_ca=ca) as mtls:
    # 3. A client certificate required.
    delivers("client_cert", mtls, "tls.ca_file: %s\ntls.crt_file: %s\ntls.key_file: %s"
             % (ca, certs["client.crt"], certs["client.key"]))
    # Under TLS 1.3 the server checks the client's certificate after the
    # client has finished its handshake and sent the request: the alert
    # often loses the race with the reset, so the agent sees a closed
    # connection as often as a TLS error (curl's command line does the same).
    refused("no_client_cert", mtls, "did not return a certificate", "tls.ca_file: %s" % ca,
            errs=("tls failed", "connection closed"))

with CwlServer(seed=3) as plain:
    # 4a. http:// through the proxy: absolute-URI requests.
    proxy.take()
    delivers("http_proxy", plain, env={"http_proxy": proxy.url})
    seen = proxy.take()
    url = "http://127.0.0.1:%d/" % plain.port
    check(seen and all(s == ("POST", url) for s in seen),
          "http_proxy: every request went through the proxy as POST %s (%d)"
          % (url, len(seen)))

    # 4b. NO_PROXY names the host: straight to the server.
    delivers("no_proxy", plain, env={"http_proxy": proxy.url, "NO_PROXY": "127.0.0.1"})
    seen = proxy.take()
    check(not seen, "no_proxy: NO_PROXY=127.0.0.1 bypasses the proxy (it saw %s)" % seen)

    # 4d. HTTP_PROXY in capitals, as SREs set it, carries http:// too...
    delivers("http_proxy_upper", plain, env={"HTTP_PROXY": proxy.url})
    seen = proxy.take()
    check(seen and all(s == ("POST", url) for s in seen),
          "http_proxy_upper: HTTP_PROXY carried every request (%d)" % len(seen))
    # 4e. ...and NO_PROXY still bypasses it.
    delivers("http_proxy_upper_no_proxy", plain,
             env={"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"})
    seen = proxy.take()
    check(not seen, "http_proxy_upper_no_proxy: NO_PROXY bypasses HTTP_PROXY (it saw %s)"
          % seen)

proxy.close()
print("9 cases in %.1fs" % (time.time() - t0))
