#!/bin/sh
# The command line: --check prints every error as FILE:LINE:COL and exits 1,
# --dry-run prints the routing graph, --plugins, --help-plugin, --version.
set -u
G=build/gleaner
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

cat > "$D/bad.yaml" <<'YAML'
service:
  flush: 5 parsecs
  log_levle: debug
pipeline:
  inputs:
    - name: dummy
      rate: 10
      samples: -3
    - name: dumy
  filters:
    - name: grep
      match: '*'
      regex: log (unclosed
      alias: dup
  outputs:
    - name: file
      alias: dup
      match: '*'
      mkdir: maybe
    - name: stdout
YAML
out=$($G --check -c "$D/bad.yaml" 2>&1); rc=$?
[ $rc -eq 1 ] || fail "--check exits 1 on errors (got $rc)"
for want in \
    "bad.yaml:2:10: service.flush: expected a duration" \
    "bad.yaml:3:3: service: unknown key 'log_levle' (did you mean 'log_level'?)" \
    "bad.yaml:8:16: dummy.samples: must be 0 (no limit) or more" \
    "bad.yaml:9:13: unknown input plugin 'dumy' (did you mean 'dummy'?)" \
    "bad.yaml:13:14: grep.regex: bad regex in 'log (unclosed'" \
    "bad.yaml:17:14: file: duplicate alias 'dup'" \
    "bad.yaml:19:14: file.mkdir: expected on or off" \
    "bad.yaml:20:7: stdout: needs match or match_regex"; do
    printf '%s\n' "$out" | grep -qF "$want" || fail "--check reports: $want
--- got:
$out"
done
ok "--check reports every error with FILE:LINE:COL"

cat > "$D/good.yaml" <<'YAML'
pipeline:
  inputs:
    - name: dummy
      tag: app.web
    - name: dummy
      tag: sys.kernel
  filters:
    - name: grep
      match: app.*
      regex: message dummy
  outputs:
    - name: null
      match: '*'
    - name: stdout
      match_regex: ^app\.
YAML
$G --check -c "$D/good.yaml" >/dev/null 2>&1 || fail "--check accepts a good config"
graph=$($G --dry-run -c "$D/good.yaml") || fail "--dry-run exits 0"
printf '%s\n' "$graph" | grep -q "input dummy.0 (dummy) tag=app.web" || fail "graph: $graph"
printf '%s\n' "$graph" | grep -q -- "-> filter grep.0 (grep) match=app.\*" || fail "graph: $graph"
printf '%s\n' "$graph" | grep -q "=> output stdout.0 (stdout) match_regex=^app" || fail "graph: $graph"
n=$(printf '%s\n' "$graph" | grep -c "=> output")
[ "$n" -eq 3 ] || fail "app.web reaches null and stdout, sys.kernel only null ($n edges): $graph"
ok "--dry-run prints the routing graph"

$G --plugins | grep -q "^input   dummy" || fail "--plugins lists dummy"
$G --help-plugin dummy | grep -q "rate .*integer .*1 " || fail "--help-plugin prints the table"
$G --help-plugin nope >/dev/null 2>&1 && fail "--help-plugin of an unknown plugin fails"
$G --version | grep -q "^gleaner [0-9]" || fail "--version"
ok "--plugins, --help-plugin, --version"
$G --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown argument exits 2"
ok "unknown argument exits 2"

# The HTTP server's port is taken: the agent says why and exits 1 at once (it used to hang).
cat >"$D/busy.yaml" <<'YAML'
service:
  http_server: on
  http_listen: 127.0.0.1
  http_port: PORT
pipeline:
  inputs:
    - name: dummy
  outputs:
    - name: null
      match: '*'
YAML
out=$(/usr/bin/python3 - "$G" "$D/busy.yaml" <<'PY'
import socket, subprocess, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
cfg = open(sys.argv[2]).read().replace("PORT", str(s.getsockname()[1]))
open(sys.argv[2], "w").write(cfg)
try:
    r = subprocess.run([sys.argv[1], "-c", sys.argv[2]], capture_output=True, text=True,
                       timeout=10)
    print("rc=%d %s" % (r.returncode, r.stderr.replace("\n", " ")))
except subprocess.TimeoutExpired:
    print("hung")
PY
)
case "$out" in
    rc=1*"Address already in use"*"exited with status 1"*) ;;
    *) fail "port in use: $out" ;;
esac
case "$out" in
    *"exited cleanly"*) fail "a failed start is not reported as a clean exit: $out" ;;
esac
ok "a taken HTTP port exits 1 with the reason, and the last line says it failed"
