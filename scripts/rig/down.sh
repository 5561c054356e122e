#!/usr/bin/env bash
# Stop every rig server.
here="$(dirname "$0")"
for svc in kafka minio clickhouse; do bash "$here/$svc.sh" stop; done
