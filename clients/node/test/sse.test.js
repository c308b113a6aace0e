// Copyright 2026 The ssebridge Authors
// SPDX-License-Identifier: Apache-2.0

// The SSE contract of README.md, checked against the real ssebridge
// process with the npm eventsource package (a WHATWG-compliant EventSource
// that ssebridge did not write) and, for the fields EventSource hides,
// with fetch and eventsource-parser.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { within } from "../inbox.js";
import { startServer } from "../server.js";
import { openEventSource, openRawStream } from "../sse.js";

const gapType = "ssebridge.gap";

describe("a new stream", () => {
  let server;
  before(async () => {
    server = await startServer(["--retry", "1750ms", "--heartbeat", "1s"]);
  });
  after(() => server?.stop());

  test("sends its headers and the retry field before the first event", { timeout: 20_000 }, async (t) => {
    const url = `${server.httpUrl}/v1/events?topic=quiet.headers`;
    const src = openEventSource(url);
    t.after(() => src.close());

    // The topic has no events: the open event can only come from headers
    // sent at once.
    await src.opens.next();
    const [attempt] = src.connections.all;
    assert.equal(attempt.response.status, 200);
    assert.equal(attempt.response.headers.get("content-type").split(";")[0].trim(), "text/event-stream");
    assert.equal(attempt.response.headers.get("cache-control"), "no-cache");
    assert.equal(attempt.response.headers.get("x-accel-buffering"), "no");
    assert.equal(attempt.lastEventId, null, "a first connection sends no Last-Event-ID");
    assert.deepEqual(src.events.all, []);

    const raw = await openRawStream(url);
    t.after(() => raw.close());
    assert.equal(raw.response.status, 200);
    const first = await raw.records.next();
    assert.deepEqual({ kind: first.kind, ms: first.ms }, { kind: "retry", ms: 1750 });

    const published = await server.publish("quiet.headers", { data: "first" });
    const e = await src.events.next();
    assert.deepEqual({ type: e.type, data: e.data, lastEventId: e.lastEventId },
      { type: "message", data: "first", lastEventId: published.id });
    let r;
    do {
      r = await raw.records.next();
    } while (r.kind === "comment");
    assert.deepEqual({ kind: r.kind, id: r.id, data: r.data }, { kind: "event", id: published.id, data: "first" });
  });

  test("sends heartbeat comments on an idle stream, which EventSource ignores", { timeout: 20_000 }, async (t) => {
    const url = `${server.httpUrl}/v1/topics/quiet.heartbeat/events`;
    const src = openEventSource(url, { types: ["woke"] });
    t.after(() => src.close());
    await src.opens.next();
    const start = performance.now();
    const raw = await openRawStream(url);
    t.after(() => raw.close());

    assert.equal((await raw.records.next()).kind, "retry");
    const beats = await raw.records.take(3);
    for (const b of beats) {
      assert.equal(b.kind, "comment", `an idle stream sends only comments, got ${JSON.stringify(b)}`);
    }
    // Heartbeats come at the configured interval (1s, the least the server
    // accepts), not in a burst: the third cannot have been sent before 3s
    // (a busy client may read them late, never early).
    const elapsed = beats[2].at - start;
    assert.ok(elapsed >= 2950, `three heartbeats within ${Math.round(elapsed)} ms, want one per second`);

    // Meanwhile the EventSource dispatched nothing and kept its one
    // connection; the stream still delivers.
    assert.deepEqual(src.events.all, []);
    assert.deepEqual(src.errors.all, []);
    assert.equal(src.connections.all.length, 1);
    assert.equal(src.es.readyState, src.es.OPEN);
    const published = await server.publish("quiet.heartbeat", { type: "woke", data: "after the silence" });
    const e = await src.events.next();
    assert.deepEqual([e.type, e.data, e.lastEventId], ["woke", "after the silence", published.id]);
  });

  test("refuses a bad topic with a status that stops EventSource for good", { timeout: 20_000 }, async (t) => {
    const src = openEventSource(`${server.httpUrl}/v1/events?topic=${encodeURIComponent("not a topic!")}`);
    t.after(() => src.close());
    const err = await src.errors.next();
    assert.equal(err.code, 400);
    assert.equal(err.readyState, src.es.CLOSED, "EventSource gives up on a 4xx");
    const body = await src.connections.all[0].response.json();
    // The one error shape of the API, as REST errors: a google.rpc.Status.
    assert.equal(body.code, 3);
    const info = body.details.find((d) => d["@type"] === "type.googleapis.com/google.rpc.ErrorInfo");
    assert.deepEqual([info?.reason, info?.domain], ["INVALID_TOPIC", "ssebridge"], JSON.stringify(body));
    const bad = body.details.find((d) => d["@type"] === "type.googleapis.com/google.rpc.BadRequest");
    assert.equal(bad?.field_violations[0].field, "topic", JSON.stringify(body));
    assert.equal(src.connections.all.length, 1);
  });
});

