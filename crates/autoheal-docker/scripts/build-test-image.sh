#!/bin/sh
# Builds `autoheal-test-busybox:latest` without any image registry: Debian's
# statically linked busybox, its applet links, and a Docker HEALTHCHECK that
# fails while /tmp/unhealthy exists. Idempotent: does nothing when the image
# exists (pass --force to rebuild). Used by CI and by the crate's tests.
# The default command removes /tmp/unhealthy and /tmp/crash at each start
# (so a restart heals), stops at once on SIGTERM with exit 0, and exits with
# code 3 as soon as /tmp/crash exists.
set -eu
IMAGE="${AUTOHEAL_TEST_IMAGE:-autoheal-test-busybox:latest}"
if [ "${1:-}" != "--force" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE already exists"
  exit 0
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
if ! apt-get download busybox-static >/dev/null 2>&1; then
  apt-get update >/dev/null
  apt-get download busybox-static >/dev/null
fi
dpkg-deb -x busybox-static_*.deb pkg
mkdir -p rootfs/bin rootfs/tmp rootfs/etc
cp pkg/bin/busybox rootfs/bin/busybox
for applet in $(rootfs/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "rootfs/bin/$applet"
done
chmod 1777 rootfs/tmp
echo 'root:x:0:0:root:/:/bin/sh' > rootfs/etc/passwd
echo 'root:x:0:' > rootfs/etc/group
tar -C rootfs -cf rootfs.tar .
cat > Dockerfile <<'DOCKERFILE'
FROM scratch
ADD rootfs.tar /
ENV PATH=/bin
HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD ["/bin/sh","-c","test ! -e /tmp/unhealthy"]
CMD ["/bin/sh","-c","rm -f /tmp/unhealthy /tmp/crash; trap 'exit 0' TERM; while :; do if [ -e /tmp/crash ]; then exit 3; fi; sleep 0.2 & wait $!; done"]
DOCKERFILE
docker build -q -t "$IMAGE" . >/dev/null
echo "built $IMAGE"
