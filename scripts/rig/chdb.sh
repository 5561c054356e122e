#!/usr/bin/env bash
# The current ClickHouse engine for the tests: PyPI's chdb-core (ClickHouse as a library) behind
# scripts/rig/chdb_http.py, a small front end speaking the part of ClickHouse's HTTP interface
# ferry uses (docs/clickhouse.md says what it covers and what not). Venv in .rig/chdb/venv
# (pip's cache in .rig/pip-cache), data in .rig/chdb/data, HTTP on 127.0.0.1:18124.
# Usage: chdb.sh install|start|stop|kill|restart|status
source "$(dirname "$0")/common.sh"
SVC=chdb PORT=$CHDB_HTTP_PORT MATCH="chdb_http.py --port $CHDB_HTTP_PORT --data $RIG/chdb/data"
START_TIMEOUT=60 STOP_TIMEOUT=6
OTHER_RIG_RE='chdb_http\.py --port [0-9]+ --data .*/chdb/data'
rig_init
VENV="$DIR/venv"

svc_installed() { [ "$(cat "$VENV/.chdb-core" 2>/dev/null)" = "$CHDB_CORE_VERSION" ]; }

svc_install() {
  command -v python3 >/dev/null || die "python3 is required (scripts/setup-test-deps.sh installs it)"
  log "installing chdb-core==$CHDB_CORE_VERSION into $VENV (log: $LOGDIR/pip.log)"
  (
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --cache-dir "$RIG/pip-cache" "chdb-core==$CHDB_CORE_VERSION"
  ) >"$LOGDIR/pip.log" 2>&1 || { tail -n 20 "$LOGDIR/pip.log" >&2; die "pip install chdb-core==$CHDB_CORE_VERSION failed (see $LOGDIR/pip.log)"; }
  echo "$CHDB_CORE_VERSION" >"$VENV/.chdb-core"
}

svc_configure() { mkdir -p "$DIR/data"; }

svc_launch() {
  TZ=UTC setsid "$VENV/bin/python" "$RIG_SCRIPTS/chdb_http.py" --port "$CHDB_HTTP_PORT" --data "$DIR/data" </dev/null >>"$1" 2>&1 &
}

svc_ready() {
  [ "$(curl -fsS -m 2 "http://127.0.0.1:$CHDB_HTTP_PORT/?query=SELECT%201" 2>/dev/null)" = 1 ]
}

rig_main "$@"
