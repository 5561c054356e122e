#!/usr/bin/env bash
# Install from Debian what the tests and the bench need: ClickHouse (the server the sink
# tests run against; Debian 12 ships 18.16.1), wrk (bench), promtool and systemd-analyze
# (alert rules and unit checks), a C compiler, make and python3 (the sd_notify addon and its
# test), kcat and python3-venv (Kafka client tests), and the small tools the rig scripts use (curl, ss, flock). Kafka (Maven Central),
# MinIO (Go module proxy), Bun and Deno (npm) are fetched by scripts/rig and npm themselves. Needs root, or sudo.
# Idempotent: with everything present it changes nothing and does not touch apt.
set -euo pipefail
need=()
command -v clickhouse-server >/dev/null || need+=(clickhouse-server)
command -v clickhouse-client >/dev/null || need+=(clickhouse-client)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
command -v flock >/dev/null || need+=(util-linux)
# promtool (alert rule checks) ships in Debian's prometheus package; systemd-analyze checks the unit.
command -v promtool >/dev/null || need+=(prometheus)
command -v systemd-analyze >/dev/null || need+=(systemd)
# The sd_notify addon (npm run build:native) and its test's notify-socket listener.
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
# kcat (librdkafka): the Kafka codec tests produce every compression codec with it.
command -v kcat >/dev/null || need+=(kcat)
# The venv scripts/rig/pyclients.sh makes for confluent-kafka (the transactional producer test).
{ command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null; } || need+=(python3-venv)
# npm run package / test:packaging: debootstrap roots, lintian, the arm64 cross compiler and
# binutils (addon, strip), qemu-user to run the arm64 build, systemd-nspawn to boot a root.
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v lintian >/dev/null || need+=(lintian)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
# rsyslog with omelasticsearch: the real shipper the _bulk test (test/integration/bulk-rsyslog.test.ts)
# runs as its own unprivileged rsyslogd; the system one must not run (see below).
rsyslogd_bin=$(command -v rsyslogd || echo /usr/sbin/rsyslogd)
[ -x "$rsyslogd_bin" ] || need+=(rsyslog)
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so ] || compgen -G '/usr/lib/*/rsyslog/omelasticsearch.so' >/dev/null || need+=(rsyslog-elasticsearch)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup-test-deps: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
    SUDO=(sudo)
  fi
  echo "setup-test-deps: apt-get install ${need[*]}" >&2
  # In a root without systemd, invoke-rc.d would start the packages' daemons (a system rsyslogd
  # reading /dev/log, a clickhouse-server on the rig's ports): a policy-rc.d that answers 101
  # ("action forbidden") for the install keeps them stopped; an existing one is left as it is.
  policy_made=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
    policy_made=1
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
  [ -z "$policy_made" ] || "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
fi
# A system rsyslogd (started by the package under systemd, or earlier) is not what the tests use
# and would hold /dev/log: stop it if one runs from the package's pid file.
if [ -s /run/rsyslogd.pid ] && kill -0 "$(cat /run/rsyslogd.pid)" 2>/dev/null; then
  SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo)
  echo "setup-test-deps: stopping the system rsyslogd (pid $(cat /run/rsyslogd.pid))" >&2
  if [ -d /run/systemd/system ]; then
    "${SUDO[@]}" systemctl disable --now rsyslog.service syslog.socket >/dev/null 2>&1 || true
  fi
  [ -s /run/rsyslogd.pid ] && "${SUDO[@]}" kill "$(cat /run/rsyslogd.pid)" 2>/dev/null || true
fi
# Toolchains the rig builds with: they come with the machine, not from here.
missing=()
for tool in node npm go java mvn; do
  command -v "$tool" >/dev/null || { [ "$tool" = go ] && [ -x /usr/local/go/bin/go ]; } || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || { echo "setup-test-deps: missing ${missing[*]} (Node 20+, Go, Java 17+, Maven are expected on the machine)" >&2; exit 1; }
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
[ "${java_major:-0}" -ge 17 ] || { echo "setup-test-deps: Kafka needs Java 17+, found ${java_major:-none}" >&2; exit 1; }
echo "setup-test-deps: ok" >&2