describe("event frames", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server?.stop());

  // Each payload and what EventSource must hand to the page: every kind of
  // line break arrives as LF, UTF-8 arrives intact, only the one space after
  // the colon of a data line is dropped.
  const cases = [
    { name: "JSON with a type", type: "order.created", data: '{"id":42,"total":"9.99"}' },
    { name: "default type", type: "", data: "plain" },
    { name: "LF lines", type: "lines", data: "one\ntwo\nthree" },
    { name: "CRLF lines", type: "lines", data: "one\r\ntwo\r\nthree", want: "one\ntwo\nthree" },
    { name: "CR lines", type: "lines", data: "one\rtwo\rthree", want: "one\ntwo\nthree" },
    { name: "blank lines inside and at the end", type: "lines", data: "a\n\nb\n" },
    { name: "leading spaces and colons", type: "spaces", data: "  two spaces\n: not a comment\ndata: not a field" },
    { name: "emoji, CJK and combining marks", type: "utf8", data: "👋🏽 héllo wörld 漢字かなカナ 한국어 e\u0301 ﷺ 🏳️‍🌈" },
    { name: "empty data", type: "empty", data: "" },
    { name: "a 64 KiB line", type: "big", data: "x".repeat(64 * 1024) },
  ];

  test("arrive with their id, type and data, in order, on one topic", { timeout: 30_000 }, async (t) => {
    const types = [...new Set(cases.map((c) => c.type).filter(Boolean))];
    const src = openEventSource(`${server.httpUrl}/v1/topics/frames.one/events`, { types });
    t.after(() => src.close());
    await src.opens.next();

    const published = [];
    for (const c of cases) {
      published.push(await server.publish("frames.one", { type: c.type, data: c.data }));
    }
    const got = await src.events.take(cases.length);
    cases.forEach((c, i) => {
      assert.deepEqual(
        { type: got[i].type, data: got[i].data, lastEventId: got[i].lastEventId },
        { type: c.type || "message", data: c.want ?? c.data, lastEventId: published[i].id },
        c.name,
      );
    });
    for (const p of published) {
      assert.match(p.id, /^[A-Za-z0-9_-]{1,26}$/, "ids are short and URL-safe");
    }
    assert.equal(src.connections.all.length, 1);
  });

  test("of several topics arrive on one stream in publish order", { timeout: 20_000 }, async (t) => {
    const src = openEventSource(`${server.httpUrl}/v1/events?topic=frames.a&topic=frames.b&topic=frames.c`, { types: ["tick"] });
    t.after(() => src.close());
    await src.opens.next();

    const want = [];
    for (let i = 0; i < 30; i++) {
      const topic = ["frames.a", "frames.b", "frames.c"][i % 3];
      const p = await server.publish(topic, { type: "tick", data: `${topic} ${i}` });
      want.push({ lastEventId: p.id, data: `${topic} ${i}` });
      if (i % 10 === 0) await server.publish("frames.other", { type: "tick", data: "not subscribed" });
    }
    const got = await src.events.take(want.length);
    assert.deepEqual(got.map((e) => ({ lastEventId: e.lastEventId, data: e.data })), want);
    assert.deepEqual(src.events.pending, []);
  });
});

describe("resuming", () => {
  let server;
  before(async () => {
    server = await startServer([
      "--max-stream-age", "1s", "--max-stream-age-jitter", "100ms", "--retry", "150ms",
    ]);
  });
  after(() => server?.stop());

  test("after the server ends the stream mid-burst: every event once, in order, and the retry delay honoured",
    { timeout: 60_000 }, async (t) => {
      const topics = ["resume.a", "resume.b"];
      const src = openEventSource(`${server.httpUrl}/v1/events?topic=resume.a&topic=resume.b`, { types: ["n"] });
      t.after(() => src.close());
      await src.opens.next();

      // Publish without waiting for delivery until the server has ended the
      // stream at least three times (max-stream-age), so that each end
      // falls inside the burst.
      const want = [];
      for (let i = 0; src.connections.all.length < 4; i++) {
        assert.ok(i < 200_000, `only ${src.connections.all.length} connections after ${i} events`);
        const p = await server.publish(topics[i % 2], { type: "n", data: String(i) });
        want.push({ lastEventId: p.id, data: String(i) });
      }
      const last = await server.publish("resume.b", { type: "n", data: "last" });
      want.push({ lastEventId: last.id, data: "last" });

      const got = [];
      while (got.length === 0 || got.at(-1).data !== "last") {
        got.push(await src.events.next(20_000));
      }
      assert.equal(got.length, want.length, "events received, duplicates or losses included");
      assert.deepEqual(got.map((e) => ({ lastEventId: e.lastEventId, data: e.data })), want);

      // Each reconnection sent the id of the last event received before it,
      // after about the server's retry delay (150ms) rather than
      // EventSource's own default (3s).
      const attempts = src.connections.all;
      const errors = src.errors.all;
      assert.ok(errors.length >= attempts.length - 1);
      for (let i = 1; i < attempts.length; i++) {
        const before = got.filter((e) => e.at < attempts[i].at).at(-1);
        assert.equal(attempts[i].lastEventId, before.lastEventId, `Last-Event-ID of reconnection ${i}`);
        const delay = attempts[i].at - errors[i - 1].at;
        assert.ok(delay >= 100 && delay < 2000, `reconnection ${i} after ${Math.round(delay)} ms, want about 150`);
        assert.equal(attempts[i].response.status, 200);
      }
      for (const e of errors) {
        assert.equal(e.readyState, src.es.CONNECTING, "a stream ended by the server is retried");
      }
    });
});

