"""Memory stays bounded however long every output is down. CloudWatch Logs
answers 503 and the remote-write endpoint refuses connections while two
log files grow at about 1 MB/s each (one tailed with the memory buffer,
one with the filesystem buffer), a dummy input pushes records and two
node_metrics inputs collect every 200 ms (one per buffer). The agent's RSS
is sampled every half second for OUTAGE seconds: its peak stays under the
bound README gives (idle RSS + the inputs' mem_buf_limit + a fixed
overhead) and it is flat (the last third no higher than the peak of the
first two thirds plus 2 MiB). The filesystem buffer stays under
storage.total_limit_size, the oldest chunks dropped and counted there (the
only records an outage may cost, and only where that limit is set).

GLEANER_OUTAGE=SECONDS makes the outage longer (default 45)."""
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa
import lib_storage  # noqa
from lib_storage import cloudwatch, dummy, limit, tail  # noqa

OUTAGE = float(os.environ.get("GLEANER_OUTAGE", "45"))
MIB = 1 << 20
LIMIT = 4 * MIB            # mem_buf_limit of each of the 5 inputs
TOTAL = 8 * MIB            # storage.total_limit_size of each output
FIXED = 24 * MIB           # the fixed overhead README's formula allows
d = tmpdir("storage-memory")
logs = os.path.join(d, "logs")
os.makedirs(logs)


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) * 1024


PORT = free_port()


def config(srv, rw_port, name, inputs):
    rw = """    - name: prometheus_remote_write
      match: 'metrics.*'
      host: 127.0.0.1
      port: %d
""" % rw_port
    total = "      storage.total_limit_size: %d\n" % TOTAL
    return lib_storage.config(d, name, inputs, [cloudwatch(srv.endpoint, "log.*") + total,
                                                rw + total], grace="1s", http_port=PORT)


def node_metrics(tag, kind):
    return """    - name: node_metrics
      tag: %s
      scrape_interval: 200ms
      storage.type: %s
""" % (tag, kind)


INPUTS = [limit(s, LIMIT) for s in (
    tail("log.mem", os.path.join(logs, "mem.log"), kind="memory"),
    tail("log.fs", os.path.join(logs, "fs.log")),
    dummy("log.pushed", 0, "p" * 200, rate=5000),
    node_metrics("metrics.mem", "memory"),
    node_metrics("metrics.fs", "filesystem"))]

stop_writing = threading.Event()


def writer(name):
    """Appends about 1 MB/s of lines (half random hex, so that they do not
    compress to nothing) until told to stop."""
    i = 0
    with open(os.path.join(logs, name), "a") as f:
        while not stop_writing.is_set():
            f.write("".join("%d %s %s\n" % (i + j, os.urandom(50).hex(), "w" * 100)
                            for j in range(500)))
            f.flush()
            i += 500
            time.sleep(0.1)


def disk_bytes():
    n = 0
    for root, _, files in os.walk(os.path.join(d, "storage")):
        for f in files:
            try:
                n += os.path.getsize(os.path.join(root, f)) if f.endswith(".chunk") else 0
            except FileNotFoundError:
                pass  # delivered (or dropped) since the directory was listed
    return n


rw_port = free_port()  # nothing listens: every remote-write is refused
with CwlServer(seed=7, unavailable_rate=1.0) as srv:
    os.environ.update(srv.env())
    # Idle: the same agent with one quiet input, for the formula's first term.
    idle = start(config(srv, rw_port, "idle", [dummy("log.idle", 0, "idle", "memory", rate=1)]))
    time.sleep(3)
    idle_rss = rss(idle.pid)
    stop(idle)
    bound = idle_rss + 5 * LIMIT + FIXED
    print("idle RSS %.1f MiB; bound %.1f MiB" % (idle_rss / MIB, bound / MIB))

    for name in ("mem.log", "fs.log"):
        open(os.path.join(logs, name), "w").close()
    p = start(config(srv, rw_port, "outage", INPUTS))
    threads = [threading.Thread(target=writer, args=(n,)) for n in ("mem.log", "fs.log")]
    for t in threads:
        t.start()
    samples = []
    disk_peak = 0
    t0 = time.time()
    try:
        while time.time() - t0 < OUTAGE:
            samples.append(rss(p.pid))
            disk_peak = max(disk_peak, disk_bytes())
            time.sleep(0.5)
    finally:
        stop_writing.set()
        for t in threads:
            t.join()
    status, metrics = http_get(PORT, "/metrics")
    rc = stop(p)
    peak = max(samples)
    third = len(samples) // 3
    early, late = max(samples[:2 * third]), max(samples[2 * third:])
    print("RSS over %.0fs: peak %.1f MiB, first two thirds %.1f MiB, last third %.1f MiB"
          % (OUTAGE, peak / MIB, early / MIB, late / MIB))
    print("RSS samples (MiB): %s" % " ".join("%.0f" % (s / MIB) for s in samples[::4]))
    check(rc == 0, "the agent exits 0 after the outage (rc=%s)" % rc)
    check(srv.events("g") == {}, "the outage lasted: nothing was accepted")
    check(peak <= bound, "peak RSS %.1f MiB within idle + 5 x mem_buf_limit + %d MiB = %.1f MiB"
          % (peak / MIB, FIXED // MIB, bound / MIB))
    check(late <= early + 2 * MIB, "RSS flat: last third %.1f MiB, before %.1f MiB"
          % (late / MIB, early / MIB))
    # Each filesystem input keeps under the smallest limit of its outputs; the two of
    # the logs output share theirs in this test only as an upper bound on the total.
    check(disk_peak <= 3 * (TOTAL + LIMIT), "chunk files peaked at %.1f MiB (3 inputs, limit "
          "%d MiB each, plus their chunks in memory)" % (disk_peak / MIB, TOTAL // MIB))
    dropped = re.findall(r'gleaner_input_dropped_records_total\{[^}]*reason="storage_limit"[^}]*\} (\d+)',
                         metrics)
    written = re.findall(r"gleaner_input_storage_chunks_written_total\{[^}]*\} (\d+)", metrics)
    print("storage: chunks written %s, records dropped at the limit %s" % (written, dropped))
    check(status == 200 and len(written) == 3, "/metrics shows the filesystem buffers' counters")
    check(dropped and int(dropped[0]) > 0,
          "past storage.total_limit_size the oldest chunks were dropped and counted")
