#!/usr/bin/env bash
# Apache Kafka (KRaft, single combined broker+controller): jars from Maven Central via mvn, run on Java 17.
source "$(dirname "$0")/common.sh"
DIR="$RIG/kafka"
PIDFILE="$RIG/run/kafka.pid"

install() {
  [ -f "$DIR/libs/.complete" ] && return 0
  log "fetching Kafka broker jars with mvn"
  mkdir -p "$DIR/libs"
  (cd "$ROOT/scripts/rig/kafka" && mvn -q -B -Dmaven.repo.local="$RIG/m2" dependency:copy-dependencies \
    -DoutputDirectory="$DIR/libs" -DincludeScope=runtime) >"$RIG/logs/kafka-mvn.log" 2>&1 ||
    die "mvn could not fetch the Kafka jars (see $RIG/logs/kafka-mvn.log)"
  touch "$DIR/libs/.complete"
}

configure() {
  mkdir -p "$DIR/data"
  cat >"$DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
PROPS
  cat >"$DIR/log4j.properties" <<PROPS
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
  if [ ! -f "$DIR/data/meta.properties" ]; then
    java -cp "$DIR/libs/*" -Dlog4j.configuration="file:$DIR/log4j.properties" kafka.tools.StorageTool format \
      -t "$(java -cp "$DIR/libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)" \
      -c "$DIR/server.properties" >>"$RIG/logs/kafka-format.log" 2>&1 || die "kafka storage format failed (see $RIG/logs/kafka-format.log)"
  fi
}

ready() { port_open "$KAFKA_PORT" && node "$ROOT/scripts/rig/kafka-ready.mjs" "127.0.0.1:$KAFKA_PORT"; }

start() {
  if pid_alive "$PIDFILE" && ready; then return 0; fi
  install
  configure
  stop_pid "$PIDFILE"
  java -Xms256m -Xmx512m -XX:+UseG1GC -Dlog4j.configuration="file:$DIR/log4j.properties" \
    -cp "$DIR/libs/*" kafka.Kafka "$DIR/server.properties" >>"$RIG/logs/kafka.out" 2>&1 &
  echo $! >"$PIDFILE"
  wait_for kafka 90 ready || die "Kafka broker not ready in 90 s (see $RIG/logs/kafka.out)"
  log "Kafka ready on 127.0.0.1:$KAFKA_PORT"
}

stop() { stop_pid "$PIDFILE"; }
status() { ready && echo "kafka: up" || { echo "kafka: down"; return 1; }; }

"${1:-start}"
