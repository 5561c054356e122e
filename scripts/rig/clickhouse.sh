#!/usr/bin/env bash
# ClickHouse from Debian (18.16 on Debian 12), our own instance on 127.0.0.1:18123 (HTTP) / 19100 (native).
source "$(dirname "$0")/common.sh"
DIR="$RIG/clickhouse"
PIDFILE="$RIG/run/clickhouse.pid"

install() {
  command -v clickhouse-server >/dev/null || {
    log "installing clickhouse-server from Debian"
    apt-get install -y -q clickhouse-server clickhouse-client >"$RIG/logs/clickhouse-apt.log" 2>&1 ||
      { apt-get update -q >>"$RIG/logs/clickhouse-apt.log" 2>&1 && apt-get install -y -q clickhouse-server clickhouse-client >>"$RIG/logs/clickhouse-apt.log" 2>&1; } ||
      die "apt-get install clickhouse-server failed (see $RIG/logs/clickhouse-apt.log)"
  }
  mkdir -p "$DIR"/{data,tmp,user_files,format_schemas,log}
  cat >"$DIR/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$DIR/log/server.log</log><errorlog>$DIR/log/error.log</errorlog><size>100M</size><count>2</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$CLICKHOUSE_HTTP_PORT</http_port>
  <tcp_port>$CLICKHOUSE_TCP_PORT</tcp_port>
  <path>$DIR/data/</path>
  <tmp_path>$DIR/tmp/</tmp_path>
  <user_files_path>$DIR/user_files/</user_files_path>
  <format_schema_path>$DIR/format_schemas/</format_schema_path>
  <users_config>$DIR/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>104857600</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
</yandex>
XML
  cat >"$DIR/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
XML
}

ready() { curl -fsS "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/?query=SELECT%201" | grep -q 1; }

start() {
  if pid_alive "$PIDFILE" && ready; then return 0; fi
  [ -f "$DIR/config.xml" ] && command -v clickhouse-server >/dev/null || install
  stop_pid "$PIDFILE"
  clickhouse-server --config-file="$DIR/config.xml" >>"$RIG/logs/clickhouse.out" 2>&1 &
  echo $! >"$PIDFILE"
  wait_for clickhouse 60 ready || die "ClickHouse did not answer SELECT 1 in 60 s (see $DIR/log/error.log)"
  log "ClickHouse ready on 127.0.0.1:$CLICKHOUSE_HTTP_PORT"
}

stop() { stop_pid "$PIDFILE"; }
status() { ready && echo "clickhouse: up" || { echo "clickhouse: down"; return 1; }; }

"${1:-start}"
