"""The fault suite: the agent under a steady load of numbered log lines (and
its own metrics), with one fault injected per scenario; afterwards what was
written is compared with what arrived. Zero lines lost, always; duplicates
zero where ids allow it (Elasticsearch) and reported elsewhere; the agent's
peak resident memory (sampled from /proc every 100 ms) within README's
bound; recovery time is from the fault's end until everything written
before it had arrived.

    python3 tests/faults/faults.py --short      # make test: about 20 s a fault
    python3 tests/faults/faults.py --long --table bench/results/faults.md
    python3 tests/faults/faults.py --only cwl_outage,file_sigkill

A scenario that cannot run (no root for the tmpfs, a missing package) fails
saying why. Scenarios of what is not built yet are listed as pending and
switch on by themselves: Elasticsearch when `gleaner --plugins` lists es,
the filesystem buffer when storage.type filesystem keeps chunks on disk.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib_faults import (GLEANER, TABLE_HEAD, Agent, CwlSink, EsSink, FileSink, Load,  # noqa
                        Result, ScenarioError, free_port, metric, mount_tmpfs, rss_bound,
                        tmpdir, umount, wait_until, write)
from lib import prometheus_receiver  # noqa: E402

FILES = 4
# Requests in flight at most (the outputs' defaults): cloudwatch_logs' max_concurrency,
# remote-write's max_shards, es' workers.
CWL_REQUESTS, RW_REQUESTS, ES_REQUESTS = 16, 8, 2


class Form:
    """Durations and rates of the short (make test) and long (make faults) runs."""

    def __init__(self, long):
        self.long = long
        self.rate = 4000 if long else 1500          # lines a second
        self.fault = 120 if long else 12            # seconds a fault lasts
        self.outage = 180 if long else 15           # seconds an output is down
        self.warm = 5 if long else 3
        self.after = 10 if long else 3
        self.kills = 24 if long else 4
        self.drain = 240 if long else 90            # seconds allowed to catch up


# ---- configs ------------------------------------------------------------------

def service(d, port):
    return """service:
  flush: 500ms
  grace: 5s
  log_level: %s
  http_server: on
  http_listen: 127.0.0.1
  http_port: %d
  storage.path: %s
  scheduler.base: 500ms
  scheduler.cap: 5s
