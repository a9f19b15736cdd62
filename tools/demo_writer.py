#!/usr/bin/env python3
"""Fills a sample /var/log tree the way kubelet does, for `make run` on a
machine without Kubernetes: CRI lines into pods/<ns>_<pod>_<uid>/<c>/0.log,
containers/<pod>_<ns>_<c>-<id>.log symlinks, rotation at 1 MiB. Runs until
killed; with --lines N it writes N lines per container and exits."""
import argparse
import hashlib
import os
import random
import time

PODS = [("shop", "checkout-7d9f8c6b5-x2k4p", "checkout"),
        ("shop", "orders-5c8d7b9f4-m8n2q", "orders"),
        ("kube-system", "coredns-6d4b75cb6d-abcde", "coredns")]
MESSAGES = [
    '{"level":"info","msg":"order accepted","order_id":%d,"latency_ms":%d}',
    'GET /api/v1/items/%d 200 %dms',
    '[WARN] cache miss for key user:%d (took %d ms)',
]


def now_cri():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int((t % 1) * 1e9)


def setup(root):
    files = []
    os.makedirs(os.path.join(root, "containers"), exist_ok=True)
    for ns, pod, c in PODS:
        uid = hashlib.md5(pod.encode()).hexdigest()
        uid = "%s-%s-%s-%s-%s" % (uid[:8], uid[8:12], uid[12:16], uid[16:20], uid[20:32])
        d = os.path.join(root, "pods", "%s_%s_%s" % (ns, pod, uid), c)
        os.makedirs(d, exist_ok=True)
        log = os.path.join(d, "0.log")
        cid = hashlib.sha256(pod.encode()).hexdigest()
        link = os.path.join(root, "containers", "%s_%s_%s-%s.log" % (pod, ns, c, cid))
        if not os.path.islink(link):
            os.symlink(os.path.relpath(log, os.path.dirname(link)), link)
        files.append(log)
    return files


def write_line(path, n):
    msg = random.choice(MESSAGES) % (n, random.randint(1, 900))
    with open(path, "a") as f:
        f.write("%s stdout F %s\n" % (now_cri(), msg))
    if os.path.getsize(path) > (1 << 20):
        os.rename(path, path + "." + time.strftime("%Y%m%d-%H%M%S"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--rate", type=float, default=2.0, help="lines per second per container")
    ap.add_argument("--lines", type=int, default=0)
    a = ap.parse_args()
    files = setup(a.root)
    n = 0
    while a.lines == 0 or n < a.lines:
        for path in files:
            write_line(path, n)
        n += 1
        time.sleep(1.0 / a.rate)


if __name__ == "__main__":
    main()
