# Shared by the rig scripts: where things live and how to wait for them.
# Everything the rig downloads, builds or stores is under $RIG (git-ignored), so repeated runs are fast.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RIG="${FERRY_RIG_DIR:-$ROOT/.rig}"
mkdir -p "$RIG/logs" "$RIG/run"

CLICKHOUSE_HTTP_PORT=18123
CLICKHOUSE_TCP_PORT=19100
MINIO_PORT=19000
MINIO_CONSOLE_PORT=19001
MINIO_USER=ferry
MINIO_PASSWORD=ferrysecret123
MINIO_BUCKET=ferry-test
KAFKA_PORT=19092
KAFKA_CONTROLLER_PORT=19093
# Pinned: the module proxy resolves this to the same source every time.
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"

log() { printf '[rig] %s\n' "$*" >&2; }
die() { printf '[rig] ERROR: %s\n' "$*" >&2; exit 1; }

# wait_for "what" seconds command...: retry until the command succeeds.
wait_for() {
  local what=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid pidfile: SIGTERM, wait up to 10 s, then SIGKILL.
stop_pid() {
  local pidfile=$1
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  local pid; pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  rm -f "$pidfile"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
