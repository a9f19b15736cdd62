#!/usr/bin/env python3
"""gleaner benchmarks: runs each scenario on build/gleaner and prints
records/s, CPU seconds per million records and peak RSS. Results are also
written to bench/results/latest.md. Timings are measured, never asserted."""
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request


# Directories of the runs, removed when the bench exits.
SCRATCH = []


def scratch():
    """A directory for one run's configuration, storage and certificates."""
    d = tempfile.mkdtemp(prefix="gleaner-bench-")
    SCRATCH.append(d)
    return d


atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in SCRATCH])

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
GLEANER = os.path.join(ROOT, "build", "gleaner")
N = int(os.environ.get("BENCH_RECORDS", "20000000"))
# A 200-byte record body, as a typical JSON application log line.
BODY = ('{"log":"2024-05-01T12:00:00.000Z INFO  [http-nio-8080-exec-7] c.e.shop.OrderService'
        ' - order 81237 accepted for customer 5521 in 23 ms","stream":"stdout",'
        '"level":"info","k":"v"}')


def port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def metric(p, name):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % p, timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name):
                    return float(line.rsplit(" ", 1)[1])
    except OSError:
        return None
    return None


def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick
    hwm = rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return cpu, hwm, rss


def cpu_ns(pid):
    """CPU seconds of pid's live threads to the nanosecond (/proc/PID/task/*/schedstat), where
    /proc/PID/stat counts in clock ticks (10 ms): the figures per collection need the finer
    one. Falls back to the ticks where schedstat is missing."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return proc_stat(pid)[0]
    return total / 1e9


def run(name, filters, n, rate=1000000000):
    d = scratch()
    p = port()
    cfg = os.path.join(d, "bench.yaml")
    with open(cfg, "w") as f:
        f.write("""service:
  flush: 100ms
  log_level: warn
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
pipeline:
  inputs:
    - name: dummy
      tag: bench
      dummy: '%s'
      rate: %d
      samples: %d
      fixed_timestamp: on
%s  outputs:
    - name: null
      alias: sink
      match: '*'
""" % (p, BODY, rate, n, filters))
    proc = subprocess.Popen([GLEANER, "-c", cfg], stdout=subprocess.DEVNULL)
    t0 = time.time()
    done = None
    while time.time() - t0 < 600:
        v = metric(p, 'gleaner_output_records_total{name="sink"')
        if v is not None and v >= n:
            done = time.time()
            break
        time.sleep(0.05)
    cpu, hwm, rss = proc_stat(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    if done is None:
        return (name, "timeout", "", "", "")
    secs = done - t0
    return (name, "%.2fM records/s" % (n / secs / 1e6), "%.3f CPU s per 1M records"
            % (cpu / (n / 1e6)),
            "%.1f MiB" % (hwm / 1048576.0), "%.1fs" % secs)


def idle():
    d = scratch()
    p = port()
    cfg = os.path.join(d, "idle.yaml")
    with open(cfg, "w") as f:
        f.write("""service:
  log_level: warn
pipeline:
  inputs:
    - name: dummy
      rate: 1
  outputs:
    - name: null
      match: '*'
