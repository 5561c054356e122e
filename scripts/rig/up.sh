#!/usr/bin/env bash
# Install (first time) and start every server the integration tests use, in parallel.
source "$(dirname "$0")/common.sh"
here="$(dirname "$0")"
pids=(); names=()
for svc in clickhouse minio kafka; do
  bash "$here/$svc.sh" start >"$RIG/logs/$svc-start.log" 2>&1 & pids+=($!); names+=($svc)
done
rc=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then rc=1; log "${names[$i]} failed to start:"; tail -n 20 "$RIG/logs/${names[$i]}-start.log" >&2; fi
done
exit $rc
