#!/bin/sh
# Installs the Debian packages gleaner builds and tests with. Idempotent and
# quiet when everything is present; runs apt-get update once before installing.
set -e

PKGS="build-essential pkg-config clang libclang-rt-14-dev
libuv1-dev libmsgpack-dev libcurl4-openssl-dev libssl-dev libyaml-dev
libpcre2-dev libmicrohttpd-dev libsystemd-dev libzstd-dev libisal-dev zlib1g-dev
libcmocka-dev
python3 python3-botocore python3-yaml python3-snappy python3-protobuf prometheus gnuplot-nox
prometheus-node-exporter prometheus-alertmanager systemd-journal-remote valgrind curl procps
time openssl util-linux mount"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
