"""SIGKILL loses nothing: 4 containers write continuously (rotated at
256 KiB) while the agent is killed 10 times at random (seeded) moments and
restarted on the same storage.path each time. At the end every line is in
the output. Lines sent twice (delivered, but their offset not yet in the
offsets database when the kill came) are counted and printed; each kill
may re-send at most what was in flight, bounded here by twice the lines
written per flush interval."""
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kubelet import Kubelet, read_records, sequence_report, summarize, tail_config  # noqa

CONTAINERS = 4
RATE = 500                 # lines per second per container
FLUSH = 0.2
KILLS = 10
rng = random.Random(2024)
d = tmpdir("tail-crash")
root = os.path.join(d, "node")
kube = Kubelet(root, CONTAINERS, seed=13, mode="rename", rotate_size=256 * 1024)
cfg = tail_config(d, root, input_extra="read_from_head: on", flush="%dms" % (FLUSH * 1000))
out = os.path.join(d, "out.jsonl")
p = start(cfg)
print("work dir %s" % d)
wait_for("the agent to start", lambda: "running" in stderr_of(p), timeout=10)
kube.start(RATE * 120, RATE)
t0 = time.time()
for k in range(KILLS):
    time.sleep(rng.uniform(0.5, 3.0))
    p.send_signal(signal.SIGKILL)
    p.wait()
    p = start(cfg, stderr_path=cfg + ".stderr.%d" % (k + 1))
print("%d kills in %.1fs" % (KILLS, time.time() - t0))
time.sleep(1.0)
kube.stop()
total = kube.total()
rotations = sum(c.rotations for c in kube.containers)
print("wrote %d lines, %d rotations" % (total, rotations))
check(rotations >= CONTAINERS * 3, "files rotated while the agent was killed (%d)" % rotations)


deadline = time.time() + 30
while time.time() < deadline and p.poll() is None:
    if not sequence_report(read_records(out), kube.containers)["missing"]:
        break
    time.sleep(1.0)
time.sleep(1.0)
rc = stop(p)
check(rc == 0, "agent exits 0 on SIGTERM after the last restart (rc=%s)" % rc)

rep = sequence_report(read_records(out), kube.containers)
print(summarize(rep))
dups = len(rep["duplicates"])
bound = KILLS * int(RATE * CONTAINERS * FLUSH * 2)
print("duplicates: %d over %d kills (bound %d)" % (dups, KILLS, bound))
check(not rep["unknown"] and not rep["wrong_text"] and not rep["wrong_meta"],
      "every record is a line as written, with its metadata")
check(not rep["missing"], "no line lost over %d kills (%d written)" % (KILLS, total))
check(not rep["out_of_order"], "first deliveries in order per container")
check(dups <= bound, "re-sent lines bounded: %d <= %d" % (dups, bound))
