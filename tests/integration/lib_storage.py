"""Configs for the filesystem buffer's tests: the service section they
share (quick flushes and retries, a short grace, their storage.path) and
the sections they combine, each as YAML text."""
import os

from lib import write


def config(d, name, inputs, outputs, grace="2s", http_port=None):
    """Writes <d>/<name>.yaml with storage.path <d>/storage; returns its path."""
    http = ""
    if http_port:
        http = "  http_server: on\n  http_listen: 127.0.0.1\n  http_port: %d\n" % http_port
    return write(os.path.join(d, name + ".yaml"), """service:
  flush: 200ms
  grace: %s
  scheduler.base: 100ms
  scheduler.cap: 500ms
  storage.path: %s/storage
%spipeline:
  inputs:
%s  outputs:
%s""" % (grace, d, http, "".join(inputs), "".join(outputs)))


def dummy(alias, samples, msg, kind="filesystem", rate=10000):
    """A dummy input emitting {"m": msg}, samples records (0: no end)."""
    return """    - name: dummy
      alias: %s
      tag: %s
      rate: %d
      samples: %d
      dummy: '{"m":"%s"}'
      storage.type: %s
""" % (alias, alias, rate, samples, msg, kind)


def tail(alias, path, kind="filesystem"):
    """A tail input reading path from its head."""
    return """    - name: tail
      alias: %s
      tag: %s
      path: %s
      read_from_head: on
      storage.type: %s
""" % (alias, alias, path, kind)


def limit(section, size):
    """A section with mem_buf_limit set."""
    return section + "      mem_buf_limit: %s\n" % size


def cloudwatch(endpoint, match="*"):
    """cloudwatch_logs into group g, one stream s-<tag> per tag."""
    return """    - name: cloudwatch_logs
      match: '%s'
      endpoint: %s
      log_group_name: g
      log_stream_prefix: s-
""" % (match, endpoint)


def file_output(path):
    """The file output writing <path>/out.jsonl."""
    return """    - name: file
      match: '*'
      path: %s
      file: out.jsonl
""" % path
