#!/bin/sh
# Runs every integration test (tests/integration/*.sh and *.py), each bounded
# in time, and prints one summary line. A test names a missing peer package
# and fails; it never skips silently.
cd "$(dirname "$0")/../.." || exit 1
pass=0
fail=0
failed=""
for t in tests/integration/*_*.sh tests/integration/*_*.py; do
    [ -e "$t" ] || continue
    case "$t" in
        */lib*|*/run.sh) continue ;;
    esac
    start=$(date +%s)
    case "$t" in
        *.py) runner=/usr/bin/python3 ;;
        *) runner=sh ;;
    esac
    if timeout -k 10 600 "$runner" "$t" >"build/$(basename "$t").log" 2>&1; then
        pass=$((pass + 1))
        echo "ok   $t ($(( $(date +%s) - start ))s)"
    else
        fail=$((fail + 1))
        failed="$failed $t"
        echo "FAIL $t ($(( $(date +%s) - start ))s)"
        tail -n 30 "build/$(basename "$t").log" | sed 's/^/    /'
    fi
done
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
