"""tail follows kubelet's rotation: 5 containers write 20,000 lines each,
rotated at 256 KiB (0.log renamed to 0.log.<time>, a new 0.log created
100 ms later, older rotated files gzipped). Every line arrives exactly once,
in order per container, with the pod's metadata; nothing from the .gz files
is read. The 100 ms without a 0.log are longer than a runtime takes, so
that the agent's looks fall in them: a path that names nothing for a while
is a rotation under way, not a deleted file."""
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kubelet import Kubelet, read_records, sequence_report, summarize, tail_config  # noqa

CONTAINERS = 5
LINES = 20000
RATE = 1000          # lines per second per container: a rotation every ~2.5 s each
d = tmpdir("tail-rotation")
root = os.path.join(d, "node")
kube = Kubelet(root, CONTAINERS, seed=7, mode="rename", rotate_size=256 * 1024,
               reopen_delay=0.1)
cfg = tail_config(d, root, input_extra="read_from_head: on")
out = os.path.join(d, "out.jsonl")
p = start(cfg)
wait_for("the agent to start", lambda: "running" in stderr_of(p), timeout=10)

t0 = time.time()
kube.start(LINES, RATE)
kube.join(timeout=60)
check(not kube.thread.is_alive(), "the writer finished in %.1fs" % (time.time() - t0))
total = kube.total()
rotations = sum(c.rotations for c in kube.containers)
gz = glob.glob(os.path.join(root, "pods", "*", "*", "0.log.*.gz"))
check(rotations >= CONTAINERS * 8 and gz,
      "%d rotations, %d gzipped files left" % (rotations, len(gz)))

t1 = time.time()
wait_for("%d records in the output" % total,
         lambda: count_lines(out) >= total or p.poll() is not None, timeout=30)
print("drained %.1fs after the writer stopped" % (time.time() - t1))
time.sleep(1.0)    # late duplicates would land now
rc = stop(p)
check(rc == 0, "agent exits 0 on SIGTERM (rc=%s)" % rc)

rep = sequence_report(read_records(out), kube.containers)
print(summarize(rep))
check(not rep["unknown"], "no record of unknown origin (gzipped content never read)")
check(not rep["missing"], "no line lost (%d written)" % total)
check(not rep["duplicates"], "no line delivered twice")
check(not rep["out_of_order"], "lines in order per container")
check(not rep["wrong_text"], "each record's log and stream are the line's")
check(not rep["wrong_meta"], "kubernetes metadata from the path and its pods/ target")
check(rep["records"] == total, "exactly %d records (got %d)" % (total, rep["records"]))
