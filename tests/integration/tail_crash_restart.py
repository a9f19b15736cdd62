"""SIGKILL loses nothing: 4 containers write continuously (rotated at
256 KiB, with 200 ms between kubelet's rename and the runtime's new 0.log)
while the agent is killed 10 times at random (seeded) moments and restarted
on the same storage.path each time. At the end every line is in the
output. Lines sent twice (delivered, but their offset not yet in the
offsets database when the kill came) are counted and printed; each kill
may re-send at most what was in flight, bounded here by twice the lines
written per flush interval.

A restart that falls between the rename and the new 0.log finds the
containers/ link dangling: the rotated file must still be found and read
to its end.

Environment, for stress runs (the default is one round, about 25 s):
    TAIL_CRASH_ROUNDS=N  run the scenario N times (kill times differ per
                         round), print each round's figures and the totals,
                         and fail if any round lost a line
    TAIL_CRASH_DIR=DIR   make the work directories under DIR (default
                         $TMPDIR or /tmp), e.g. on tmpfs or an overlay mount
    TAIL_CRASH_HOG=N     keep N busy processes running beside the test
"""
import atexit
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kubelet import Kubelet, read_records, sequence_report, summarize, tail_config  # noqa

CONTAINERS = 4
RATE = 500                 # lines per second per container
FLUSH = 0.2
KILLS = 10
KILL_PHASE = 16.0          # seconds the kills take at least: 4 rotations per container
REOPEN_DELAY = 0.2         # seconds the containers/ link dangles at each rotation
BOUND = KILLS * int(RATE * CONTAINERS * FLUSH * 2)


def fs_type(path):
    """The type of the filesystem path is on, from /proc/mounts (longest mount point)."""
    best, kind = "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            mnt, typ = line.split()[1:3]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, kind = mnt, typ
    return kind


def hog(n):
    """Starts n busy processes, killed when the test exits."""
    for _ in range(n):
        h = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        atexit.register(lambda h=h: (h.kill(), h.wait()))


def crash_round(k):
    """One scenario: write, kill and restart the agent KILLS times, drain, stop.
    Returns (lines written, report of what arrived, agent's exit code)."""
    rng = random.Random(2024 + k)
    d = tmpdir("tail-crash")
    root = os.path.join(d, "node")
    kube = Kubelet(root, CONTAINERS, seed=13, mode="rename", rotate_size=256 * 1024,
                   reopen_delay=REOPEN_DELAY)
    cfg = tail_config(d, root, input_extra="read_from_head: on", flush="%dms" % (FLUSH * 1000))
    out = os.path.join(d, "out.jsonl")
    p = start(cfg)
    print("round %d: work dir %s (%s)" % (k + 1, d, fs_type(d)))
    wait_for("the agent to start", lambda: "running" in stderr_of(p), timeout=10)
    kube.start(RATE * 120, RATE)
    t0 = time.time()
    # Random gaps, stretched when short so that every round sees enough rotations.
    gaps = [rng.uniform(0.5, 3.0) for _ in range(KILLS)]
    gaps = [g * max(1.0, KILL_PHASE / sum(gaps)) for g in gaps]
    for i, gap in enumerate(gaps):
        time.sleep(gap)
        p.send_signal(signal.SIGKILL)
        p.wait()
        p = start(cfg, stderr_path=cfg + ".stderr.%d" % (i + 1))
    print("%d kills in %.1fs" % (KILLS, time.time() - t0))
    time.sleep(1.0)
    kube.stop()
    rotations = sum(c.rotations for c in kube.containers)
    print("wrote %d lines, %d rotations" % (kube.total(), rotations))
    check(rotations >= CONTAINERS * 3, "files rotated while the agent was killed (%d)" % rotations)

    # Read until every line is there; the agent's last look must come after the last write.
    deadline = time.time() + 30
    while time.time() < deadline and p.poll() is None:
        if not sequence_report(read_records(out), kube.containers)["missing"]:
            break
        time.sleep(1.0)
    time.sleep(1.0)    # late duplicates would land now
    rc = stop(p)
    rep = sequence_report(read_records(out), kube.containers)
    print(summarize(rep))
    return kube.total(), rep, rc


rounds = int(os.environ.get("TAIL_CRASH_ROUNDS", "1"))
if os.environ.get("TAIL_CRASH_DIR"):
    tempfile.tempdir = os.environ["TAIL_CRASH_DIR"]
hog(int(os.environ.get("TAIL_CRASH_HOG", "0")))
written = worst = 0
sums = {"missing": 0, "duplicates": 0, "out_of_order": 0, "wrong": 0}
failed_exits = []
for k in range(rounds):
    total, rep, rc = crash_round(k)
    n = len(rep["duplicates"])
    print("round %d: %d written, %d lost, %d duplicated (bound %d)"
          % (k + 1, total, len(rep["missing"]), n, BOUND))
    written += total
    worst = max(worst, n)
    for key in ("missing", "duplicates", "out_of_order"):
        sums[key] += len(rep[key])
    sums["wrong"] += len(rep["unknown"]) + len(rep["wrong_text"]) + len(rep["wrong_meta"])
    if rc != 0:
        failed_exits.append((k + 1, rc))
print("%d rounds: %d written, %d lost, %d duplicated (most in one round %d)"
      % (rounds, written, sums["missing"], sums["duplicates"], worst))
check(not failed_exits, "agent exits 0 on SIGTERM after the last restart %s" % failed_exits)
check(not sums["wrong"], "every record is a line as written, with its metadata")
check(not sums["missing"], "no line lost over %d kills in %d rounds (%d written)"
      % (KILLS * rounds, rounds, written))
check(not sums["out_of_order"], "first deliveries in order per container")
check(worst <= BOUND, "re-sent lines bounded: at most %d <= %d per round" % (worst, BOUND))
