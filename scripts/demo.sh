#!/usr/bin/env bash
# The README's first command: provision Docker if needed, build, start highway, run a first
# service and reach it by name.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/provision.sh
npm run build
bash scripts/demo-image.sh highway-test/busybox:1
./bin/run.cjs up
docker rm -f hello >/dev/null 2>&1 || true
./bin/run.cjs run -d --name hello -p 9090 highway-test/busybox:1 httpd -f -p 9090 -h /www
./bin/run.cjs ls
bridge="$(node -e 'import("./dist/core/settings.js").then((m) => console.log(m.loadSettings().bridgeIp))')"
echo "curl -H 'Host: hello.local' http://$bridge/ ->"
curl -s -H 'Host: hello.local' "http://$bridge/"
