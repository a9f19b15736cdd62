"""tail -> kubernetes -> file: 50 container logs read from head while the API
server answers at once, then while it takes 2 s over every answer (the list,
each watch, each GET). 43 pods are this node's, 2 run on another node (the
list does not show them, a GET finds them) and 5 exist nowhere.

Asserts, each time: no GET while the node's first list is being answered;
one GET for each pod the list did not show and none for the others, within
the rate limit; one list and one watch; every line delivered exactly once,
enriched when its pod exists, flagged kubernetes.meta_missing otherwise;
the agent's peak resident memory within the README's bound (rss_bound()).
kube_meta_wait is 8s so that the pods a GET finds after the slow list (4 s
in) are enriched too: a chunk waits at most kube_meta_wait, for the list as
for a GET."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_kube_api import (RSS_BOUND, busiest_second, check_delivery, figures, read_records,  # noqa
                          requests_of, run_tail_kubernetes, start_node)

LINES = 8000            # 50 files of about 1.2 MB: 60 MB, fifteen times mem_buf_limit


def scenario(latency):
    tag = "API after %.0f s" % latency
    d = tmpdir("kube-slow")
    api, logs, enriched, flagged, unshown = start_node(d, LINES)
    api.set_latency(latency)
    run = run_tail_kubernetes(d, api, logs, "      kube_meta_wait: 8s\n")
    api.stop()
    check(run["rc"] == 0, "%s: agent exits 0 on SIGTERM (rc=%s)" % (tag, run["rc"]))
    stats = run["stats"]
    print("%s: %s" % (tag, figures(run, logs)))
    lists = requests_of(stats, "list")
    gets = requests_of(stats, "get")
    listed = [e["done"] for e in lists if e["status"] == 200]
    check(listed and not [g for g in gets if g["t"] < listed[0]],
          "%s: no GET while the first list was answered (done at %.2fs; GETs at %s)"
          % (tag, listed[0] if listed else -1, ["%.2f" % g["t"] for g in gets][:10]))
    asked = stats["gets"]
    check(set(asked) <= unshown and all(n == 1 for n in asked.values()),
          "%s: one GET per pod the list did not show, none for the others: %r" % (tag, asked))
    check(busiest_second(gets) <= 10 + 5,
          "%s: at most %d GETs in a second (kube_meta_get_burst 10 + rate 5)"
          % (tag, busiest_second(gets)))
    check(len(lists) == 1 and stats["counts"]["watch"] == 1,
          "%s: one list, one watch (%d, %d)" % (tag, len(lists), stats["counts"]["watch"]))
    bad, per_pod = check_delivery(read_records(run["out"]), logs, enriched, flagged)
    check(not bad, "%s: every line once, enriched or flagged as its pod is: %s"
          % (tag, "; ".join(b[:300] for b in bad[:5])))
    check(set(per_pod) == enriched and all(n == LINES for n in per_pod.values()),
          "%s: all lines of the %d pods that exist enriched" % (tag, len(enriched)))
    check(run["rss"] <= RSS_BOUND, "%s: peak RSS %.1f MiB within %.1f MiB (README's bound)"
          % (tag, run["rss"] / 1048576.0, RSS_BOUND / 1048576.0))


scenario(0.0)
scenario(2.0)
print("kubernetes_api_slow: ok")
