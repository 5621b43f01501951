#!/usr/bin/env bash
# autoheal Docker benchmarks (see README.md next to this file).
#   bench/docker/run.sh reaction N   # N fresh incidents: unhealthy event -> restart's kill event
#   bench/docker/run.sh watch200     # CPU/RSS of autoheal watching 200 containers
# Talks only to 127.0.0.1 (autoheal's API) and the local Docker socket.
# Every wait has a deadline; the whole run is killed after BENCH_TIMEOUT s.
# Containers are named ahbench-<pid>-*; they are removed on exit, whatever happens.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${AUTOHEAL_BIN:-$ROOT/target/release/autoheal}"
IMAGE="${AUTOHEAL_TEST_IMAGE:-autoheal-test-busybox:latest}"
CMD="${1:-}"
case "$CMD" in
  reaction) N="${2:-20}"; DEFAULT_TIMEOUT=$((300 + 30 * N)) ;;
  watch200) N="${2:-200}"; DEFAULT_TIMEOUT=1500 ;;
  *) echo "usage: $0 reaction N | watch200" >&2; exit 2 ;;
esac
BENCH_TIMEOUT="${BENCH_TIMEOUT:-$DEFAULT_TIMEOUT}"
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release -p autoheal" >&2; exit 2; }
docker image inspect "$IMAGE" >/dev/null 2>&1 || sh "$ROOT/crates/autoheal-docker/scripts/build-test-image.sh"

RUN_ID="ahbench-$$"
WORK="$(mktemp -d /tmp/ahbench.XXXXXX)"
cleanup() {
  trap - EXIT INT TERM
  # the driver's own children (autoheal, docker events) are killed by the driver;
  # the containers are removed here, whatever happened.
  ids=$(docker ps -aq --filter "label=ahbench.run=$RUN_ID" 2>/dev/null || true)
  if [ -n "$ids" ]; then
    echo "cleanup: removing $(echo "$ids" | wc -l) containers" >&2
    echo "$ids" | xargs -r -n 50 docker rm -f >/dev/null 2>&1 || true
  fi
  if [ -n "${KEEP_WORK:-}" ]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export RUN_ID WORK BIN IMAGE N
rc=0
timeout --signal=TERM --kill-after=20 "$BENCH_TIMEOUT" \
  python3 "$HERE/bench.py" "$CMD" || rc=$?
exit "$rc"
