# bench-summary.jq: one line per run of ssebench --json, with the figures
# that issue 5 sets targets for and whether they are met.
def ms: tostring + " ms";
def yes(c): if c then "met" else "NOT MET" end;
def correct: .lost == 0 and .duplicated == 0 and .out_of_order == 0 and .disconnects == 0 and .drained;
def flow: "lost \(.lost), dup \(.duplicated), ooo \(.out_of_order), disconnects \(.disconnects)";
def ceiling: if .ceiling then "; ceiling p50 \(.ceiling.latency_ms.p50) ms, p99 \(.ceiling.latency_ms.p99) ms" else "" end;
def line(figures; target; met):
  "\(.label // .mode)\t load \(.machine.loadavg_1m)\t \(figures)\t target: \(target)\t \(met)";

if .label == "latency-100" then
  .delivery as $d
  | line("p50 \($d.latency_ms.p50 | ms), p99 \($d.latency_ms.p99 | ms), \($d | flow)\(ceiling)";
      "p50 <= 1 ms, p99 <= 5 ms, no loss";
      yes($d.latency_ms.p50 <= 1 and $d.latency_ms.p99 <= 5 and ($d | correct)))
elif .label == "fanout-1000" then
  .delivery as $d
  | line("\($d.deliveries_per_sec) deliveries/s, p99 \($d.latency_ms.p99 | ms), \($d | flow), server \($d.server.cpu_cores) cores\(ceiling)";
      "1,000,000 deliveries/s, zero loss, p99 <= 50 ms";
      yes($d.deliveries_per_sec >= 950000 and $d.latency_ms.p99 <= 50 and ($d | correct)))
elif .label == "fanout-1000-max" then
  line("\(.delivery.deliveries_per_sec) deliveries/s vs ceiling \(.ceiling.deliveries_per_sec): ratio \(.ratio_to_ceiling), \(.delivery | flow)";
      "ratio >= 0.6";
      yes(.ratio_to_ceiling >= 0.6 and (.delivery | correct)))
elif .label == "fanout-10000" then
  .delivery as $d
  | line("\($d.deliveries_per_sec) deliveries/s, p99 \($d.latency_ms.p99 | ms), \($d | flow)";
      "zero loss, p99 <= 100 ms";
      yes($d.latency_ms.p99 <= 100 and ($d | correct)))
elif .mode == "idle" then
  .idle as $i
  | line("\($i.connected) connections, \($i.server_bytes_per_conn / 1024 * 100 | round / 100) KiB each (heap \($i.heap_bytes_per_conn), stacks \($i.stack_bytes_per_conn) bytes), heartbeats on time: \($i.heartbeats_on_time) (\($i.late_heartbeats) late)";
      "15,000 connections, <= 12 KiB each, heartbeats on time";
      yes($i.connected >= 15000 and $i.server_bytes_per_conn <= 12288 and $i.heartbeats_on_time))
elif .mode == "publish" then
  (if .publish.method == "unary" then 40000 else 300000 end) as $goal
  | line("\(.publish.acked_per_sec) acked events/s, \(.publish.errors) errors\(if .delivery then ", " + (.delivery | flow) else "" end)\(if .publish_ceiling then "; publish ceiling \(.publish_ceiling.acked_per_sec)/s, ratio \(.publish_ratio_to_ceiling)" else "" end)";
      ">= \($goal) events/s";
      yes(.publish.acked_per_sec >= $goal and .publish.errors == 0 and (if .delivery then .delivery | correct else true end)))
else
  line("see the JSON"; "none"; "-")
end
