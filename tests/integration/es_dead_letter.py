"""Documents Elasticsearch rejects for good never vanish silently. An
application logs JSON whose `code` is a number, except every tenth line
where it is a word: once the first document has made `code` a long field,
those are refused with 400 mapper_parsing_exception. With
dead_letter_index they land there as text, each with its error; without
it they are dropped, counted under that reason in /metrics and logged once
(trace_error prints each, with its document). Nothing is sent twice, and
the rest of each batch is stored."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import check, stderr_of, tmpdir  # noqa: E402
from lib_es_server import EsServer, run_agent  # noqa: E402

LINES = 500
d = tmpdir("es-dead-letter")
log = os.path.join(d, "app.log")
with open(log, "w") as f:
    for i in range(LINES):
        code = "FAILED" if i % 10 == 9 else 200 + i % 3
        f.write(json.dumps({"seq": i, "code": code, "msg": "request %d" % i}) + "\n")
BAD = {i for i in range(LINES) if i % 10 == 9}


def run(srv, name, extra):
    """Runs the agent on app.log into srv until every line is answered for; returns
    (agent stderr, /metrics text)."""
    want = LINES + (len(BAD) if "dead_letter_index" in extra else 0)

    def answered(p):
        items = srv.stats()["items"]
        return items.get("201", 0) + items.get("400", 0) >= want
    p, metrics = run_agent(d, name, """pipeline:
  inputs:
    - name: tail
      tag: app
      path: %s
      read_from_head: on
  filters:
    - name: parser
      match: app
      key_name: log
      parser: json
  outputs:
    - name: es
      match: app
      port: %d
      index: app
      generate_id: on
%s""" % (log, srv.port, extra), answered)
    return stderr_of(p), metrics


with EsServer(flavor="os2") as srv:
    err, metrics = run(srv, "dlq", "      dead_letter_index: app-dead-letters\n")
    docs = srv.docs("app")
    dead = srv.docs("app-dead-letters")
    check(sorted(d["seq"] for d in docs.values()) == sorted(set(range(LINES)) - BAD),
          "the %d good lines are stored once each" % (LINES - len(BAD)))
    seqs = sorted(json.loads(d["message"])["seq"] for d in dead.values())
    check(seqs == sorted(BAD), "the %d rejected lines are in the dead-letter index, once each"
          % len(dead))
    one = next(iter(dead.values()))
    check(one["error"]["status"] == 400 and one["error"]["type"] == "mapper_parsing_exception"
          and "failed to parse field [code] of type [long]" in one["error"]["reason"],
          "each with its error: %s" % json.dumps(one["error"]))
    check(json.loads(one["message"])["code"] == "FAILED" and '"_index":"app"' in one["action"]
          and "@timestamp" in one, "the document kept as text, with its action and time")
    check(srv.mapping("app-dead-letters").get("message") == "text",
          "dead letters are text: they cannot conflict with a mapping themselves")
    check(not re.search(r'gleaner_output_dropped_records_total\{[^}]*name="es.0"', metrics),
          "nothing dropped")
    dl = re.search(r'gleaner_output_es_documents_dead_lettered_total\{[^}]*\} (\d+)', metrics)
    check(dl and int(dl.group(1)) == len(BAD), "dead letters counted: %s" % (dl and dl.group(1)))

with EsServer(flavor="es8") as srv:
    err, metrics = run(srv, "drop", "      trace_error: on\n")
    check(srv.count("app") == LINES - len(BAD), "without dead_letter_index the good lines "
          "are stored (%d)" % srv.count("app"))
    m = re.search(r'gleaner_output_dropped_records_total\{[^}]*reason="document_parsing_'
                  r'exception"[^}]*\} (\d+)', metrics)
    check(m and int(m.group(1)) == len(BAD), "the rejected ones are counted as dropped under "
          "their reason: %s" % (m.group(0) if m else metrics[-2000:]))
    once = err.count("documents rejected with HTTP 400 document_parsing_exception")
    check(once == 1, "logged once for the reason (%d)" % once)
    traced = err.count("trace_error: HTTP 400 document_parsing_exception")
    check(traced == len(BAD) and '"code":"FAILED"' in err,
          "trace_error prints each rejected document (%d)" % traced)
