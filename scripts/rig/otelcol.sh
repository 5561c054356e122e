#!/usr/bin/env bash
# The OpenTelemetry Collector, built from the Go module proxy with the official builder
# (go.opentelemetry.io/collector/cmd/builder, `ocb`), for the tests where a real shipper sends
# OTLP (and, where it can be had, Elasticsearch `_bulk`) to ferry: an `otlp` receiver in front,
# the `otlphttp` and `debug` exporters and the `batch` processor behind. The contrib
# `elasticsearch` exporter is compiled in only with OTELCOL_ELASTICSEARCH=1: the Go module proxy
# this project's machines reach refuses the versions matching the other modules (403 "not
# available" for v0.160.0 … v0.165.1, 2026-12-02); v0.150.0 and v0.130.0 are served, but
# sum.golang.org has no checksum for them (404), so `go` refuses them without GONOSUMDB, which
# this script does not set. By default it is left out. Every
# collector module is pinned to one release (OTELCOL_VERSION). The builder, the generated
# sources, the module and build caches and the binary live under $RIG (otelcol/, go/, bin/),
# so a second run does nothing. Slow cold (the elasticsearch exporter pulls a lot): .ci/run
# starts it in the background with the MinIO build.
# Usage: otelcol.sh install   — prints the binary's path
source "$(dirname "$0")/common.sh"
SVC=otelcol
OTELCOL_VERSION="${OTELCOL_VERSION:-0.161.0}"
DIR="$RIG/otelcol"
BIN="$RIG/bin/otelcol-ferry"
BUILDER="$RIG/bin/builder"
mkdir -p "$DIR/log" "$RIG/bin" "$RIG/go"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
GOENV=(env GOPATH="$RIG/go" GOBIN="$RIG/bin" GOMODCACHE="$RIG/go/mod" GOCACHE="$RIG/go/cache"
  GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0)

STAMP="$OTELCOL_VERSION es=${OTELCOL_ELASTICSEARCH:-0}"
installed() { [ -x "$BIN" ] && [ "$(cat "$DIR/.version" 2>/dev/null)" = "$STAMP" ]; }

install() {
  installed && return 0
  [ -x "$GO" ] || die "Go not found (looked for go on PATH and /usr/local/go/bin/go)"
  local t0=$SECONDS v="v$OTELCOL_VERSION"
  log "building the OpenTelemetry Collector $v with the builder (log: $DIR/log/build.log) — many minutes cold"
  if [ "$("$GO" version -m "$BUILDER" 2>/dev/null | awk '$1 == "mod" { print $3 }')" != "$v" ]; then
    "${GOENV[@]}" "$GO" install "go.opentelemetry.io/collector/cmd/builder@$v" >"$DIR/log/build.log" 2>&1 ||
      { tail -n 20 "$DIR/log/build.log" >&2; die "go install go.opentelemetry.io/collector/cmd/builder@$v failed"; }
  fi
  cat >"$DIR/manifest.yaml" <<YAML
dist:
  name: otelcol-ferry
  description: OpenTelemetry Collector for ferry's integration tests
  output_path: $DIR/build
  version: $OTELCOL_VERSION
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $v
processors:
  - gomod: go.opentelemetry.io/collector/processor/batchprocessor $v
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter $v
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter $v
YAML
  if [ "${OTELCOL_ELASTICSEARCH:-0}" = 1 ]; then
    echo "  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/elasticsearchexporter $v" >>"$DIR/manifest.yaml"
  fi
  if ! "${GOENV[@]}" "$BUILDER" --config "$DIR/manifest.yaml" >>"$DIR/log/build.log" 2>&1; then
    tail -n 30 "$DIR/log/build.log" >&2
    die "the collector builder failed (see $DIR/log/build.log)"
  fi
  cp "$DIR/build/otelcol-ferry" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
  echo "$STAMP" >"$DIR/.version"
  log "built $BIN in $((SECONDS - t0)) s"
}

case "${1:-install}" in
  install)
    exec 9>"$DIR/.lock"
    flock -w 3600 9 || die "could not lock $DIR/.lock"
    install
    echo "$BIN"
    ;;
  *) echo "usage: $0 install" >&2; exit 2 ;;
esac
