#!/usr/bin/env bash
# require-debian-packages.sh PACKAGE...
#
# Makes sure the named Debian packages are installed. Missing ones are
# installed with apt-get when running as root; otherwise the script names the
# command to run and fails. On a system without dpkg it only prints what it
# expects and carries on.
set -euo pipefail

[ $# -gt 0 ] || exit 0

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "note: not a Debian system; make sure these are installed: $*" >&2
	exit 0
fi

missing=()
for pkg in "$@"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -gt 0 ] || exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing Debian packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
