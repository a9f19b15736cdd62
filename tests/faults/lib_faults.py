"""The fault suite's parts: a load of numbered log lines written into rotating
files, the agent run with its resident memory sampled from /proc, the sinks
that count what arrived (the file output, the CloudWatch Logs and
Elasticsearch test servers, Prometheus), and the comparison of the two.
Everything listens on 127.0.0.1; every process and mount made here is undone
at exit, also when a scenario fails.

A line is `<CRI time> stdout F s<file>-<seq> <padding>`: the id s<file>-<seq>
is unique, so what arrived is counted per id (lost: written, never arrived;
duplicated: arrived more than once).
"""
import atexit
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
# GLEANER_BIN runs another build (a copy kept still while this tree is rebuilt).
GLEANER = os.environ.get("GLEANER_BIN") or os.path.join(ROOT, "build", "gleaner")
ID_RE = re.compile(rb"s(\d+)-(\d{10})")

import lib  # noqa: E402 (tests/integration/lib.py: temp dirs, ports, process cleanup)
from lib import free_port, tmpdir, write  # noqa: E402,F401

_mounts = []


def _unmount():
    # The agents first: a lazy unmount under a running agent would leave it writing.
    lib._cleanup()
    for m in reversed(_mounts):
        subprocess.call(["umount", "-l", m], stderr=subprocess.DEVNULL)


atexit.register(_unmount)


class ScenarioError(Exception):
    """A scenario could not run or its result is wrong; the message says why."""


