"""node_metrics against Debian's prometheus-node-exporter on this machine.

node_exporter is started on 127.0.0.1; the agent, with node_metrics writing
to the file output, makes a first collection; node_exporter is scraped (A);
the agent makes its second collection (which uses what the first kept); then
node_exporter is scraped again (B). For every node_* family both export the
name, type, HELP and label names must be identical; every series node_exporter
has in both scrapes must be in the agent's collection with the same labels,
and every series of the agent must be in one of the scrapes; static gauges
(MemTotal, filesystem sizes, boot time, CPU count...) must be equal and
counters must lie between their values in A and B. The coverage (families in
both / node_* families node_exporter exports) is printed and must be at least
90%.

Debian changes two of node_exporter's defaults (it excludes /run, /mnt and
/media mounts and the lo device); node_exporter is given upstream's defaults
back, which are node_metrics' defaults.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402

NODE_EXPORTER = "prometheus-node-exporter"
UPSTREAM_MOUNTS_EXCLUDE = ("^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|"
                           "var/lib/containers/storage/.+)($|/)")
# Gauges that do not move while the machine runs: compared for equality.
STATIC = {
    "node_memory_MemTotal_bytes", "node_memory_SwapTotal_bytes", "node_memory_Hugepagesize_bytes",
    "node_memory_VmallocTotal_bytes", "node_memory_CommitLimit_bytes",
    "node_filesystem_size_bytes", "node_filesystem_files", "node_filesystem_readonly",
    "node_boot_time_seconds", "node_filefd_maximum", "node_entropy_pool_size_bits",
    "node_nf_conntrack_entries_limit", "node_network_mtu_bytes", "node_network_speed_bytes",
    "node_network_iface_id", "node_network_protocol_type", "node_network_flags",
    "node_network_transmit_queue_length", "node_network_address_assign_type",
    "node_network_device_id", "node_network_net_dev_group", "node_network_iface_link",
    "node_timex_tick_seconds", "node_time_zone_offset_seconds", "node_os_version",
    "node_selinux_enabled", "node_cpu_frequency_max_hertz", "node_cpu_frequency_min_hertz",
}
# A counter may be read lower than node_exporter saw it only where the kernel's own
# counter goes back (iowait) and node_exporter held the higher value.
COUNTER_SLACK = {("node_cpu_seconds_total", "iowait"): 1.0}


def parse_text(text):
    """Prometheus text format 0.0.4 -> {family: {type, help, series: {labels: value}}}."""
    fams = {}
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
    label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            help_ = help_.replace("\\n", "\n").replace("\\\\", "\\")
            fams.setdefault(name, {"series": {}})["help"] = help_
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            fams.setdefault(name, {"series": {}})["type"] = typ
        elif line and not line.startswith("#"):
            m = sample.match(line)
            labels = {}
            for k, v in label.findall(m.group(3) or ""):
                v = v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
                if v != "":  # an empty label is an absent one
                    labels[k] = v
            fams.setdefault(m.group(1), {"series": {}})["series"][
                tuple(sorted(labels.items()))] = float(m.group(4))
    return {k: v for k, v in fams.items() if k.startswith("node_")}


def parse_agent(path, collection):
    """The agent's JSON lines of one collection (0 the first), as parse_text gives."""
    fams = {}
    with open(path) as f:
        lines = [json.loads(line) for line in f]
    stamps = sorted({d["@timestamp"] for d in lines})
    for d in lines:
        if d["@timestamp"] == stamps[collection]:
            fam = fams.setdefault(d["name"], {"type": d["type"], "help": d.get("help", ""),
                                              "series": {}})
            v = d["value"]
            v = float(v) if not isinstance(v, str) else float(v.replace("Inf", "inf"))
            fam["series"][tuple(sorted(d["labels"].items()))] = v
    return fams


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return parse_text(r.read().decode())


def label_names(fam):
    return sorted({k for s in fam["series"] for k, _ in s})


def start_node_exporter(d):
    lib.need(NODE_EXPORTER, "prometheus-node-exporter")
    port = lib.free_port()
    log = open(os.path.join(d, "node_exporter.log"), "w")
    p = subprocess.Popen([NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % port,
                          "--collector.filesystem.mount-points-exclude=" + UPSTREAM_MOUNTS_EXCLUDE,
                          "--collector.netdev.device-exclude="],
                         stdout=log, stderr=subprocess.STDOUT)
    lib._procs.append(p)
    lib.wait_for("node_exporter on port %d" % port, lambda: lib.http_get(port, "/metrics")[0]
                 == 200, timeout=30)
    return port


def collections(path):
    """How many whole collections the agent's file holds (vmstat's success series ends one)."""
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        lines = f.read().split("\n")[:-1]  # a line being written is not whole yet
    return sum(1 for line in lines if '"node_scrape_collector_success"' in line
               and '"collector":"vmstat"' in line)


def collect_agent(d, ne_port):
    """Scrape A, the agent's second collection, scrape B: the second one uses what the first
    kept (CPU times, pattern answers, device properties). Returns (A, agent, B)."""
    out = os.path.join(d, "out")
    os.mkdir(out)
    cfg = lib.write(os.path.join(d, "gleaner.yaml"), """service:
  flush: 100ms
  log_level: info
pipeline:
  inputs:
    - name: node_metrics
      tag: node
      scrape_interval: 2s
  outputs:
    - name: file
      match: node
      path: %s
      file: metrics.json
""" % out)
    path = os.path.join(out, "metrics.json")
    agent = lib.start(cfg)
    lib.wait_for("the agent's first collection", lambda: collections(path) >= 1, timeout=30)
    a = scrape(ne_port)
    lib.wait_for("the agent's second collection", lambda: collections(path) >= 2, timeout=30)
    b = scrape(ne_port)
    lib.check(lib.stop(agent) == 0, "the agent exits 0")
    return a, parse_agent(path, 1), b


