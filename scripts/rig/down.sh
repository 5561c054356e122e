#!/usr/bin/env bash
# Stop every rig server (SIGTERM, then SIGKILL after a timeout), in parallel. Data is kept.
# Usage: scripts/rig/down.sh [clickhouse|chdb|minio|kafka ...]
source "$(dirname "$0")/common.sh"
services=("$@"); [ ${#services[@]} -gt 0 ] || services=(kafka minio clickhouse chdb)
pids=()
for svc in "${services[@]}"; do bash "$RIG_SCRIPTS/$svc.sh" stop & pids+=($!); done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
