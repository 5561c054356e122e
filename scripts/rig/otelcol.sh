#!/usr/bin/env bash
# The OpenTelemetry Collector, built from the Go module proxy with the official builder
# (go.opentelemetry.io/collector/cmd/builder, `ocb`), for the tests where a real shipper sends
# OTLP and Elasticsearch `_bulk` to ferry: an `otlp` receiver in front, the `batch` processor,
# and the `otlphttp`, contrib `elasticsearch` and `debug` exporters behind. Every collector module
# is pinned to one release (OTELCOL_VERSION), which is 0.130.0 because of the elasticsearch
# exporter: the Go module proxy these machines reach serves its zip with a checksum in
# sum.golang.org for v0.130.0, but refuses the zip of v0.160.0 … v0.165.1 (403 "not available")
# and has no checksum for v0.148.0 and v0.150.0 (checked 2026-12-02); the rig never turns
# checksum verification off. The builder, the generated sources, the module and build caches and
# the binary live under $RIG (otelcol/, go/, bin/), so a second run does nothing. Slow cold (the
# elasticsearch exporter pulls a lot): .ci/run starts it in the background with the MinIO build.
# Usage: otelcol.sh install   — prints the binary's path
source "$(dirname "$0")/common.sh"
SVC=otelcol
OTELCOL_VERSION="${OTELCOL_VERSION:-0.130.0}"
DIR="$RIG/otelcol"
BIN="$RIG/bin/otelcol-ferry"
BUILDER="$RIG/bin/builder"
mkdir -p "$DIR/log" "$RIG/bin" "$RIG/go"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
GOENV=(env GOPATH="$RIG/go" GOBIN="$RIG/bin" GOMODCACHE="$RIG/go/mod" GOCACHE="$RIG/go/cache"
  GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0)

STAMP="$OTELCOL_VERSION otlphttp elasticsearch debug"
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
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/exporter/elasticsearchexporter $v
YAML
  # The proxy's checksum-database look-ups fail now and then with a 404 for a module they verify
  # seconds later (seen 2026-12-02, cold: four failures in a row on the elasticsearch exporter,
  # then through; warm: github.com/elastic/go-docappender/v2). Every attempt keeps what it
  # downloaded and verified, so the next gets further. Only that failure is retried (with a
  # growing pause, ~5 minutes in all); anything else, a module really refused included, fails at
  # once.
  local attempt=1
  until "${GOENV[@]}" "$BUILDER" --config "$DIR/manifest.yaml" >>"$DIR/log/build.log" 2>&1; do
    if [ "$attempt" -ge 15 ] || ! tail -n 3 "$DIR/log/build.log" | grep -q 'sumdb/sum.golang.org/lookup/'; then
      tail -n 30 "$DIR/log/build.log" >&2
      die "the collector builder failed after $attempt attempt(s) (see $DIR/log/build.log)"
    fi
    log "attempt $attempt: the checksum database look-up failed ($(tail -n 3 "$DIR/log/build.log" | grep -o 'lookup/[^:]*' | head -n 1)); again in $((attempt * 3)) s"
    sleep $((attempt * 3))
    attempt=$((attempt + 1))
  done
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
