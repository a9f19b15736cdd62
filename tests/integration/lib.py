"""Helpers shared by the integration tests: a temp dir, the agent started
on a config written there, waiting with a deadline, and cleanup of every
process a test started (also when it fails)."""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GLEANER = os.environ.get("GLEANER_BIN") or os.path.join(ROOT, "build", "gleaner")
_procs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_cleanup)


def tmpdir(name):
    d = tempfile.mkdtemp(prefix="gleaner-%s-" % name)
    atexit.register(shutil.rmtree, d, True)
    return d


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def start(config_path, wrapper=None, stderr_path=None):
    """Starts build/gleaner -c config_path; stderr goes to a file next to it."""
    cmd = [GLEANER, "-c", config_path]
    if wrapper:
        cmd = wrapper + cmd
    err = open(stderr_path or config_path + ".stderr", "w")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    p.stderr_path = err.name
    _procs.append(p)
    return p


def prometheus_receiver(d, port):
    """A real Prometheus on 127.0.0.1:port with its remote-write receiver on,
    its data in d/tsdb and its log in d/prometheus.log (started again on the
    same data after a stop). The caller waits for /-/ready."""
    cfg = os.path.join(d, "prometheus.yml")
    if not os.path.exists(cfg):
        write(cfg, "global:\n  scrape_interval: 1m\n")
    p = subprocess.Popen(["prometheus", "--config.file=" + cfg,
                          "--storage.tsdb.path=" + os.path.join(d, "tsdb"),
                          "--web.listen-address=127.0.0.1:%d" % port,
                          "--web.enable-remote-write-receiver"],
                         stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(d, "prometheus.log"), "a"))
    _procs.append(p)
    return p


def stderr_of(p):
    with open(p.stderr_path) as f:
        return f.read()


def wait_for(what, fn, timeout=30.0, every=0.1, why=None):
    """Polls fn until it is true; on timeout fails, with why()'s account if given."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(every)
    fail("timed out after %.0fs waiting for %s%s" % (timeout, what,
                                                     ": " + why() if why else ""))


def stop(p, sig=signal.SIGTERM, timeout=60):
    p.send_signal(sig)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("agent did not exit within %ds of signal %d" % (timeout, sig))


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(buf.count(b"\n") for buf in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def http_get(port, path, timeout=5):
    """Returns (status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, OSError):
        return 0, ""


def metric_value(body, name, *labels):
    """The value of the first sample of metric name in a /metrics body whose
    labels include every one of labels (strings such as 'name="sink"'), or None."""
    for line in body.splitlines():
        if (line.startswith(name + "{") or line.startswith(name + " ")) and \
                all(l in line for l in labels):
            return float(line.rsplit(" ", 1)[1])
    return None


def need(binary, package):
    if shutil.which(binary) is None:
        fail("%s not found: install the Debian package %s (make deps does)" % (binary, package))


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)
