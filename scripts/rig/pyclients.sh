#!/usr/bin/env bash
# A Python venv (PyPI) with the clients nobody here wrote that the integration tests drive:
# - confluent-kafka (its wheel bundles librdkafka): the transactional producer of
#   test/integration/kafka-transactions;
# - the OpenTelemetry Python SDK with its OTLP/HTTP protobuf and OTLP/gRPC exporters
#   (opentelemetry-exporter-otlp-proto-http, -proto-grpc): test/integration/otlp-http.
# - the official `elasticsearch` client (9.x here, 8.x in $RIG/py-es8/bin/python):
#   test/integration/bulk-python.
# Venv in $RIG/py, pip's download cache in $RIG/pip-cache. Idempotent: with the pinned versions
# installed it does nothing. Prints the venv's python path.
source "$(dirname "$0")/common.sh"
SVC=pyclients
CONFLUENT_KAFKA_VERSION="${CONFLUENT_KAFKA_VERSION:-2.16.1}"
OTEL_PYTHON_VERSION="${OTEL_PYTHON_VERSION:-1.45.2}"
VENV="$RIG/py"
PINS="confluent-kafka==$CONFLUENT_KAFKA_VERSION opentelemetry-sdk==$OTEL_PYTHON_VERSION opentelemetry-exporter-otlp-proto-http==$OTEL_PYTHON_VERSION opentelemetry-exporter-otlp-proto-grpc==$OTEL_PYTHON_VERSION"
mkdir -p "$RIG/log"
if [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$PINS" ]; then
  command -v python3 >/dev/null || die "python3 is required (scripts/setup-test-deps.sh installs it)"
  (
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    # shellcheck disable=SC2086
    "$VENV/bin/pip" install -q --cache-dir "$RIG/pip-cache" $PINS
  ) >"$RIG/log/pyclients.log" 2>&1 || { tail -n 20 "$RIG/log/pyclients.log" >&2; die "pip install $PINS failed (see $RIG/log/pyclients.log)"; }
  echo "$PINS" >"$VENV/.pins"
fi
# The official Elasticsearch client, both current majors: 9.x in this venv, 8.x in a sibling venv
# ($RIG/py-es8: the two need different elastic-transport versions).
ELASTICSEARCH_PY_VERSION="${ELASTICSEARCH_PY_VERSION:-9.5.1}"
ELASTICSEARCH8_PY_VERSION="${ELASTICSEARCH8_PY_VERSION:-8.19.3}"
if [ "$(cat "$VENV/.elasticsearch" 2>/dev/null)" != "$ELASTICSEARCH_PY_VERSION" ]; then
  "$VENV/bin/pip" install -q --cache-dir "$RIG/pip-cache" "elasticsearch==$ELASTICSEARCH_PY_VERSION" \
    >>"$RIG/log/pyclients.log" 2>&1 || { tail -n 20 "$RIG/log/pyclients.log" >&2; die "pip install elasticsearch==$ELASTICSEARCH_PY_VERSION failed (see $RIG/log/pyclients.log)"; }
  echo "$ELASTICSEARCH_PY_VERSION" >"$VENV/.elasticsearch"
fi
if [ "$(cat "$RIG/py-es8/.elasticsearch" 2>/dev/null)" != "$ELASTICSEARCH8_PY_VERSION" ]; then
  (
    rm -rf "$RIG/py-es8"
    python3 -m venv "$RIG/py-es8"
    "$RIG/py-es8/bin/pip" install -q --cache-dir "$RIG/pip-cache" "elasticsearch==$ELASTICSEARCH8_PY_VERSION"
  ) >>"$RIG/log/pyclients.log" 2>&1 || { tail -n 20 "$RIG/log/pyclients.log" >&2; die "pip install elasticsearch==$ELASTICSEARCH8_PY_VERSION (py-es8) failed (see $RIG/log/pyclients.log)"; }
  echo "$ELASTICSEARCH8_PY_VERSION" >"$RIG/py-es8/.elasticsearch"
fi
echo "$VENV/bin/python"
