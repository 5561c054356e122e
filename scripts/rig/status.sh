#!/usr/bin/env bash
# One line per rig server: up (pid, address), not ready, or down. Exit 1 if any is not up.
source "$(dirname "$0")/common.sh"
rc=0
for svc in clickhouse chdb minio kafka; do bash "$RIG_SCRIPTS/$svc.sh" status || rc=1; done
exit $rc
