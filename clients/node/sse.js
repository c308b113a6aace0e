// Copyright 2026 The ssebridge Authors
// SPDX-License-Identifier: Apache-2.0

// Two SSE clients that ssebridge did not write, instrumented for tests:
// the npm eventsource package (a WHATWG-compliant EventSource) and, for
// what EventSource hides (comments, the retry field), fetch with the
// eventsource-parser package that EventSource itself is built on.

import { EventSource } from "eventsource";
import { createParser } from "eventsource-parser";

import { Inbox } from "./inbox.js";

/**
 * openEventSource opens an EventSource on url and records what a page
 * would see: each connection attempt (with the Last-Event-ID it sent and
 * the response), each dispatched event of type "message" or one of types,
 * and each open and error event. Call close() when done.
 */
export function openEventSource(url, { types = [] } = {}) {
  const connections = new Inbox(`connection attempts to ${url}`);
  const events = new Inbox(`events from ${url}`);
  const opens = new Inbox(`open events of ${url}`);
  const errors = new Inbox(`error events of ${url}`);

  const es = new EventSource(url, {
    // The fetch that EventSource uses, recorded: what it sends on each
    // (re)connection and what it gets back.
    fetch: async (input, init) => {
      const attempt = {
        lastEventId: init.headers?.["Last-Event-ID"] ?? null,
        at: performance.now(),
        response: null,
        failure: null,
      };
      connections.push(attempt);
      try {
        attempt.response = await fetch(input, init);
      } catch (err) {
        attempt.failure = err;
        throw err;
      }
      return attempt.response;
    },
  });
  const record = (e) => events.push({ type: e.type, data: e.data, lastEventId: e.lastEventId, at: performance.now() });
  for (const type of ["message", ...types]) {
    es.addEventListener(type, record);
  }
  es.addEventListener("open", () => opens.push({ at: performance.now() }));
  es.addEventListener("error", (e) => errors.push({ code: e.code, message: e.message, readyState: es.readyState, at: performance.now() }));

  return { es, connections, events, opens, errors, close: () => es.close() };
}

/**
 * openRawStream GETs url with fetch and parses the body with
 * eventsource-parser, recording every field EventSource would act on or
 * drop: events, retry values and comments, in stream order, as
 * {kind: "event" | "retry" | "comment", ...}. It resolves once the
 * response headers have arrived. Call close() when done.
 */
export async function openRawStream(url, { headers = {} } = {}) {
  const records = new Inbox(`records of ${url}`);
  const abort = new AbortController();
  const response = await fetch(url, {
    headers: { Accept: "text/event-stream", ...headers },
    signal: abort.signal,
  });
  const parser = createParser({
    onEvent: (e) => records.push({ kind: "event", id: e.id, event: e.event, data: e.data, at: performance.now() }),
    onRetry: (ms) => records.push({ kind: "retry", ms, at: performance.now() }),
    onComment: (text) => records.push({ kind: "comment", text, at: performance.now() }),
    onError: (err) => records.push({ kind: "error", err, at: performance.now() }),
  });
  const ended = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body) {
        parser.feed(decoder.decode(chunk, { stream: true }));
      }
      records.push({ kind: "end", at: performance.now() });
    } catch (err) {
      if (!abort.signal.aborted) records.push({ kind: "end", err, at: performance.now() });
    }
  })();
  return {
    response,
    records,
    async close() {
      abort.abort();
      await ended;
    },
  };
}
