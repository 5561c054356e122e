# Shared by the rig scripts (sourced, never run): where things live, the ports, and the
# helpers every service uses: locking, pid files, waiting for readiness, stopping.
#
# Everything the rig downloads, builds or stores lives under $RIG (default: .rig/ at the
# repo root, git-ignored), so a second run is fast:
#   .rig/<svc>/        config, data, pid file, log/ of one server
#   .rig/go            GOPATH, module cache and build cache for the MinIO build
#   .rig/m2            Maven local repository for the Kafka jars
#   .rig/bin           built binaries (minio)
# A service script defines svc_install, svc_installed, svc_configure, svc_launch, svc_ready,
# then calls `rig_main "$@"`, which gives it the subcommands install|start|stop|kill|restart|status.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RIG="${FERRY_RIG_DIR:-$ROOT/.rig}"
RIG_SCRIPTS="$ROOT/scripts/rig"
mkdir -p "$RIG"

# Ports (test/setup/rig.ts has the same numbers). FERRY_RIG_PORT_OFFSET shifts them all, so
# two checkouts (each with its own FERRY_RIG_DIR) can run their rigs side by side. Use
# multiples of 1000: the ports below are 1..109 apart, so e.g. offset 100 puts MinIO on
# the unshifted ClickHouse TCP port (19100) and the two rigs break each other.
OFF="${FERRY_RIG_PORT_OFFSET:-0}"
CLICKHOUSE_HTTP_PORT=$((18123 + OFF))
CLICKHOUSE_TCP_PORT=$((19100 + OFF))
CLICKHOUSE_INTERSERVER_PORT=$((19109 + OFF))
# The chDB front end (scripts/rig/chdb.sh): the current ClickHouse engine behind HTTP.
CHDB_HTTP_PORT=$((18124 + OFF))
MINIO_PORT=$((19000 + OFF))
MINIO_CONSOLE_PORT=$((19001 + OFF))
MINIO_USER=ferry
MINIO_PASSWORD=ferrysecret123
MINIO_BUCKET=ferry-test
KAFKA_PORT=$((19092 + OFF))
KAFKA_CONTROLLER_PORT=$((19093 + OFF))
# SASL_SSL listener (CA and broker certificate made by the rig, SCRAM and PLAIN users below).
KAFKA_SASL_PORT=$((19094 + OFF))
KAFKA_SASL_USER=ferry
KAFKA_SASL_PASSWORD=ferry-sasl-secret

# Pinned versions. MinIO publishes no semver tags, so the Go module proxy serves it by
# pseudo-version: this one is the newest commit the proxy has (2026-02-12) and builds with
# Go >= 1.24 (checked with go1.26). Kafka: 3.9.x is the last line that still speaks every
# protocol version kafkajs 2.2 uses (4.0 removed old ones, KIP-896) and runs on Java 17.
MINIO_VERSION="${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
# chdb-core: PyPI's build of the current ClickHouse engine (26.9 needs Python >= 3.9).
CHDB_CORE_VERSION="${CHDB_CORE_VERSION:-26.9.0}"

log() { printf '[rig%s] %s\n' "${SVC:+ $SVC}" "$*" >&2; }
die() { printf '[rig%s] ERROR: %s\n' "${SVC:+ $SVC}" "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Pid of the process listening on 127.0.0.1:PORT (any address family), or nothing.
listener_pid() {
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true
}

pid_cmd() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

# wait_until SECONDS command...: retry every 0.2 s until the command succeeds.
wait_until() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.2
  done
}

# Service scripts call this after setting SVC, PORT (the port that says "it is up"), MATCH (a
# string of our server's command line, so a reused pid is never taken for ours) and
# OTHER_RIG_RE (a regex matching the same server started by another checkout's rig).
rig_init() {
  DIR="$RIG/$SVC"
  LOGDIR="$DIR/log"
  PIDFILE="$DIR/$SVC.pid"
  LOCKFILE="$DIR/.lock"
  mkdir -p "$DIR" "$LOGDIR"
  : "${START_TIMEOUT:=90}" "${STOP_TIMEOUT:=10}"
}

# The server's pid, if it runs: from the pid file when that pid is still ours, else whoever
# listens on our port with our command line (a server started before the pid file existed).
server_pid() {
  local pid=""
  if [ -f "$PIDFILE" ]; then
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [[ "$(pid_cmd "$pid")" == *"$MATCH"* ]]; then
      echo "$pid"; return 0
    fi
  fi
  pid=$(listener_pid "$PORT")
  if [ -n "$pid" ] && [[ "$(pid_cmd "$pid")" == *"$MATCH"* ]]; then
    echo "$pid" >"$PIDFILE"
    echo "$pid"; return 0
  fi
  return 1
}

