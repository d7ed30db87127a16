#!/usr/bin/env bash
# Builds highway-test/busybox:1, a 2 MB image from the host's busybox-static binary (there is no
# registry to pull from here): `httpd` serves, `wget` and `nslookup` are clients inside containers.
set -euo pipefail
IMAGE="${1:-highway-test/busybox:1}"
docker image inspect "$IMAGE" >/dev/null 2>&1 && exit 0
[ -x /bin/busybox ] || { echo "demo-image: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin" "$dir/www" "$dir/tmp"
cp /bin/busybox "$dir/bin/busybox"
for applet in sh httpd wget nslookup timeout echo cat sleep env printf mkdir hostname ls kill; do
  ln -s busybox "$dir/bin/$applet"
done
echo "hello from highway" > "$dir/www/index.html"
tar -C "$dir" -c . | docker import -c 'ENV PATH=/bin' - "$IMAGE" >/dev/null
