"""tail rejoins what runtimes cut, and cuts what is over buffer_max_size:
- CRI P pieces up to the F, stdout and stderr interleaved: one record per
  message per stream, exact text;
- docker json-file 16 KiB splits (no newline in "log" until the last piece),
  interleaved: joined exactly;
- a message over buffer_max_size (64 KiB), in P pieces: records flagged
  _split, each at most 64 KiB, whose concatenation is the message;
- a single physical line over buffer_max_size, whether it arrives in one
  read (buffer_chunk_size 256 KiB) or over several: records flagged _split
  whose concatenation is the message (or, at least, the raw line): no byte
  lost, no piece unflagged.
A numbered line after each case comes out whole."""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kubelet import Container, read_records, tail_config  # noqa

MAX = 64 * 1024
d = tmpdir("tail-partial")
root = os.path.join(d, "node")
rng = random.Random(11)
cri = Container(root, 0, mode="none", seed=11)
docker = Container(root, 1, mode="none", fmt="docker", seed=11)
long_pf = Container(root, 2, mode="none", seed=11)
one_read = Container(root, 3, mode="none", seed=11)
many_reads = Container(root, 4, mode="none", seed=11)

for i in range(30):
    cri.write_partial([("stdout", cri.message(rng.randint(5000, 30000))),
                       ("stderr", cri.message(rng.randint(100, 20000)))], piece=4096)
    cri.write_lines(2, stream="stdout" if i % 2 else "stderr")
for i in range(20):
    docker.write_partial([("stdout", docker.message(rng.randint(16000, 60000))),
                          ("stderr", docker.message(rng.randint(16385, 40000)))])
    docker.write_lines(1)
long_msg = long_pf.message(300000)
long_pf.write_partial([("stdout", long_msg)], piece=16384)
long_pf.write_lines(1)
one_msg = one_read.message(100000)                 # under buffer_chunk_size: one read
one_read.write_message(one_msg)
one_read.write_lines(1)
many_msg = many_reads.message(400000)              # over buffer_chunk_size: several reads
many_reads.write_message(many_msg)
many_reads.write_lines(1)
for c in (cri, docker, long_pf, one_read, many_reads):
    c.close()

cfg = tail_config(d, root, input_extra="""
read_from_head: on
exit_on_eof: on
buffer_max_size: 64KiB
buffer_chunk_size: 256KiB
""")
p = start(cfg)
try:
    rc = p.wait(30)
except subprocess.TimeoutExpired:
    fail("exit_on_eof: the agent did not exit within 30s")
check(rc == 0, "agent exits 0 at end of input (rc=%s)" % rc)

by = {}
for r in read_records(os.path.join(d, "out.jsonl")):
    by.setdefault(r["kubernetes"]["container_name"], []).append(r)


def exact(c):
    """Per stream, the records are the messages written, in order (the two
    streams' records interleave as their final pieces came)."""
    why = []
    for stream in ("stdout", "stderr"):
        got = [r["log"] for r in by.get(c.container, []) if r.get("stream") == stream]
        want = [m for s, m in c.written if s == stream]
        bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
        if len(got) != len(want) or bad:
            why.append("%s: %d records for %d messages, %d differ%s" % (
                stream, len(got), len(want), len(bad),
                " (first: #%d, %d chars for %d)" % (bad[0], len(got[bad[0]]), len(want[bad[0]]))
                if bad else ""))
    return not why, "; ".join(why) or "%d messages" % len(c.written)


ok, why = exact(cri)
check(ok, "CRI P/F pieces, stdout and stderr interleaved, joined exactly: " + why)
ok, why = exact(docker)
check(ok, "docker 16 KiB splits, interleaved, joined exactly: " + why)

problems = []


def split_case(name, c, msg):
    """The records of one over-long message: all _split, none over MAX,
    their concatenation the message (or the raw line), then the next line."""
    recs = by.get(c.container, [])
    parts, tail = recs[:-1], recs[-1:] if recs else []
    text = "".join(r["log"] for r in parts)
    raw_ok = len(text) > len(msg) and text.endswith(msg) and " F " in text[:50]
    desc = "%s: %d records %s, %d chars joined for a %d-char message, _split on %d" % (
        name, len(parts), [len(r["log"]) for r in parts][:8], len(text), len(msg),
        sum(1 for r in parts if r.get("_split")))
    good = (len(parts) >= 2 and (text == msg or raw_ok) and
            all(r.get("_split") is True for r in parts) and
            all(len(r["log"].encode()) <= MAX for r in parts) and
            [(r.get("stream"), r["log"]) for r in tail] == [c.written[-1]])
    print(("ok: " if good else "BAD: ") + desc)
    if not good:
        problems.append(desc)


split_case("P/F message over buffer_max_size", long_pf, long_msg)
split_case("one physical line over buffer_max_size, read at once", one_read, one_msg)
split_case("one physical line over buffer_max_size, over several reads", many_reads, many_msg)
check(not problems, "lines over buffer_max_size are split, flagged, and lose nothing")
