#!/bin/sh
# `make run`: runs the agent on its embedded default config. On a node with
# container logs it follows them; elsewhere it first starts a small writer
# that fills build/demo/var/log the way kubelet does, and points the agent
# at that tree, so records show up within seconds.
set -e
bin=$1
if ls /var/log/containers/*.log >/dev/null 2>&1; then
    exec "$bin"
fi
root=build/demo/var/log
mkdir -p "$root" build/demo/state
/usr/bin/python3 tools/demo_writer.py --root "$root" &
writer=$!
# Let the writer lay out the tree first, as kubelet would have on a real node.
for i in 1 2 3 4 5 6 7 8 9 10; do
    ls "$root"/containers/*.log >/dev/null 2>&1 && break
    sleep 0.2
done
trap 'kill $writer 2>/dev/null' EXIT INT TERM
echo "no /var/log/containers here: following a sample tree in $root (Ctrl-C to stop)"
GLEANER_LOG_PATH="$PWD/$root/containers/*.log" GLEANER_STORAGE_PATH="$PWD/build/demo/state" \
    "$bin" || true
