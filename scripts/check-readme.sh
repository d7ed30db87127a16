#!/usr/bin/env bash
# Fails when README.md's command reference is not what `npm run readme` generates from the built
# commands (run `npm run build` first): a flag or summary changed without the README.
set -euo pipefail
cd "$(dirname "$0")/.."
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
cp README.md "$copy/README.md"
npx oclif readme --no-source-links --no-aliases --readme-path "$copy/README.md" >/dev/null
npx prettier --stdin-filepath README.md < "$copy/README.md" > "$copy/README.formatted.md"
if ! diff -u README.md "$copy/README.formatted.md"; then
  echo "README.md's command reference is stale: run \`npm run readme\` and commit it" >&2
  exit 1
fi
