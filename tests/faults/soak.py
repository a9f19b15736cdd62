"""The soak: tail into the CloudWatch Logs test server at a steady rate for a
long time, the endpoint down for a while every few minutes. What must hold:
no line lost, resident memory flat (the last stretch no higher than the
first past the bound's slack), the agent exits cleanly. Writes
soak-rss.csv, soak-rss.png (gnuplot) and soak.md into --out.

    python3 tests/faults/soak.py --minutes 60 --out bench/results   # make soak
    python3 tests/faults/soak.py --minutes 4 --mbps 0.5 --valgrind  # leaks

With --valgrind the agent runs under valgrind's memcheck (at a rate it can
follow) and any definite or indirect leak or memory error fails the run.
"""
import argparse
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faults as F  # noqa: E402
from lib_faults import Agent, Load, Tally, free_port, rss_bound, tmpdir, wait_until  # noqa

LINE = 200


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--mbps", type=float, default=5.0, help="MB/s written")
    ap.add_argument("--every", type=float, default=10, help="minutes between outages")
    ap.add_argument("--outage", type=float, default=60, help="seconds an outage lasts")
    ap.add_argument("--out", default=None, help="directory for the CSV, plot and summary")
    ap.add_argument("--valgrind", action="store_true")
    a = ap.parse_args()
    from lib_cwl_server import CwlServer

    files = 4
    rate = int(a.mbps * 1e6 / LINE)
    tally = Tally(files)
    lock = threading.Lock()

    def keep(group, stream, events):
        with lock:
            tally.add(b"\n".join(e["message"].encode() for e in events))

    srv = CwlServer(seed=3, keep=keep).start()
    srv.call("CreateLogGroup", {"logGroupName": "/faults"})
    d = tmpdir("soak")
    port = free_port()
    cfg = F.config(d, port, [F.tail_input(d)], [F.cwl_output(srv.endpoint)])
    wrap = None
    vlog = os.path.join(d, "valgrind.log")
    if a.valgrind:
        wrap = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
                "--log-file=" + vlog]
    agent = Agent(cfg, env=srv.env(), wrapper=wrap)
    load = Load(os.path.join(d, "logs"), files=files, rate=rate, line_bytes=LINE,
                rotate_bytes=64 << 20, keep=5)
    outages = []
    load.start()
    agent.start()
    t0 = time.time()
    end = t0 + a.minutes * 60
    next_outage = t0 + a.every * 60 / 2
    next_print = t0 + 60
    while time.time() < end:
        if time.time() >= next_outage and time.time() + a.outage < end - 60:
            srv.down()
            s = time.time()
            time.sleep(a.outage)
            srv.up()
            outages.append((s - t0, time.time() - t0))
            print("outage %d: %.0f-%.0f s" % (len(outages), outages[-1][0], outages[-1][1]),
                  flush=True)
            next_outage += a.every * 60
        time.sleep(1)
        if time.time() >= next_print:
            next_print += 60
            with lock:
                got = tally.unique
            print("%3.0f min: %d lines written (%.2f MB/s), %d arrived, RSS %.1f MiB" % (
                (time.time() - t0) / 60, load.written(), load.written() * LINE / 1e6 /
                (time.time() - t0), got, (agent.samples[-1][1] if agent.samples else 0) / 2**20),
                flush=True)
        if not agent.alive():
            raise SystemExit("FAIL: the agent died: " + agent.stderr()[-2000:])
    load.stop()

    def arrived():
        with lock:
            return tally.unique
    wait_until("every line written to arrive", lambda: arrived() >= load.written(), 600, 1)
    rc = agent.stop(timeout=300)
    srv.stop()
    with lock:
        written, got, lost, dup = tally.compare(load)
    bound = rss_bound([8], F.CWL_REQUESTS, files * 6, True, 2)
    samples = [(t - t0, v) for t, v in agent.samples]
    problems = check(samples, lost, rc, bound, a)
    if a.valgrind:
        with open(vlog) as f:
            text = f.read()
        summary = [l for l in text.splitlines() if "definitely lost" in l or
                   "indirectly lost" in l or "ERROR SUMMARY" in l]
        print("\n".join(summary))
        if rc == 99 or "ERROR SUMMARY: 0 errors" not in text:
            problems.append("valgrind found errors or leaks (%s)" % vlog)
    report(a, samples, outages, written, got, lost, dup, agent.peak, bound, rc, problems)
    if problems:
        print("FAIL: " + "; ".join(problems))
        return 1
    print("soak passed: %d lines, none lost, %d duplicated, peak RSS %.1f MiB" % (
        written, dup, agent.peak / 2**20))
    return 0


