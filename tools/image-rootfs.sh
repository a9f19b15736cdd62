#!/bin/sh
# Assembles the root filesystem of the container image (see the Dockerfile, which runs this
# in its build stage): the agent and its default config, the shared libraries it links and
# those it loads on first use, the CA bundle, one chown for the chart's init container, a
# passwd and group with the agent's user, and the dpkg records and copyright files of the
# Debian packages these files come from, so that image scanners see their versions. No shell,
# no package manager.
#
#   sh tools/image-rootfs.sh BINARY DEST [UID]
#
# The libraries loaded on first use are the sonames agent/net/dl.c names: adding one there adds
# it here. Every file is copied with the chain of symlinks that leads to it, under its
# canonical directory (Debian 12 merges /lib into /usr/lib; DEST gets the same links).
set -eu

BIN=$1
DEST=$2
AGENT_UID=${3:-10001}
DL_SOURCE=${DL_SOURCE:-agent/net/dl.c}

die() {
    echo "image-rootfs: $*" >&2
    exit 1
}

[ -x "$BIN" ] || die "no executable at $BIN"
[ -f "$DL_SOURCE" ] || die "no $DL_SOURCE to read the sonames loaded on first use from"
mkdir -p "$DEST"
for d in bin lib lib64 sbin; do
    mkdir -p "$DEST/usr/$d"
    ln -sfn "usr/$d" "$DEST/$d"
done

# Copies one path into DEST: the file itself, or the symlink and what it points to, in turn.
copy() {
    p=$1
    while :; do
        dir=$(cd "$(dirname "$p")" && pwd -P)
        p=$dir/$(basename "$p")
        if [ -e "$DEST$p" ] || [ -L "$DEST$p" ]; then
            return 0
        fi
        mkdir -p "$DEST$dir"
        cp -a "$p" "$DEST$p"
        [ -L "$p" ] || return 0
        t=$(readlink "$p")
        case $t in
            /*) p=$t ;;
            *) p=$dir/$t ;;
        esac
    done
}

# The libraries a file needs, as ldd resolves them (the loader included).
needed() {
    ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

libs=$(needed "$BIN")
for soname in $(grep -o '"lib[^"]*\.so\.[0-9][0-9]*"' "$DL_SOURCE" | tr -d '"'); do
    path=$(ldconfig -p | awk -v s="$soname" '$1 == s && $NF ~ /^\// { print $NF; exit }')
    [ -n "$path" ] || die "$soname (loaded by the agent on first use) is not installed"
    libs="$libs $path $(needed "$path")"
done
chown_bin=$(command -v chown)
files="$(printf '%s\n' $libs | sort -u) $chown_bin $(needed "$chown_bin")"
for f in $files; do
    copy "$f"
done

# The agent, its default config, and the capability to read root-owned logs as a non-root
# user: effective at exec when the runtime allows it (the chart adds DAC_READ_SEARCH).
install -D -s -m 0755 "$BIN" "$DEST/usr/bin/gleaner"
setcap cap_dac_read_search=ep "$DEST/usr/bin/gleaner"
install -D -m 0644 config/gleaner.yaml "$DEST/etc/gleaner/gleaner.yaml"

# Trust: the CA bundle where libcurl and OpenSSL look for it.
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$DEST/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$DEST/usr/lib/ssl"
ln -sfn /etc/ssl/certs "$DEST/usr/lib/ssl/certs"
ln -sfn /etc/ssl/certs/ca-certificates.crt "$DEST/usr/lib/ssl/cert.pem"

# Users, name service, the loader's cache, the directories the agent and Kubernetes use.
cat > "$DEST/etc/passwd" <<EOF
root:x:0:0:root:/root:/usr/sbin/nologin
gleaner:x:$AGENT_UID:$AGENT_UID:gleaner:/var/lib/gleaner:/usr/sbin/nologin
EOF
cat > "$DEST/etc/group" <<EOF
root:x:0:
gleaner:x:$AGENT_UID:
EOF
printf 'hosts: files dns\n' > "$DEST/etc/nsswitch.conf"
ldconfig -r "$DEST"
install -d -m 0755 -o "$AGENT_UID" -g "$AGENT_UID" "$DEST/var/lib/gleaner"
install -d -m 1777 "$DEST/tmp"
install -d -m 0755 "$DEST/root" "$DEST/var/log" "$DEST/proc" "$DEST/sys" "$DEST/dev"

# What the files come from: one dpkg record per package (status.d, as distroless images
# keep them) and its copyright file.
pkgs="ca-certificates"
for f in $files; do
    real=$(readlink -f "$f")
    # dpkg knows a file by the path its package ships, before or after the /usr merge.
    pkg=$(for p in "$f" "$real" "${f#/usr}" "${real#/usr}" "/usr$f"; do
        dpkg -S "$p" 2>/dev/null || true
    done | head -n 1)
    [ -n "$pkg" ] || die "no Debian package owns $f"
    pkgs="$pkgs ${pkg%%: *}"
done
mkdir -p "$DEST/var/lib/dpkg/status.d"
for pkg in $(printf '%s\n' $pkgs | sort -u); do
    name=${pkg%%:*}
    dpkg-query -s "$pkg" > "$DEST/var/lib/dpkg/status.d/$name"
    if [ -f "/usr/share/doc/$name/copyright" ]; then
        install -D -m 0644 "/usr/share/doc/$name/copyright" "$DEST/usr/share/doc/$name/copyright"
    fi
done
