#!/bin/sh
# Renders the plugin option tables (from `gleaner --docs-markdown`, which reads
# the same tables as the config parser) into README.md between the markers
# <!-- options:begin --> and <!-- options:end -->. With --check, fails when
# the README is stale instead of writing it.
set -e
check=0
if [ "$1" = "--check" ]; then
    check=1
    shift
fi
bin=$1
readme=$2
tmp=$(mktemp)
gen=$(mktemp)
trap 'rm -f "$tmp" "$gen"' EXIT
"$bin" --docs-markdown > "$gen"
awk -v gen="$gen" '
    /<!-- options:begin -->/ { print; while ((getline l < gen) > 0) print l; skip = 1; next }
    /<!-- options:end -->/ { skip = 0 }
    !skip { print }
' "$readme" > "$tmp"
if [ "$check" = 1 ]; then
    if ! cmp -s "$tmp" "$readme"; then
        echo "README.md option reference is stale: run 'make docs'"
        diff "$readme" "$tmp" | head -20
        exit 1
    fi
    echo "docs: README option reference is current"
    exit 0
fi
cp "$tmp" "$readme"
