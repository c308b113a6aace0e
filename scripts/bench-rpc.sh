#!/bin/bash
# The RPC bridge's load figures of BENCHMARKS.md, next to the topic path's
# in the same run: 1,000 EventSource streams of serve --upstream, each its
# own call to the example quote ticker at 10 quotes/s (10,000 relayed
# messages/s), then 1,000 subscribers of one topic at 10 events/s (10,000
# deliveries/s) on the same server. Run from the repository root after
# building bin/ssebridge, bin/ssebench and bin/quoted; reports go to
# bin/bench/rpc.json and bin/bench/topic.json.
set -eu
mkdir -p bin/bench
bin/quoted --listen 127.0.0.1:19000 --stamp-send-time > bin/bench/quoted.log 2>&1 &
QPID=$!
until grep -q '^quoted on' bin/bench/quoted.log; do sleep 0.1; done # the backend listens
bin/ssebridge serve --dev --http-addr 127.0.0.1:18080 --grpc-addr 127.0.0.1:19090 --upstream quotes=127.0.0.1:19000 --max-streams-per-client 100000 --log-level warn > bin/bench/ssebridge.log 2>&1 &
SPID=$!
until curl -sf http://127.0.0.1:18080/healthz > /dev/null; do sleep 0.1; done # the bridge has reflected the backend and listens
bin/ssebench --mode rpc --target 127.0.0.1:18080 --subscribers 1000 --rpc-path '/v1/quotes/ACME:watch?interval_ms=100' --duration 20s --server-pid $SPID --json --label rpc-1000 > bin/bench/rpc.json 2>bin/bench/rpc.txt || echo rpc failed
bin/ssebench --mode fanout --target 127.0.0.1:18080 --grpc-target 127.0.0.1:19090 --subscribers 1000 --topics 1 --rate 10 --size 160 --duration 20s --ceiling=false --server-pid $SPID --json --label topic-1000-rate10 > bin/bench/topic.json 2>bin/bench/topic.txt || echo topic failed
kill $SPID $QPID
wait
