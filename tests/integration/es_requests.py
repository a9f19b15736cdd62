"""What the es output writes, against the test server: daily indices from
logstash_format with the prefix taken from the record (logstash_prefix_key);
data streams, which take write_operation create and refuse index (the
records then dropped under illegal_argument_exception); upsert by id_key,
one document updated in place; replace_dots, without which a record holding
both `app` and `app.kubernetes.io/name` is refused; include_tag_key; and a
server whose http.max_content_length is below the requests: each 413 splits
the request until it fits, and every record is stored once."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import check, tmpdir  # noqa: E402
from lib_es_server import EsServer, dummy_to_es, run_agent  # noqa: E402

N = 1000
d = tmpdir("es-requests")
DOTTED = '{"log":"x","ns":"shop","rid":"r1","app":"web","app.kubernetes.io/name":"web"}'


def run(srv, name, extra, want=N, record=DOTTED):
    """Sends N dummy records with the es options in extra; returns /metrics."""
    srv.reset_stats()

    def answered(p):
        items = srv.stats()["items"]
        return items.get("201", 0) + items.get("200", 0) + items.get("400", 0) >= want
    _, metrics = run_agent(d, name, dummy_to_es(srv, record, N, extra), answered)
    return metrics


def metric(metrics, name, reason=None):
    pat = r'gleaner_output_%s\{[^}]*%s[^}]*\} (\d+)' % (
        name, 'reason="%s"' % reason if reason else "")
    m = re.search(pat, metrics)
    return int(m.group(1)) if m else 0


with EsServer(flavor="es8") as srv:
    run(srv, "logstash", "      logstash_format: on\n      logstash_prefix_key: $ns\n"
        "      replace_dots: on\n      include_tag_key: on\n      tag_key: tag\n")
    day = time.strftime("shop-%Y.%m.%d", time.gmtime())
    docs = srv.docs(day)
    one = next(iter(docs.values()), {})
    check(len(docs) == N and srv.indices() == [day],
          "logstash_format: %d documents in %s, named from the record" % (len(docs), day))
    check(one.get("app_kubernetes_io/name") == "web" and one.get("tag") == "app.web" and
          "@timestamp" in one, "replace_dots and include_tag_key: %s" % sorted(one))

    metrics = run(srv, "dots", "      index: dotted\n")
    check(srv.count("dotted") == 0 and
          metric(metrics, "dropped_records_total", "document_parsing_exception") == N,
          "without replace_dots the server refuses `app` beside `app.kubernetes.io/name`")

    run(srv, "stream", "      index: logs-app-default\n      write_operation: create\n",
        record='{"log":"x"}')
    check(srv.count("logs-app-default") == N, "a data stream takes write_operation create")
    metrics = run(srv, "stream-index", "      index: logs-app-default\n"
                  "      write_operation: index\n", record='{"log":"x"}')
    check(metric(metrics, "dropped_records_total", "illegal_argument_exception") == N,
          "and refuses index: dropped under illegal_argument_exception")

    run(srv, "upsert", "      index: up\n      write_operation: upsert\n      id_key: rid\n",
        record='{"rid":"r1","log":"x"}')
    st = srv.stats()["results"]
    check(srv.count("up") == 1 and st.get("created") == 1 and st.get("updated") == N - 1,
          "upsert by id_key: one document, updated %d times" % st.get("updated", 0))

with EsServer(flavor="os2", max_content_length=16000) as srv:
    metrics = run(srv, "split", "      index: small\n      replace_dots: on\n")
    bulks = srv.stats()["bulks"]
    n413 = sum(1 for b in bulks if b["status"] == 413)
    check(srv.count("small") == N and n413 > 0 and metric(metrics, "es_bulk_splits_total") > 0,
          "413: requests split until they fit (%d refused), every record stored once (%d)"
          % (n413, srv.count("small")))
    check(max(b["bytes"] for b in bulks if b["status"] == 200) <= 16000,
          "what was taken is under the server's limit")