describe("gap notices", () => {
  let server;
  before(async () => {
    server = await startServer(["--history-size", "3", "--retry", "100ms"]);
  });
  after(() => server?.stop());

  test("cursor_too_old: the notice, then what is retained", { timeout: 20_000 }, async (t) => {
    const ids = [];
    for (let i = 1; i <= 6; i++) {
      ids.push((await server.publish("gap.old", { data: `e${i}` })).id);
    }
    const src = openEventSource(`${server.httpUrl}/v1/events?topic=gap.old&last_event_id=${ids[0]}`, { types: [gapType] });
    t.after(() => src.close());

    const [gap, ...rest] = await src.events.take(4);
    assert.equal(gap.type, gapType);
    assert.deepEqual(JSON.parse(gap.data), { reason: "cursor_too_old", topics: ["gap.old"], last_event_id: ids[0] });
    assert.ok(gap.lastEventId, "the notice has an id to resume from");
    assert.deepEqual(rest.map((e) => [e.lastEventId, e.data]), [[ids[3], "e4"], [ids[4], "e5"], [ids[5], "e6"]]);
  });

  test("cursor_malformed: the stream is not refused", { timeout: 20_000 }, async (t) => {
    await server.publish("gap.bad", { data: "kept" });
    const src = openEventSource(`${server.httpUrl}/v1/topics/gap.bad/events?last_event_id=not-a-cursor`, { types: [gapType] });
    t.after(() => src.close());
    const [gap, kept] = await src.events.take(2);
    assert.equal(src.connections.all[0].response.status, 200);
    assert.equal(gap.type, gapType);
    assert.deepEqual(JSON.parse(gap.data), { reason: "cursor_malformed", topics: ["gap.bad"], last_event_id: "not-a-cursor" });
    assert.equal(kept.data, "kept");
  });

  test("the notice's own id resumes before what is retained, without a second notice", { timeout: 20_000 }, async (t) => {
    const one = await server.publish("gap.again", { data: "one" });
    const first = openEventSource(`${server.httpUrl}/v1/topics/gap.again/events?last_event_id=garbage`, { types: [gapType] });
    t.after(() => first.close());
    const gap = await first.events.next();
    assert.equal(gap.type, gapType);
    first.close();

    // A client that got the notice but nothing after it resumes from the
    // notice's id and gets the retained events, then live ones.
    const again = openEventSource(`${server.httpUrl}/v1/topics/gap.again/events?last_event_id=${gap.lastEventId}`, { types: [gapType] });
    t.after(() => again.close());
    const replayed = await again.events.next();
    assert.deepEqual([replayed.type, replayed.data, replayed.lastEventId], ["message", "one", one.id]);
    const two = await server.publish("gap.again", { data: "two" });
    const live = await again.events.next();
    assert.deepEqual([live.type, live.data, live.lastEventId], ["message", "two", two.id]);
  });
});

describe("a server restart", () => {
  test("EventSource reconnects by itself and gets a cursor_unknown notice from the new instance", { timeout: 60_000 }, async (t) => {
    const flags = ["--retry", "100ms"];
    const first = await startServer(flags);
    t.after(() => first.stop());
    const src = openEventSource(`${first.httpUrl}/v1/events?topic=restart.a&topic=restart.b`, { types: [gapType] });
    t.after(() => src.close());
    await src.opens.next();
    const before = await first.publish("restart.a", { data: "before" });
    assert.equal((await src.events.next()).lastEventId, before.id);

    await first.stop(); // SIGTERM: the stream ends normally, exit status 0
    const ended = await src.errors.next();
    assert.equal(ended.readyState, src.es.CONNECTING, "the end of the stream is retried");

    const second = await startServer(flags, { httpAddr: first.httpAddr });
    t.after(() => second.stop());
    const gap = await src.events.next(20_000);
    assert.equal(gap.type, gapType);
    assert.deepEqual(JSON.parse(gap.data), { reason: "cursor_unknown", topics: ["restart.a", "restart.b"], last_event_id: before.id });
    const resumed = src.connections.all.filter((c) => c.response?.status === 200).at(-1);
    assert.equal(resumed.lastEventId, before.id, "the reconnection sent the last id seen");

    const after = await second.publish("restart.b", { data: "after" });
    const e = await src.events.next();
    assert.deepEqual([e.data, e.lastEventId], ["after", after.id]);
  });
});
