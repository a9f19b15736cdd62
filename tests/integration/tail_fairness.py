"""A container writing as fast as it can (about 50 MB/s for 10 s) does not
starve a quiet one: the quiet container writes 10 lines a second, each with
the time it was written, and each of its lines is in the output within 2 s.
The fast container's records go to the null output, the quiet one's to a
file, routed by tag (the tag holds the file's path). The maximum latency is
printed."""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kubelet import Container, sequence_report, summarize  # noqa

FAST_SECONDS = 10
FAST_RATE = 50 << 20       # bytes per second
QUIET_RATE = 10            # lines per second
MAX_LATENCY = 2.0
d = tmpdir("tail-fairness")
PORT = free_port()
root = os.path.join(d, "node")
quiet = Container(root, 0, name="quiet", mode="none", seed=9)
Container(root, 1, name="fast", mode="none", seed=9).close()
out = os.path.join(d, "quiet.jsonl")
cfg = write(os.path.join(d, "g.yaml"), """
service:
  flush: 200ms
  grace: 20s
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
  storage.path: %s/storage
pipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/containers/*.log
      multiline.parser: cri, docker
      read_from_head: on
  outputs:
    - name: null
      match: 'kube.*pod-fast_*'
    - name: file
      match: 'kube.*pod-quiet_*'
      path: %s
      file: quiet.jsonl
""" % (PORT, d, root, d))

# The fast writer is its own process so that it competes for the CPU with the
# agent, not with this script's clock. It writes 1 MiB blocks of CRI lines,
# rotated kubelet's way at 64 MiB (not compressed, to keep the pace).
FAST = r"""
import os, sys, time
sys.path.insert(0, %r)
from lib_kubelet import Container, rfc3339nano
c = Container(%r, 1, name="fast", mode="rename", rotate_size=64 << 20, compress=False, seed=9)
line = "%%s stdout F fast seq=000000 " + "x" * 120 + "\n"
start, written = time.time(), 0
while time.time() - start < %d:
    block = (line %% rfc3339nano()) * ((1 << 20) // (len(line) + 30))
    with c.lock:
        os.write(c.fd, block.encode())
        c.maybe_rotate()
    written += len(block)
    ahead = written / %d - (time.time() - start)
    if ahead > 0:
        time.sleep(ahead)
print("%%d %%.2f" %% (written, time.time() - start))
""" % (os.path.dirname(os.path.abspath(__file__)), root, FAST_SECONDS, FAST_RATE)

p = start(cfg)
wait_for("the agent to start", lambda: "running" in stderr_of(p), timeout=10)
fast = subprocess.Popen([sys.executable, "-c", FAST], stdout=subprocess.PIPE, text=True)

arrived = {}          # seq -> time it was seen in the output
stop_polling = threading.Event()


def poll():
    """Reads the output as it grows and notes when each quiet line shows up."""
    pos, rest = 0, b""
    while not stop_polling.is_set():
        try:
            with open(out, "rb") as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            data = b""
        now = time.time()
        pos += len(data)
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        for l in lines:
            m = l.split(b"quiet seq=", 1)
            if len(m) == 2:
                arrived.setdefault(int(m[1][:6]), now)
        time.sleep(0.01)


poller = threading.Thread(target=poll, daemon=True)
poller.start()
written_at = {}
t0 = time.time()
n = 0
while time.time() - t0 < FAST_SECONDS + 1:
    n += 1
    now = time.time()
    quiet.write_message("quiet seq=%06d t=%.6f" % (n, now))
    quiet.seq = n
    written_at[n] = now
    time.sleep(max(0, t0 + n / QUIET_RATE - time.time()))
quiet.close()
fast_out, _ = fast.communicate(timeout=30)
fast_bytes, fast_secs = fast_out.split()
print("fast container wrote %.0f MB in %ss (%.1f MB/s)" % (
    int(fast_bytes) / 1e6, fast_secs, int(fast_bytes) / 1e6 / float(fast_secs)))
wait_for("every quiet line in the output", lambda: len(arrived) >= n, timeout=30)
status, metrics = http_get(PORT, "/metrics")
read = [l for l in metrics.splitlines() if "read_bytes_total" in l and not l.startswith("#")]
print("agent: %s" % (read or "no read_bytes_total in /metrics (status %d)" % status))
stop_polling.set()
poller.join()
rc = stop(p)
check(rc == 0, "agent exits 0 on SIGTERM (rc=%s)" % rc)

from lib_kubelet import read_records  # noqa
rep = sequence_report(read_records(out), [quiet])
print(summarize(rep))
check(not rep["missing"] and not rep["duplicates"] and not rep["out_of_order"],
      "the quiet container's %d lines exactly once, in order" % n)
lat = sorted((arrived[s] - written_at[s], s) for s in written_at)
print("quiet line latency: max %.3fs (seq=%d), median %.3fs" % (
    lat[-1][0], lat[-1][1], lat[len(lat) // 2][0]))
check(lat[-1][0] <= MAX_LATENCY, "every quiet line delivered within %.0fs of being written "
      "(max %.3fs)" % (MAX_LATENCY, lat[-1][0]))
