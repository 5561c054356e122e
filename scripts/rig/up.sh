#!/usr/bin/env bash
# Install (the first time) and start every server the integration tests use: ClickHouse (18.16
# from Debian, and the current engine through chDB),
# MinIO and Kafka, in parallel. Servers already running are reused. Exits non-zero, naming
# the server and showing the end of its log, if any of them cannot start.
# Usage: scripts/rig/up.sh [clickhouse|chdb|minio|kafka ...]
source "$(dirname "$0")/common.sh"
services=("$@"); [ ${#services[@]} -gt 0 ] || services=(clickhouse chdb minio kafka)
t0=$SECONDS
pids=()
for svc in "${services[@]}"; do
  [ -f "$RIG_SCRIPTS/$svc.sh" ] || die "unknown service: $svc"
  mkdir -p "$RIG/$svc/log"
  bash "$RIG_SCRIPTS/$svc.sh" start >"$RIG/$svc/log/up.log" 2>&1 &
  pids+=($!)
done
failed=()
for i in "${!services[@]}"; do
  svc=${services[$i]}
  if wait "${pids[$i]}"; then
    grep -h '^\[rig' "$RIG/$svc/log/up.log" | tail -n 1 >&2 || true
  else
    failed+=("$svc")
    log "$svc FAILED to start — end of $RIG/$svc/log/up.log:"
    tail -n 25 "$RIG/$svc/log/up.log" | sed 's/^/    /' >&2
  fi
done
[ ${#failed[@]} -eq 0 ] || die "could not start: ${failed[*]}"
log "up in $((SECONDS - t0)) s: ${services[*]}"
