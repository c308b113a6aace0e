// Copyright 2026 The ssebridge Authors
// SPDX-License-Identifier: Apache-2.0

// The generated TypeScript client (gen/ts, protoc-gen-es) with the Connect
// runtime's gRPC transport for Node, over HTTP/2 cleartext against the real
// ssebridge process: Publish, PublishStream, Subscribe, ListTopics,
// GetTopic, their errors, and the end of a subscription at shutdown.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import { EventService, GapReason } from "../../../gen/ts/ssebridge/v1/events_pb.js";
import { within } from "../inbox.js";
import { startServer } from "../server.js";

/**
 * connect returns an EventService client for server and a close function
 * that ends its HTTP/2 session, so that nothing keeps the test alive.
 */
function connect(server) {
  const sessionManager = new Http2SessionManager(server.grpcUrl);
  const transport = createGrpcTransport({ baseUrl: server.grpcUrl, sessionManager });
  return { client: createClient(EventService, transport), close: () => sessionManager.abort() };
}

/**
 * subscribe opens a Subscribe call and resolves once the server has sent
 * the response header, which it does once the subscription is registered:
 * events published after that are delivered. next() takes the next
 * message within a deadline.
 */
async function subscribe(t, client, request) {
  const abort = new AbortController();
  t.after(() => abort.abort());
  let headerSent;
  const header = new Promise((resolve) => {
    headerSent = resolve;
  });
  const messages = client.subscribe(request, { signal: abort.signal, onHeader: headerSent })[Symbol.asyncIterator]();
  const first = messages.next(); // starts reading; the call is already sent
  first.catch(() => {}); // awaited by the first next() below, or dropped
  await within(Promise.race([header, first]), 10_000, `the header of Subscribe(${JSON.stringify(request)})`);
  let pending = first;
  return {
    async next(ms = 10_000) {
      const p = pending ?? messages.next();
      pending = null;
      const r = await within(p, ms, "the next Subscribe message");
      assert.equal(r.done, false, "the subscription ended");
      return r.value;
    },
    /** end resolves with the error that ended the call, or null. */
    async end(ms = 15_000) {
      try {
        for (;;) {
          const p = pending ?? messages.next();
          pending = null;
          const r = await within(p, ms, "the end of Subscribe");
          if (r.done) return null;
        }
      } catch (err) {
        return err;
      }
    },
    cancel: () => abort.abort(),
  };
}

