#!/usr/bin/env bash
# `npm test`: the checks first (lint + format, typecheck of every .ts/.mjs file), then the build,
# the unit tests (no servers), then the integration tests against the real servers that vitest's
# global setup starts (scripts/rig). Each stage prints its time; a failing stage names itself and
# stops the run. The last stage's own summary line stays the last line of the output.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
stage() {
  local name=$1 last=$2
  shift 2
  local t=$SECONDS
  echo "[test] stage $name: $*" >&2
  "$@"
  local rc=$?
  if [ "$rc" != 0 ]; then
    echo "[test] stage $name FAILED (exit $rc, $((SECONDS - t)) s)" >&2
    exit "$rc"
  fi
  [ "$last" = last ] || echo "[test] stage $name passed ($((SECONDS - t)) s, $((SECONDS - t0)) s total)" >&2
}
stage lint-format - biome check --error-on-warnings .
stage typecheck - tsc -p tsconfig.check.json
stage build - bash -c 'npm run --silent build && npm run --silent build:native'
stage unit - vitest run -c vitest.unit.config.ts
stage integration last vitest run
