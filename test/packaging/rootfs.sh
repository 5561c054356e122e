#!/bin/sh
# A clean Debian 12 (bookworm) root for the packaging tests, made once by debootstrap and
# cached in the checkout's .cache/packaging/rootfs (gitignored, owned by these tests):
#
#   test/packaging/rootfs.sh amd64   → prints the directory of a finished amd64 root
#   test/packaging/rootfs.sh arm64   → an arm64 root, first stage only (--foreign): its
#                                      libc and libstdc++ serve qemu-aarch64-static -L
#
# Needs root and debootstrap, and Debian's mirror (debootstrap's default). The tests copy
# this base before they install anything, so it stays clean.
set -eu
arch=${1:?usage: rootfs.sh amd64|arm64}
here=$(dirname "$(readlink -f "$0")")
cache=${FERRY_PKG_CACHE:-$here/../../.cache/packaging}
mkdir -p "$cache/rootfs"
dir=$(readlink -f "$cache/rootfs")/bookworm-$arch
if [ -e "$dir/.complete" ]; then echo "$dir"; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "rootfs.sh: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "rootfs.sh: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
rm -rf "$dir.tmp"
if [ "$arch" = "$(dpkg --print-architecture)" ]; then
	# The default variant (required + important): a clean server install has adduser and
	# systemd, and systemd-analyze verify needs the latter.
	debootstrap --arch="$arch" bookworm "$dir.tmp" >"$cache/rootfs/debootstrap-$arch.log" 2>&1 ||
		{ tail -20 "$cache/rootfs/debootstrap-$arch.log" >&2; exit 1; }
else
	# A foreign arch cannot run its second stage without binfmt; the unpacked first stage
	# has the shared libraries the emulated binaries need.
	debootstrap --foreign --variant=minbase --arch="$arch" bookworm "$dir.tmp" >"$cache/rootfs/debootstrap-$arch.log" 2>&1 ||
		{ tail -20 "$cache/rootfs/debootstrap-$arch.log" >&2; exit 1; }
fi
touch "$dir.tmp/.complete"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "$dir"
