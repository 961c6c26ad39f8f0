# feedhandler container image.
#
#   docker build -t feedhandler .
#   docker run --rm -v "$PWD/config/feedhandler.yaml:/etc/feedhandler/feedhandler.yaml:ro" feedhandler
#
# Works with the classic builder and BuildKit (no BuildKit-only syntax), so the Debian
# docker-compose 1.29 package can build it too.

# ---------------------------------------------------------------------------- builder
FROM rust:1-bookworm AS builder

# No extra packages: rdkafka-sys's default build (librdkafka bundled, statically
# linked, built by its mklove `./configure` + `make`, plus the bundled zlib through
# libz-sys, or the system one; the `zstd` feature builds zstd-sys from source with
# cc) needs bash, a C/C++ compiler, make and perl, and rust:1-bookworm
# (buildpack-deps:bookworm) already ships gcc, g++, make, perl, pkg-config and
# zlib1g-dev. Add `cmake` here only if rdkafka is switched to its
# `cmake-build` feature; add `libssl-dev`/`libsasl2-dev` only for the non-vendored
# `ssl`/`gssapi` features (and then the runtime stage needs libssl3/libsasl2-2).

WORKDIR /src

# 1. Dependencies only (librdkafka takes minutes), cached until Cargo.toml, Cargo.lock
#    or benches/ change: build them against a stub lib and main. benches/ is copied
#    because the manifest's [[bench]] targets must exist (`cargo build` does not
#    compile them).
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

# 2. The crate itself. `touch` makes the real sources newer than the stub build's
#    fingerprints whatever mtimes COPY gave them.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -D -m 0755 target/release/feedhandler /out/feedhandler

# ---------------------------------------------------------------------------- runtime
FROM debian:bookworm-slim

# ca-certificates unpinned on purpose: it should be the current one at build time.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 feedhandler \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/feedhandler \
        --no-create-home --shell /usr/sbin/nologin feedhandler \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/feedhandler \
    && install -d -m 0755 /etc/feedhandler

COPY --from=builder /out/feedhandler /usr/local/bin/feedhandler
# A default configuration (live Binance to stdout); mount your own over it.
COPY config/feedhandler.yaml /etc/feedhandler/feedhandler.yaml

# Fails the build if the binary needs a shared library this image lacks.
RUN feedhandler --version

USER 10001:10001
# Writable working directory, e.g. for `run --record FILE`.
WORKDIR /var/lib/feedhandler

# feedhandler shuts down cleanly on SIGTERM (docker stop), flushing the sink; give
# `docker stop -t` / compose `stop_grace_period` more than sink.flush_timeout_ms.
STOPSIGNAL SIGTERM
ENTRYPOINT ["feedhandler"]
CMD ["run", "--config", "/etc/feedhandler/feedhandler.yaml"]
