"""The systemd input on journal files the test writes itself: journal export
format turned into journal files by systemd-journal-remote (Debian package
systemd-journal-remote), no running journald. Filters and the tag's `*`,
Read_From_Tail, a restart from the committed cursor with nothing lost or
repeated (also after SIGKILL, nothing lost), a journal file rotated while
being read, the cursor's file vacuumed, and a corrupt file skipped with an
error."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa

REMOTE = "/lib/systemd/systemd-journal-remote"
if not os.path.exists(REMOTE):
    fail("%s not found: install the Debian package systemd-journal-remote (make deps does)"
         % REMOTE)

BOOT = "0123456789abcdef0123456789abcdef"
clock = [int(time.time() * 1e6) - 10 ** 9]
# Monotonic time since the (made-up) boot: it must only grow, as journald's does. The
# journal orders files of one boot by it, so a value that wrapped would put later entries
# behind the reader's position.
BOOT_AT = clock[0] - 10 ** 6


def journal(path, entries):
    """Writes entries (unit, message) as a journal file at path."""
    export = path + ".export"
    with open(export, "w") as f:
        for unit, msg in entries:
            clock[0] += 1000
            f.write("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n"
                    "MESSAGE=%s\n_SYSTEMD_UNIT=%s\n_HOSTNAME=node-1\nPRIORITY=6\n\n"
                    % (clock[0], clock[0] - BOOT_AT, BOOT, msg, unit))
    r = subprocess.run([REMOTE, "--output=" + path, export], capture_output=True, timeout=60)
    os.unlink(export)
    if r.returncode != 0:
        fail("systemd-journal-remote: %s" % r.stderr.decode())


def config(d, extra="", tag="host.*"):
    return write(os.path.join(d, "g.yaml"), """
service:
  flush: 200ms
  grace: 10s
  storage.path: %s/state
pipeline:
  inputs:
    - name: systemd
      tag: '%s'
      path: %s/journal
%s
  outputs:
    - name: file
      match: '*'
      path: %s/out
