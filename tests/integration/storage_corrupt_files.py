"""Damaged chunk files never stop start-up: the filesystem buffer of an
input holds, from its last run, two good chunk files with a damaged one
between them (a bit flipped), one cut short, one that is not a chunk file
at all and a temporary file a crash left half written. The agent starts,
sends the good chunks' records (in order, before new data), moves the three
damaged files to corrupt/ with an error line each, removes the temporary
file, counts them in /metrics, and goes on with new records."""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_cwl_server import CwlServer  # noqa
import lib_storage  # noqa
from lib_storage import cloudwatch, dummy, file_output  # noqa

d = tmpdir("storage-corrupt")
out = os.path.join(d, "out")
os.makedirs(out)
port = free_port()


def config(msg, samples, output):
    return lib_storage.config(d, "g-" + msg, [dummy("gen", samples, msg, rate=2000)], [output],
                              grace="1s", http_port=port)


# A first run whose output answers every request with 503 leaves its chunks on disk.
with CwlServer(seed=9, unavailable_rate=1.0) as srv:
    os.environ.update(srv.env())
    p = start(config("old", 3000, cloudwatch(srv.endpoint)))
    wait_for("the first run's samples", lambda: "samples reached" in stderr_of(p), timeout=30)
    time.sleep(1)
    stop(p)
buf = os.path.join(d, "storage", "gen.buffer")
files = sorted(f for f in os.listdir(buf) if f.endswith(".chunk"))
check(len(files) >= 4, "the first run left %d chunk files" % len(files))


def records_in(name):
    """Records a chunk file holds, from its header."""
    with open(os.path.join(buf, name), "rb") as f:
        return int.from_bytes(f.read(12)[8:12], "little")


# Damage: flip a bit in the second file, cut the third short; add a stranger and a .tmp.
good = [files[0]] + files[3:]
expect = sum(records_in(f) for f in good)
with open(os.path.join(buf, files[1]), "r+b") as f:
    f.seek(40)
    b = f.read(1)
    f.seek(40)
    f.write(bytes([b[0] ^ 0x20]))
with open(os.path.join(buf, files[2]), "r+b") as f:
    f.truncate(os.path.getsize(os.path.join(buf, files[2])) - 9)
write(os.path.join(buf, "%016x.chunk" % (int(files[-1].split(".")[0], 16) + 1)), "GLCK garbage")
write(os.path.join(buf, "%016x.tmp" % (int(files[-1].split(".")[0], 16) + 2)), "half")

p = start(config("new", 10, file_output(out)))
path = os.path.join(out, "out.jsonl")
wait_for("the good chunks and the new records", lambda: count_lines(path) >= expect + 10,
         timeout=30)
with open(path) as f:
    got = [json.loads(l)["m"] for l in f]
check(got.count("old") == expect and got.count("new") == 10 and got[-1] == "new"
      and got.index("new") == expect,
      "the %d records of the good chunks arrive first, then the new ones (%d old, %d new)"
      % (expect, got.count("old"), got.count("new")))
err = stderr_of(p)
check(len(re.findall(r"level=error .*cannot be read", err)) == 3,
      "one error line per damaged file")
check(sorted(os.listdir(os.path.join(buf, "corrupt"))) ==
      sorted([files[1], files[2], "%016x.chunk" % (int(files[-1].split(".")[0], 16) + 1)]),
      "the damaged files are in corrupt/")
check(not any(f.endswith(".tmp") for f in os.listdir(buf)), "the half-written file is gone")
status, metrics = http_get(port, "/metrics")
check(re.search(r'gleaner_input_storage_chunks_corrupt_total\{name="gen"[^}]*\} 3', metrics),
      "gleaner_input_storage_chunks_corrupt_total counts 3")
check(stop(p) == 0, "the agent exits 0")
