"""Fluent Bit's classic format: configs in the styles of the Container
Insights set-up, the aws-for-fluent-bit chart and the community chart pass
--check; --convert prints YAML that passes --check and builds the same
pipeline (--dry-run identical); each malformed form is reported at its
FILE:LINE:COL, included files too, all in one run; and a classic pipeline
runs with its options' meanings: journal entries renamed and pruned by
modify (Remove_regex with look-ahead) and stamped by aws, tail's Parser with
a classic parsers file and its Key, grep's Exclude KEY /regex/."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_imds import Imds

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fluent-bit")
d = tmpdir("classic")
env = dict(os.environ, HTTP_SERVER="On", HTTP_PORT="2020", STATE_DIR=d, LOG_DIR=d,
           READ_FROM_HEAD="Off", READ_FROM_TAIL="On", AWS_REGION="us-east-1", CLUSTER_NAME="c",
           HOST_NAME="node-1")


def run(*args, cwd=None):
    r = subprocess.run([GLEANER] + list(args), capture_output=True, text=True, env=env,
                       timeout=60, cwd=cwd)
    return r.returncode, r.stdout, r.stderr


plugins = run("--plugins")[1]
has_es = any(line.split()[:2] == ["output", "es"] for line in plugins.splitlines())
for setup in ("container-insights", "aws-for-fluent-bit", "community-chart"):
    src = os.path.join(d, setup)
    shutil.copytree(os.path.join(HERE, setup), src)
    conf = os.path.join(src, "fluent-bit.conf")
    rc, out, err = run("--convert", conf)
    check(rc == 0 and out.startswith("# Converted from"), "%s: --convert works (%s)"
          % (setup, err.strip()))
    yaml_path = write(os.path.join(src, "fluent-bit.yaml"), out)
    if setup == "community-chart" and not has_es:
        print("note: the es output is not in this build; %s is checked as far as --convert"
              % setup)
        continue
    rc, out, err = run("--check", "-c", conf)
    check(rc == 0, "%s: the classic config passes --check (%s)" % (setup, err.strip()))
    rc, out, err = run("--check", "-c", yaml_path)
    check(rc == 0, "%s: its --convert output passes --check (%s)" % (setup, err.strip()))
    a = run("--dry-run", "-c", conf)[1]
    b = run("--dry-run", "-c", yaml_path)[1]
    check(a == b and a.startswith("input "), "%s: --dry-run identical for both:\n%s" % (setup, a))

# Malformed forms, each at its place, in the main file and an included one, in one run.
bad = os.path.join(d, "bad")
os.makedirs(bad)
write(os.path.join(bad, "inc.conf"), "[OUTPUT]\n    Name   null\n    Match  *\n"
      "    Retry_Limit\n    Workers  0\n")
write(os.path.join(bad, "main.conf"), "[SERVICE]\n    Flush 1\n    Daemon On\n"
      "    Log_Levl debug\n[INPUT\n[INPUT]\n    Name  dummy\n    Tag   a\n    Tag   b\n"
      "[FILTER]\n    Name grep\n    Match *\n    Exclude log\n[PARSER]\n    Name p\n"
      "    Format regex\n    Regex (?<a\n[MULTILINE_PARSER]\n    Name m\n"
      "@INCLUDE inc.conf\n@INCLUDE missing.conf\n")
rc, out, err = run("--check", "-c", os.path.join(bad, "main.conf"))
m, i = os.path.join(bad, "main.conf"), os.path.join(bad, "inc.conf")
want = [
    "%s:5:1: malformed section header: expected [NAME] alone on the line, e.g. [INPUT]" % m,
    "%s:4:5: 'Retry_Limit' has no value: write the key, spaces, then its value" % i,
    "%s:21:10: @INCLUDE %s/missing.conf: cannot open: No such file or directory" % (m, bad),
    "%s:3:12: service.daemon: gleaner runs in the foreground only: remove daemon or set it off"
    % m,
    "%s:4:5: service: unknown key 'log_levl' (did you mean 'log_level'?)" % m,
    "%s:17:11: parsers.regex: bad regex:" % m,
    "%s:18:1: multiline parsers are not supported: use the tail input's multiline.start and "
    "multiline.continue, or multiline.parser" % m,
    "%s:9:11: dummy.tag: given again (first at 8:11); it takes one value" % m,
    "%s:13:13: grep.exclude: expected 'KEY REGEX'" % m,
    "%s:5:14: null.workers: must be between 1 and 64" % i,
]
lines = err.strip().splitlines()
for w in want:
    check(any(line.startswith(w) for line in lines), "reported: %s" % w)
check(rc == 1 and len(lines) == len(want) + 1, "every error in one run, nothing else:\n%s" % err)

# A classic pipeline with its options' meanings.
run_dir = os.path.join(d, "run")
os.makedirs(os.path.join(run_dir, "journal"))
os.makedirs(os.path.join(run_dir, "out"))
export = os.path.join(run_dir, "j.export")
now = int(time.time() * 1e6)
with open(export, "w") as f:
    for n, unit in enumerate(["kubelet.service", "containerd.service", "sshd.service"]):
        f.write("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\nMESSAGE=hi %s\n"
                "_SYSTEMD_UNIT=%s\n_HOSTNAME=node-1\nPRIORITY=6\n_PID=42\n\n"
                % (now + n, n + 1, "0123456789abcdef0123456789abcdef", unit, unit))
need("/lib/systemd/systemd-journal-remote", "systemd-journal-remote")
subprocess.run(["/lib/systemd/systemd-journal-remote",
                "--output=" + os.path.join(run_dir, "journal", "a.journal"), export], check=True,
               capture_output=True, timeout=60)
write(os.path.join(run_dir, "messages"),
      "Dec  3 10:11:12 node-1 kubelet[123]: started the pod\n"
      "Dec  3 10:11:13 node-1 systemd: noise to drop\n")
write(os.path.join(run_dir, "dmesg"), "[    0.000000] Linux version 6.1\n")
write(os.path.join(run_dir, "docker.log"),
      '{"log":"first line of a trace\\n","stream":"stderr","time":"2024-05-06T07:08:09.123456789Z"}\n')
write(os.path.join(run_dir, "parsers.conf"), open(os.path.join(
    HERE, "container-insights", "parsers.conf")).read())
imds = Imds()
env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:%d" % imds.port
os.environ.update(env)
cfg = write(os.path.join(run_dir, "fluent-bit.conf"), """[SERVICE]
    Flush         200ms
    Parsers_File  parsers.conf
    storage.path  %(d)s/state
