#!/usr/bin/env bash
# A Python venv with confluent-kafka (PyPI; its wheel bundles librdkafka) for the tests that need
# a Kafka client nobody here wrote: the transactional producer of test/integration/kafka-transactions.
# Venv in $RIG/py, pip's download cache in $RIG/pip-cache. Idempotent: with the pinned version
# installed it does nothing. Prints the venv's python path.
source "$(dirname "$0")/common.sh"
SVC=pyclients
CONFLUENT_KAFKA_VERSION="${CONFLUENT_KAFKA_VERSION:-2.16.1}"
VENV="$RIG/py"
mkdir -p "$RIG/log"
if [ "$(cat "$VENV/.confluent-kafka" 2>/dev/null)" != "$CONFLUENT_KAFKA_VERSION" ]; then
  command -v python3 >/dev/null || die "python3 is required (scripts/setup-test-deps.sh installs it)"
  (
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --cache-dir "$RIG/pip-cache" "confluent-kafka==$CONFLUENT_KAFKA_VERSION"
  ) >"$RIG/log/pyclients.log" 2>&1 || { tail -n 20 "$RIG/log/pyclients.log" >&2; die "pip install confluent-kafka==$CONFLUENT_KAFKA_VERSION failed (see $RIG/log/pyclients.log)"; }
  echo "$CONFLUENT_KAFKA_VERSION" >"$VENV/.confluent-kafka"
fi
echo "$VENV/bin/python"
