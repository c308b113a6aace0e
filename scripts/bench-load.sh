#!/usr/bin/env bash
# bench-load.sh [SCENARIO...]
#
# Runs the load scenarios of BENCHMARKS.md: bin/ssebench against a fresh
# bin/ssebridge for each scenario, both on this machine, on loopback. Each
# run appends one JSON line to $BENCH_OUT (default
# bin/bench/load-<time>.jsonl) and prints its table; a summary against the
# targets of issue 5 closes the output. With no argument every scenario
# runs (about 4 minutes); otherwise only those named:
#
#   latency-100 fanout-1000 fanout-1000-max fanout-10000 idle-15000
#   publish-unary publish-unary-100 publish-stream publish-stream-100
#
# BENCH_BROKER=file runs each scenario on the file broker, in a fresh
# directory under ${BENCH_FILE_DIR:-/tmp} with --fsync ${BENCH_FSYNC:-always};
# its fsyncs and writes (from /metrics) are printed after the scenario.
#
# BENCH_BROKER=redis runs each scenario on the Redis broker: a fresh
# redis-server per scenario (AOF, appendfsync everysec, in a temporary
# directory, on 127.0.0.1:$BENCH_REDIS_PORT, default 16379), whose CPU time
# is printed after the scenario. The default is the memory broker.
#
# The machine should be otherwise idle: every figure is recorded with the
# 1-minute load average at its start. BENCH_SETTLE=SECONDS waits before
# each scenario, at most that long, until that load average is below
# BENCH_QUIET (default 0.7), so that a run does not start in the wake of
# the one before.
set -euo pipefail
cd "$(dirname "$0")/.."

HTTP_ADDR=${BENCH_HTTP_ADDR:-127.0.0.1:18080}
GRPC_ADDR=${BENCH_GRPC_ADDR:-127.0.0.1:19090}
SERVER=bin/ssebridge
TOOL=bin/ssebench
mkdir -p bin/bench
OUT=${BENCH_OUT:-bin/bench/load-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
LOG=${OUT%.jsonl}.server.log

bash scripts/require-debian-packages.sh jq
for f in "$SERVER" "$TOOL"; do
	[ -x "$f" ] || { echo "bench-load.sh: $f is missing: run make build first" >&2; exit 1; }
done

all=(latency-100 fanout-1000 fanout-1000-200 fanout-1000-max fanout-10000 idle-15000
	publish-unary publish-unary-100 publish-stream publish-stream-100)
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${all[@]}")

# settle waits, at most BENCH_SETTLE seconds, for a quiet machine.
settle() {
	local quiet=${BENCH_QUIET:-0.7} waited=0
	while [ "$waited" -lt "${BENCH_SETTLE:-0}" ]; do
		awk -v q="$quiet" '{ exit !($1 < q) }' /proc/loadavg && return 0
		sleep 5
		waited=$((waited + 5))
	done
}

BROKER=${BENCH_BROKER:-memory}
REDIS_PORT=${BENCH_REDIS_PORT:-16379}
case $BROKER in
memory) ;;
file) bash scripts/require-debian-packages.sh curl ;;
redis) bash scripts/require-debian-packages.sh redis-server ;;
*) echo "bench-load.sh: BENCH_BROKER must be memory, file or redis, not $BROKER" >&2; exit 2 ;;
esac

server_pid=
redis_pid=
redis_dir=
file_dir=
stop_server() {
	if [ -n "$file_dir" ] && [ -n "$server_pid" ]; then
		curl -s "http://$HTTP_ADDR/metrics" | awk '/^ssebridge_file_(fsyncs|writes)_total/ { printf "file broker %s %s\n", $1, $2 }'
	fi
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=
	fi
	stop_redis
	if [ -n "$file_dir" ]; then
		rm -rf "$file_dir"
		file_dir=
	fi
}

# start_redis: a fresh redis-server for one scenario.
start_redis() {
	redis_dir=$(mktemp -d)
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$redis_dir" --save '' \
		--appendonly yes --appendfsync everysec --daemonize no >"$redis_dir/log" 2>&1 &
	redis_pid=$!
	for _ in $(seq 100); do
		grep -q "Ready to accept connections" "$redis_dir/log" && return 0
		sleep 0.1
	done
	echo "redis-server did not start; see $redis_dir/log" >&2
	exit 1
}

