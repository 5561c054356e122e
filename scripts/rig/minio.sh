#!/usr/bin/env bash
# MinIO built from source with `go install github.com/minio/minio@$MINIO_VERSION` (Go module
# proxy; GOPATH, module and build caches under .rig/go), serving .rig/minio/data on
# 127.0.0.1:19000 (console 19001), user ferry / ferrysecret123, bucket ferry-test.
# Usage: minio.sh install|start|stop|kill|restart|status
source "$(dirname "$0")/common.sh"
SVC=minio PORT=$MINIO_PORT BIN="$RIG/bin/minio" MATCH="$RIG/bin/minio server"
START_TIMEOUT=60 STOP_TIMEOUT=6
OTHER_RIG_RE='/bin/minio server .*/minio/data'
rig_init

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

# Installed = the binary is there and was built from the pinned module version.
svc_installed() {
  [ -x "$BIN" ] && [ -x "$GO" ] &&
    [ "$("$GO" version -m "$BIN" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/minio/minio" { print $3 }')" = "$MINIO_VERSION" ]
}

svc_install() {
  [ -x "$GO" ] || die "Go not found (looked for go on PATH and /usr/local/go/bin/go)"
  log "building MinIO $MINIO_VERSION with $("$GO" version | cut -d' ' -f3) — several minutes cold (log: $LOGDIR/build.log)"
  mkdir -p "$RIG/bin" "$RIG/go"
  # GOTOOLCHAIN=local: build with the Go that is here, never fetch another toolchain.
  if ! env GOPATH="$RIG/go" GOBIN="$RIG/bin" GOMODCACHE="$RIG/go/mod" GOCACHE="$RIG/go/cache" \
      GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
      "$GO" install "github.com/minio/minio@$MINIO_VERSION" >"$LOGDIR/build.log" 2>&1; then
    tail -n 20 "$LOGDIR/build.log" >&2
    die "go install github.com/minio/minio@$MINIO_VERSION failed (see $LOGDIR/build.log)"
  fi
}

svc_configure() { mkdir -p "$DIR/data"; }

svc_launch() {
  MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_PASSWORD MINIO_UPDATE=off \
    MINIO_CI_CD=1 MINIO_BROWSER=on \
    setsid "$BIN" server "$DIR/data" --address "127.0.0.1:$MINIO_PORT" \
    --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" --quiet --anonymous </dev/null >>"$1" 2>&1 &
}

svc_ready() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$MINIO_PORT/minio/health/ready"; }

# The bucket the tests use (idempotent): a small Node script with @aws-sdk/client-s3.
svc_after_start() {
  node --no-warnings "$RIG_SCRIPTS/make-bucket.mjs" "http://127.0.0.1:$MINIO_PORT" "$MINIO_USER" "$MINIO_PASSWORD" "$MINIO_BUCKET" ||
    die "could not create bucket $MINIO_BUCKET (is node_modules installed? run npm ci)"
}

rig_main "$@"
