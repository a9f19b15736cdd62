# gleaner's container image: the agent, the libraries it links and loads on first use, the
# CA bundle and a non-root user, and nothing else (no shell, no package manager).
#
#   make image                                      # builds gleaner:<version> with oci-image
#   docker build --build-arg BASE=debian:bookworm-slim@sha256:... -t gleaner .
#
# The build stage compiles from Debian 12's -dev packages; tools/image-rootfs.sh collects
# what the binary needs at run time (its runtime packages' files, found by ldd and by the
# sonames agent/net/dl.c loads) into /rootfs, which becomes the whole image.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        build-essential pkg-config libcap2-bin ca-certificates \
        libuv1-dev libmsgpack-dev libyaml-dev libpcre2-dev zlib1g-dev \
        libcurl4-openssl-dev libmicrohttpd-dev libssl-dev libsystemd-dev libzstd-dev libisal-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile VERSION ./
COPY agent agent
COPY plugins plugins
COPY config config
COPY tools/image-rootfs.sh tools/
RUN make -j"$(nproc)" build/gleaner && sh tools/image-rootfs.sh build/gleaner /rootfs 10001

FROM scratch
COPY --from=build /rootfs /
USER 10001:10001
WORKDIR /var/lib/gleaner
ENTRYPOINT ["/usr/bin/gleaner"]
CMD ["-c", "/etc/gleaner/gleaner.yaml"]
