#!/bin/sh
# Remove a tarball install of ferry (run as root):
#
#   sudo DIR/uninstall.sh [--purge]                  (the copy install.sh left in DIR)
#   sudo ./uninstall.sh [--prefix DIR] [--purge]     (from the unpacked tarball)
#
# Stops and disables ferry.service, removes the unit, DIR/bin/ferry, DIR/lib/ferry and
# DIR/uninstall.sh (default DIR: where this script lives if that is an install, else
# /opt/ferry). The config (/etc/ferry) and the state (/var/lib/ferry: the directory sink
# and the DLQ, i.e. events not yet delivered) are kept unless --purge, which deletes both
# and the ferry user and group.
set -eu
here=$(dirname "$(readlink -f "$0")")
if [ -x "$here/lib/ferry/node/bin/node" ] && [ -x "$here/bin/ferry" ] && [ ! -e "$here/install.sh" ]; then
	prefix=$here
else
	prefix=/opt/ferry
fi
purge=no
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
	--prefix=*) prefix=${1#--prefix=}; shift ;;
	--purge) purge=yes; shift ;;
	-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
	*) echo "uninstall.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "uninstall.sh: run as root" >&2; exit 1; }
say() { echo "uninstall.sh: $*"; }

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
	systemctl disable --now ferry.service 2>/dev/null || true
fi
rm -f /etc/systemd/system/ferry.service
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
	systemctl daemon-reload || true
fi
rm -rf "$prefix/lib/ferry"
rm -f "$prefix/bin/ferry" "$prefix/uninstall.sh"
rmdir "$prefix/bin" "$prefix/lib" "$prefix" 2>/dev/null || true
say "removed ferry from $prefix"

if [ "$purge" = yes ]; then
	rm -rf /etc/ferry /var/lib/ferry
	if getent passwd ferry >/dev/null; then userdel ferry; fi
	if getent group ferry >/dev/null; then groupdel ferry; fi
	say "purged /etc/ferry, /var/lib/ferry and the ferry user"
else
	say "kept /etc/ferry and /var/lib/ferry (--purge deletes them)"
fi
