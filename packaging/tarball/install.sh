#!/bin/sh
# Install ferry from this unpacked tarball (run as root):
#
#   sudo ./install.sh [--prefix DIR] [--no-start]
#
#   DIR/bin/ferry, DIR/lib/ferry     launcher, Node.js runtime and app (default DIR: /opt/ferry)
#   DIR/uninstall.sh                 removes it again (see its --help)
#   /etc/ferry/ferry.yaml            only if absent: an existing config is kept, and the new
#                                    default is left beside it as ferry.yaml.new
#   /etc/systemd/system/ferry.service  with ExecStart pointing at DIR/bin/ferry
#   user and group `ferry`, /var/lib/ferry owned by it (mode 0750)
#
# Where systemd runs, the unit is enabled and (re)started unless --no-start; elsewhere
# (a chroot, a container) the files are installed and nothing is started.
# Installing over an older version replaces DIR/lib/ferry and restarts the service.
set -eu
prefix=/opt/ferry
start=yes
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
	--prefix=*) prefix=${1#--prefix=}; shift ;;
	--no-start) start=no; shift ;;
	-h|--help) sed -n '2,15p' "$0"; exit 0 ;;
	*) echo "install.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be an absolute path" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (it creates a user and installs a unit)" >&2; exit 1; }
src=$(dirname "$(readlink -f "$0")")
say() { echo "install.sh: $*"; }

# Runtime and app: staged beside the old copy, then swapped in, so a running ferry keeps
# its files until the restart below.
mkdir -p "$prefix/bin" "$prefix/lib"
rm -rf "$prefix/lib/ferry.new"
cp -a "$src/lib/ferry" "$prefix/lib/ferry.new"
rm -rf "$prefix/lib/ferry.old"
[ ! -d "$prefix/lib/ferry" ] || mv "$prefix/lib/ferry" "$prefix/lib/ferry.old"
mv "$prefix/lib/ferry.new" "$prefix/lib/ferry"
rm -rf "$prefix/lib/ferry.old"
install -m 0755 "$src/bin/ferry" "$prefix/bin/ferry"
install -m 0755 "$src/uninstall.sh" "$prefix/uninstall.sh"
say "installed $("$prefix/bin/ferry" version) in $prefix"

if ! getent group ferry >/dev/null; then
	groupadd --system ferry
fi
if ! getent passwd ferry >/dev/null; then
	useradd --system --gid ferry --home-dir /var/lib/ferry --no-create-home \
		--shell /usr/sbin/nologin --comment "ferry ingest" ferry
	say "created system user ferry"
fi
if [ ! -d /var/lib/ferry ]; then
	install -d -o ferry -g ferry -m 0750 /var/lib/ferry
else
	chown ferry:ferry /var/lib/ferry
	chmod 0750 /var/lib/ferry
fi

install -d -m 0755 /etc/ferry
if [ -e /etc/ferry/ferry.yaml ]; then
	install -m 0644 "$src/etc/ferry.yaml" /etc/ferry/ferry.yaml.new
	say "kept /etc/ferry/ferry.yaml (the new default is /etc/ferry/ferry.yaml.new)"
else
	install -m 0644 "$src/etc/ferry.yaml" /etc/ferry/ferry.yaml
fi

install -d -m 0755 /etc/systemd/system
sed "s|/usr/bin/ferry|$prefix/bin/ferry|g" "$src/systemd/ferry.service" >/etc/systemd/system/ferry.service
chmod 0644 /etc/systemd/system/ferry.service

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
	systemctl daemon-reload
	if [ "$start" = yes ]; then
		systemctl enable ferry.service
		systemctl restart ferry.service
		say "ferry.service enabled and (re)started"
	fi
else
	say "systemd is not running here: ferry.service installed, not started"
fi
