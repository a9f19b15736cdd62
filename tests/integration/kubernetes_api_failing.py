"""tail -> kubernetes -> file: 50 container logs read from head while the API
server fails. For its first 5 s every list is refused (503
ServiceUnavailable, or the connection reset half-way through the answer),
and the first two GETs answer 503; once the node's list has answered,
every watch is cut after its first event (a bookmark) for 4 s. Then more
lines are written to every file.

Asserts: lists while failing at least scheduler.base (1 s) apart, watches
while cut as well (a handful, not a loop); no GET before a list has
answered, one per pod the list did not show plus one per 503 it got; every
line delivered exactly once; a chunk waits at most kube_meta_wait (2 s)
for the failing list, so lines read while it failed go on flagged, never
held longer; the lines written after the failures are enriched for every
pod that exists; the pods that exist nowhere are flagged; the agent's peak
resident memory within rss_bound()."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kube_api import (RSS_BOUND, check_delivery, figures, read_records, refused_gets,  # noqa
                          requests_of, run_tail_kubernetes, start_node)

LINES, LATER = 8000, 200

d = tmpdir("kube-failing")
api, logs, enriched, flagged, unshown = start_node(d, LINES)
api.fail(kinds=["list"], seconds=5, share=0.5)
api.fail(kinds=["list"], seconds=5, mode="reset")
api.fail(kinds=["get"], count=2)
window = {}


def during(p, target):
    """Once the list answered: cut every watch for 4 s, then write more lines."""
    wait_for("a list answered", lambda: requests_of(api.stats(), "list", 200), timeout=30)
    window["cut"] = api.now()
    api.fail(kinds=["watch"], seconds=4, mode="reset")
    api.drop_watches()
    time.sleep(4.5)
    window["healed"] = api.now()
    for i in range(len(logs.files)):
        logs.append(i, LATER)


run = run_tail_kubernetes(d, api, logs, during=during)
api.stop()
check(run["rc"] == 0, "agent exits 0 on SIGTERM (rc=%s)" % run["rc"])
stats = run["stats"]
print("failing: %s" % figures(run, logs))
lists = requests_of(stats, "list")
failed_lists = [e for e in lists if e["status"] != 200]
check(len(failed_lists) >= 2 and
      all(b["t"] - a["done"] >= 0.95 for a, b in zip(lists, lists[1:])),
      "lists at least 1 s apart while failing: %s"
      % ["%s@%.2f" % (e["status"], e["t"]) for e in lists])
cut = [e for e in requests_of(stats, "watch") if window["cut"] <= e["t"] < window["healed"]]
check(1 <= len(cut) <= 5, "%d watches while every watch was cut (4 s): %s"
      % (len(cut), ["%s@%.2f" % (e["status"], e["t"]) for e in cut][:20]))
gets = requests_of(stats, "get")
listed = [e["done"] for e in lists if e["status"] == 200][0]
check(not [g for g in gets if g["t"] < listed], "no GET before the list answered (at %.2fs): %s"
      % (listed, ["%.2f" % g["t"] for g in gets][:10]))
failed_gets = refused_gets(stats)
asked = stats["gets"]
check(set(asked) <= unshown and all(n == 1 + failed_gets.get(k, 0) for k, n in asked.items()),
      "one GET per pod the list did not show, plus one per 503: %r (failed %r)"
      % (asked, failed_gets))
bad, per_pod = check_delivery(read_records(run["out"]), logs, set(), flagged)
check(not bad, "every line once, enriched or flagged: %s" % "; ".join(b[:300] for b in bad[:5]))
check(set(per_pod) == enriched and all(n >= LATER for n in per_pod.values()),
      "the lines written after the failures enriched, for all %d pods that exist (fewest "
      "enriched: %d)" % (len(enriched), min(per_pod.values() or [0])))
flagged_lines = logs.total() - sum(per_pod.values())
print("lines flagged meta_missing: %d (of which the %d pods that exist nowhere: %d)"
      % (flagged_lines, len(flagged), len(flagged) * (LINES + LATER)))
check(run["rss"] <= RSS_BOUND, "peak RSS %.1f MiB within %.1f MiB (README's bound)"
      % (run["rss"] / 1048576.0, RSS_BOUND / 1048576.0))
print("kubernetes_api_failing: ok")