""" % (os.environ.get("GLEANER_FAULT_LOG", "info"), port, os.path.join(d, "state"))


def tail_input(d):
    return """    - name: tail
      alias: logs
      tag: kube.*
      path: %s/*.log
      read_from_head: on
      refresh_interval: 1s
      rotate_wait: 3s
      multiline.parser: cri
      kubernetes_metadata: off
      mem_buf_limit: 8MiB
""" % os.path.join(d, "logs")


def file_output(d):
    return """    - name: file
      alias: out
      match: 'kube.*'
      path: %s
      file: out.jsonl
""" % os.path.join(d, "out")


def cwl_output(endpoint, extra=""):
    return """    - name: cloudwatch_logs
      alias: cwl
      match: 'kube.*'
      region: us-east-1
      log_group_name: /faults
      log_stream_prefix: s-
      endpoint: %s
      net.timeout: 10s
%s""" % (endpoint, extra)


def metrics_to_rw(host, port):
    return ("""    - name: internal_metrics
      alias: self
      tag: self
      scrape_interval: 1s
      scrape_on_start: on
      mem_buf_limit: 4MiB
""", """    - name: prometheus_remote_write
      alias: rw
      match: self
      host: %s
      port: %d
      batch_send_deadline: 1s
""" % (host, port))


def config(d, port, inputs, outputs):
    os.makedirs(os.path.join(d, "out"), exist_ok=True)
    os.makedirs(os.path.join(d, "state"), exist_ok=True)
    return write(os.path.join(d, "gleaner.yaml"), service(d, port) + "pipeline:\n  inputs:\n"
                 + "".join(inputs) + "  outputs:\n" + "".join(outputs))


# ---- the common flow ------------------------------------------------------------

def run(form, agent, load, progress, fault, recovered=None):
    """Load and agent start; after form.warm the fault runs (it returns when
    the fault is over); recovery is timed until progress() passes what was
    written by then (or recovered() holds); the load goes on for form.after,
    stops, and everything is waited for. Returns the recovery time."""
    load.start()
    agent.start()
    time.sleep(form.warm)
    fault()
    end = time.time()
    target = load.written()
    check = recovered or (lambda: progress() >= target)
    wait_until("the backlog of the fault to arrive", check, form.drain, every=0.25)
    recovery = time.time() - end
    time.sleep(form.after)
    load.stop()
    wait_until("every line written to arrive (%d)" % load.written(),
               lambda: progress() >= load.written(), form.drain, every=0.25)
    time.sleep(1.0)
    rc = agent.stop()
    if rc != 0:
        raise ScenarioError("the agent exited %s after SIGTERM" % rc)
    return recovery


def tail_bound(requests=0, http=False, encoded_mib=0):
    """tail's 8 MiB (mem_buf_limit), its files and their rotated ones."""
    return rss_bound([8], requests, FILES * 2, http, encoded_mib)


def cwl_server(**kw):
    from lib_cwl_server import CwlServer
    s = CwlServer(seed=7, **kw).start()
    s.call("CreateLogGroup", {"logGroupName": "/faults"})
    return s


CWL_FAILED = "gleaner_output_cloudwatch_put_log_events_failed_total"
RW_RETRIES = "gleaner_output_retries_total"
ES_FAILED = "gleaner_output_es_bulk_requests_failed_total"
ES_RETRIED = "gleaner_output_es_documents_retried_total"


def errors_of(port, name, alias):
    """A counter of the output's failures so far (0 when /metrics does not answer)."""
    return metric(port, name, 'name="%s"' % alias) or 0


def cwl_scenario(form, name, fault, server_kw=None, agent_wrap=None, endpoint=None,
                 extra="", dup_allowed=True, env_extra=None, bit=None):
    """tail -> cloudwatch_logs with fault(srv, agent). bit(stats, errors) says
    why the fault was not seen to take effect (None: it was), from the
    server's stats and the output's failed PutLogEvents at the fault's end;
    by default some must have failed."""
    d = tmpdir(name)
    srv = cwl_server(**(server_kw or {}))
    try:
        port = free_port()
        cfg = config(d, port, [tail_input(d)],
                     [cwl_output(endpoint(srv) if endpoint else srv.endpoint, extra)])
        env = srv.env()
        env.update(env_extra or {})
        agent = Agent(cfg, env=env, wrapper=agent_wrap)
        load = Load(os.path.join(d, "logs"), files=FILES, rate=form.rate)
        sink = CwlSink(srv, "/faults", FILES)
        seen = {}

        def do_fault():
            fault(srv, agent)
            seen["errors"] = errors_of(port, CWL_FAILED, "cwl")
        rec = run(form, agent, load, sink.scan, do_fault)
        t = sink.final()
        written, arrived, lost, dup = t.compare(load)
        st = srv.stats()
        put = st["requests"].get("PutLogEvents", {})
        note = ("PutLogEvents answers %s; %d dropped, %d reset, %d delayed, %d TLS handshakes "
                "failed; %d failed PutLogEvents" % (
                    ", ".join("%s: %d" % kv for kv in sorted(put.items())), st["dropped"],
                    st["reset"], st["delayed"], st["tls_failures"], seen["errors"]))
        missed = (bit or (lambda st, errors: None if errors else "no PutLogEvents failed"))(
            st, seen["errors"])
        return [Result(name, "cloudwatch_logs", written, arrived, lost, dup, agent.peak,
                       tail_bound(CWL_REQUESTS, True, 2), rec, note=note, dup_allowed=dup_allowed,
                       missed=missed)]
    finally:
        srv.stop()


def file_scenario(form, name, fault, load_kw=None, prepare=None, bit=None):
    """tail -> file with fault(d, agent, load, port); bit(agent, load) says why
    the fault was not seen to take effect (None: it was)."""
    d = tmpdir(name)
    port = free_port()
    if prepare:
        prepare(d)
    cfg = config(d, port, [tail_input(d)], [file_output(d)])
    agent = Agent(cfg)
    kw = dict(files=FILES, rate=form.rate)
    kw.update(load_kw or {})
    load = Load(os.path.join(d, "logs"), **kw)
    sink = FileSink(os.path.join(d, "out"), "out.jsonl", FILES)
    rec = run(form, agent, load, sink.scan, lambda: fault(d, agent, load, port))
    sink.scan()
    written, arrived, lost, dup = sink.tally.compare(load)
    note = "%d rotations" % load.rotations if load.rotations else ""
    errors = [l for l in agent.stderr().splitlines() if "level=error" in l]
    if errors:
        note += "%s%d error lines in the agent's log, the first: %s" % (
            "; " if note else "", len(errors), errors[0].split("msg=", 1)[-1][:160])
    return [Result(name, "file", written, arrived, lost, dup, agent.peak, tail_bound(), rec,
                   note=note, missed=bit(agent, load) if bit else None)]


# ---- CloudWatch Logs faults ----------------------------------------------------------

def sc_cwl_outage(form):
    """The endpoint down (connections refused) for minutes."""
    def fault(srv, agent):
        srv.down()
        time.sleep(form.outage)
        srv.up()
    return cwl_scenario(form, "cwl_outage", fault)


def sc_cwl_errors(form):
    """20% of PutLogEvents answered 503 ServiceUnavailable or 400 ThrottlingException
    (CloudWatch Logs' 429: its throttling answer is a 400)."""
    def fault(srv, agent):
        srv.set_faults(unavailable_rate=0.1, throttle_rate=0.11)
        time.sleep(form.fault)
        srv.set_faults(unavailable_rate=0.0, throttle_rate=0.0)
    return cwl_scenario(form, "cwl_5xx_throttle_20pct", fault)


def sc_cwl_slow(form):
    """Every answer delayed by seconds (under net.timeout)."""
    def fault(srv, agent):
        srv.set_faults(delay=5.0 if form.long else 3.0, delay_rate=1.0)
        time.sleep(form.fault)
        srv.set_faults(delay=0.0)
    return cwl_scenario(form, "cwl_slow_answers", fault,
                        bit=lambda st, errors: None if st["delayed"] else "no answer delayed")


def sc_cwl_reset(form):
    """20% of the requests carried out, then the connection reset mid-answer:
    the agent cannot know they were stored and sends them again."""
    def fault(srv, agent):
        srv.set_faults(reset_rate=0.2)
        time.sleep(form.fault)
        srv.set_faults(reset_rate=0.0)
    return cwl_scenario(form, "cwl_reset_mid_answer", fault,
                        bit=lambda st, errors: None if st["reset"] else "no answer cut")


def sc_cwl_dns(form):
    """The endpoint's name does not resolve for a while. The agent runs in a
    mount namespace of its own whose /etc/hosts and /etc/resolv.conf are the
    test's (the resolver points at 127.0.0.1, where nothing answers), so no
    query leaves the machine."""
    d = tmpdir("dns")
    hosts = write(os.path.join(d, "hosts"), "127.0.0.1 localhost\n")
    resolv = write(os.path.join(d, "resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 "
                   "attempts:1\n")
    if subprocess.call(["unshare", "--help"], stdout=subprocess.DEVNULL) != 0:
        raise ScenarioError("unshare not found: install the Debian package util-linux")
    wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            "mount --bind %s /etc/hosts && mount --bind %s /etc/resolv.conf && exec \"$@\""
            % (hosts, resolv), "sh"]

    def fault(srv, agent):
        time.sleep(form.fault)
        with open(hosts, "a") as f:
            f.write("127.0.0.1 cwl.gleaner.test\n")
    return cwl_scenario(form, "cwl_dns_failure", fault, agent_wrap=wrap,
                        endpoint=lambda s: "http://cwl.gleaner.test:%d" % s.port)


def make_certs(d):
    """A CA and a server certificate for 127.0.0.1 signed by it; and a
    self-signed one nobody trusts."""
    def ossl(*args):
        r = subprocess.run(["openssl"] + list(args), cwd=d, capture_output=True, timeout=30)
        if r.returncode != 0:
            raise ScenarioError("openssl %s failed (Debian package openssl): %s"
                                % (args[0], r.stderr.decode()[-300:]))
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"]
    ossl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=fault CA",
         "-addext", "basicConstraints=critical,CA:TRUE")
    ossl("req", "-x509", *key, "-keyout", "bad.key", "-out", "bad.crt", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1")
    ossl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    write(os.path.join(d, "srv.ext"), "subjectAltName=IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "2",
         "-set_serial", "7", "-extfile", "srv.ext", "-out", "srv.crt")
    return {n: os.path.join(d, n) for n in ("ca.crt", "srv.crt", "srv.key", "bad.crt",
                                            "bad.key")}


def sc_cwl_tls(form):
    """Every TLS handshake fails for a while: the endpoint presents a
    certificate the agent's CA did not sign."""
    c = make_certs(tmpdir("certs"))

    def fault(srv, agent):
        # The endpoint comes back with a certificate the agent does not trust:
        # kept-alive connections end and every new one must shake hands.
        srv.set_faults(tls_untrusted=True)
        srv.reset_connections()
        time.sleep(form.fault)
        srv.set_faults(tls_untrusted=False)
    return cwl_scenario(form, "cwl_tls_handshake_failure", fault,
                        server_kw=dict(tls_cert=c["srv.crt"], tls_key=c["srv.key"],
                                       tls_untrusted_cert=c["bad.crt"],
                                       tls_untrusted_key=c["bad.key"]),
                        extra="      tls.ca_file: %s\n" % c["ca.crt"],
                        bit=lambda st, errors: None if st["tls_failures"] and errors
                        else "no handshake failed")


# ---- agent and file faults ---------------------------------------------------------

def sc_file_sigkill(form):
    """The agent SIGKILLed again and again and started again at once."""
    def fault(d, agent, load, port):
        every = form.fault / form.kills
        for _ in range(form.kills):
            time.sleep(every)
            agent.kill9()
            time.sleep(0.2)
            agent.start()
    r = file_scenario(form, "file_sigkill_repeated", fault)
    r[0].note = "%d kills" % form.kills
    return r


def sc_file_reload(form):
    """SIGHUP (config reload) every second or two under load."""
    def fault(d, agent, load, port):
        end = time.time() + form.fault
        n = 0
        while time.time() < end:
            time.sleep(2.0 if form.long else 1.0)
            agent.signal(signal.SIGHUP)
            n += 1
        wait_until("the last reload", lambda: agent.stderr().count("configuration reloaded") >= n,
                   30)
    return file_scenario(form, "file_reload_under_load", fault)


def sc_file_rotation(form):
    """Every file rotated every 200 ms (renamed, a new one created; five rotated kept)."""
    def fault(d, agent, load, port):
        load.rotate_every = 0.2
        time.sleep(form.fault)
        load.rotate_every = 0.0
    return file_scenario(form, "file_rotation_fast", fault, load_kw=dict(rate=form.rate * 2),
                         bit=lambda agent, load: None if load.rotations else "no file rotated")


def sc_file_storage_full(form):
    """storage.path on a small tmpfs, filled up for a while: the offsets cannot
    be written. Then space comes back and the agent is SIGKILLed and started:
    what it said it had committed must be true."""
    def prepare(d):
        mount_tmpfs(os.path.join(d, "state"), "2m")

    def fault(d, agent, load, port):
        fill = os.path.join(d, "state", "filler")
        fd = os.open(fill, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        time.sleep(form.fault)
        os.unlink(fill)
        time.sleep(1.0)
        agent.kill9()
        agent.start()
    state = {}

    def prepare_and_keep(d):
        state["dir"] = os.path.join(d, "state")
        prepare(d)
    try:
        return file_scenario(
            form, "file_storage_path_full", fault, prepare=prepare_and_keep,
            bit=lambda agent, load: None if "No space left" in agent.stderr()
            else "no write to storage.path failed")
    finally:
        if "dir" in state:
            umount(state["dir"])


# ---- metrics: remote-write to Prometheus and to the spec server --------------------

def gaps(stamps, interval_ms=1000):
    """(expected, distinct, duplicated) samples of one series taken every interval."""
    if not stamps:
        return 0, 0, 0
    uniq = sorted(set(stamps))
    expected = int(round((uniq[-1] - uniq[0]) / interval_ms)) + 1
    return expected, len(uniq), len(stamps) - len(uniq)


def metrics_scenario(form, name, sink_name, host_port, fault, samples):
    """internal_metrics -> remote-write, beside tail -> file under load."""
    d = tmpdir(name)
    port = free_port()
    min_in, rw_out = metrics_to_rw(*host_port)
    cfg = config(d, port, [tail_input(d), min_in], [file_output(d), rw_out])
    agent = Agent(cfg)
    load = Load(os.path.join(d, "logs"), files=FILES, rate=form.rate)
    fsink = FileSink(os.path.join(d, "out"), "out.jsonl", FILES)
    state = {}

    def do_fault():
        state["start"] = time.time()
        fault()
        state["end"] = time.time()
        state["errors"] = errors_of(port, RW_RETRIES, "rw")

    def recovered():
        got = samples()
        return fsink.scan() >= 0 and got and max(got) / 1000.0 > state["end"] + 2

    rec = run(form, agent, load, fsink.scan, do_fault, recovered=recovered)
    fsink.scan()
    written, arrived, lost, dup = fsink.tally.compare(load)
    stamps = samples()
    expected, distinct, sdup = gaps(stamps)
    bound = rss_bound([8, 4], RW_REQUESTS, FILES * 2, True)
    return [Result(name, sink_name + " (gleaner_uptime_seconds samples)", expected, len(stamps),
                   expected - distinct, sdup, agent.peak, bound, rec,
                   note="%d retries" % state["errors"],
                   missed=None if state["errors"] else "no remote write retried"),
            Result(name, "file (the log load beside)", written, arrived, lost, dup, agent.peak,
                   bound, None)]


def sc_rw_prometheus_outage(form):
    """A real Prometheus (remote-write receiver) stopped for minutes, then started
    on the same data."""
    if subprocess.call(["sh", "-c", "command -v prometheus"], stdout=subprocess.DEVNULL) != 0:
        raise ScenarioError("prometheus not found: install the Debian package prometheus")
    d = tmpdir("prometheus")
    pport = free_port()
    procs = {}

    def prom_start():
        procs["p"] = prometheus_receiver(d, pport)
        wait_until("Prometheus ready", lambda: _get(pport, "/-/ready") == 200, 60)

    def samples():
        q = urllib.parse.quote("gleaner_uptime_seconds[30m]")
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query?query=%s"
                                        % (pport, q), timeout=10) as r:
                res = json.loads(r.read())["data"]["result"]
        except OSError:
            return []
        return [int(round(float(t) * 1000)) for s in res for t, _ in s["values"]]

    def fault():
        procs["p"].send_signal(signal.SIGTERM)
        procs["p"].wait(60)
        time.sleep(form.outage)
        prom_start()

    prom_start()
    try:
        return metrics_scenario(form, "rw_prometheus_outage", "prometheus 2.42",
                                ("127.0.0.1", pport), fault, samples)
    finally:
        procs["p"].send_signal(signal.SIGTERM)
        procs["p"].wait(60)


def _get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status
    except OSError:
        return 0


def sc_rw_errors(form):
    """The remote-write receiver answers 20% of the requests 429 (Retry-After)
    or 503, resets 5% after storing them, and is down for a while."""
    from lib_rw_server import RwServer
    srv = RwServer().start()

    def samples():
        return [ts for k, v in srv.series().items() if ("__name__", "gleaner_uptime_seconds") in k
                for ts, _ in v]

    def fault():
        srv.fail_rate, srv.fail_status, srv.retry_after = 0.2, [429, 503], 1
        srv.reset_rate = 0.05
        time.sleep(form.fault)
        srv.down()
        time.sleep(form.fault / 3)
        srv.up()
        srv.fail_rate = srv.reset_rate = 0.0
    try:
        rows = metrics_scenario(form, "rw_429_503_reset_down", "remote-write test server",
                                ("127.0.0.1", srv.port), fault, samples)
        st = srv.stats()
        rows[0].note += "; answers %s; %d reset" % (", ".join(
            "%s: %d" % kv for kv in sorted(st["by_status"].items())), st.get("reset", 0))
        return rows
    finally:
        srv.stop()


# ---- pending: Elasticsearch and the filesystem buffer ------------------------------

def have_es():
    out = subprocess.run([GLEANER, "--plugins"], capture_output=True, text=True).stdout
    return any(line.split()[:2] == ["output", "es"] for line in out.splitlines())


def es_scenario(form, name, fault, **server_kw):
    from lib_es_server import EsServer
    d = tmpdir(name)
    srv = EsServer(flavor="es8", seed=7, keep=lambda src: src.get("log", ""), **server_kw)
    srv.start()
    try:
        port = free_port()
        out = """    - name: es
      alias: es
      match: 'kube.*'
      host: 127.0.0.1
      port: %d
      index: faults
      generate_id: on
""" % srv.port
        cfg = config(d, port, [tail_input(d)], [out])
        agent = Agent(cfg)
        load = Load(os.path.join(d, "logs"), files=FILES, rate=form.rate)
        sink = EsSink(srv, "faults", FILES)
        seen = {}

        def do_fault():
            fault(srv)
            seen["failed"] = errors_of(port, ES_FAILED, "es")
            seen["retried"] = errors_of(port, ES_RETRIED, "es")
        rec = run(form, agent, load, sink.scan, do_fault)
        written, arrived, lost, dup = sink.final().compare(load)
        note = "%d bulk requests failed, %d documents retried" % (seen["failed"],
                                                                  seen["retried"])
        missed = None if seen["failed"] or seen["retried"] else "no bulk request failed"
        return [Result(name, "es", written, arrived, lost, dup, agent.peak,
                       tail_bound(ES_REQUESTS, True), rec, note=note, dup_allowed=False,
                       missed=missed)]
    finally:
        srv.stop()


def sc_es_errors(form):
    """Bulk items answered 429 and whole requests 503, 20% together."""
    def fault(srv):
        srv.set_faults(item_429_rate=0.1, request_503_rate=0.1)
        time.sleep(form.fault)
        srv.set_faults(item_429_rate=0.0, request_503_rate=0.0)
    return es_scenario(form, "es_429_503_20pct", fault)


def sc_es_outage(form):
    """Elasticsearch down (connections refused) for minutes."""
    def fault(srv):
        srv.down()
        time.sleep(form.outage)
        srv.up()
    return es_scenario(form, "es_outage", fault)


def have_fs_buffer():
    """Whether storage.type filesystem keeps chunks on disk: an input with it
    feeding an output that cannot deliver leaves files under storage.path."""
    d = tmpdir("fsprobe")
    state = os.path.join(d, "state")
    os.makedirs(state)
    cfg = write(os.path.join(d, "g.yaml"), """service:
  flush: 200ms
  storage.path: %s
pipeline:
  inputs:
    - name: dummy
      rate: 100
      storage.type: filesystem
  outputs:
    - name: file
      match: '*'
      path: %s/nowhere
""" % (state, d))
    p = subprocess.Popen([GLEANER, "-c", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    time.sleep(2.0)
    p.kill()
    p.wait()
    found = [os.path.join(r, f) for r, _, fs in os.walk(state) for f in fs
             if not f.endswith(".offsets")]
    return bool(found)


def sc_fsbuf_metrics_sigkill(form):
    """Metrics with storage.type filesystem, the receiver down and the agent
    SIGKILLed during the outage: what was collected before each kill arrives."""
    from lib_rw_server import RwServer
    srv = RwServer().start()
    d = tmpdir("fsbuf")
    port = free_port()
    min_in, rw_out = metrics_to_rw("127.0.0.1", srv.port)
    min_in += "      storage.type: filesystem\n"
    cfg = config(d, port, [min_in], [rw_out])
    agent = Agent(cfg)
    try:
        agent.start()
        time.sleep(form.warm)
        srv.down()
        on_disk = []
        for _ in range(3):
            time.sleep(form.fault / 3)
            on_disk.append(chunk_files(os.path.join(d, "state")))
            agent.kill9()
            agent.start()
        srv.up()
        end = time.time()
        wait_until("samples collected after the outage", lambda: any(
            ts / 1000.0 > end + 2 for ts in _uptime(srv)), form.drain)
        rec = time.time() - end
        agent.stop()
        stamps = _uptime(srv)
        expected, lost, where = life_losses(agent.lives, stamps)
        return [Result("fsbuf_metrics_sigkill", "remote-write test server", expected,
                       len(stamps), lost, len(stamps) - len(set(stamps)), agent.peak,
                       rss_bound([4], RW_REQUESTS, 0, True), rec,
                       note="chunk files on disk at each kill: %s%s" % (
                           on_disk, "; gaps after (life, s into it, s before its end): %s"
                           % where if where else ""),
                       missed=None if all(on_disk) else "a kill found no chunk file on disk")]
    finally:
        srv.stop()


def chunk_files(state):
    """How many chunk files the filesystem buffer has under storage.path."""
    return sum(1 for _, _, fs in os.walk(state) for f in fs if f.endswith(".chunk"))


def life_losses(lives, stamps, interval=1.0, slack=1.0):
    """Samples expected and lost over the agent's lives, and where the losses
    are. A life collects one every interval, so a gap between two samples
    of a life is that many missing, and so is the stretch from its last
    sample to its end, less the last `slack` seconds (an open chunk a
    SIGKILL may take). Counted by gaps, not from the life's length, so a
    timer running late is no loss. A loss is placed as (life, seconds into
    it, seconds before its end) for the note."""
    expected = lost = 0
    where = []
    got = sorted(set(t / 1000.0 for t in stamps))
    for i, (start, end) in enumerate(lives):
        inside = [t for t in got if start <= t <= end - slack]
        gaps = [(a, round((b - a) / interval) - 1) for a, b in zip(inside, inside[1:])]
        if inside:
            gaps.append((inside[-1], int((end - slack - inside[-1]) / interval - 0.5)))
        missing = [(a, m) for a, m in gaps if m > 0]
        expected += len(inside) + sum(m for _, m in missing)
        lost += sum(m for _, m in missing)
        where += [(i, round(a - start, 1), round(end - a, 1)) for a, _ in missing]
    return expected, lost, where


def _uptime(srv):
    return [ts for k, vs in srv.series().items()
            if ("__name__", "gleaner_uptime_seconds") in k for ts, _ in vs]


# ---- the list -------------------------------------------------------------------

SCENARIOS = [
    ("cwl_outage", sc_cwl_outage, None),
    ("cwl_errors", sc_cwl_errors, None),
    ("cwl_slow", sc_cwl_slow, None),
    ("cwl_reset", sc_cwl_reset, None),
    ("cwl_dns", sc_cwl_dns, None),
    ("cwl_tls", sc_cwl_tls, None),
    ("file_sigkill", sc_file_sigkill, None),
    ("file_reload", sc_file_reload, None),
    ("file_rotation", sc_file_rotation, None),
    ("file_storage_full", sc_file_storage_full, None),
    ("rw_prometheus_outage", sc_rw_prometheus_outage, None),
    ("rw_errors", sc_rw_errors, None),
    ("es_errors", sc_es_errors, "es"),
    ("es_outage", sc_es_outage, "es"),
    ("fsbuf_metrics_sigkill", sc_fsbuf_metrics_sigkill, "fs_buffer"),
]
PENDING = {
    "es": ("the es output (gleaner --plugins lists it)", have_es),
    "fs_buffer": ("storage.type filesystem keeping chunks on disk", have_fs_buffer),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--table", help="write the results table (markdown) here")
    a = ap.parse_args()
    if not os.access(GLEANER, os.X_OK):
        print("FAIL: %s not built (make)" % GLEANER)
        return 1
    form = Form(a.long)
    only = set(filter(None, a.only.split(",")))
    gates = {k: fn() for k, (_, fn) in PENDING.items()}
    results, failed, passed, pending = [], [], 0, []
    started = time.time()
    for name, fn, gate in SCENARIOS:
        if only and name not in only:
            continue
        if gate and not gates[gate]:
            pending.append("%s (until %s)" % (name, PENDING[gate][0]))
            continue
        t0 = time.time()
        try:
            rows = fn(form)
            probs = [p for r in rows for p in r.problems()]
        except ScenarioError as e:
            rows, probs = [], [str(e)]
        except Exception as e:  # noqa: BLE001 (reported as the scenario's failure)
            rows, probs = [], ["%s: %s" % (type(e).__name__, e)]
        results.extend(rows)
        for r in rows:
            print("  " + r.row() + (" " + r.note if r.note else ""), flush=True)
        if probs:
            failed.append(name)
            print("FAIL %s (%.0fs): %s" % (name, time.time() - t0, "; ".join(probs)), flush=True)
        else:
            passed += 1
            print("ok   %s (%.0fs)" % (name, time.time() - t0), flush=True)
    for p in pending:
        print("pending %s" % p)
    if a.table:
        with open(a.table, "w") as f:
            f.write(table(results, form, pending, time.time() - started))
    print("faults: %d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


def table(results, form, pending, took):
    lines = ["# Fault suite (%s form)" % ("long" if form.long else "short"), "",
             "`make faults` on %s, %d lines/s of about 200 bytes over %d files, faults of %d s "
             "(outages %d s), %d kills; %.0f minutes in all. Recovery: from the fault's end "
             "until every line written before it had arrived." % (
                 time.strftime("%Y-%m-%d"), form.rate, FILES, form.fault, form.outage,
                 form.kills, took / 60), "", TABLE_HEAD]
    for r in results:
        lines.append(r.row())
    notes = [r for r in results if r.note]
    if notes:
        lines += [""] + ["- %s: %s" % (r.name, r.note) for r in notes]
    if pending:
        lines += ["", "Not run yet: " + "; ".join(pending) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
