#!/usr/bin/env bash
# bench-cluster.sh: three bin/ssebridge replicas on one fresh redis-server
# (AOF, appendfsync everysec), all on this machine and on loopback, with
# bin/ssebench spreading its SSE subscribers and its publishers' gRPC
# connections over the three (comma-separated --target and
# --grpc-target). Runs fanout-1000-max and publish-stream as
# bench-load.sh does, and prints each replica's and Redis's CPU time per
# scenario. Output: bin/bench/cluster-<time>.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/require-debian-packages.sh redis-server jq
for f in bin/ssebridge bin/ssebench; do
	[ -x "$f" ] || { echo "bench-cluster.sh: $f is missing: run make build first" >&2; exit 1; }
done
mkdir -p bin/bench
OUT=${BENCH_OUT:-bin/bench/cluster-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
REDIS_PORT=${BENCH_REDIS_PORT:-16379}
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

cpu() { awk '{ printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$1/stat"; }

waitfor() { # waitfor HOST:PORT
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	exit 1
}

for s in fanout-1000-max publish-stream; do
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --save '' \
		--appendonly yes --appendfsync everysec --daemonize no >"$dir/redis.log" 2>&1 &
	redis=$!
	pids=("$redis")
	waitfor "127.0.0.1:$REDIS_PORT"
	http=() grpc=() servers=()
	for i in 1 2 3; do
		bin/ssebridge serve --dev --max-streams-per-client 0 --log-level warn \
			--broker "redis://127.0.0.1:$REDIS_PORT/0" \
			--http-addr "127.0.0.1:1808$i" --grpc-addr "127.0.0.1:1909$i" 2>>"$dir/server.log" &
		servers+=($!)
		pids+=($!)
		http+=("127.0.0.1:1808$i")
		grpc+=("127.0.0.1:1909$i")
	done
	for a in "${http[@]}"; do waitfor "$a"; done
	targets=$(IFS=,; echo "${http[*]}")
	gtargets=$(IFS=,; echo "${grpc[*]}")
	case $s in
	fanout-1000-max) args=(--subscribers 1000 --rate 0 --duration 15s --publish-method stream --publishers 3) ;;
	publish-stream) args=(--mode publish --subscribers 0 --publish-method stream --publishers 6 --rate 0 --duration 10s) ;;
	esac
	echo
	bin/ssebench --json --label "$s-3replicas" --target "$targets" --grpc-target "$gtargets" "${args[@]}" >>"$OUT"
	for i in 0 1 2; do echo "replica $((i + 1)) CPU: $(cpu "${servers[$i]}") s"; done
	echo "redis-server CPU: $(cpu "$redis") s"
	cleanup
	dir=$(mktemp -d)
	pids=()
done
echo "results: $OUT"