[INPUT]
    Name            systemd
    Tag             dataplane.systemd.*
    Path            %(d)s/journal
    Systemd_Filter  _SYSTEMD_UNIT=kubelet.service
    Systemd_Filter  _SYSTEMD_UNIT=containerd.service
[INPUT]
    Name            tail
    Tag             host.messages
    Path            %(d)s/messages
    Parser          syslog
    Read_from_Head  On
[INPUT]
    Name            tail
    Tag             host.dmesg
    Path            %(d)s/dmesg
    Key             message
    Read_from_Head  On
[INPUT]
    Name            tail
    Tag             app.docker
    Path            %(d)s/docker.log
    Parser          container_firstline
    Read_from_Head  On
[FILTER]
    Name          modify
    Match         dataplane.systemd.*
    Rename        _HOSTNAME      hostname
    Rename        _SYSTEMD_UNIT  systemd_unit
    Rename        MESSAGE        message
    Remove_regex  ^((?!hostname|systemd_unit|message).)*$
[FILTER]
    Name          grep
    Match         host.messages
    Exclude       message /^noise/
[FILTER]
    Name          aws
    Match         dataplane.*
    imds_version  v2
[OUTPUT]
    Name   file
    Match  *
    Path   %(d)s/out
""" % {"d": run_dir})
p = start(cfg)


def rows(name):
    try:
        with open(os.path.join(run_dir, "out", name)) as f:
            return [json.loads(x) for x in f if x.strip()]
    except FileNotFoundError:
        return []


wait_for("every output file", lambda: (len(rows("dataplane.systemd.kubelet.service")) +
                                       len(rows("dataplane.systemd.containerd.service")) >= 2
                                       and rows("host.messages") and rows("host.dmesg") and rows("app.docker"))
         or p.poll() is not None, timeout=30)
time.sleep(0.5)
check(stop(p) == 0, "the classic pipeline runs and exits 0")
k = rows("dataplane.systemd.kubelet.service")[0]
check(sorted(k) == ["@timestamp", "az", "ec2_instance_id", "hostname", "message",
                    "systemd_unit"],
      "journal entry renamed, pruned by Remove_regex's look-ahead, stamped by aws: %r" % k)
check(k["message"] == "hi kubelet.service" and k["systemd_unit"] == "kubelet.service",
      "renamed values kept")
check(not os.path.exists(os.path.join(run_dir, "out", "dataplane.systemd.sshd.service")),
      "Systemd_Filter keeps sshd out")
msg = rows("host.messages")
check(len(msg) == 1 and msg[0]["ident"] == "kubelet" and msg[0]["pid"] == "123"
      and msg[0]["message"] == "started the pod",
      "tail's Parser syslog from a classic parsers file; grep's /regex/ dropped the noise: %r"
      % msg)
check(rows("host.dmesg")[0].get("message") == "[    0.000000] Linux version 6.1",
      "tail's Key names the line's key")
dk = rows("app.docker")
check(len(dk) == 1 and dk[0].get("log") == "first line of a trace\\n" and dk[0].get("stream") ==
      "stderr" and dk[0]["@timestamp"].startswith("2024-05-06T07:08:09.123"),
      "a parser with look-behind and look-ahead (container_firstline) splits a docker line: %r"
      % dk)
imds.close()
print("core_fluent_bit_classic: all checks passed")