""")
    proc = subprocess.Popen([GLEANER, "-c", cfg], stdout=subprocess.DEVNULL)
    time.sleep(3)
    cpu, hwm, rss = proc_stat(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    return ("idle (dummy 1/s -> null)", "-", "-", "%.1f MiB" % (rss / 1048576.0), "3s")


def agent_cpu_rss(cfg, warmup, window):
    """Starts the agent on cfg; returns (CPU s over window after warmup, RSS bytes at its end)."""
    proc = subprocess.Popen([GLEANER, "-c", cfg], stdout=subprocess.DEVNULL)
    try:
        time.sleep(warmup)
        cpu0 = cpu_ns(proc.pid)
        time.sleep(window)
        cpu1 = cpu_ns(proc.pid)
        _, _, rss = proc_stat(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return cpu1 - cpu0, rss


def node_exporter_scrapes(n):
    """CPU s per scrape and RSS of Debian's prometheus-node-exporter, scraped n times."""
    if shutil.which("prometheus-node-exporter") is None:
        return None
    p = port()
    proc = subprocess.Popen(["prometheus-node-exporter", "--web.listen-address=127.0.0.1:%d" % p],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d/metrics" % p
    try:
        for i in range(200):
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                time.sleep(0.05)
        cpu0, _, _ = proc_stat(proc.pid)
        for i in range(n):
            urllib.request.urlopen(url, timeout=10).read()
            time.sleep(0.1)
        cpu1, _, rss = proc_stat(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return (cpu1 - cpu0) / n, rss


def run_node_metrics():
    """One node_metrics collection: the agent collects every 100 ms into null for 20 s; its
    CPU over those 200 collections, less an idle agent's, per collection. RSS is the agent's
    at a 5 s scrape_interval after 12 s, less the idle agent's. node_exporter, scraped as
    often, is measured beside it."""
    d = scratch()
    configs = {}
    for name, input_ in (("idle", "    - name: dummy\n      rate: 1\n"),
                         ("fast", "    - name: node_metrics\n      scrape_interval: 100ms\n"),
                         ("default", "    - name: node_metrics\n")):
        configs[name] = os.path.join(d, name + ".yaml")
        with open(configs[name], "w") as f:
            f.write("service:\n  log_level: warn\npipeline:\n  inputs:\n%s  outputs:\n"
                    "    - name: null\n      match: '*'\n" % input_)
    window = 20.0
    try:
        cpu_idle, rss_idle = agent_cpu_rss(configs["idle"], 2, window)
        cpu_fast, _ = agent_cpu_rss(configs["fast"], 2, window)
        _, rss_node = agent_cpu_rss(configs["default"], 12, 0.1)
    finally:
        shutil.rmtree(d, True)
    per = (cpu_fast - cpu_idle) / (window / 0.1)
    ne = node_exporter_scrapes(100)
    ne_text = ("node_exporter 1.5 here: %.1f ms per scrape, %.1f MiB" % (ne[0] * 1e3,
                                                                      ne[1] / 1048576.0)
               if ne else "node_exporter not installed")
    return ("node_metrics -> null, one collection (target: under 1 ms CPU, under 2 MiB)",
            "%.0f collections in %.0f s" % (window / 0.1, window),
            "%.3f ms CPU per collection; %s" % (per * 1e3, ne_text),
            "+%.1f MiB over an idle agent (%.1f MiB)" % ((rss_node - rss_idle) / 1048576.0,
                                                          rss_node / 1048576.0),
            "%.0fs" % (2 * window + 12))


CORPUS = os.path.join(ROOT, "build", "bench-corpus")
GEN = os.path.join(ROOT, "..", "shared", "bench", "gen_cri.py")


def corpus(name, files, lines):
    """Generates (once) a CRI corpus laid out as kubelet does; returns (dir, manifest)."""
    import json
    d = os.path.join(CORPUS, name)
    man = os.path.join(d, "manifest.json")
    if not os.path.exists(man):
        if not os.path.exists(GEN):
            return None, None
        subprocess.run(["/usr/bin/python3", GEN, "--out", d, "--files", str(files),
                        "--lines", str(lines)], check=True, stdout=subprocess.DEVNULL)
    redate(d)
    with open(man) as f:
        return d, json.load(f)


def redate(corpus_dir):
    """Moves the corpus's dates to yesterday once they are a week old. The generator
    writes the same dates every time (it is deterministic), and CloudWatch Logs takes no
    event older than 14 days: past that the agent drops them before sending, as it should,
    and the cloudwatch_logs rows would measure nothing. Every date moves by the same number
    of days, so lengths, order and the gaps between lines stay as generated."""
    import datetime
    import re
    paths = []
    for root, _, names in os.walk(os.path.join(corpus_dir, "pods")):
        paths += [os.path.join(root, n) for n in names]
    if not paths:
        return
    with open(paths[0], "rb") as f:
        first = f.read(10).decode()
    # To yesterday: a corpus of today's date could lie hours ahead of the clock, and the
    # service takes nothing more than 2 hours ahead either. A week old is old enough to move.
    yesterday = datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)
    try:
        days = (yesterday - datetime.date.fromisoformat(first)).days
    except ValueError:
        return  # not a corpus of CRI lines
    if days < 7:
        return
    shifted = {}

    def shift(m):
        key = m.group(0)
        if key not in shifted:
            d = datetime.date.fromisoformat(key[:10].decode()) + datetime.timedelta(days=days)
            shifted[key] = d.isoformat().encode() + b"T"
        return shifted[key]

    date = re.compile(rb"\d{4}-\d\d-\d\dT")
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        tmp = path + ".redate"
        with open(tmp, "wb") as f:
            f.write(date.sub(shift, data))
        os.replace(tmp, path)


def warm(corpus_dir):
    """Reads the corpus once so every scenario starts from a warm page cache."""
    pods = os.path.join(corpus_dir, "pods")
    for root, _, files in os.walk(pods):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                while f.read(1 << 20):
                    pass


def tail_usage(corpus_dir, filters="", extra="", service=""):
    """Runs tail (read_from_head, exit_on_eof) -> [filters] -> null once, from a warm
    page cache; the agent exits when done. Returns (wall s, CPU s, peak RSS KiB)."""
    warm(corpus_dir)
    d = scratch()
    cfg = os.path.join(d, "tail.yaml")
    with open(cfg, "w") as f:
        f.write("""service:
  flush: 1s
  log_level: warn
  storage.path: %s
%spipeline:
  inputs:
    - name: tail
      path: %s/containers/*.log
      multiline.parser: cri
      read_from_head: on
      exit_on_eof: on
%s%s  outputs:
    - name: null
      alias: sink
      match: '*'
""" % (d, service, corpus_dir, extra, filters))
    t0 = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", GLEANER, "-c", cfg],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=900)
    wall = time.monotonic() - t0
    user, sys_, rss = r.stderr.decode().strip().splitlines()[-1].split()
    shutil.rmtree(d, ignore_errors=True)
    return wall, float(user) + float(sys_), int(rss)


def tail_row(name, manifest, wall, cpu, rss_kib):
    mb = manifest["bytes"] / 1e6
    return (name, "%.0fk lines/s" % (manifest["lines"] / wall / 1e3),
            "%.1f MB/s, %.2f CPU s/GB" % (mb / wall, cpu / (mb / 1000)),
            "%.1f MiB" % (rss_kib / 1024.0), "%.1fs" % wall)


def run_tail(name, corpus_dir, manifest, filters="", extra="", service=""):
    """tail (read_from_head, exit_on_eof) -> [filters] -> null, one run."""
    return tail_row(name, manifest, *tail_usage(corpus_dir, filters, extra, service))


def run_tail_against_null(name, corpus_dir, manifest, extra="", service="", pairs=5):
    """A tail -> null variant measured against tail -> null itself: pairs runs of
    each, interleaved, so that both see the same state of this shared machine (a
    single run of either varies by 10-15%). The row gives the median of the
    variant's runs and the median of its throughput as a share of the tail -> null
    run beside it, with the range of that share."""
    runs, shares = [], []
    for _ in range(pairs):
        base = tail_usage(corpus_dir)
        run = tail_usage(corpus_dir, extra=extra, service=service)
        runs.append(run)
        shares.append(100.0 * base[0] / run[0])
    mid = pairs // 2
    shares.sort()
    row = list(tail_row(name, manifest, sorted(r[0] for r in runs)[mid],
                        sorted(r[1] for r in runs)[mid], max(r[2] for r in runs)))
    row[2] = row[2].replace(" MB/s", " MB/s (%.0f%% of tail -> null: median of %d interleaved "
                            "pairs, %.0f-%.0f%%)" % (shares[mid], pairs, shares[0], shares[-1]),
                            1)
    return tuple(row)


def run_tail_kubernetes(name, corpus_dir, manifest, merge_log=False, latency=0.0, limit="0"):
    """tail -> kubernetes -> null, the pods of the corpus served by the Kubernetes API test
    server, answering at once or after latency seconds (the list, the watch, any GET);
    the row adds the requests the server counted. Tagged kube.* as in a cluster, so that
    each file is a tag of its own and waits for its own pod; limit is the input's
    mem_buf_limit."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    from lib_kube_api import KubeApi
    d = scratch()
    token = os.path.join(d, "token")
    with open(token, "w") as f:
        f.write("bench-token")
    api = KubeApi(token="bench-token", node="bench-node")
    api.start()
    for link in os.listdir(os.path.join(corpus_dir, "containers")):
        pod, ns = link.split("_")[0], link.split("_")[1]
        api.add_pod(ns, pod)
    api.set_latency(latency)
    try:
        row = list(run_tail(name, corpus_dir, manifest, """  filters:
    - name: kubernetes
      match: '*'
      kube_url: http://127.0.0.1:%d
      kube_token_file: %s
      node_name: bench-node
      merge_log: %s
""" % (api.port, token, "on" if merge_log else "off"),
                             extra="      tag: kube.*\n      mem_buf_limit: %s\n" % limit))
        c = api.stats()["counts"]
    finally:
        api.stop()
    row[1] += "; API: %d list, %d watch, %d GET" % (c["list"], c["watch"], c["get"])
    return tuple(row)


def agent_usage(cfg, env=None):
    """Runs the agent on cfg to its end; returns (wall s, CPU s, peak RSS KiB)."""
    t0 = time.time()
    r = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", GLEANER, "-c", cfg],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=900, env=env)
    wall, user, sys_, rss = r.stderr.decode().strip().splitlines()[-1].split()
    return float(wall) or (time.time() - t0), float(user) + float(sys_), int(rss)


CWL_OPTIONS = """      endpoint: %s
      log_group_name: /bench/gleaner
      log_stream_template: $kubernetes['pod_name']
      log_stream_name: bench
      workers: 4
"""


def tail_into(server, server_args, out, options, corpus_dir, stats_path, env=None):
    """Runs tail (read_from_head, exit_on_eof) -> out against a test server
    (tests/integration/<server>, a process of its own on loopback), then the same
    input into null. options(port) gives the output's option lines. Returns (wall s,
    CPU s, peak RSS KiB, CPU s of the null run, the server's stats from stats_path)."""
    import json
    d = scratch()
    portfile = os.path.join(d, "server.port")
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests", "integration",
                                                              server),
                             "--port-file", portfile] + server_args, stdout=subprocess.DEVNULL)
    try:
        t0 = time.time()
        while not os.path.exists(portfile) and time.time() - t0 < 10:
            time.sleep(0.05)
        with open(portfile) as f:
            server_port = int(f.read())
        configs = {}
        for name, opts in ((out, options(server_port)), ("null", "")):
            configs[name] = os.path.join(d, "%s.yaml" % name)
            with open(configs[name], "w") as f:
                f.write("""service:
  flush: 1s
  log_level: warn
  storage.path: %s/%s
pipeline:
  inputs:
    - name: tail
      path: %s/containers/*.log
      multiline.parser: cri
      read_from_head: on
      exit_on_eof: on
  outputs:
    - name: %s
      match: '*'
%s""" % (d, name, corpus_dir, name, opts))
        wall, cpu, rss = agent_usage(configs[out], env)
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (server_port, stats_path),
                                    timeout=60) as r:
            stats = json.loads(r.read())
        _, cpu_null, _ = agent_usage(configs["null"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return wall, cpu, rss, cpu_null, stats


def run_cloudwatch(name, corpus_dir, manifest):
    """tail (read_from_head, exit_on_eof) -> cloudwatch_logs (one stream per pod) against
    the CloudWatch Logs test server on loopback, a process of its own. The CPU is
    given per GB read and, for the output's share (JSON encoding, SigV4, HTTP),
    minus the same run into null; the batch fill is the mean bytes per accepted
    PutLogEvents over 1,048,576, from the server's /_stats."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDGLEANERTEST00001",
               AWS_SECRET_ACCESS_KEY="gleaner-test-secret", AWS_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_SESSION_TOKEN", None)
    wall, cpu, rss, cpu_null, stats = tail_into(
        "lib_cwl_server.py", [], "cloudwatch_logs",
        lambda p: CWL_OPTIONS % ("http://127.0.0.1:%d" % p), corpus_dir, "/_stats", env)
    ok = [b for b in stats["batches"] if b["status"] == 200]
    events = sum(b["events"] for b in ok)
    if events < manifest["expected_records_cri"]:
        return (name, "%d of %d records accepted (a corpus older than 14 days is refused: "
                "delete %s)" % (events, manifest["expected_records_cri"], corpus_dir),
                "", "", "%.1fs" % wall)
    gb = manifest["bytes"] / 1e9
    sent_gb = sum(b["body"] for b in ok) / 1e9
    fill = sum(b["bytes"] for b in ok) / float(len(ok)) / 1048576
    return (name, "%.0fk lines/s, %d PutLogEvents, batch fill %.1f%%"
            % (manifest["lines"] / wall / 1e3, len(ok), fill * 100),
            "%.2f CPU s/GB read; the output's share (JSON, SigV4, HTTP) %.2f CPU s per GB "
            "read, %.2f per GB sent (%.2f GB)" % (cpu / gb, (cpu - cpu_null) / gb,
                                                   (cpu - cpu_null) / sent_gb, sent_gb),
            "%.1f MiB" % (rss / 1024.0), "%.1fs" % wall)


# Fluent Bit 5.1.1 on the 200,000-line file to a local CloudWatch Logs server over TLS,
# measured on this kind of machine (the shared bench corpus's README): the figures to beat.
FLUENT_BIT_CWL = "Fluent Bit: 27.6-34 CPU s/GB read, 99-134 MiB"
CWL_TARGET = "target: 6 CPU s/GB read, 40 MiB, 100 MB/s"


# Bytes sent per byte read by the last TLS sink row, without and with the kubernetes filter.
SENT_PER_READ = {}


def openssl_speed(alg):
    """GB/s of one core for an EVP algorithm on 16 KiB blocks, as `openssl speed` gives it."""
    r = subprocess.run(["openssl", "speed", "-evp", alg, "-bytes", "16384", "-seconds", "2"],
                       capture_output=True, text=True, timeout=60)
    last = r.stdout.strip().splitlines()[-1].split()
    return float(last[-1].rstrip("k")) * 1000 / 1e9


def tcp_send_cpu(total=1 << 30, block=64 << 10):
    """CPU seconds per GB this process spends sending over loopback TCP to a reader in
    another process. On loopback the receiver's protocol work runs in the sender's
    softirq, so it counts here, as it counts against the agent in the sink rows."""
    import socket
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    pid = os.fork()
    if pid == 0:
        conn, _ = srv.accept()
        buf = bytearray(1 << 20)
        while conn.recv_into(buf):
            pass
        os._exit(0)
    c = socket.create_connection(srv.getsockname())
    data = b"x" * block
    t0 = os.times()
    for _ in range(total // block):
        c.sendall(data)
    t1 = os.times()
    c.close()
    os.waitpid(pid, 0)
    srv.close()
    return (t1.user - t0.user + t1.system - t0.system) / (total / 1e9)


def run_cwl_floor():
    """What the kubernetes TLS row spends below the agent: hashing the bodies for SigV4,
    encrypting them and sending them over loopback, per GB read, at the bytes sent per
    byte read the row measured. The agent's own work (reading, parsing, encoding) comes
    on top of it."""
    ratio = SENT_PER_READ.get(True)
    if ratio is None:
        return ("floor of tail -> kubernetes -> cloudwatch_logs", "the row did not run", "",
                "-", "-")
    t0 = time.monotonic()
    sha, gcm, tcp = openssl_speed("sha256"), openssl_speed("aes-128-gcm"), tcp_send_cpu()
    # OpenSSL writes each TLS record (16 KiB of data and 29 bytes more) with a send of its own.
    tcp_record = tcp_send_cpu(block=(16 << 10) + 29)
    per_sent = 1 / sha + 1 / gcm + tcp
    per_record = 1 / sha + 1 / gcm + tcp_record
    return ("floor of tail -> kubernetes -> cloudwatch_logs (TLS sink) on this machine: "
            "SigV4's SHA-256, AES-128-GCM and the loopback TCP send of the bytes sent",
            "SHA-256 %.2f GB/s, AES-128-GCM %.2f GB/s (openssl speed, one core); TCP send "
            "%.2f CPU s/GB in 64 KiB sends, %.2f in sends of one TLS record"
            % (sha, gcm, tcp, tcp_record),
            "%.2f CPU s per GB sent x %.1f bytes sent per byte read = %.2f CPU s/GB read "
            "before the agent's own work; %.2f with a send per record, as OpenSSL sends (%s)"
            % (per_sent, ratio, per_sent * ratio, per_record * ratio, CWL_TARGET),
            "-", "%.0fs" % (time.monotonic() - t0))


def sink_cert(d):
    """A self-signed certificate for 127.0.0.1, for the TLS sink."""
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return cert, key


# Runs of each TLS sink row: one run of these varies by 20% and more on a 2-core VM.
SINK_RUNS = int(os.environ.get("BENCH_SINK_RUNS", "3"))


def run_cloudwatch_sink(name, corpus_dir, manifest, kubernetes=False, limit=None):
    """tail -> [kubernetes] -> cloudwatch_logs with its default settings, over TLS, to
    bench/cwl_sink (a C server that only counts, so that the agent is the limit), one
    stream per pod, SINK_RUNS times. Reports the run of median CPU (lines/s, MB/s read,
    CPU s per GB read and per GB sent, peak RSS) and the spread over the runs, beside the
    targets and Fluent Bit's figures."""
    if not os.path.exists(os.path.join(ROOT, "build", "bench", "cwl_sink")):
        return (name, "build/bench/cwl_sink missing (make bench builds it)", "", "", "")
    runs = []
    for _ in range(max(SINK_RUNS, 1)):
        r = sink_run(corpus_dir, kubernetes, limit)
        if r["events"] < manifest["expected_records_cri"]:
            return (name, "%d of %d records arrived" % (r["events"],
                                                      manifest["expected_records_cri"]),
                    "", "%.1f MiB" % (r["rss"] / 1024.0), "%.1fs" % r["wall"])
        runs.append(r)
    gb = manifest["bytes"] / 1e9
    runs.sort(key=lambda r: r["cpu"])
    mid = runs[len(runs) // 2]
    sent_gb = mid["body_bytes"] / 1e9
    SENT_PER_READ[kubernetes] = sent_gb / gb
    spread = ""
    if len(runs) > 1:
        mbs = sorted(gb * 1000 / r["wall"] for r in runs)
        spread = " (median of %d runs: %.2f-%.2f CPU s/GB, %.1f-%.1f MB/s, %.1f-%.1f MiB)" % (
            len(runs), runs[0]["cpu"] / gb, runs[-1]["cpu"] / gb, mbs[0], mbs[-1],
            min(r["rss"] for r in runs) / 1024.0, max(r["rss"] for r in runs) / 1024.0)
    return (name, "%.0fk lines/s, %.1f MB/s read, %d PutLogEvents (%.2f GB sent)"
            % (manifest["lines"] / mid["wall"] / 1e3, gb * 1000 / mid["wall"], mid["puts"],
               sent_gb),
            "%.2f CPU s/GB read, %.2f per GB sent%s (%s; %s)"
            % (mid["cpu"] / gb, mid["cpu"] / sent_gb, spread, CWL_TARGET, FLUENT_BIT_CWL),
            "%.1f MiB" % (mid["rss"] / 1024.0), "%.1fs" % mid["wall"])


def sink_run(corpus_dir, kubernetes, limit):
    """One run of run_cloudwatch_sink's path: wall s, CPU s, peak RSS KiB, and what the
    sink counted (events, puts, body_bytes)."""
    import json
    sink_bin = os.path.join(ROOT, "build", "bench", "cwl_sink")
    warm(corpus_dir)
    d = scratch()
    cert, key = sink_cert(d)
    portfile = os.path.join(d, "port")
    stats = os.path.join(d, "stats.json")
    with open(stats, "w") as out:
        sink = subprocess.Popen([sink_bin, portfile, cert, key], stdout=out)
    api = None
    try:
        t0 = time.time()
        while not (os.path.exists(portfile) and os.path.getsize(portfile)) and \
                time.time() - t0 < 10:
            time.sleep(0.05)
        with open(portfile) as f:
            sink_port = int(f.read())
        filters = ""
        if kubernetes:
            sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
            from lib_kube_api import KubeApi
            token = os.path.join(d, "token")
            with open(token, "w") as f:
                f.write("bench-token")
            api = KubeApi(token="bench-token", node="bench-node")
            api.start()
            for link in os.listdir(os.path.join(corpus_dir, "containers")):
                api.add_pod(link.split("_")[1], link.split("_")[0])
            filters = """  filters:
    - name: kubernetes
      match: '*'
      kube_url: http://127.0.0.1:%d
      kube_token_file: %s
      node_name: bench-node
""" % (api.port, token)
        cfg = os.path.join(d, "g.yaml")
        with open(cfg, "w") as f:
            f.write("""service:
  flush: 1s
  log_level: warn
  storage.path: %s
pipeline:
  inputs:
    - name: tail
      path: %s/containers/*.log
      tag: kube.*
      multiline.parser: cri
      read_from_head: on
      exit_on_eof: on
%s%s  outputs:
    - name: cloudwatch_logs
      match: '*'
      endpoint: https://127.0.0.1:%d
      tls.ca_file: %s
      log_group_name: /bench/gleaner
      log_stream_template: $kubernetes['pod_name']
      log_stream_name: bench
""" % (d, corpus_dir, "      mem_buf_limit: %s\n" % limit if limit else "", filters, sink_port,
       cert))
        env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDGLEANERTEST00001",
                   AWS_SECRET_ACCESS_KEY="gleaner-test-secret", AWS_REGION="us-east-1",
                   AWS_EC2_METADATA_DISABLED="true")
        env.pop("AWS_SESSION_TOKEN", None)
        wall, cpu, rss = agent_usage(cfg, env)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)
        if api is not None:
            api.stop()
    with open(stats) as f:
        got = json.loads(f.read())
    return dict(got, wall=wall, cpu=cpu, rss=rss)
def scrape_body(i):
    """About 1,000 samples as an application serves them: counters, gauges, a histogram."""
    lines = ["# HELP http_requests_total Requests.", "# TYPE http_requests_total counter"]
    for m in ("get", "post", "put", "delete"):
        for code in ("200", "201", "400", "404", "500"):
            for h in range(25):
                lines.append('http_requests_total{method="%s",code="%s",handler="/api/v1/h%d"} '
                             '%d' % (m, code, h, i * 1000 + h))
    lines += ["# HELP http_request_duration_seconds Latency.",
              "# TYPE http_request_duration_seconds histogram"]
    for h in range(25):
        for le in ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"):
            lines.append('http_request_duration_seconds_bucket{handler="/api/v1/h%d",le="%s"} %d'
                         % (h, le, h * 10))
        lines.append('http_request_duration_seconds_sum{handler="/api/v1/h%d"} %d.25' % (h, h))
        lines.append('http_request_duration_seconds_count{handler="/api/v1/h%d"} %d' % (h, h))
    lines += ["# TYPE app_queue_depth gauge"]
    while len(lines) < 1000 + 6:
        lines.append('app_queue_depth{queue="q%d",shard="%d"} %d' % (len(lines), i, len(lines)))
    return "\n".join(lines) + "\n"


def run_scrape_targets(n_targets=100, interval=15):
    """prometheus_scrape: n_targets targets of about 1,000 samples each, every interval, into
    null. CPU is the agent's own over a window after the first round; the added memory is its
    resident memory over an agent idling on dummy -> null (which has no HTTP client loaded),
    and over one scraping a single target. The targets are served from this process."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    from lib_prom_targets import Target
    window = float(os.environ.get("BENCH_SCRAPE_WINDOW", "60"))
    targets = [Target(text=scrape_body(i)) for i in range(n_targets)]

    def agent(addresses, warm):
        d = scratch()
        cfg = os.path.join(d, "scrape.yaml")
        with open(cfg, "w") as f:
            f.write("""service:
  log_level: warn
pipeline:
  inputs:
    - name: prometheus_scrape
      scrape_interval: %ds
      targets: [%s]
  outputs:
    - name: null
      match: '*'
""" % (interval, ", ".join(addresses)))
        proc = subprocess.Popen([GLEANER, "-c", cfg], stdout=subprocess.DEVNULL)
        time.sleep(warm)
        cpu0, _, _ = proc_stat(proc.pid)
        return proc, cpu0

    try:
        one, _ = agent([targets[0].address], interval + 5)
        _, _, rss_one = proc_stat(one.pid)
        one.send_signal(signal.SIGTERM)
        one.wait(30)
        base = idle()
        rss_idle = float(base[3].split()[0]) * 1048576
        proc, cpu0 = agent([t.address for t in targets], interval + 5)
        time.sleep(window)
        cpu1, hwm, rss = proc_stat(proc.pid)
        scrapes = sum(len(t.requests) for t in targets)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        for t in targets:
            t.stop()
    samples = scrapes * 1006
    return ("prometheus_scrape: %d targets x 1,000 series every %ds -> null" % (n_targets,
                                                                               interval),
            "%d scrapes, %.0fk samples/s" % (scrapes, samples / (window + interval + 5) / 1e3),
            "%.2f%% of a core (target: under 3%%)" % (100 * (cpu1 - cpu0) / window),
            "%.1f MiB; +%.1f MiB over idle, +%.1f MiB over one target (target: under 16 MiB "
            "added)" % (rss / 1048576.0, (rss - rss_idle) / 1048576.0,
                        (rss - rss_one) / 1048576.0),
            "%.0fs" % (window + interval + 5))


ES_OPTIONS = """      port: %d
      index: bench
      generate_id: on
      workers: 4
"""


def run_es(name, corpus_dir, manifest, gzip=True):
    """tail (read_from_head, exit_on_eof) -> es (generate_id, gzip or not) against the
    Elasticsearch test server on loopback, a process of its own that keeps no
    document bodies. CPU per GB read and, for the output's share (JSON, bulk
    framing, gzip, HTTP), minus the same run into null, as for cloudwatch_logs."""
    options = ES_OPTIONS + ("      compress: gzip\n" if gzip else "")
    wall, cpu, rss, cpu_null, stats = tail_into(
        "lib_es_server.py", ["--count-only"], "es", lambda p: options % p, corpus_dir,
        "/_test/stats")
    ok = [b for b in stats["bulks"] if b["status"] == 200]
    stored = stats["items"].get("201", 0)
    if stored < manifest["expected_records_cri"]:
        return (name, "%d of %d records stored" % (stored, manifest["expected_records_cri"]),
                "", "", "%.1fs" % wall)
    gb = manifest["bytes"] / 1e9
    raw_gb = sum(b["raw"] for b in ok) / 1e9
    sent_gb = sum(b["bytes"] for b in ok) / 1e9
    return (name, "%.0fk lines/s, %d bulk requests of %.1f MB (NDJSON) on average"
            % (manifest["lines"] / wall / 1e3, len(ok), raw_gb * 1e3 / max(len(ok), 1)),
            "%.2f CPU s/GB read; the output's share (JSON, bulk framing,%s HTTP) %.2f CPU s "
            "per GB read, %.2f per GB of NDJSON (%.2f GB%s)"
            % (cpu / gb, " gzip," if gzip else "", (cpu - cpu_null) / gb,
               (cpu - cpu_null) / raw_gb, raw_gb,
               ", gzipped to %.3f GB" % sent_gb if gzip else ""),
            "%.1f MiB" % (rss / 1024.0), "%.1fs" % wall)


def run_inprocess(binary):
    """An in-process benchmark (bench/*.c): each line it prints is a row (tab-separated
    scenario, throughput, CPU)."""
    path = os.path.join(ROOT, "build", "bench", binary)
    if not os.path.exists(path):
        return []
    r = subprocess.run([path], capture_output=True, text=True, timeout=600)
    rows = []
    for line in r.stdout.splitlines():
        title, throughput, cpu = line.split("\t")
        rows.append((title, throughput, cpu, "-", "-"))
    return rows


def main():
    grep = """  filters:
    - name: grep
      match: '*'
      regex: log accepted
"""
    rows = [
        run("dummy -> null (200 B records)", "", N),
        run("dummy -> grep -> null (200 B records)", grep, N // 2),
        idle(),
        run_node_metrics(),
    ]
    rows += run_inprocess("metrics_batch")
    rows += run_inprocess("remote_write")
    rows += run_inprocess("prom_parse")
    rows.append(run_scrape_targets())
    c1, m1 = corpus("1x1M", 1, 1000000)
    if c1 is not None:
        rows.append(run_tail("tail 1 file (%d MB) -> null" % (m1["bytes"] // 1000000), c1, m1))
        # Every chunk of a filesystem input is written (its offsets are committed once it
        # is on disk); with room downstream it also stays in memory, written as it is, and
        # its file is removed once delivered. With storage.max_chunks_up 1 a chunk closed
        # while another is in memory waits on disk and is read back and checked before it
        # goes on (4-11 of the 322 chunks of this corpus, measured; written while there was
        # room, they are as they are too: only chunks written while there is none, or
        # behind a backlog, are compressed).
        for title, service in (
                ("tail 1 file -> filesystem buffer -> null", ""),
                ("tail 1 file -> filesystem buffer, storage.max_chunks_up 1 (chunks wait on "
                 "disk) -> null", "  storage.max_chunks_up: 1\n")):
            rows.append(run_tail_against_null(title, c1, m1,
                                              extra="      storage.type: filesystem\n",
                                              service=service))
        rows.append(run_tail("tail 1 file -> grep exclude -> null", c1, m1, """  filters:
    - name: grep
      match: '*'
      exclude: log DEBUG
"""))
        rows.append(run_tail("tail 1 file -> null, mem_buf_limit 5MB", c1, m1,
                             extra="      mem_buf_limit: 5MB\n"))
        rows.append(run_cloudwatch("tail 1 file -> cloudwatch_logs (test server, loopback)",
                                   c1, m1))
        rows.append(run_es("tail 1 file -> es, generate_id, gzip (test server, loopback)",
                           c1, m1))
        rows.append(run_es("tail 1 file -> es, generate_id, no compression (test server, "
                           "loopback)", c1, m1, gzip=False))
    c200, m200 = corpus("1x200k", 1, 200000)
    if c200 is not None:
        mb = m200["bytes"] // 1000000
        rows.append(run_cloudwatch_sink("tail 1 file (%d MB) -> cloudwatch_logs (TLS sink)" % mb,
                                        c200, m200))
        rows.append(run_cloudwatch_sink("tail 1 file (%d MB) -> kubernetes -> cloudwatch_logs "
                                        "(TLS sink)" % mb, c200, m200, kubernetes=True))
        rows.append(run_cwl_floor())
    if os.environ.get("BENCH_LARGE", "1") == "1":
        c50, m50 = corpus("50x100k", 50, 100000)
        if c50 is not None:
            rows.append(run_tail("tail 50 files (%d MB) -> null" % (m50["bytes"] // 1000000),
                                 c50, m50))
            base = float(rows[-1][1].split("k")[0])
            rows.append(run_cloudwatch_sink("tail 50 files -> cloudwatch_logs (TLS sink)",
                                            c50, m50))
            rows.append(run_cloudwatch_sink("tail 50 files -> kubernetes -> cloudwatch_logs "
                                            "(TLS sink)", c50, m50, kubernetes=True))
            # A tag per file (kube.*), as container logs are tagged: open chunks per tag.
            for limit in ("0", "5MB"):
                rows.append(run_tail("tail 50 files -> null, tag per file, input mem_buf_limit "
                                     "%s" % limit, c50, m50,
                                     extra="      tag: kube.*\n      mem_buf_limit: %s\n"
                                     % limit))
            for title, merge, latency, limit in (
                    ("tail 50 files -> kubernetes -> null", False, 0.0, "0"),
                    ("tail 50 files -> kubernetes -> null, input mem_buf_limit 5MB", False, 0.0,
                     "5MB"),
                    ("tail 50 files -> kubernetes -> null, API answers after 2 s", False, 2.0,
                     "0"),
                    ("tail 50 files -> kubernetes -> null, API answers after 2 s, input "
                     "mem_buf_limit 5MB", False, 2.0, "5MB"),
                    ("tail 50 files -> kubernetes (merge_log) -> null", True, 0.0, "0")):
                row = list(run_tail_kubernetes(title, c50, m50, merge_log=merge,
                                               latency=latency, limit=limit))
                if "k lines/s" in row[1]:
                    row[1] = row[1].replace("k lines/s", "k lines/s (%.0f%% of tail -> null)" % (
                        100 * float(row[1].split("k")[0]) / base), 1)
                rows.append(tuple(row))
    if os.environ.get("BENCH_LARGE", "1") == "1":
        c1k, m1k = corpus("1000x5k", 1000, 5000)
        if c1k is not None:
            for limit in ("0", "5MB"):
                rows.append(run_tail("tail 1000 files (%d MB) -> null, tag per file, input "
                                     "mem_buf_limit %s" % (m1k["bytes"] // 1000000, limit),
                                     c1k, m1k, extra="      tag: kube.*\n"
                                     "      mem_buf_limit: %s\n" % limit))
    head = ("| scenario | throughput | CPU | peak RSS | wall |\n"
            "|---|---|---|---|---|")
    lines = [head] + ["| %s |" % " | ".join(r) for r in rows]
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "latest.md"), "w") as f:
        f.write("Measured by `make bench` on %s (%d cores).\n\n%s\n"
                % (time.strftime("%Y-%m-%d"), os.cpu_count(), text))


if __name__ == "__main__":
    sys.exit(main())
