#!/bin/sh
# Packages the chart as `helm package` does, into OUT/gleaner-VERSION.tgz, with the project's
# alert rules and Grafana dashboards inside it. The chart reads them as its own files
# (alerts/*.yaml, dashboards/*.json) and a chart can read no file outside itself, so they are
# copied in here from their one source, the repository's alerts/ and dashboards/, and the
# package is checked to hold them byte for byte.
#
#   sh tools/chart-package.sh [OUT [ALERTS_DIR [DASHBOARDS_DIR]]]     (defaults: build alerts dashboards)
set -eu

out=${1:-build}
alerts=${2:-alerts}
dashboards=${3:-dashboards}
chart=helm-chart/gleaner
version=$(awk '$1 == "version:" { print $2; exit }' "$chart/Chart.yaml")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

cp -R "$chart" "$stage/gleaner"
copy() { # DIR GLOB: the files of DIR matching GLOB into the staged chart's DIR
    n=0
    for f in "$1"/$2; do
        [ -f "$f" ] || continue
        mkdir -p "$stage/gleaner/$(basename "$1")"
        cp "$f" "$stage/gleaner/$(basename "$1")/"
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || echo "chart-package: no $1/$2: the package holds none" >&2
}
copy "$alerts" "*.yaml"
copy "$dashboards" "*.json"

mkdir -p "$out"
pkg="$out/gleaner-$version.tgz"
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -czf "$pkg" gleaner

# The package holds the sources as they are.
check=$(mktemp -d)
trap 'rm -rf "$stage" "$check"' EXIT
tar -C "$check" -xzf "$pkg"
for f in "$alerts"/*.yaml "$dashboards"/*.json; do
    [ -f "$f" ] || continue
    cmp -s "$f" "$check/gleaner/$(basename "$(dirname "$f")")/$(basename "$f")" ||
        { echo "chart-package: $f differs in $pkg" >&2; exit 1; }
done
echo "$pkg"
