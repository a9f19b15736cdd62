"""tail -> kubernetes -> file: 50 container logs read from head while the API
server throttles, as its priority and fairness does: the first two lists
answer 429 with Retry-After: 2, the first watch 429 with a Retry-After date
2 s ahead, and the first three GETs 429 with Retry-After: 1.

Asserts: no request of a kind before the Retry-After of a 429 of that kind
is over; lists at least 2 s apart while throttled and no GET until a list
has answered; one GET per pod the list did not show, plus one per 429 it
got; every line delivered exactly once, enriched when its pod exists (the
wait is 15 s, longer than the throttling), flagged otherwise; the agent's
peak resident memory within rss_bound()."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kube_api import (RSS_BOUND, check_delivery, figures, read_records, refused_gets,  # noqa
                          requests_of, run_tail_kubernetes, start_node, too_soon)

LINES = 8000

d = tmpdir("kube-throttled")
api, logs, enriched, flagged, unshown = start_node(d, LINES)
api.throttle(kinds=["list"], count=2, retry_after=2)
api.throttle(kinds=["watch"], count=1, retry_after=2, date=True)
api.throttle(kinds=["get"], count=3, retry_after=1)
run = run_tail_kubernetes(d, api, logs, "      kube_meta_wait: 15s\n")
api.stop()
check(run["rc"] == 0, "agent exits 0 on SIGTERM (rc=%s)" % run["rc"])
stats = run["stats"]
print("throttled: %s" % figures(run, logs))
lists = requests_of(stats, "list")
gets = requests_of(stats, "get")
for kind in ("list", "watch", "get"):
    early = too_soon(stats, kind)
    check(not early, "no %s before the Retry-After of a 429 was over: %s (all: %s)"
          % (kind, ["%.2f" % e["t"] for e in early][:10],
             ["%s@%.2f-%.2f" % (e["status"], e["t"], e["done"] or -1)
              for e in requests_of(stats, kind)][:20]))
check([e["status"] for e in lists] == [429, 429, 200],
      "lists: two throttled, then one answered: %s"
      % ["%s@%.2f" % (e["status"], e["t"]) for e in lists])
check(all(b["t"] - a["done"] >= 1.95 for a, b in zip(lists, lists[1:])),
      "lists at least Retry-After (2 s) apart: %s" % ["%.2f" % e["t"] for e in lists])
listed = lists[-1]["done"]
check(not [g for g in gets if g["t"] < listed], "no GET before the list answered (at %.2fs): %s"
      % (listed, ["%.2f" % g["t"] for g in gets]))
watches = [e["status"] for e in requests_of(stats, "watch")]
check(watches == [429, 200], "watches: one throttled, then one open: %s" % watches)
throttled_gets = refused_gets(stats)
asked = stats["gets"]
check(set(asked) <= unshown and
      all(n == 1 + throttled_gets.get(k, 0) for k, n in asked.items()),
      "one GET per pod the list did not show, plus one per 429: %r (throttled %r)"
      % (asked, throttled_gets))
bad, per_pod = check_delivery(read_records(run["out"]), logs, enriched, flagged)
check(not bad, "every line once, enriched or flagged as its pod is: %s"
      % "; ".join(b[:300] for b in bad[:5]))
check(set(per_pod) == enriched and all(n == LINES for n in per_pod.values()),
      "all lines of the %d pods that exist enriched" % len(enriched))
check(run["rss"] <= RSS_BOUND, "peak RSS %.1f MiB within %.1f MiB (README's bound)"
      % (run["rss"] / 1048576.0, RSS_BOUND / 1048576.0))
print("kubernetes_api_throttled: ok")
