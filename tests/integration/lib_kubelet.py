"""A kubelet-like writer of container logs, and the checks the tail tests
make on what the agent delivered. A library and a command line tool, not a
test (run.sh skips files named lib*).

Layout, as kubelet and a CRI runtime leave it on a node:
    <root>/pods/<ns>_<pod>_<uid>/<container>/0.log        the log, CRI format
    <root>/containers/<pod>_<ns>_<container>-<64 hex>.log  a symlink to it
Every line written carries its container and a sequence number
("c3 seq=000123 payload...") so that a test can check that each line
arrived exactly once and in order per container.

Rotation modes:
    rename        kubelet's: at the size limit 0.log becomes 0.log.<YYYYMMDD-HHMMSS>
                  and a new 0.log (new inode) is created; the newest rotated file
                  stays plain, older ones are gzipped (.gz, never read), at most
                  max_rotated are kept; for reopen_delay seconds between the rename
                  and the new 0.log (the runtime's ReopenContainerLog, a call away)
                  the path and its containers/ link name no file
    copytruncate  logrotate's: 0.log is copied to 0.log.1, then truncated in place
    delete        the file is unlinked while being read and a new 0.log starts
    none          the file only grows

Also: partial lines (CRI P pieces then F, stdout and stderr interleaved),
docker json-file lines with the runtime's 16 KiB splits, Java stack traces
written line by line. Writes are rate-controlled, deterministic for a seed
(the payloads and the choices; not the times), and can run in a thread.

Command line: python3 lib_kubelet.py ROOT [--containers N] [--lines N]
[--rate LINES_PER_S] [--rotate-size BYTES] [--mode rename|copytruncate|
delete|none] [--format cri|docker] [--seed N]
"""
import argparse
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import threading
import time

SEQ_RE = re.compile(r"^(\w+) seq=(\d+)")
DOCKER_SPLIT = 16384
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:"