describe("the generated TypeScript client over gRPC", () => {
  let server;
  let client;
  let close;
  before(async () => {
    server = await startServer(["--history-size", "5"]);
    ({ client, close } = connect(server));
  });
  after(async () => {
    close?.();
    await server?.stop();
  });

  test("publishes and receives the events with ids, types, data, sequences and times", { timeout: 30_000 }, async (t) => {
    const sub = await subscribe(t, client, { topics: ["ts.a", "ts.b"] });
    const sent = [
      { topic: "ts.a", type: "order.created", data: '{"id":1}' },
      { topic: "ts.b", type: "", data: "line one\nline two\r\nline three" },
      { topic: "ts.a", type: "utf8", data: "👋🏽 漢字 e\u0301 \u0000 nul" },
      { topic: "ts.b", type: "empty", data: "" },
    ];
    const start = Date.now();
    const published = [];
    for (const e of sent) {
      const res = await client.publish(e);
      assert.equal(typeof res.id, "string");
      assert.equal(res.duplicate, false);
      const at = timestampDate(res.time).getTime();
      assert.ok(at >= start - 5_000 && at <= Date.now() + 5_000, `publish time ${res.time}`);
      published.push(res);
    }
    assert.deepEqual(published.map((p) => p.sequence), [1n, 1n, 2n, 2n], "sequences count per topic, as bigint");

    for (const [i, e] of sent.entries()) {
      const m = await sub.next();
      assert.equal(m.item.case, "event");
      const got = m.item.value;
      assert.deepEqual(
        { id: got.id, topic: got.topic, type: got.type, data: got.data, sequence: got.sequence },
        { id: published[i].id, topic: e.topic, type: e.type, data: e.data, sequence: published[i].sequence },
      );
      assert.equal(timestampDate(got.time).getTime(), timestampDate(published[i].time).getTime());
    }
  });

  test("repeats a publish with the same idempotency key as a duplicate", { timeout: 20_000 }, async () => {
    const first = await client.publish({ topic: "ts.idem", data: "once", idempotencyKey: "k-1" });
    const again = await client.publish({ topic: "ts.idem", data: "once", idempotencyKey: "k-1" });
    assert.equal(again.duplicate, true);
    assert.equal(again.id, first.id);
    assert.equal(again.sequence, first.sequence);
    const topic = await client.getTopic({ topic: "ts.idem" });
    assert.equal(topic.topic.lastSequence, 1n);
  });

  test("PublishStream acknowledges every event in order, with per-event errors", { timeout: 20_000 }, async (t) => {
    const sub = await subscribe(t, client, { topics: ["ts.stream"] });
    const requests = [
      { topic: "ts.stream", data: "s0" },
      { topic: "ts.stream", data: "s1" },
      { topic: "not a topic!", data: "s2" },
      { topic: "ts.stream", type: "ssebridge.reserved", data: "s3" },
      { topic: "ts.stream", data: "s4" },
    ];
    async function* events() {
      for (const event of requests) yield { event };
    }
    const acks = [];
    for await (const res of client.publishStream(events(), { timeoutMs: 15_000 })) {
      acks.push(...res.acks);
    }
    assert.deepEqual(acks.map((a) => a.index), [0n, 1n, 2n, 3n, 4n]);
    for (const i of [0, 1, 4]) {
      assert.ok(acks[i].result?.id, `event ${i} published`);
      assert.equal(acks[i].error, undefined);
    }
    for (const i of [2, 3]) {
      assert.equal(acks[i].result, undefined);
      assert.equal(acks[i].error?.code, Code.InvalidArgument, `event ${i}: ${acks[i].error?.message}`);
    }
    for (const i of [0, 1, 4]) {
      const m = await sub.next();
      assert.deepEqual([m.item.value.id, m.item.value.data], [acks[i].result.id, requests[i].data]);
    }
  });

  test("resumes after a cursor exactly, and sends a gap notice for a bad one", { timeout: 20_000 }, async (t) => {
    const ids = [];
    for (let i = 0; i < 4; i++) {
      ids.push((await client.publish({ topic: i % 2 ? "ts.r1" : "ts.r2", data: `r${i}` })).id);
    }
    const resumed = await subscribe(t, client, { topics: ["ts.r1", "ts.r2"], lastEventId: ids[1] });
    for (const i of [2, 3]) {
      const m = await resumed.next();
      assert.deepEqual([m.item.case, m.item.value.id, m.item.value.data], ["event", ids[i], `r${i}`]);
    }

    const gapped = await subscribe(t, client, { topics: ["ts.r1"], lastEventId: "not-a-cursor" });
    const gap = await gapped.next();
    assert.equal(gap.item.case, "gap");
    assert.equal(gap.item.value.reason, GapReason.CURSOR_MALFORMED);
    assert.deepEqual(gap.item.value.topics, ["ts.r1"]);
    assert.equal(gap.item.value.lastEventId, "not-a-cursor");
    assert.ok(gap.item.value.id, "the notice carries a cursor to resume from");
    const retained = await gapped.next();
    assert.deepEqual([retained.item.case, retained.item.value.id], ["event", ids[1]]);
  });

  test("lists and describes topics", { timeout: 20_000 }, async () => {
    const last = await client.publish({ topic: "ts.list.b", data: "x" });
    await client.publish({ topic: "ts.list.a", data: "y" });
    const list = await client.listTopics({ prefix: "ts.list." });
    assert.deepEqual(list.topics.map((x) => x.name), ["ts.list.a", "ts.list.b"]);
    const { topic } = await client.getTopic({ topic: "ts.list.b" });
    assert.deepEqual(
      { name: topic.name, retainedEvents: topic.retainedEvents, lastSequence: topic.lastSequence, lastEventId: topic.lastEventId },
      { name: "ts.list.b", retainedEvents: 1n, lastSequence: 1n, lastEventId: last.id },
    );
  });

  test("reports bad requests with gRPC status codes", { timeout: 20_000 }, async (t) => {
    const cases = [
      ["Publish to a bad topic", () => client.publish({ topic: "a..b", data: "x" }), Code.InvalidArgument],
      ["Publish with a reserved type", () => client.publish({ topic: "ts.err", type: "ssebridge.gap", data: "x" }), Code.InvalidArgument],
      ["GetTopic of an unknown topic", () => client.getTopic({ topic: "ts.never" }), Code.NotFound],
    ];
    for (const [name, call, code] of cases) {
      await assert.rejects(call, (err) => {
        assert.ok(err instanceof ConnectError, `${name}: ${err}`);
        assert.equal(err.code, code, `${name}: ${err.message}`);
        return true;
      }, name);
    }
    const noTopics = await (async () => {
      const abort = new AbortController();
      t.after(() => abort.abort());
      try {
        for await (const m of client.subscribe({ topics: [] }, { signal: abort.signal, timeoutMs: 10_000 })) {
          return new Error(`got a message: ${JSON.stringify(m)}`);
        }
        return new Error("the call ended without an error");
      } catch (err) {
        return err;
      }
    })();
    assert.ok(noTopics instanceof ConnectError, String(noTopics));
    assert.equal(noTopics.code, Code.InvalidArgument);
  });
});

describe("a subscription at server shutdown", () => {
  test("ends with UNAVAILABLE, and the server exits 0", { timeout: 40_000 }, async (t) => {
    const server = await startServer();
    t.after(() => server.stop());
    const { client, close } = connect(server);
    t.after(close);
    const sub = await subscribe(t, client, { topics: ["ts.shutdown"] });
    const p = await client.publish({ topic: "ts.shutdown", data: "before" });
    assert.equal((await sub.next()).item.value.id, p.id);

    const stopped = server.stop();
    const err = await sub.end();
    assert.ok(err instanceof ConnectError, `the call ended with ${err}`);
    assert.equal(err.code, Code.Unavailable, err.message);
    await stopped;
  });
});
