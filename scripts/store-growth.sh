#!/usr/bin/env bash
# How fast the store grows: runs autoheal (release build) with TARGETS HTTP
# targets against a local nginx, every INTERVAL, for SECONDS, once with
# store.check_history = "all" and once with "changes", and prints the growth
# of the SQLite database per hour, measured after a clean stop (WAL merged),
# against a run of 10 s (docs/operations.md).
#
#   scripts/store-growth.sh [TARGETS] [INTERVAL] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
INTERVAL=${2:-1s}
SECS=${3:-120}
command -v nginx >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
[ -n "${AUTOHEAL_BIN:-}" ] || cargo build --release -q -p autoheal
BIN=${AUTOHEAL_BIN:-$PWD/target/release/autoheal}
W=$(mktemp -d /tmp/autoheal-growth.XXXXXX)
trap 'kill $(cat $W/nginx.pid 2>/dev/null) 2>/dev/null || true; rm -rf $W' EXIT
PORT=18082
cat > $W/nginx.conf <<NGINX
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    server { listen 127.0.0.1:$PORT; location / { return 200 "ok\n"; } }
}
NGINX
nginx -c $W/nginx.conf

# The main database file after a clean stop (which merges the WAL into it).
run_for() { # SECONDS -> size in bytes
    rm -rf $W/data
    $BIN serve --config $W/autoheal.toml --data-dir $W/data --listen 127.0.0.1:0 >$W/autoheal.log 2>&1 &
    local pid=$!
    sleep $1
    kill $pid; wait $pid || true
    stat -c %s $W/data/autoheal.db
}
for history in all changes; do
    {
        echo '[docker]'; echo 'enabled = false'
        echo '[store]'; echo "check_history = \"$history\""
        echo '[actions.none]'; echo 'type = "command"'; echo 'argv = ["true"]'
        for i in $(seq 1 $N); do
            echo "[targets.t$i]"
            echo "check = { type = \"http\", url = \"http://127.0.0.1:$PORT/t$i\", interval = \"$INTERVAL\", timeout = \"5s\" }"
            echo 'ladder = [{ action = "none" }]'
        done
    } > $W/autoheal.toml
    s0=$(run_for 10)
    s1=$(run_for $((10 + SECS)))
    awk -v h=$history -v n=$N -v i=$INTERVAL -v d=$((s1 - s0)) -v t=$SECS \
        'BEGIN { printf "%d targets every %s, check_history = %-8s %8.1f MB per hour\n", n, i, h, d * 3600 / t / 1e6 }'
done