def rfc3339nano(t=None):
    """Formats a time the way CRI runtimes do: 2024-05-01T10:11:12.123456789Z."""
    ns = time.time_ns() if t is None else int(t * 1e9)
    s, frac = divmod(ns, 1000000000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%09dZ" % frac


class Container:
    """One container's log: its paths, its writer and what it wrote.

    written holds, in order, (stream, message) for every complete message
    (the joined line, the whole trace) as a reader should deliver it.
    truncations holds, for copytruncate, the index in written of the first
    message after each truncation.
    """

    def __init__(self, root, index, namespace="default", fmt="cri", mode="rename",
                 rotate_size=256 * 1024, max_rotated=5, seed=1, name=None, compress=True,
                 reopen_delay=0.0):
        self.index = index
        self.cid = name or "c%d" % index
        self.namespace = namespace
        self.pod = "pod-%s" % self.cid
        rng = random.Random("%s/%s" % (seed, self.cid))
        self.uid = "%08x-%04x-%04x-%04x-%012x" % tuple(rng.getrandbits(b)
                                                      for b in (32, 16, 16, 16, 48))
        self.container = "app-%s" % self.cid
        self.docker_id = hashlib.sha256(("%s/%s" % (seed, self.cid)).encode()).hexdigest()
        self.dir = os.path.join(root, "pods", "%s_%s_%s" % (namespace, self.pod, self.uid),
                                self.container)
        self.log = os.path.join(self.dir, "0.log")
        self.link = os.path.join(root, "containers", "%s_%s_%s-%s.log" % (
            self.pod, namespace, self.container, self.docker_id))
        self.fmt = fmt
        self.mode = mode
        self.rotate_size = rotate_size
        self.max_rotated = max_rotated
        self.compress = compress
        self.reopen_delay = reopen_delay
        self.rng = rng
        self.seq = 0
        self.written = []
        self.truncations = []
        self.rotations = 0
        self.last_rotated_name = None
        self.lock = threading.Lock()
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(os.path.dirname(self.link), exist_ok=True)
        self.fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if not os.path.islink(self.link):
            os.symlink(self.log, self.link)

    def metadata(self):
        """The kubernetes map the agent should add to each record of this container."""
        return {"pod_name": self.pod, "namespace_name": self.namespace,
                "container_name": self.container, "docker_id": self.docker_id,
                "pod_id": self.uid}

    def message(self, size=None, extra=""):
        """The next numbered message: '<cid> seq=<n> <extra><payload>'."""
        self.seq += 1
        if size is None:
            size = self.rng.randint(40, 140)
        head = "%s seq=%06d %s" % (self.cid, self.seq, extra)
        return head + payload(self.rng, max(0, size - len(head)))

    # ---- encoding ----

    def encode(self, msg, stream="stdout", partial=False):
        """One physical line of the file's format carrying msg (or a piece of it)."""
        if self.fmt == "docker":
            rec = {"log": msg if partial else msg + "\n", "stream": stream,
                   "time": rfc3339nano()}
            return json.dumps(rec, separators=(",", ":")) + "\n"
        return "%s %s %s %s\n" % (rfc3339nano(), stream, "P" if partial else "F", msg)

    # ---- writing ----

    def write_lines(self, n, stream="stdout", size=None):
        """Writes n numbered messages in one write; returns the bytes written."""
        msgs = [self.message(size) for _ in range(n)]
        data = "".join(self.encode(m, stream) for m in msgs)
        with self.lock:
            os.write(self.fd, data.encode())
            self.written.extend((stream, m) for m in msgs)
            self.maybe_rotate()
        return len(data)

    def write_message(self, msg, stream="stdout"):
        """Writes one given message as a complete line."""
        with self.lock:
            os.write(self.fd, self.encode(msg, stream).encode())
            self.written.append((stream, msg))
            self.maybe_rotate()

    def pieces(self, msg, piece):
        """msg cut into pieces of at most piece characters (at least one piece)."""
        return [msg[i:i + piece] for i in range(0, len(msg), piece)] or [""]

    def write_partial(self, messages, piece=None):
        """Writes messages [(stream, msg), ...] cut into partial pieces, the
        pieces of the different messages interleaved line by line (a runtime
        writing stdout and stderr at once). CRI: P pieces then an F; docker:
        16 KiB pieces without the trailing newline, then the rest with it."""
        if piece is None:
            piece = DOCKER_SPLIT if self.fmt == "docker" else 4096
        cut = [(s, self.pieces(m, piece)) for s, m in messages]
        out = []
        for i in range(max(len(p) for _, p in cut)):
            for stream, ps in cut:
                if i < len(ps):
                    out.append(self.encode(ps[i], stream, partial=i < len(ps) - 1))
        with self.lock:
            os.write(self.fd, "".join(out).encode())
            self.written.extend(messages)
            self.maybe_rotate()

    def write_trace(self, lines, stream="stdout"):
        """Writes a multi-line message (a stack trace) one CRI/docker line per
        line; it should come out as one record, the lines joined by newlines."""
        with self.lock:
            os.write(self.fd, "".join(self.encode(l, stream) for l in lines).encode())
            self.written.append((stream, "\n".join(lines)))
            self.maybe_rotate()

    # ---- rotation ----

    def maybe_rotate(self):
        if self.mode == "none" or os.fstat(self.fd).st_size < self.rotate_size:
            return
        self.rotations += 1
        if self.mode == "rename":
            self.rotate_rename()
        elif self.mode == "copytruncate":
            shutil.copyfile(self.log, self.log + ".1")
            os.ftruncate(self.fd, 0)
            self.truncations.append(len(self.written))
        elif self.mode == "delete":
            os.unlink(self.log)
            os.close(self.fd)
            self.fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def rotated_name(self):
        """0.log.<YYYYMMDD-HHMMSS>, a second later than the last one when it would clash."""
        t = int(time.time())
        name = None
        while name is None or name <= (self.last_rotated_name or ""):
            name = self.log + "." + time.strftime("%Y%m%d-%H%M%S", time.gmtime(t))
            t += 1
        self.last_rotated_name = name
        return name

    def rotate_rename(self):
        """kubelet: rename, reopen (the runtime's ReopenContainerLog), compress, clean up."""
        os.rename(self.log, self.rotated_name())
        os.close(self.fd)
        if self.reopen_delay:
            time.sleep(self.reopen_delay)
        self.fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        rotated = sorted(n for n in os.listdir(self.dir) if n.startswith("0.log."))
        plain = [n for n in rotated if not n.endswith(".gz")]
        if self.compress:
            for n in plain[:-1]:
                p = os.path.join(self.dir, n)
                with open(p, "rb") as src, gzip.open(p + ".gz", "wb", compresslevel=1) as dst:
                    shutil.copyfileobj(src, dst)
                os.unlink(p)
            rotated = sorted(n for n in os.listdir(self.dir) if n.startswith("0.log."))
        for n in rotated[:-self.max_rotated]:
            os.unlink(os.path.join(self.dir, n))

    def close(self):
        with self.lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1


def payload(rng, n):
    return "".join(rng.choice(ALPHABET) for _ in range(n)).strip().replace(" ", "_") or "x"


class Kubelet:
    """N containers written at a steady rate from a thread.

    run() writes `lines` numbered lines per container at `rate` lines per
    second per container, in batches every `tick` seconds, stopping early
    when stop() is called. Containers are numbered from `first` (c<first>...),
    so that several Kubelets with different modes can share a root.
    """

    def __init__(self, root, n, seed=1, first=0, **kw):
        self.root = root
        self.containers = [Container(root, i, seed=seed, **kw) for i in range(first, first + n)]
        self.stopping = threading.Event()
        self.thread = None
        self.started = self.finished = None

    def run(self, lines, rate, tick=0.02):
        self.started = time.time()
        done = 0
        while done < lines and not self.stopping.is_set():
            due = min(lines, int((time.time() - self.started) * rate) + 1)
            if due > done:
                for c in self.containers:
                    c.write_lines(due - done)
                done = due
            time.sleep(tick)
        self.finished = time.time()

    def start(self, lines, rate, tick=0.02):
        self.thread = threading.Thread(target=self.run, args=(lines, rate, tick), daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.join()

    def join(self, timeout=None):
        if self.thread is not None:
            self.thread.join(timeout)
        for c in self.containers:
            c.close()

    def total(self):
        return sum(len(c.written) for c in self.containers)


# ---- reading and checking what the agent delivered ----

def read_records(path):
    """The JSON records of a file output, ignoring a last line still being written."""
    out = []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return out
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            # A record torn by a kill, then the next record appended after it:
            # the torn one is not counted (it was not acknowledged, so it is sent again).
            at = line.rfind(b'{"log":')
            if at > 0:
                try:
                    out.append(json.loads(line[at:]))
                except ValueError:
                    pass
    return out


def seq_of(msg):
    """(cid, seq) of a numbered message, or None."""
    m = SEQ_RE.match(msg)
    return (m.group(1), int(m.group(2))) if m else None


def sequence_report(records, containers):
    """Checks numbered messages per container against what was written.

    Returns a dict with, per problem, a list of short descriptions:
    missing, duplicates, out_of_order, unknown (records with no number or
    of no known container), wrong_text (a number whose text differs),
    wrong_meta (kubernetes metadata differs) and counts.
    """
    by_cid = {c.cid: c for c in containers}
    expect = {}
    for c in containers:
        expect[c.cid] = {seq_of(m)[1]: (s, m) for s, m in c.written if seq_of(m)}
    seen = {c.cid: [] for c in containers}
    rep = {"missing": [], "duplicates": [], "out_of_order": [], "unknown": [],
           "wrong_text": [], "wrong_meta": [], "records": len(records)}
    for r in records:
        k = seq_of(r.get("log", ""))
        if k is None or k[0] not in by_cid:
            rep["unknown"].append(r.get("log", "")[:80])
            continue
        cid, seq = k
        seen[cid].append(seq)
        want = expect[cid].get(seq)
        if want is None or want[1] != r["log"] or want[0] != r.get("stream"):
            rep["wrong_text"].append("%s seq=%d" % (cid, seq))
        if r.get("kubernetes") != by_cid[cid].metadata():
            rep["wrong_meta"].append("%s seq=%d: %r" % (cid, seq, r.get("kubernetes")))
    for cid, seqs in seen.items():
        got = set()
        last = 0
        for s in seqs:
            if s in got:
                rep["duplicates"].append("%s seq=%d" % (cid, s))
            elif s < last:
                rep["out_of_order"].append("%s seq=%d after seq=%d" % (cid, s, last))
            got.add(s)
            last = max(last, s)
        for s in sorted(set(expect[cid]) - got):
            rep["missing"].append("%s seq=%d" % (cid, s))
    return rep


def summarize(rep, limit=5):
    """One line per non-empty problem list, with its first entries."""
    lines = []
    for k in ("missing", "duplicates", "out_of_order", "unknown", "wrong_text", "wrong_meta"):
        if rep[k]:
            lines.append("%s: %d (%s%s)" % (k, len(rep[k]), ", ".join(rep[k][:limit]),
                                            ", ..." if len(rep[k]) > limit else ""))
    return "; ".join(lines) or "all %d records as written" % rep["records"]


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(b.count(b"\n") for b in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def java_trace(rng, head, depth=None, cause=True):
    """A Java stack trace starting with head (the exception line)."""
    depth = depth or rng.randint(3, 12)
    lines = [head]
    for i in range(depth):
        lines.append("\tat com.example.svc.Handler%d.method%s(Handler%d.java:%d)"
                     % (i, payload(rng, 6), i, rng.randint(10, 900)))
    if cause:
        lines.append("Caused by: java.io.IOException: connection reset by peer")
        for i in range(rng.randint(1, 4)):
            lines.append("\tat java.net.SocketInputStream.read(SocketInputStream.java:%d)"
                         % (100 + i))
        lines.append("\t... %d more" % depth)
    return lines


def tail_config(d, root, out_name="out.jsonl", input_extra="", service_extra="",
                flush="200ms", parsers="cri, docker"):
    """Writes <d>/g.yaml: tail over <root>/containers/*.log into the file output
    <d>/<out_name>, offsets under <d>/storage. input_extra lines are added to
    the tail input (indented 6 spaces)."""
    extra = "".join("      %s\n" % l.strip() for l in input_extra.strip().splitlines())
    svc = "".join("  %s\n" % l.strip() for l in service_extra.strip().splitlines())
    path = os.path.join(d, "g.yaml")
    with open(path, "w") as f:
        f.write("""service:
  flush: %s
  grace: 20s
  log_level: info
  storage.path: %s
%spipeline:
  inputs:
    - name: tail
      tag: kube.*
      path: %s/containers/*.log
      multiline.parser: %s
%s  outputs:
    - name: file
      match: 'kube.*'
      path: %s
      file: %s
""" % (flush, os.path.join(d, "storage"), svc, root, parsers, extra, d, out_name))
    return path


def main():
    ap = argparse.ArgumentParser(description="Write container logs the way kubelet does.")
    ap.add_argument("root")
    ap.add_argument("--containers", type=int, default=3)
    ap.add_argument("--lines", type=int, default=10000, help="lines per container")
    ap.add_argument("--rate", type=float, default=1000, help="lines per second per container")
    ap.add_argument("--rotate-size", type=int, default=256 * 1024)
    ap.add_argument("--mode", default="rename", choices=("rename", "copytruncate", "delete",
                                                          "none"))
    ap.add_argument("--format", default="cri", choices=("cri", "docker"))
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    k = Kubelet(a.root, a.containers, seed=a.seed, fmt=a.format, mode=a.mode,
                rotate_size=a.rotate_size)
    k.run(a.lines, a.rate)
    k.join()
    print("wrote %d lines in %d containers, %d rotations" % (
        k.total(), len(k.containers), sum(c.rotations for c in k.containers)))


if __name__ == "__main__":
    main()
