#!/usr/bin/env bash
# Builds dist/ from a clean commit, runs every benchmark, then rewrites docs/benchmarks.md from their results.
#
#   bash bench/run-all.sh
#
# Each script takes the machine-wide Docker lock (/tmp/highway-docker.lock) for its own run only,
# brings highway up (idempotent) with its own config dir (/tmp/highway-bench-config), removes every
# container it created (label highway-bench=1) and exits non-zero only when something failed.
# Results land in bench/results/*.json (HIGHWAY_BENCH_RESULTS to change); counts can be lowered
# for a quick try, e.g. `RUNS=3 EVENTS=10 CHURN=20 SERVICES=200 bash bench/run-all.sh`.
set -uo pipefail
cd "$(dirname "$0")/.."
# Every figure must come from one clean commit, named in docs/benchmarks.md, and dist/ built from it.
changes="$(git status --porcelain -- . ':(exclude)bench/results' ':(exclude)docs/benchmarks.md')"
if [ -n "$changes" ] && [ "${HIGHWAY_BENCH_ALLOW_DIRTY:-}" != 1 ]; then
  echo "bench/run-all.sh: uncommitted changes; commit them first (or HIGHWAY_BENCH_ALLOW_DIRTY=1 for figures report.mjs will not publish):" >&2
  echo "$changes" >&2
  exit 1
fi
npm run build >/dev/null || { echo "bench/run-all.sh: npm run build failed" >&2; exit 1; }
export HIGHWAY_BENCH_RESULTS="${HIGHWAY_BENCH_RESULTS:-$PWD/bench/results}"
mkdir -p "$HIGHWAY_BENCH_RESULTS"
rm -f "$HIGHWAY_BENCH_RESULTS"/*.json

status=0
step() {
  echo
  if ! "$@"; then
    echo "$* FAILED" >&2
    status=1
  fi
}
for name in machine run-d propagation proxy-overhead reload scale cli up churn replace footprint tcp; do
  step node "bench/$name.mjs"
done
# Many hosts: the e2e suite's netns hosts are TypeScript (tsx loads them); the second run makes B an etcd member.
step node --import tsx bench/hosts.mjs
step env MEMBER=1 node --import tsx bench/hosts.mjs
step node bench/evidence.mjs
echo
node bench/report.mjs || status=1
exit $status