def wait_until(what, fn, timeout, every=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise ScenarioError("timed out after %.0fs waiting for %s" % (timeout, what))


def mount_tmpfs(path, size):
    """A small tmpfs at path (root only); fails the scenario with the reason otherwise."""
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise ScenarioError("storage_full needs a tmpfs at storage.path and mounting one "
                            "needs root (CAP_SYS_ADMIN): mount said %r" % r.stderr.strip())
    _mounts.append(path)


def umount(path):
    subprocess.call(["umount", "-l", path])
    if path in _mounts:
        _mounts.remove(path)


# ---- the load ---------------------------------------------------------------

def cri_time(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


class Load:
    """Writes `rate` lines a second of about `line_bytes` bytes, spread over
    `files` files in `dir` (named as kubelet names container logs), from a
    thread. A file is rotated (renamed to .log.<n>, a new one created) when it
    passes rotate_bytes or every rotate_every seconds; the newest `keep`
    rotated files are kept, as kubelet keeps them."""

    def __init__(self, dir, files=4, rate=2000, line_bytes=200, rotate_bytes=0,
                 rotate_every=0.0, keep=5):
        self.dir, self.files, self.rate, self.line_bytes = dir, files, rate, line_bytes
        self.rotate_bytes, self.rotate_every, self.keep = rotate_bytes, rotate_every, keep
        os.makedirs(dir, exist_ok=True)
        self.seq = [0] * files
        self.rotations = 0
        self._fh = [None] * files
        self._size = [0] * files
        self._born = [0.0] * files
        self._n = [0] * files
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self._pad = b"x" * max(0, line_bytes - 60)

    def path(self, i):
        return os.path.join(self.dir, "pod-%d_ns_app-%064d.log" % (i, i))

    def _open(self, i):
        self._fh[i] = open(self.path(i), "ab", buffering=0)
        self._size[i] = 0
        self._born[i] = time.time()

    def _rotate(self, i):
        self._fh[i].close()
        self._n[i] += 1
        os.rename(self.path(i), "%s.%d" % (self.path(i), self._n[i]))
        old = self._n[i] - self.keep
        if old >= 1:
            try:
                os.unlink("%s.%d" % (self.path(i), old))
            except FileNotFoundError:
                pass
        self._open(i)
        self.rotations += 1

    def written(self):
        with self._lock:
            return sum(self.seq)

    def start(self):
        for i in range(self.files):
            self._open(i)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        t0 = time.time()
        sent = 0
        while not self._stop.is_set():
            due = int((time.time() - t0) * self.rate)
            n = min(due - sent, max(1, self.rate // 20))
            if n <= 0:
                time.sleep(0.005)
                continue
            self._write(n)
            sent += n

    def _write(self, n):
        now = time.time()
        stamp = cri_time(now).encode()
        per = [n // self.files + (1 if i < n % self.files else 0) for i in range(self.files)]
        for i, k in enumerate(per):
            if k == 0:
                continue
            with self._lock:
                first = self.seq[i]
                self.seq[i] += k
            data = b"".join(b"%s stdout F s%d-%010d %s\n" % (stamp, i, first + j, self._pad)
                            for j in range(k))
            self._fh[i].write(data)
            self._size[i] += len(data)
            if (self.rotate_bytes and self._size[i] >= self.rotate_bytes) or (
                    self.rotate_every and now - self._born[i] >= self.rotate_every):
                self._rotate(i)

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        for f in self._fh:
            if f is not None:
                f.close()


class Tally:
    """How many times each id arrived: a byte per line written, per file."""

    def __init__(self, files):
        self.seen = [bytearray() for _ in range(files)]
        self.unique = 0
        self.total = 0

    def add(self, data):
        for m in ID_RE.finditer(data):
            f, seq = int(m.group(1)), int(m.group(2))
            b = self.seen[f]
            if seq >= len(b):
                b.extend(bytes(seq + 1 - len(b) + (1 << 16)))
            if b[seq] == 0:
                self.unique += 1
            if b[seq] < 255:
                b[seq] += 1
            self.total += 1

    def compare(self, load):
        """(written, arrived, lost, duplicated) against what the load wrote."""
        written = sum(load.seq)
        lost = dup = 0
        for f, n in enumerate(load.seq):
            b = self.seen[f]
            have = b[:n] + bytes(max(0, n - len(b)))
            lost += have.count(0)
            dup += sum(have) - (n - have.count(0))
        return written, self.total, lost, dup


# ---- the agent --------------------------------------------------------------

def rss_of(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return None


class Agent:
    """build/gleaner on a config, restartable, its RSS sampled every 100 ms
    into `samples` [(time, bytes)] over all its lives; peak is the largest."""

    def __init__(self, config, env=None, wrapper=None, log=None):
        self.config, self.wrapper = config, wrapper or []
        self.env = dict(os.environ, AWS_EC2_METADATA_DISABLED="true", **(env or {}))
        self.log = log or config + ".stderr"
        self.p = None
        self.samples = []
        self.peak = 0
        self.kills = 0
        self.lives = []  # [start, end] of each run of the process
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def start(self):
        err = open(self.log, "a")
        self.p = subprocess.Popen(self.wrapper + [GLEANER, "-c", self.config],
                                  stdout=subprocess.DEVNULL, stderr=err, env=self.env)
        err.close()
        self.lives.append([time.time(), None])
        lib._procs.append(self.p)
        if not self._sampler.is_alive():
            self._sampler.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            p = self.p
            if p is not None and p.poll() is None:
                v = rss_of(p.pid)
                if v is not None:
                    self.samples.append((time.time(), v))
                    self.peak = max(self.peak, v)
            time.sleep(0.1)

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill9(self):
        self.p.kill()
        self.p.wait()
        self.lives[-1][1] = time.time()
        self.kills += 1

    def signal(self, sig):
        self.p.send_signal(sig)

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit code."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise ScenarioError("the agent did not exit within %ds of SIGTERM" % timeout)
        self.lives[-1][1] = self.lives[-1][1] or time.time()
        self._stop.set()
        return self.p.returncode

    def stderr(self):
        with open(self.log, errors="replace") as f:
            return f.read()


def metric(port, name, labels=""):
    """The sum of a metric's samples (matching labels text) in the agent's /metrics."""
    import urllib.request
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    total = None
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if labels in line:
                total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


# ---- sinks --------------------------------------------------------------------

class FileSink:
    """The file output's file, read as it grows."""

    def __init__(self, dir, name, files):
        self.path = os.path.join(dir, name)
        self.tally = Tally(files)
        self._off = 0
        self._rest = b""

    def scan(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self._off)
                data = f.read()
        except FileNotFoundError:
            return self.tally.unique
        self._off += len(data)
        data = self._rest + data
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        self.tally.add(data[:cut])
        return self.tally.unique


class CwlSink:
    """The CloudWatch Logs test server's stored events of one group."""

    def __init__(self, server, group, files):
        self.server, self.group, self.files = server, group, files
        self.tally = Tally(files)

    def scan(self):
        """Progress: events stored (with repeats), cheap enough to ask every second."""
        st = self.server.stats()
        return sum(b["events"] for b in st["batches"] if b["status"] == 200)

    def final(self):
        self.tally = Tally(self.files)
        for evs in self.server.events(self.group).values():
            self.tally.add(b"\n".join(e["message"].encode() for e in evs))
        return self.tally


class EsSink:
    """The Elasticsearch test server's documents of one index, by _id: a re-sent
    document with the same id is stored once, so arrivals are counted from the
    bulk requests the server accepted and uniques from the index."""

    def __init__(self, server, index, files):
        self.server, self.index, self.files = server, index, files
        self.tally = Tally(files)

    def scan(self):
        return self.server.count(self.index)

    def final(self):
        self.tally = Tally(self.files)
        for src in self.server.docs(self.index).values():
            self.tally.add(str(src).encode())
        return self.tally


# ---- results -------------------------------------------------------------------

class Result:
    def __init__(self, name, sink, written, arrived, lost, dup, peak, bound, recovery,
                 note="", dup_allowed=True, missed=None):
        self.name, self.sink = name, sink
        self.written, self.arrived, self.lost, self.dup = written, arrived, lost, dup
        self.peak, self.bound, self.recovery, self.note = peak, bound, recovery, note
        self.dup_allowed = dup_allowed
        self.missed = missed  # why the fault was not seen to take effect, or None

    def problems(self):
        p = []
        if self.missed:
            p.append("the fault did not take effect: " + self.missed)
        if self.lost:
            p.append("%d lines lost" % self.lost)
        if self.dup and not self.dup_allowed:
            p.append("%d duplicates where ids allow none" % self.dup)
        if self.peak > self.bound:
            p.append("peak RSS %.1f MiB over its bound %.1f MiB" % (self.peak / 2**20,
                                                                   self.bound / 2**20))
        if self.written == 0:
            p.append("nothing was written")
        return p

    def row(self):
        rec = "-" if self.recovery is None else "%.1f s" % self.recovery
        return "| %s | %s | %d | %d | %d | %d | %.1f MiB (bound %.0f) | %s |" % (
            self.name, self.sink, self.written, self.arrived, self.lost, self.dup,
            self.peak / 2**20, self.bound / 2**20, rec)


TABLE_HEAD = ("| scenario | sink | lines written | arrived | lost | duplicated | peak RSS | "
              "recovery |\n|---|---|---|---|---|---|---|---|")


def rss_bound(inputs_mib, requests=0, files=0, http=False, encoded_mib=0):
    """README's memory bound (Delivery), in bytes: fixed 3 MiB, 12 MiB once an
    HTTP output has loaded libcurl and OpenSSL (http); the big-buffer pool,
    2 x 8 MiB at most; each input's mem_buf_limit (MiB) with one flush past
    it (2 MiB) and one read (64 KiB); encoded_mib of events an output builds
    (cloudwatch_logs: 2 MiB per input it is fed by); 70 KiB per request in
    flight; 5 KiB per followed file."""
    fixed = 12 if http else 3
    mib = fixed + 16 + sum(m + 2 + 0.0625 for m in inputs_mib) + encoded_mib
    return int(mib * 2**20 + requests * 70 * 1024 + files * 5 * 1024)