# stop_redis prints the redis-server's CPU time and stops it.
stop_redis() {
	if [ -n "$redis_pid" ]; then
		local ticks
		ticks=$(awk '{ print $14 + $15 }' "/proc/$redis_pid/stat" 2>/dev/null || echo 0)
		echo "redis-server CPU: $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }') s"
		kill "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
		rm -rf "$redis_dir"
		redis_pid=
	fi
}
trap stop_server EXIT

# start_server FLAG...: a fresh server, so that no run meets the
# connections, topics or garbage of an earlier one.
start_server() {
	stop_server
	local broker=(--broker memory)
	if [ "$BROKER" = redis ]; then
		start_redis
		broker=(--broker "redis://127.0.0.1:$REDIS_PORT/0")
	fi
	if [ "$BROKER" = file ]; then
		file_dir=$(mktemp -d -p "${BENCH_FILE_DIR:-/tmp}" ssebridge-bench.XXXXXX)
		broker=(--broker "file://$file_dir" --fsync "${BENCH_FSYNC:-always}")
	fi
	"$SERVER" serve --dev --max-streams-per-client 0 --log-level warn "${broker[@]}" \
		--http-addr "$HTTP_ADDR" --grpc-addr "$GRPC_ADDR" "$@" 2>>"$LOG" &
	server_pid=$!
	local host=${HTTP_ADDR%:*} port=${HTTP_ADDR##*:}
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || { echo "ssebridge exited; see $LOG" >&2; exit 1; }
		sleep 0.1
	done
	echo "ssebridge did not listen on $HTTP_ADDR within 10s; see $LOG" >&2
	exit 1
}

# The fan-out scenarios publish over two PublishStream calls: a unary
# publisher waits for each acknowledgement, which a server busy with a
# large fan-out sends late, so unary callers measure their own round trips
# rather than the fan-out (publish-unary measures those).
FANOUT_PUBLISH=(--publish-method stream --publishers 2)

# bench LABEL FLAG...: one run of the tool against the running server.
bench() {
	local label=$1
	shift
	echo
	"$TOOL" --json --label "$label" --target "$HTTP_ADDR" --grpc-target "$GRPC_ADDR" \
		--server-pid "$server_pid" "$@" >>"$OUT"
}

for s in "${scenarios[@]}"; do
	settle
	case $s in
	latency-100)
		start_server
		bench "$s" --subscribers 100 --rate 100 --duration 20s "${FANOUT_PUBLISH[@]}" ;;
	fanout-1000)
		start_server
		bench "$s" --subscribers 1000 --rate 1000 --duration 20s "${FANOUT_PUBLISH[@]}" ;;
	fanout-1000-200)
		start_server
		bench "$s" --subscribers 1000 --rate 200 --duration 20s "${FANOUT_PUBLISH[@]}" ;;
	fanout-1000-max)
		start_server
		bench "$s" --subscribers 1000 --rate 0 --duration 15s "${FANOUT_PUBLISH[@]}" ;;
	fanout-10000)
		# No ceiling: its server's 10,000 sockets would be in the tool's
		# process too, past the open-files limit of 20,000.
		start_server
		bench "$s" --subscribers 10000 --rate 100 --duration 20s --ceiling=false --dial-concurrency 512 "${FANOUT_PUBLISH[@]}" ;;
	idle-15000)
		start_server --heartbeat 5s
		bench "$s" --mode idle --subscribers 15000 --duration 60s --heartbeat 5s --dial-concurrency 512 ;;
	publish-unary)
		start_server
		bench "$s" --mode publish --subscribers 0 --publishers 16 --rate 0 --duration 10s ;;
	publish-unary-100)
		start_server
		bench "$s" --mode publish --subscribers 100 --topics 100 --publishers 16 --rate 0 --duration 10s ;;
	publish-stream)
		start_server
		bench "$s" --mode publish --subscribers 0 --publish-method stream --publishers 4 --rate 0 --duration 10s ;;
	publish-stream-100)
		start_server
		bench "$s" --mode publish --subscribers 100 --topics 100 --publish-method stream --publishers 4 --rate 0 --duration 10s ;;
	*)
		echo "bench-load.sh: unknown scenario $s (known: ${all[*]})" >&2
		exit 2 ;;
	esac
	stop_server
done

echo
echo "Summary ($OUT; load average at the start of each run):"
jq -r -f scripts/bench-summary.jq "$OUT"
