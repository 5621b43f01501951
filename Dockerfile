# autoheal in a `FROM scratch` image: one static binary and CA certificates.
#
# No registry base image is used, so the binary is built on the host first
# (a multi-stage build would need a Rust image from a registry).
# scripts/build-image.sh does all of this:
#
#   RUSTFLAGS="-C target-feature=+crt-static" \
#     cargo build --release --target x86_64-unknown-linux-gnu -p autoheal
#   mkdir -p dist
#   cp target/x86_64-unknown-linux-gnu/release/autoheal dist/autoheal
#   cp /etc/ssl/certs/ca-certificates.crt dist/ca-certificates.crt
#   docker build -t autoheal:local .
#
# `+crt-static` on the gnu target gives a static-pie binary that runs with no
# libc in the image. DNS then works from /etc/hosts and the resolver
# configuration Docker writes into every container (no glibc NSS modules).
# `.dockerignore` sends only dist/ to the builder.
#
# Run it like docker-autoheal (same variables and labels):
#
#   docker run -d --name autoheal --restart=always \
#     -e AUTOHEAL_CONTAINER_LABEL=all \
#     -v /var/run/docker.sock:/var/run/docker.sock \
#     -v autoheal-data:/data \
#     autoheal:local
#
# or behind a socket proxy (docs/docker.md, examples/compose/).
FROM scratch

COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY dist/autoheal /autoheal

# The embedded database (SQLite) lives here; WORKDIR creates the directory
# in an image that has no shell to `mkdir` with.
WORKDIR /data
# Every interface of the container, but other hosts reach only the probes,
# /metrics and the setup route until the first admin exists
# (`docker exec -i autoheal /autoheal user add --admin NAME`).
ENV AUTOHEAL_DATA_DIR=/data \
    AUTOHEAL_LISTEN=0.0.0.0:8080 \
    AUTOHEAL_LOOPBACK_UNTIL_ADMIN=true \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
VOLUME ["/data"]

# The API, the dashboard, /metrics and the probes.
EXPOSE 8080

# `autoheal healthcheck` asks the local server's GET /live: the healer's own
# hang or death is visible to Docker (and to another autoheal).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/autoheal", "healthcheck"]

# Root is needed to open a root-owned /var/run/docker.sock. Behind a TCP
# socket proxy, run with `--user 65534:65534` (and a /data it can write).
ENTRYPOINT ["/autoheal"]
CMD ["serve"]