""" % (d, tag, d, extra, d))


def out(d):
    rows = []
    od = os.path.join(d, "out")
    for name in sorted(os.listdir(od)) if os.path.isdir(od) else []:
        with open(os.path.join(od, name)) as f:
            rows += [(name, json.loads(line)) for line in f if line.strip()]
    return rows


def messages(d):
    return [r.get("MESSAGE", r.get("message")) for _, r in out(d)]


def setup(name):
    d = tmpdir(name)
    os.makedirs(os.path.join(d, "journal"))
    os.makedirs(os.path.join(d, "out"))
    return d


def run_until(cfg, d, n, timeout=30):
    p = start(cfg)
    wait_for("%d records" % n, lambda: len(messages(d)) >= n or p.poll() is not None,
             timeout=timeout)
    return p


# 1. Filters (or of three units), the tag's * as the unit, field names kept.
d = setup("sd-filter")
units = ["kubelet.service", "containerd.service", "docker.service", "sshd.service"]
journal(os.path.join(d, "journal", "a.journal"),
        [(units[i % 4], "m%d" % i) for i in range(40)])
cfg = config(d, """      systemd_filter:
        - _SYSTEMD_UNIT=kubelet.service
        - _SYSTEMD_UNIT=containerd.service
        - _SYSTEMD_UNIT=docker.service""")
p = run_until(cfg, d, 30)
time.sleep(0.5)
check(stop(p) == 0, "agent exits 0")
rows = out(d)
check(len(rows) == 30, "30 of 40 entries match the three units (got %d)" % len(rows))
check({name for name, _ in rows} == {"host.kubelet.service", "host.containerd.service",
                                     "host.docker.service"},
      "the tag's * is the unit: %s" % sorted({name for name, _ in rows}))
r = rows[0][1]
check(r.get("_SYSTEMD_UNIT") and r.get("_HOSTNAME") == "node-1" and r.get("PRIORITY") == "6",
      "journal fields become keys as written: %r" % r)

# And with systemd_filter_type and, strip_underscores and lowercase.
d2 = setup("sd-and")
journal(os.path.join(d2, "journal", "a.journal"),
        [("kubelet.service", "k%d" % i) for i in range(5)] + [("sshd.service", "s")])
cfg = config(d2, """      systemd_filter:
        - _SYSTEMD_UNIT=kubelet.service
        - PRIORITY=6
      systemd_filter_type: and
      strip_underscores: on
      lowercase: on""", tag="node")
p = run_until(cfg, d2, 5)
time.sleep(0.5)
stop(p)
rows = out(d2)
check(len(rows) == 5 and all(r["systemd_unit"] == "kubelet.service" and r["hostname"] == "node-1"
                             for _, r in rows),
      "and-ed filters, names stripped of _ and lower-cased (%d records)" % len(rows))

# 2. Read_From_Tail: old entries are not read, new ones are.
d = setup("sd-tail")
journal(os.path.join(d, "journal", "a.journal"), [("kubelet.service", "old%d" % i)
                                                  for i in range(20)])
cfg = config(d, "      read_from_tail: on")
p = start(cfg)
time.sleep(1.5)
check(messages(d) == [], "read_from_tail: the 20 old entries are not read")
journal(os.path.join(d, "journal", "b.journal"), [("kubelet.service", "new%d" % i)
                                                  for i in range(7)])
wait_for("the new entries", lambda: len(messages(d)) >= 7 or p.poll() is not None, timeout=15)
time.sleep(0.5)
stop(p)
check(messages(d) == ["new%d" % i for i in range(7)],
      "read_from_tail: exactly the 7 new entries: %r" % messages(d)[:10])

# 3. Restart from the cursor: nothing lost or repeated; the cursor's file vacuumed.
d = setup("sd-restart")
journal(os.path.join(d, "journal", "a.journal"), [("kubelet.service", "a%d" % i)
                                                  for i in range(500)])
cfg = config(d)
p = run_until(cfg, d, 500)
time.sleep(0.5)
check(stop(p) == 0, "first run delivers 500 and exits 0")
journal(os.path.join(d, "journal", "b.journal"), [("kubelet.service", "b%d" % i)
                                                  for i in range(300)])
p = run_until(cfg, d, 800)
time.sleep(1.0)
stop(p)
m = messages(d)
want = ["a%d" % i for i in range(500)] + ["b%d" % i for i in range(300)]
check(m == want, "after a restart: every entry once, in order (%d records)" % len(m))
check("resuming after the committed cursor" in stderr_of(p), "the restart seeks to the cursor")
# Vacuumed: the file holding the cursor is gone; the next file is read from its start.
os.unlink(os.path.join(d, "journal", "a.journal"))
journal(os.path.join(d, "journal", "c.journal"), [("kubelet.service", "c%d" % i)
                                                  for i in range(50)])
p = run_until(cfg, d, 850)
time.sleep(1.0)
stop(p)
m = messages(d)
check(m == want + ["c%d" % i for i in range(50)],
      "after the cursor's file was vacuumed: nothing repeated, nothing lost (%d)" % len(m))

# SIGKILL mid-read: nothing lost after the restart; repeats bounded by what was in flight.
# The db names a Fluent Bit SQLite file left from before: kept, the cursor goes beside it.
d = setup("sd-kill")
journal(os.path.join(d, "journal", "a.journal"), [("kubelet.service", "k%d" % i)
                                                  for i in range(20000)])
db = os.path.join(d, "systemd.db")
with open(db, "wb") as f:
    f.write(b"SQLite format 3\0" + b"\0" * 84)
cfg = config(d, "      max_entries: 100\n      db: %s" % db)
p = run_until(cfg, d, 3000, timeout=60)
p.send_signal(signal.SIGKILL)
p.wait()
p = run_until(cfg, d, 20000, timeout=120)
time.sleep(1.0)
stop(p)
m = messages(d)
missing = set("k%d" % i for i in range(20000)) - set(m)
check(not missing, "after SIGKILL and a restart nothing is lost (%d missing)" % len(missing))
check(len(m) - 20000 < 20000, "repeats are bounded by what was in flight (%d)" % (len(m) - 20000))
with open(db, "rb") as f:
    check(f.read(16) == b"SQLite format 3\0", "Fluent Bit's SQLite db is left as it was")
with open(db + ".gleaner") as f:
    check(f.read().startswith("C s="), "the cursor is kept beside it, in db.gleaner")
check("is Fluent Bit's SQLite database" in stderr_of(p), "and a warning says so")

# 4. A journal file rotated while being read: renamed as journald archives it, a new one
# takes its name; every entry once.
d = setup("sd-rotate")
jd = os.path.join(d, "journal")
N = 100000
journal(os.path.join(jd, "system.journal"), [("kubelet.service", "r%d" % i) for i in range(N)])
os.makedirs(os.path.join(d, "staging"))
journal(os.path.join(d, "staging", "system.journal"), [("kubelet.service", "s%d" % i)
                                                        for i in range(100)])
cfg = config(d, "      max_entries: 20\n      mem_buf_limit: 64KiB")
p = start(cfg)
out_file = os.path.join(d, "out", "host.kubelet.service")
wait_for("reading under way", lambda: count_lines(out_file) > 0 or p.poll() is not None,
         timeout=20, every=0.01)
# Frozen while the files change: the rotation lands mid-read whatever the machine's speed.
p.send_signal(signal.SIGSTOP)
n_before = count_lines(out_file)
os.rename(os.path.join(jd, "system.journal"),
          os.path.join(jd, "system@0123456789abcdef0123456789abcdef-0000000000000001-"
                           "0005f0a0b0c0d0e0.journal"))
os.rename(os.path.join(d, "staging", "system.journal"), os.path.join(jd, "system.journal"))
p.send_signal(signal.SIGCONT)
wait_for("all entries", lambda: count_lines(out_file) >= N + 100 or p.poll() is not None,
         timeout=300, why=lambda: "%d of %d arrived (%d before the rotation); journal: %s; "
         "the agent's log ends:\n%s" % (count_lines(out_file), N + 100, n_before,
                                        sorted(os.listdir(jd)), stderr_of(p)[-3000:]))
time.sleep(1.0)
stop(p)
m = messages(d)
check(n_before < N, "the rotation happened mid-read (%d of %d read)" % (n_before, N))
check(m == ["r%d" % i for i in range(N)] + ["s%d" % i for i in range(100)],
      "rotated while read: every entry once, in order (%d)" % len(m))

# 5. A corrupt journal file: skipped with an error naming it, the others read.
d = setup("sd-corrupt")
jd = os.path.join(d, "journal")
journal(os.path.join(jd, "good.journal"), [("kubelet.service", "g%d" % i) for i in range(10)])
with open(os.path.join(jd, "bad.journal"), "wb") as f:
    f.write(b"LPKSHHRH" + os.urandom(4096))
p = run_until(config(d), d, 10)
time.sleep(0.5)
stop(p)
err = stderr_of(p)
check(messages(d) == ["g%d" % i for i in range(10)], "the good file is read whole")
check("bad.journal cannot be read" in err and err.count("bad.journal") == 1,
      "the corrupt file is named once in an error")
print("systemd_journal: all checks passed")
