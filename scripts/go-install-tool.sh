#!/usr/bin/env bash
# go-install-tool.sh BINDIR NAME PACKAGE VERSION
#
# Installs the Go command PACKAGE@VERSION as BINDIR/NAME and records the
# version in the stamp file BINDIR/.NAME-VERSION, removing the stamps of other
# versions. A binary already built from PACKAGE at VERSION (as reported by
# `go version -m`) is kept and only stamped. Called by the Makefile; set GO to
# choose the go command.
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 BINDIR NAME PACKAGE VERSION" >&2
	exit 2
fi
bindir=$1 name=$2 pkg=$3 version=$4
go=${GO:-go}

mkdir -p "$bindir"
bindir=$(cd "$bindir" && pwd)
bin=$bindir/$name
stamp=$bindir/.$name-$version

built_from() {
	# Prints "PACKAGE VERSION" of the main module the binary was built from.
	"$go" version -m "$1" 2>/dev/null |
		awk '$1 == "path" { p = $2 } $1 == "mod" { print p, $3; exit }'
}

if [ -x "$bin" ] && [ "$(built_from "$bin")" = "$pkg $version" ]; then
	echo "$name $version: already installed in $bindir"
else
	echo "$name $version: go install $pkg@$version (into $bindir)"
	GOBIN=$bindir "$go" install "$pkg@$version"
	if [ "$(built_from "$bin")" != "$pkg $version" ]; then
		echo "$name: $bin is not $pkg@$version after go install" >&2
		exit 1
	fi
fi
# Go versions start with "v": .protoc-gen-go-v* does not match .protoc-gen-go-grpc-v*.
rm -f "$bindir/.$name-v"*
touch "$stamp"
