// Reads one event stream with the npm eventsource package (an independent
// client) until the bridge's "end" event, then prints what it got as JSON:
// node eventsource.mjs URL. Run by rpcsse's TestSameFramesForEveryClient.
import { EventSource } from "eventsource";

const events = [];
const es = new EventSource(process.argv[2]);
const record = (e) => events.push({ type: e.type, data: e.data, lastEventId: e.lastEventId });
for (const type of ["message", "trade", "bid_ask"]) es.addEventListener(type, record);
es.addEventListener("end", (e) => {
  record(e);
  es.close();
  process.stdout.write(JSON.stringify(events));
});
es.addEventListener("error", (e) => {
  if (e.data !== undefined) record(e);
});
