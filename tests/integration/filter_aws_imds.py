"""The aws filter against an IMDS test server on 127.0.0.1: the IMDSv2 token
flow, a token that expires between fetches, tags that answer 404, and IMDS
down when the agent starts. Metadata is fetched once per refresh, never per
record, and records pass unchanged while there is none."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import *  # noqa
from lib_imds import Imds

KEYS = {"az": "us-east-1a", "ec2_instance_id": "i-0123456789abcdef0",
        "ec2_instance_type": "m5.large", "private_ip": "10.0.1.23", "vpc_id": "vpc-0a1b2c3d",
        "ami_id": "ami-0abcdef1234567890", "account_id": "123456789012",
        "hostname": "ip-10-0-1-23.ec2.internal"}


def config(d, port, extra=""):
    os.environ["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:%d" % port
    os.environ.pop("AWS_EC2_METADATA_DISABLED", None)
    return write(os.path.join(d, "g.conf"), """
[SERVICE]
    Flush      200ms
    Log_Level  info
[INPUT]
    Name   dummy
    Tag    host.app
    Dummy  {"log":"hello","az":"mine"}
    Rate   20
[FILTER]
    Name               aws
    Match              host.*
    imds_version       v2
    ec2_instance_type  true
    private_ip         true
    vpc_id             true
    ami_id             true
    account_id         true
    hostname           true
%s
[OUTPUT]
    Name   file
    Match  host.*
    Path   %s
""" % (extra, d))


def records(d):
    try:
        with open(os.path.join(d, "host.app")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def enriched(d):
    return [r for r in records(d) if "ec2_instance_id" in r]


# 1. Token flow, tags, a token that lapses between fetches.
d = tmpdir("aws")
imds = Imds(token_ttl=1.5, tags={"Name": "node-1", "team": "sre", "secret": "x"})
cfg = config(d, imds.port, """    tags_enabled       true
    tags_exclude       secret
    refresh_interval   2s
    retry_interval_s   1""")
p = start(cfg)
wait_for("enriched records", lambda: len(enriched(d)) >= 5 or p.poll() is not None, timeout=20)
r = enriched(d)[-1]
for k, v in KEYS.items():
    check(r.get(k) == v, "record carries %s=%s" % (k, r.get(k)))
check(r.get("Name") == "node-1" and r.get("team") == "sre" and "secret" not in r,
      "tags added as keys, tags_exclude honoured: %r" % {k: r.get(k) for k in
                                                         ("Name", "team", "secret")})
check(r["log"] == "hello", "the record's own keys are kept")
first = imds.log[0]
check(first[0] == "PUT" and first[1] == "/latest/api/token",
      "the first request is the IMDSv2 token PUT (%r)" % (first,))
gets = imds.requests("GET")
check(all(g[2] for g in gets), "every GET carries the session token")
# Wait past the token's life and a refresh: a 401, then a new token, and values again.
wait_for("a GET refused with 401 after the token lapsed",
         lambda: imds.requests("GET", 401), timeout=15)
n401 = len(imds.requests("GET", 401))
wait_for("a fetch after the 401", lambda: len(imds.requests("PUT")) >= 2, timeout=10)
time.sleep(1.0)
rc = stop(p)
check(rc == 0, "agent exits 0 (rc=%s)" % rc)
check(len(enriched(d)) == len(records(d)), "every record was enriched (%d of %d)"
      % (len(enriched(d)), len(records(d))))
per_fetch = 10 + 2  # values, mac and the tag listing, then the two tags kept
fetches = len(imds.requests("GET", 200)) / per_fetch
check(fetches < len(records(d)) / 5,
      "metadata fetched per refresh, not per record (%.1f fetches, %d records, %d 401s)"
      % (fetches, len(records(d)), n401))
imds.close()

# 2. Tags not allowed in metadata: 404, logged once, records still get the rest.
d = tmpdir("aws-notags")
imds = Imds(tags=None)
cfg = config(d, imds.port, "    tags_enabled       true\n    refresh_interval   1s")
p = start(cfg)
wait_for("enriched records", lambda: len(enriched(d)) >= 30 or p.poll() is not None, timeout=20)
stop(p)
r = enriched(d)[-1]
check(r.get("az") == "us-east-1a" and "Name" not in r, "without tags the other keys are there")
err = stderr_of(p)
check(err.count("instance tags are not in instance metadata") == 1,
      "the 404 on tags is logged once over several refreshes")
check(len(imds.requests("GET", 404)) >= 2, "tags asked for at each refresh")
imds.close()

# 3. IMDS down at start: records pass unchanged, the failure is logged once and
# counted, and once IMDS answers the records are enriched.
d = tmpdir("aws-down")
port = free_port()
cfg = config(d, port, "    retry_interval_s   500ms")
with open(cfg, "a") as f:
    f.write("[SERVICE]\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port %d\n"
            % free_port())
mport = int(open(cfg).read().split("HTTP_Port")[1].split()[0])
p = start(cfg)
wait_for("records without metadata", lambda: len(records(d)) >= 20 or p.poll() is not None,
         timeout=20)
check(not enriched(d), "records pass unchanged while IMDS is down")
check(records(d)[0]["az"] == "mine", "a record's own az is left alone when there is no metadata")
status, body = http_get(mport, "/metrics")
fails = [line for line in body.splitlines() if "metadata_failures_total" in line
         and not line.startswith("#")]
check(status == 200 and fails and float(fails[0].split()[-1]) >= 2,
      "failures counted in /metrics: %r" % fails)
imds = Imds(port=port)
wait_for("enriched records once IMDS is up", lambda: enriched(d) or p.poll() is not None,
         timeout=20)
check(enriched(d)[0]["az"] == "us-east-1a", "the metadata's az replaces the record's")
rc = stop(p)
err = stderr_of(p)
check(err.count("instance metadata unavailable") == 1, "the failure is logged once")
check("instance metadata fetched again" in err, "the recovery is logged")
check(rc == 0, "agent exits 0 (rc=%s)" % rc)
imds.close()
print("filter_aws_imds: all checks passed")
