# The one syncchain image: every role (`serve gateway|users|products|orders|all`),
# `migrate` and `admin` are the same binary, chosen by the arguments.
#
#   docker build -t syncchain .
#   docker run --rm syncchain --help
#
# Written for the classic builder as well as BuildKit (docker-compose v1 and
# podman build use it as is): no cache mounts, no syntax directive.

# ---- build ----------------------------------------------------------------
# The tag follows rust-toolchain.toml, which is deliberately not copied in:
# the image's own toolchain builds, so nothing is downloaded but crates.
FROM rust:1.95-bookworm AS build
WORKDIR /src

# Dependencies first, in a layer of their own: only the manifests and the
# lock file are copied, every crate gets an empty stand-in source, and the
# release build compiles all of the third-party crates. This layer is reused
# until a Cargo.toml or Cargo.lock changes.
COPY Cargo.toml Cargo.lock ./
COPY crates/events/Cargo.toml crates/events/
COPY crates/gateway/Cargo.toml crates/gateway/
COPY crates/host/Cargo.toml crates/host/
COPY crates/orders/Cargo.toml crates/orders/
COPY crates/platform/Cargo.toml crates/platform/
COPY crates/products/Cargo.toml crates/products/
COPY crates/proto/Cargo.toml crates/proto/
COPY crates/syncchain/Cargo.toml crates/syncchain/
COPY crates/testkit/Cargo.toml crates/testkit/
COPY crates/users/Cargo.toml crates/users/
RUN set -eu; \
    for manifest in crates/*/Cargo.toml; do \
        crate=$(dirname "$manifest"); \
        mkdir -p "$crate/src"; \
        : > "$crate/src/lib.rs"; \
    done; \
    echo 'fn main() {}' > crates/syncchain/src/main.rs; \
    echo 'fn main() {}' > crates/proto/build.rs; \
    cargo build --release --locked -p syncchain --bin syncchain; \
    rm -rf crates

# Then the sources. COPY keeps the files' own modification times, which may
# be older than the stand-ins just built: touching them makes cargo rebuild
# every workspace crate (and nothing else). The release profile keeps line
# tables for backtraces; the image drops them (about 100 MB), keeping the
# symbols, so a backtrace still names its functions.
COPY proto proto
COPY crates crates
RUN set -eu; \
    find crates proto -type f -exec touch {} +; \
    cargo build --release --locked -p syncchain --bin syncchain; \
    install -D -m 0755 target/release/syncchain /out/syncchain; \
    strip --strip-debug /out/syncchain

# ---- runtime --------------------------------------------------------------
FROM debian:bookworm-slim

# CA certificates for a TLS connection to NATS (tls:// URLs); nothing else
# is installed: the health check is the binary itself.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged identity: the Kubernetes manifests run the pods as
# 10001:10001 with runAsNonRoot, which needs a numeric USER.
RUN groupadd --system --gid 10001 syncchain \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin syncchain

COPY --from=build /out/syncchain /usr/local/bin/syncchain

USER 10001:10001
# 8000: the gateway's GraphQL API. The gateway's admin listener (9080) and
# the services' ports (50051-50053) stay internal.
EXPOSE 8000

# Asks the role this container serves for its /readyz, on the address it
# listens on (see `syncchain health --help`).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["syncchain", "health"]

ENTRYPOINT ["syncchain"]
CMD ["serve", "all"]
