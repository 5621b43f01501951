#!/usr/bin/env bash
# Smoke test of the container image on the real engine, run by .ci/run:
# the image built by scripts/build-image.sh becomes healthy (its HEALTHCHECK
# runs `autoheal healthcheck`), and, configured only with docker-autoheal's
# variable, it restarts a labelled container that turns unhealthy; it
# listens on every interface but answers other hosts only on the probes
# until the first admin is made (`docker exec ... user add --admin`).
# Every wait polls with a deadline. Needs the test image
# (crates/autoheal-docker/scripts/build-test-image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-autoheal:local}"
RUN="ahimg-$$"
cleanup() { docker rm -f "$RUN-autoheal" "$RUN-victim" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# wait_for DEADLINE_S DESCRIPTION COMMAND...: polls COMMAND every 0.5 s.
wait_for() {
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "test-image: timed out waiting for $what" >&2; return 1; fi
    sleep 0.5
  done
}
health() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$1")" = "$2" ]; }
restarted() { [ "$(docker inspect -f '{{.State.StartedAt}}' "$RUN-victim")" != "$1" ]; }

docker run -d --name "$RUN-autoheal" -e AUTOHEAL_CONTAINER_LABEL="$RUN" \
  -v /var/run/docker.sock:/var/run/docker.sock "$TAG" >/dev/null
docker run -d --name "$RUN-victim" -l "$RUN=true" autoheal-test-busybox:latest >/dev/null
wait_for 60 "the autoheal container to be healthy" health "$RUN-autoheal" healthy
wait_for 30 "the victim to be healthy" health "$RUN-victim" healthy

# From this host (another host to the container): the probes, and nothing
# else until an admin exists; then the API asks for a credential.
ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$RUN-autoheal")"
status() { curl -s -o /dev/null -w '%{http_code}' "http://$ip:8080$1"; }
[ "$(status /live)" = 200 ] || { echo "test-image: /live is not reachable from outside the container" >&2; exit 1; }
curl -s "http://$ip:8080/api/v1/targets" | grep -q '"not_set_up"' \
  || { echo "test-image: the API answered another host before an admin existed" >&2; exit 1; }
echo 'correct horse battery' | docker exec -i "$RUN-autoheal" /autoheal user add --admin root >/dev/null
api_asks_for_a_key() { [ "$(status /api/v1/targets)" = 401 ]; }
wait_for 10 "the API to answer other hosts once an admin exists" api_asks_for_a_key

before="$(docker inspect -f '{{.State.StartedAt}}' "$RUN-victim")"
docker exec "$RUN-victim" touch /tmp/unhealthy
if ! wait_for 60 "the unhealthy victim to be restarted" restarted "$before"; then
  docker logs "$RUN-autoheal" 2>&1 | tail -20 >&2
  exit 1
fi
wait_for 30 "the victim to be healthy again" health "$RUN-victim" healthy
docker logs "$RUN-autoheal" 2>&1 | grep -q '"message":"Restarted the container."' \
  || { echo "test-image: autoheal's log does not record the restart" >&2; exit 1; }
echo "test-image: $TAG is healthy and healed an unhealthy container"