# Serialise start/stop of one service (up.sh from several vitest runs, startService, ...).
with_lock() {
  exec 9>"$LOCKFILE"
  flock -w 1800 9 || die "could not lock $LOCKFILE in 1800 s (another start or install is stuck?)"
  "$@"
}

do_install() {
  if svc_installed; then return 0; fi
  local t0=$SECONDS
  svc_install
  log "installed in $((SECONDS - t0)) s"
}

do_start() {
  local t0=$SECONDS pid
  if pid=$(server_pid) && svc_ready; then
    log "already running (pid $pid)"; return 0
  fi
  if pid=$(server_pid); then
    # Ours but not answering: maybe still starting (another caller launched it).
    if wait_until 30 svc_ready; then log "running (pid $pid)"; return 0; fi
    log "pid $pid does not answer: restarting it"
    stop_pid "$pid"
  fi
  if port_open "$PORT"; then
    local other; other=$(listener_pid "$PORT")
    if [ -n "$other" ] && [[ "$(pid_cmd "$other")" =~ $OTHER_RIG_RE ]]; then
      # The same server started by another checkout's rig (e.g. CI in a fresh clone while
      # the work tree's servers still run): stop it and start ours, with our data dir.
      log "port $PORT is held by another checkout's $SVC (pid $other: $(pid_cmd "$other")): stopping it"
      stop_pid "$other"
    else
      die "port $PORT is taken by another process (pid ${other:-?}: $(pid_cmd "${other:-0}")) — stop it first"
    fi
  fi
  do_install
  svc_configure
  local out="$LOGDIR/$SVC.out"
  printf '\n==== %s start %s\n' "$SVC" "$(date -Is)" >>"$out"
  # setsid: the server outlives this script and is not hit by a Ctrl-C meant for vitest.
  svc_launch "$out" 9>&-   # the server must not inherit (and hold) our lock
  pid=$!
  echo "$pid" >"$PIDFILE"
  local end=$((SECONDS + START_TIMEOUT))
  until svc_ready >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$out" >&2 || true
      die "exited while starting (log: $out)"
    fi
    if [ "$SECONDS" -ge "$end" ]; then
      tail -n 30 "$out" >&2 || true
      stop_pid "$pid"
      die "not ready after $START_TIMEOUT s (log: $out)"
    fi
    sleep 0.2
  done
  # The listener's pid is the truth (in case the launcher forked).
  local lp; lp=$(listener_pid "$PORT"); [ -n "$lp" ] && echo "$lp" >"$PIDFILE"
  if declare -F svc_after_start >/dev/null; then svc_after_start; fi
  log "ready on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"), $((SECONDS - t0)) s)"
}

# stop_pid PID [SIGNAL]: send SIGNAL (TERM), wait STOP_TIMEOUT s, then SIGKILL; wait until gone
# and the port is free.
stop_pid() {
  local pid=$1 sig=${2:-TERM}
  kill -"$sig" "$pid" 2>/dev/null || true
  local end=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid still up after SIG$sig + $STOP_TIMEOUT s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    end=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
  fi
  kill -0 "$pid" 2>/dev/null && die "pid $pid survived SIGKILL"
  wait_until 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null" || die "port $PORT still open after pid $pid exited"
  return 0
}

do_stop() {
  local sig=${1:-TERM} pid t0=$SECONDS
  if pid=$(server_pid); then
    stop_pid "$pid" "$sig"
    log "stopped (pid $pid, SIG$sig, $((SECONDS - t0)) s)"
  else
    log "not running"
  fi
  rm -f "$PIDFILE"
}

do_status() {
  local pid
  if pid=$(server_pid) && svc_ready; then
    echo "$SVC: up (pid $pid, 127.0.0.1:$PORT)"
  elif pid=$(server_pid); then
    echo "$SVC: not ready (pid $pid)"; return 1
  elif port_open "$PORT"; then
    local other; other=$(listener_pid "$PORT")
    echo "$SVC: down (port $PORT held by pid ${other:-?}: $(pid_cmd "${other:-0}"))"; return 1
  else
    echo "$SVC: down"; return 1
  fi
}

rig_main() {
  case "${1:-}" in
    install) with_lock do_install ;;
    start) with_lock do_start ;;
    stop) with_lock do_stop TERM ;;
    kill) with_lock do_stop KILL ;;   # a crash rather than a shutdown
    restart) with_lock do_stop TERM; with_lock do_start ;;
    status) do_status ;;
    *) echo "usage: $0 install|start|stop|kill|restart|status" >&2; exit 2 ;;
  esac
}
