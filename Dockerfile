# syntax=docker/dockerfile:1
#
# enumd container image.
#
#   docker build -t enumd .
#   docker run -d --name enumd -p 53:53/udp -p 53:53/tcp -v enumd-state:/var/lib/enumd enumd
#   dig @127.0.0.1 NAPTR 0.8.7.9.7.1.3.4.e164.arpa.
#
# Serve your own zones by mounting them over the shipped lab
# (the config has watch = true, so edits are picked up live):
#   docker run -d -p 53:53/udp -p 53:53/tcp -v "$PWD/zones:/etc/enumd/zones:ro" enumd
# or mount a whole config directory and point enumd at it:
#   docker run ... -v "$PWD/my-enumd:/etc/enumd:ro" enumd
#
# Requires BuildKit (the default builder since Docker 23) for the cache mounts.

# ---------------------------------------------------------------- build ----
# Rust 1.x (>= 1.85 for edition 2024) on the same Debian release as the
# runtime stage, so the binary links against the same glibc.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# The slim image already has gcc and libc6-dev, which the C parts of the
# dependency tree (ring) need. .dockerignore keeps target/ and .git/ out of
# the context.
COPY . .
# Cache the crate registry and the target directory between builds; the
# binary is copied out of the cache mount so the next stage can use it.
# --locked: build exactly what Cargo.lock says, fail if it is out of date.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && install -D -m 0755 target/release/enumd /out/enumd

# -------------------------------------------------------------- runtime ----
FROM debian:bookworm-slim

# An unprivileged system user with a fixed UID/GID (handy for file
# permissions on mounted zones); no home directory, no login shell.
RUN groupadd --system --gid 10053 enumd \
 && useradd --system --uid 10053 --gid enumd --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin enumd

COPY --from=build /out/enumd /usr/local/bin/enumd

# The state directory (journals, secondaries' copies, zone files enumd rewrites) is a volume
# the enumd user owns: `docker run -v enumd-state:/var/lib/enumd ...` keeps it across
# containers.
RUN install -d -o enumd -g enumd -m 0750 /var/lib/enumd
VOLUME /var/lib/enumd

# Read-only, root-owned configuration:
#   /etc/enumd/enumd.toml   container config (config/enumd.docker.toml):
#                           listens on 0.0.0.0:53 and [::]:53, absolute paths
#                           to /etc/enumd/zones/
#   /etc/enumd/config/      the repository's sample configs (enumd.toml there
#                           uses ../zones/..., which also resolves to
#                           /etc/enumd/zones/)
#   /etc/enumd/zones/       the lab zones and their $INCLUDEd files
COPY config/ /etc/enumd/config/
COPY zones/ /etc/enumd/zones/
COPY config/enumd.docker.toml /etc/enumd/enumd.toml

# Port 53 as a non-root user, without any capability:
# Docker Engine 20.10 and later sets the sysctl
# net.ipv4.ip_unprivileged_port_start=0 in every container that has its own
# network namespace (the default bridge network), so an unprivileged process
# may bind port 53 there -- IPv4 and IPv6 alike. That is why this image needs
# neither setcap nor CAP_NET_BIND_SERVICE, and it keeps working under
# --cap-drop=ALL and --security-opt=no-new-privileges.
# Where it is not set (another engine, --network=host), enumd stops at start with
#   cannot listen on any configured address: 0.0.0.0:53: Permission denied (os error 13):
#   port 53 is below 1024, which needs privilege: ...
# and names the same ways out as below; then either
#   - set the sysctl yourself:  docker/podman run --sysctl net.ipv4.ip_unprivileged_port_start=53 ...
#     (Kubernetes: securityContext.sysctls, a "safe" sysctl since 1.22), or
#   - run as root:              docker run --user 0 ...
# With --network=host the sysctl is the host's: use --user 0, or give enumd
# a config that listens on a port >= 1024.
USER enumd:enumd

EXPOSE 53/udp 53/tcp

ENTRYPOINT ["enumd"]
CMD ["serve", "--config", "/etc/enumd/enumd.toml"]
