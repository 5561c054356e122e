#!/usr/bin/env bash
# What the tests need from Debian (ClickHouse for the sink tests, wrk for the bench).
# Kafka (Maven Central), MinIO (Go module proxy), Bun and Deno (npm) are fetched by the
# rig scripts and npm themselves. Idempotent; run as root (or with sudo available).
set -euo pipefail
need=()
command -v clickhouse-server >/dev/null || need+=(clickhouse-server clickhouse-client)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi
for tool in go java mvn node; do command -v $tool >/dev/null || { echo "setup: $tool is required (see README)" >&2; exit 1; }; done
