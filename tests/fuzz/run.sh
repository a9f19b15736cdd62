#!/bin/sh
# Builds each libFuzzer harness (tests/fuzz/fuzz_NAME.c) with clang, ASan and
# UBSan, replays its seed corpus (tests/fuzz/corpus/NAME/) and then fuzzes for
# FUZZ_SECONDS (default 10) from it. Fails when a harness finds a crash.
set -e
SECONDS_EACH=${FUZZ_SECONDS:-10}
B=build-fuzz
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
make --no-print-directory BUILD=$B CC=clang OPT=-O1 SAN="$SAN -fsanitize=fuzzer-no-link" \
    $B/libgleaner.a >/dev/null
# libcurl, libmicrohttpd, libcrypto, libsystemd and libzstd are loaded on first use: headers only.
LIBS=$(pkg-config --libs libuv msgpack yaml-0.1 libpcre2-8 zlib)
CFLAGS=$(pkg-config --cflags libuv msgpack yaml-0.1 libpcre2-8 zlib libcurl libmicrohttpd openssl libsystemd libzstd)
n=0
for src in "$@"; do
    name=$(basename "$src" .c)
    name=${name#fuzz_}
    bin=$B/fuzz_$name
    clang -std=c11 -g -O1 -D_GNU_SOURCE -Iagent -I. $CFLAGS $SAN -fsanitize=fuzzer \
        -o "$bin" "$src" $B/libgleaner.a $LIBS -lm
    corpus=tests/fuzz/corpus/$name
    work=$(mktemp -d)
    # Fuzz into a scratch copy so the committed seed corpus stays as written.
    cp -r "$corpus"/. "$work"/ 2>/dev/null || true
    echo "fuzz: $name ($(ls "$corpus" 2>/dev/null | wc -l) seeds, ${SECONDS_EACH}s)"
    if ! "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$B/crash-$name-" "$work" >"$B/fuzz_$name.log" 2>&1; then
        tail -n 40 "$B/fuzz_$name.log"
        rm -rf "$work"
        echo "fuzz: $name FAILED (log in $B/fuzz_$name.log)"
        exit 1
    fi
    rm -rf "$work"
    n=$((n + 1))
done
echo "fuzz: $n passed, 0 failed"