def check(samples, lost, rc, bound, a):
    """Lost lines, an unclean exit, RSS over its bound, RSS growing: the last
    fifth's highest sample over the second fifth's by more than 2 MiB."""
    p = []
    if lost:
        p.append("%d lines lost" % lost)
    if rc != 0 and not (a.valgrind and rc == 99):
        p.append("the agent exited %s" % rc)
    peak = max((v for _, v in samples), default=0)
    if peak > bound and not a.valgrind:
        p.append("peak RSS %.1f MiB over its bound %.1f MiB" % (peak / 2**20, bound / 2**20))
    span = samples[-1][0] if samples else 0
    early = [v for t, v in samples if span * 0.2 <= t < span * 0.4]
    late = [v for t, v in samples if t >= span * 0.8]
    if early and late and max(late) > max(early) + (2 << 20) and not a.valgrind:
        p.append("RSS grew: %.1f MiB at most early, %.1f MiB late" % (max(early) / 2**20,
                                                                    max(late) / 2**20))
    return p


def report(a, samples, outages, written, got, lost, dup, peak, bound, rc, problems):
    if not a.out:
        return
    os.makedirs(a.out, exist_ok=True)
    csv = os.path.join(a.out, "soak-rss.csv")
    with open(csv, "w") as f:
        f.write("# seconds, rss_mib\n")
        last = -1
        for t, v in samples:
            if int(t) != last:
                f.write("%.1f,%.2f\n" % (t, v / 2**20))
                last = int(t)
    png = os.path.join(a.out, "soak-rss.png")
    rects = "".join("set object %d rect from %f,graph 0 to %f,graph 1 fc rgb '#f4cccc' "
                    "fs solid 0.5 noborder behind\n" % (i + 1, s / 60, e / 60)
                    for i, (s, e) in enumerate(outages))
    script = """set terminal pngcairo size 900,420 font ',10'
set output '%s'
set datafile separator ','
set title 'gleaner resident memory: tail -> cloudwatch\\_logs at %.1f MB/s, outages shaded'
set xlabel 'minutes'
set ylabel 'RSS (MiB)'
set yrange [0:%f]
set grid
%sset arrow from graph 0, first %f to graph 1, first %f nohead dt 2 lc rgb '#cc0000'
set label 'bound %.0f MiB' at graph 0.01, first %f offset 0,0.7 tc rgb '#cc0000'
plot '%s' using ($1/60):2 with lines lw 1.5 lc rgb '#1f77b4' title 'RSS'
""" % (png, a.mbps, bound / 2**20 * 1.15, rects, bound / 2**20, bound / 2**20,
       bound / 2**20, bound / 2**20, csv)
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        problems.append("gnuplot failed (Debian package gnuplot-nox): " + r.stderr[-300:])
    span = samples[-1][0] if samples else 0
    early = [v for t, v in samples if span * 0.2 <= t < span * 0.4]
    late = [v for t, v in samples if t >= span * 0.8]
    with open(os.path.join(a.out, "soak.md"), "w") as f:
        f.write("# Soak\n\n%.0f minutes of tail -> cloudwatch_logs (the test server) at "
                "%.1f MB/s (%d lines/s of %d bytes over 4 files rotated at 64 MiB), the "
                "endpoint down for %.0f s every %.0f minutes (%d outages).\n\n"
                "| lines written | arrived | lost | duplicated | peak RSS | RSS 2nd fifth | "
                "RSS last fifth | exit |\n|---|---|---|---|---|---|---|---|\n"
                "| %d | %d | %d | %d | %.1f MiB (bound %.0f) | %.1f MiB | %.1f MiB | %s |\n\n"
                "![RSS](soak-rss.png)\n%s" % (
                    a.minutes, a.mbps, int(a.mbps * 1e6 / LINE), LINE, a.outage, a.every,
                    len(outages), written, got, lost, dup, peak / 2**20, bound / 2**20,
                    max(early, default=0) / 2**20, max(late, default=0) / 2**20, rc,
                    "" if not problems else "\nProblems: " + "; ".join(problems) + "\n"))


if __name__ == "__main__":
    sys.exit(main())
