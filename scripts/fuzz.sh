#!/usr/bin/env bash
# fuzz.sh FUZZTIME [PACKAGE...]
#
# Runs every fuzz target (a function named Fuzz*) of the given packages, or of
# ./... when none are given, one target at a time for FUZZTIME each (a
# duration such as 30s, or a count such as 1000x). Stops at the first failure;
# the failing input is saved under the package's testdata/fuzz/ by go test.
# Set GO to choose the go command.
set -euo pipefail

if [ $# -lt 1 ]; then
	echo "usage: $0 FUZZTIME [PACKAGE...]" >&2
	exit 2
fi
fuzztime=$1
shift
go=${GO:-go}
[ $# -gt 0 ] || set -- ./...

targets=0
for pkg in $("$go" list "$@"); do
	# go test -list prints the matching names, then "ok  <package>".
	for fn in $("$go" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $fn ($fuzztime)"
		"$go" test -run '^$' -fuzz "^$fn\$" -fuzztime "$fuzztime" "$pkg"
		targets=$((targets + 1))
	done
done
echo "fuzz: ran $targets target(s) for $fuzztime each"