def compare_family(name, fa, fb, g, problems, counts):
    """Type, HELP, label names, series and values of one family both export."""
    if fa.get("type") != g["type"]:
        problems.append("%s: type %s here, %s in node_exporter" % (name, g["type"], fa.get("type")))
    if fa.get("help") != g["help"]:
        problems.append("%s: HELP %r here, %r in node_exporter" % (name, g["help"], fa.get("help")))
    if label_names(fa) != label_names(g):
        problems.append("%s: labels %s here, %s in node_exporter" % (name, label_names(g),
                                                                   label_names(fa)))
    stable = set(fa["series"]) & set(fb["series"])
    seen = set(fa["series"]) | set(fb["series"])
    if name.startswith("node_scrape_collector_"):
        ours = {s for s in g["series"]}
        stable = {s for s in stable if s in ours}
    missing = sorted(stable - set(g["series"]))
    extra = sorted(set(g["series"]) - seen)
    for s in missing[:5]:
        problems.append("%s%s: in node_exporter, not here" % (name, dict(s)))
    for s in extra[:5]:
        problems.append("%s%s: here, not in node_exporter" % (name, dict(s)))
    counts["series"] += len(stable & set(g["series"]))
    for s in stable & set(g["series"]):
        va, vb, v = fa["series"][s], fb["series"][s], g["series"][s]
        if name in STATIC or name.endswith("_info"):
            ok = abs(v - va) <= (1 if name == "node_boot_time_seconds" else 0)
        elif fa.get("type") == "counter":
            slack = COUNTER_SLACK.get((name, dict(s).get("mode")), 0)
            ok = min(va, vb) - slack - 1e-9 * abs(va) <= v <= max(va, vb) + 1e-9 * abs(vb)
        else:
            continue
        counts["values"] += 1
        if not ok:
            problems.append("%s%s = %r here; node_exporter %r then %r" % (name, dict(s), v, va, vb))


def compare(d, port, attempt):
    """One round: scrape, collect, scrape, compare. Returns (problems, coverage line, ok)."""
    sub = os.path.join(d, "round%d" % attempt)
    os.mkdir(sub)
    a, g, b = collect_agent(sub, port)
    ne = set(a) & set(b)
    both = sorted(ne & set(g))
    problems = []
    counts = {"series": 0, "values": 0}
    for name in both:
        compare_family(name, a[name], b[name], g[name], problems, counts)
    cpus = lambda f: len([s for s in f["node_cpu_seconds_total"]["series"]  # noqa: E731
                          if ("mode", "idle") in s])
    if cpus(g) != cpus(a):
        problems.append("CPU count %d here, %d in node_exporter" % (cpus(g), cpus(a)))
    print("coverage: %d of the %d node_* families node_exporter exports here (%.1f%%)"
          % (len(both), len(ne), 100.0 * len(both) / len(ne)))
    print("not covered: %s" % (", ".join(sorted(ne - set(g))) or "none"))
    print("only here (node_exporter has none on this machine): %s"
          % (", ".join(sorted(set(g) - set(a) - set(b))) or "none"))
    print("compared: %(series)d series by labels, %(values)d values (static gauges and "
          "counters)" % counts)
    for p in problems:
        print("DIFF " + p)
    return problems, len(both) >= 0.9 * len(ne)


def through_exporter(d, ne_port):
    """The same families served by the prometheus_exporter output, as a Prometheus scrapes them."""
    port = lib.free_port()
    cfg = lib.write(os.path.join(d, "exporter.yaml"), """service:
  log_level: info
pipeline:
  inputs:
    - name: node_metrics
      tag: node
      scrape_interval: 1h
  outputs:
    - name: prometheus_exporter
      match: node
      host: 127.0.0.1
      port: %d
""" % port)
    agent = lib.start(cfg)
    served = lib.wait_for("the exporter to serve node_load1", lambda: (
        lambda r: r[1] if r[0] == 200 and "node_load1 " in r[1] else None)(
            lib.http_get(port, "/metrics")), timeout=30)
    lib.stop(agent)
    ours, ne = parse_text(served), scrape(ne_port)
    problems = []
    for name in sorted(set(ours) & set(ne)):
        for what in ("type", "help"):
            if ours[name].get(what) != ne[name].get(what):
                problems.append("%s: %s %r served, %r in node_exporter"
                                % (name, what, ours[name].get(what), ne[name].get(what)))
        if label_names(ours[name]) != label_names(ne[name]):
            problems.append("%s: labels %s served, %s in node_exporter"
                            % (name, label_names(ours[name]), label_names(ne[name])))
    for p in problems:
        print("DIFF " + p)
    lib.check(not problems and len(set(ours) & set(ne)) >= 0.9 * len(ne),
              "through prometheus_exporter: %d families with node_exporter's types, HELP and "
              "labels" % len(set(ours) & set(ne)))


def main():
    d = lib.tmpdir("node-exporter")
    port = start_node_exporter(d)
    # A mount or a network device of another process may come and go between the two
    # scrapes and the collection: a difference must show in every round to count.
    for attempt in range(3):
        problems, covered = compare(d, port, attempt)
        if not problems:
            break
        print("round %d: %d differences%s" % (attempt + 1, len(problems),
                                             ", again" if attempt < 2 else ""))
    lib.check(not problems, "names, types, HELP, labels, series and values agree")
    lib.check(covered, "coverage at least 90%")
    through_exporter(d, port)


if __name__ == "__main__":
    main()
