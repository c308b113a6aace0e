#!/usr/bin/env bash
# require-node.sh MIN_VERSION
#
# Makes sure Node.js of at least MIN_VERSION (MAJOR.MINOR) and npm are on
# PATH. When either command is missing, Debian's nodejs and npm packages are
# installed through require-debian-packages.sh (with apt-get when running as
# root; otherwise it names the command to run). Debian 12's nodejs is 18.20.
# Fails, naming what is missing or too old, when they cannot be had.
set -euo pipefail

min=${1:?usage: require-node.sh MIN_VERSION}
here=$(dirname "$0")

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	bash "$here/require-debian-packages.sh" "${missing[@]}"
fi
for cmd in node npm; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		echo "missing: $cmd (Node.js $min or newer with npm; on Debian: apt-get install -y nodejs npm)" >&2
		exit 1
	fi
done

version=$(node --version)
if ! node -e '
	const want = process.argv[1].split(".").map(Number);
	const have = process.versions.node.split(".").map(Number);
	process.exit(have[0] > want[0] || (have[0] === want[0] && have[1] >= want[1]) ? 0 : 1);
' "$min"; then
	echo "Node.js $version is too old: the Node tests and protoc-gen-es need $min or newer" >&2
	exit 1
fi
