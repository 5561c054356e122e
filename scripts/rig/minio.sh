#!/usr/bin/env bash
# MinIO built from source with `go install` (Go module proxy), on 127.0.0.1:19000.
source "$(dirname "$0")/common.sh"
DIR="$RIG/minio"
BIN="$RIG/bin/minio"
PIDFILE="$RIG/run/minio.pid"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

install() {
  [ -x "$BIN" ] && return 0
  log "building MinIO ($MINIO_VERSION) with go install — a few minutes the first time"
  GOPATH="$RIG/go" GOBIN="$RIG/bin" GOMODCACHE="$RIG/go/mod" GOCACHE="$RIG/go/cache" GOFLAGS=-mod=mod \
    "$GO" install "github.com/minio/minio@$MINIO_VERSION" >"$RIG/logs/minio-build.log" 2>&1 ||
    die "go install github.com/minio/minio@$MINIO_VERSION failed (see $RIG/logs/minio-build.log)"
}

ready() { curl -fsS "http://127.0.0.1:$MINIO_PORT/minio/health/ready" >/dev/null; }

start() {
  if pid_alive "$PIDFILE" && ready; then return 0; fi
  install
  stop_pid "$PIDFILE"
  mkdir -p "$DIR/data"
  MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASSWORD MINIO_BROWSER=off MINIO_UPDATE=off \
    "$BIN" server "$DIR/data" --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" --quiet \
    >>"$RIG/logs/minio.out" 2>&1 &
  echo $! >"$PIDFILE"
  wait_for minio 60 ready || die "MinIO not ready in 60 s (see $RIG/logs/minio.out)"
  node "$ROOT/scripts/rig/make-bucket.mjs" "http://127.0.0.1:$MINIO_PORT" "$MINIO_USER" "$MINIO_PASSWORD" "$MINIO_BUCKET"
  log "MinIO ready on 127.0.0.1:$MINIO_PORT (bucket $MINIO_BUCKET)"
}

stop() { stop_pid "$PIDFILE"; }
status() { ready && echo "minio: up" || { echo "minio: down"; return 1; }; }

"${1:-start}"
