#!/usr/bin/env bash
# Side-by-side service benchmark: autoheal and Monit checking the same local
# nginx, runs interleaved, as users run them (issue 7 item 8).
#
#   scripts/bench-vs-monit.sh [SECONDS_PER_RUN] [TARGET_COUNTS...]
#
# Installs monit and nginx from Debian's packages if missing (as root), builds
# autoheal in release mode, then for each target count runs autoheal and
# Monit (HTTP check every 10 s each) for SECONDS_PER_RUN, alternately, and
# prints CPU per 1,000 checks (user+system time from /proc over the
# requests nginx logged) and RSS at the end. Then it runs autoheal alone at
# 1 s intervals and prints the p99 lateness of check starts from its
# autoheal_check_lateness_seconds histogram.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
COUNTS=("$@")
[ ${#COUNTS[@]} -eq 0 ] && COUNTS=(100 1000 10000)
LATE_COUNTS=(${LATE_COUNTS:-1000 5000 10000})

command -v monit >/dev/null && command -v nginx >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq monit nginx >/dev/null
}
cargo build --release -q -p autoheal
BIN=$PWD/target/release/autoheal
W=$(mktemp -d /tmp/autoheal-bench.XXXXXX)
trap 'kill $(cat $W/nginx.pid 2>/dev/null) 2>/dev/null || true; pkill -f "monit -c $W" || true; rm -rf $W' EXIT
PORT=18080

cat > $W/nginx.conf <<NGINX
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log $W/access.log;
    server {
        listen 127.0.0.1:$PORT;
        location / { return 200 "ok\n"; }
    }
}
NGINX
nginx -c $W/nginx.conf
sleep 0.5

cpu_ms() { # utime+stime of a pid in ms
    awk -v hz=$(getconf CLK_TCK) '{print ($14+$15)*1000/hz}' /proc/$1/stat
}
rss_kib() { awk '/VmRSS/{print $2}' /proc/$1/status; }
requests() { wc -l < $W/access.log; }

autoheal_config() { # N INTERVAL
    {
        echo '[docker]'; echo 'enabled = false'
        echo '[actions.none]'; echo 'type = "command"'; echo 'argv = ["true"]'
        for i in $(seq 1 $1); do
            echo "[targets.t$i]"
            echo "check = { type = \"http\", url = \"http://127.0.0.1:$PORT/t$i\", interval = \"$2\", timeout = \"5s\" }"
            echo 'ladder = [{ action = "none" }]'
        done
    } > $W/autoheal.toml
}
monit_config() { # N
    {
        echo "set daemon 10"
        echo "set logfile $W/monit.log"
        echo "set idfile $W/monit.id"
        echo "set statefile $W/monit.state"
        for i in $(seq 1 $1); do
            echo "check host t$i with address 127.0.0.1"
            echo "    if failed port $PORT protocol http request /t$i then alert"
        done
    } > $W/monitrc
    chmod 600 $W/monitrc
}

measure() { # NAME PID -> prints cpu per 1000 checks and rss
    local pid=$2
    sleep 5 # let it boot and settle
    local c0=$(cpu_ms $pid) r0=$(requests)
    sleep $SECS
    local c1=$(cpu_ms $pid) r1=$(requests) rss=$(rss_kib $pid)
    local n=$((r1 - r0))
    awk -v name=$1 -v c=$(echo "$c1 - $c0" | bc) -v n=$n -v rss=$rss \
        'BEGIN { printf "%-9s checks %7d  cpu %8.0f ms  per 1,000 checks %7.1f ms  rss %6.1f MiB\n", name, n, c, (n>0? c*1000/n : 0), rss/1024 }'
}

for n in "${COUNTS[@]}"; do
    echo "== $n targets, every 10 s, ${SECS} s per run"
    autoheal_config $n 10s
    monit_config $n
    for round in 1 2; do
        rm -rf $W/data
        $BIN serve --config $W/autoheal.toml --data-dir $W/data --listen 127.0.0.1:0 >$W/autoheal.log 2>&1 &
        pid=$!
        measure autoheal $pid
        kill $pid; wait $pid || true
        monit -c $W/monitrc -I >/dev/null 2>&1 &
        pid=$!
        measure monit $pid
        kill $pid; wait $pid || true
    done
done

for n in "${LATE_COUNTS[@]}"; do
    echo "== lateness: $n targets every 1 s, ${SECS} s"
    autoheal_config $n 1s
    rm -rf $W/data
    $BIN serve --config $W/autoheal.toml --data-dir $W/data --listen 127.0.0.1:18099 >$W/autoheal.log 2>&1 &
    pid=$!
    sleep $((SECS + 5))
    curl -s http://127.0.0.1:18099/metrics > $W/metrics.txt
    kill $pid; wait $pid || true
    awk '/^autoheal_check_lateness_seconds_bucket/ { match($0, /le="[^"]+"/); le=substr($0, RSTART+4, RLENGTH-5); b[++k]=le; v[k]=$2 }
         /^autoheal_check_lateness_seconds_count/ { total=$2 }
         END { for (i=1;i<=k;i++) if (v[i] >= 0.99*total) { printf "checks %d  p99 lateness <= %s s\n", total, b[i]; exit } }' $W/metrics.txt
done
