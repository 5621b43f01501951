#!/usr/bin/env bash
# Builds the autoheal container image (see Dockerfile): a static binary and
# CA certificates in a scratch image. No registry is needed.
#   scripts/build-image.sh [TAG]      # default autoheal:local
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-autoheal:local}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
case "$TRIPLE" in
  *-linux-gnu) ;;
  *) echo "build-image.sh: a *-linux-gnu host is needed, found $TRIPLE" >&2; exit 2 ;;
esac
# +crt-static on the gnu target gives a static-pie binary that needs no libc.
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked --target "$TRIPLE" -p autoheal --bin autoheal
mkdir -p dist
cp "target/$TRIPLE/release/autoheal" dist/autoheal
cp /etc/ssl/certs/ca-certificates.crt dist/ca-certificates.crt
docker build -q -t "$TAG" . >/dev/null
echo "built $TAG ($(du -h dist/autoheal | cut -f1) binary)"
