#!/bin/sh
# Runs the benchmarks (bench/run.py) with Debian's python3.
exec /usr/bin/python3 "$(dirname "$0")/run.py" "$@"
