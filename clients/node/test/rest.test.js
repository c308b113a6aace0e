// Copyright 2026 The ssebridge Authors
// SPDX-License-Identifier: Apache-2.0

// The REST mapping as the OpenAPI document in gen/openapi describes it:
// each documented operation is called on the real ssebridge process, and
// the JSON it answers, errors included, is checked against the documented
// schema. A client generated from the document reads what the server
// writes.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";

import { startServer } from "../server.js";

const doc = JSON.parse(readFileSync(new URL("../../../gen/openapi/ssebridge.swagger.json", import.meta.url), "utf8"));

function resolve(schema) {
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace(/^#\/definitions\//, "");
  assert.ok(doc.definitions[name], `unresolvable reference ${schema.$ref}`);
  return doc.definitions[name];
}

/**
 * mismatches lists where value departs from schema (Swagger 2.0, the subset
 * protoc-gen-openapiv2 writes). Objects must carry every documented
 * property, as the gateway writes zero values too, and nothing else unless
 * the schema allows additional properties.
 */
function mismatches(value, schema, at = "$") {
  schema = resolve(schema);
  const type = schema.type ?? (schema.properties ? "object" : undefined);
  switch (type) {
    case "object": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) return [`${at}: ${JSON.stringify(value)} is not an object`];
      const props = schema.properties ?? {};
      const out = [];
      for (const key of Object.keys(value)) {
        if (props[key]) {
          out.push(...mismatches(value[key], props[key], `${at}.${key}`));
        } else if (!schema.additionalProperties && !key.startsWith("@")) {
          out.push(`${at}.${key}: not in the document (documented: ${Object.keys(props).join(", ")})`);
        }
      }
      for (const key of Object.keys(props)) {
        if (!(key in value) && !key.startsWith("@")) out.push(`${at}.${key}: documented but missing`);
      }
      return out;
    }
    case "array":
      if (!Array.isArray(value)) return [`${at}: ${JSON.stringify(value)} is not an array`];
      return value.flatMap((v, i) => mismatches(v, schema.items, `${at}[${i}]`));
    case "string":
      if (typeof value !== "string") return [`${at}: ${JSON.stringify(value)} is not a string`];
      if (schema.format === "uint64" && !/^\d+$/.test(value)) return [`${at}: ${value} is not a uint64`];
      if (schema.format === "date-time" && Number.isNaN(Date.parse(value))) return [`${at}: ${value} is not a date-time`];
      return [];
    case "boolean":
      return typeof value === "boolean" ? [] : [`${at}: ${JSON.stringify(value)} is not a boolean`];
    case "integer":
      return Number.isInteger(value) ? [] : [`${at}: ${JSON.stringify(value)} is not an integer`];
    default:
      return [`${at}: schema ${JSON.stringify(schema)} is not understood by this test`];
  }
}

/**
 * call sends the documented operation (method, path template) with the
 * given path parameters, query and body, and checks the answer against the
 * documented response of its status: "200", or "default" for errors.
 */
async function call(server, method, template, { params = {}, query = "", body, status = 200 } = {}) {
  const op = doc.paths[template]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${template} is not in the OpenAPI document`);
  const path = template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(params[name]));
  const res = await fetch(`${server.httpUrl}${path}${query}`, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  assert.equal(res.status, status, `${method} ${path}${query}: ${text}`);
  assert.match(res.headers.get("content-type"), /^application\/json/);
  const json = JSON.parse(text);
  const documented = op.responses[status === 200 ? "200" : "default"];
  assert.deepEqual(mismatches(json, documented.schema), [], `${method} ${path}${query} answered ${text}`);
  return json;
}

describe("the REST mapping, as documented in gen/openapi", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server?.stop());

  test("every documented operation is one this test calls", () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    assert.deepEqual(documented.sort(), ["GET /v1/topics", "GET /v1/topics/{topic}", "POST /v1/topics/{topic}/events"]);
  });

  test("POST /v1/topics/{topic}/events publishes", { timeout: 20_000 }, async () => {
    const first = await call(server, "POST", "/v1/topics/{topic}/events", {
      params: { topic: "rest.orders" },
      body: { type: "created", data: '{"id":42}', idempotency_key: "order-42" },
    });
    assert.equal(first.sequence, "1");
    assert.equal(first.duplicate, false);
    const again = await call(server, "POST", "/v1/topics/{topic}/events", {
      params: { topic: "rest.orders" },
      body: { type: "created", data: '{"id":42}', idempotency_key: "order-42" },
    });
    assert.deepEqual([again.id, again.duplicate], [first.id, true]);
  });

  test("GET /v1/topics lists topics and GET /v1/topics/{topic} describes one", { timeout: 20_000 }, async () => {
    const p = await call(server, "POST", "/v1/topics/{topic}/events", { params: { topic: "rest.list.a" }, body: { data: "x" } });
    const list = await call(server, "GET", "/v1/topics", { query: "?prefix=rest.list." });
    assert.deepEqual(list.topics.map((x) => x.name), ["rest.list.a"]);
    const one = await call(server, "GET", "/v1/topics/{topic}", { params: { topic: "rest.list.a" } });
    assert.deepEqual(one.topic, { name: "rest.list.a", retained_events: "1", last_sequence: "1", subscribers: "0", last_event_id: p.id });
  });

  test("errors are the documented google.rpc.Status", { timeout: 20_000 }, async () => {
    const bad = await call(server, "POST", "/v1/topics/{topic}/events", { params: { topic: "a..b" }, body: { data: "x" }, status: 400 });
    assert.equal(bad.code, 3);
    assert.ok(bad.details.some((d) => d["@type"] === "type.googleapis.com/google.rpc.BadRequest"), JSON.stringify(bad));
    assert.ok(bad.details.some((d) => d["@type"] === "type.googleapis.com/google.rpc.ErrorInfo" && d.reason === "INVALID_TOPIC" && d.domain === "ssebridge"), JSON.stringify(bad));
    const missing = await call(server, "GET", "/v1/topics/{topic}", { params: { topic: "rest.never" }, status: 404 });
    assert.equal(missing.code, 5);
  });
});
