// Copyright 2026 The ssebridge Authors
// SPDX-License-Identifier: Apache-2.0

// The ssebridge process under test: the real binary, started on free
// loopback ports and stopped with SIGTERM.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { within } from "./inbox.js";

/**
 * binary is the ssebridge executable under test: $SSEBRIDGE_BIN, or
 * bin/ssebridge at the root of the repository (`make build`).
 */
export const binary = process.env.SSEBRIDGE_BIN ||
  fileURLToPath(new URL("../../bin/ssebridge", import.meta.url));

const startTimeout = 15_000;
const stopTimeout = 20_000;

/**
 * startServer runs `ssebridge serve` with flags added to its defaults and
 * resolves once the process has logged the addresses it listens on. The
 * HTTP listener is on httpAddr (a free loopback port by default, or a given
 * one to restart a server in place); gRPC always on a free loopback port.
 * The caller must call stop().
 */
export async function startServer(flags = [], { httpAddr = "127.0.0.1:0" } = {}) {
  if (!existsSync(binary)) {
    throw new Error(`ssebridge binary not found at ${binary}: run make build, or set SSEBRIDGE_BIN`);
  }
  const args = ["serve", "--dev", "--http-addr", httpAddr, "--grpc-addr", "127.0.0.1:0", "--log-format", "text", ...flags];
  const child = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
  const kill = () => child.kill("SIGKILL");
  process.on("exit", kill); // a crashed test must not leave the server behind

  const logs = [];
  const exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      process.off("exit", kill);
      resolve({ code, signal });
    });
  });
  const spawnFailed = new Promise((_, reject) => child.on("error", reject));
  const announced = new Promise((resolve) => {
    createInterface({ input: child.stderr }).on("line", (line) => {
      logs.push(line);
      if (!line.includes('msg="ssebridge serving"')) return;
      const http = / http=(\S+)/.exec(line)?.[1];
      const grpc = / grpc=(\S+)/.exec(line)?.[1];
      if (http && grpc) resolve({ http, grpc });
    });
  });
  const exitedEarly = exited.then(({ code, signal }) => {
    throw new Error(`ssebridge exited before serving (code ${code}, signal ${signal}):\n${logs.join("\n")}`);
  });

  let addrs;
  try {
    addrs = await within(Promise.race([announced, exitedEarly, spawnFailed]), startTimeout,
      `ssebridge ${args.join(" ")} to announce its listeners`);
  } catch (err) {
    kill();
    throw err;
  }
  exitedEarly.catch(() => {}); // from here on, an exit is stop()'s business

  let stopping;
  return {
    /** httpAddr is the HTTP listener's host:port. */
    httpAddr: addrs.http,
    /** httpUrl is the base URL of SSE and REST, without a trailing slash. */
    httpUrl: `http://${addrs.http}`,
    /** grpcUrl is the base URL of the gRPC listener, for HTTP/2 cleartext. */
    grpcUrl: `http://${addrs.grpc}`,
    /** logs holds the lines the process has logged so far. */
    logs,

    /**
     * stop sends SIGTERM and resolves once the process has exited with
     * status 0; it rejects with the logs otherwise. Calling it again
     * returns the same promise.
     */
    stop() {
      stopping ??= (async () => {
        child.kill("SIGTERM");
        let status;
        try {
          status = await within(exited, stopTimeout, "ssebridge to exit after SIGTERM");
        } catch (err) {
          kill();
          throw new Error(`${err.message}\n${logs.join("\n")}`);
        }
        if (status.code !== 0) {
          throw new Error(`ssebridge exited with code ${status.code}, signal ${status.signal}, want 0:\n${logs.join("\n")}`);
        }
      })();
      return stopping;
    },

    /**
     * publish publishes one event through the REST mapping
     * (POST /v1/topics/{topic}/events) and resolves with the JSON answer:
     * {id, sequence, time, duplicate}.
     */
    async publish(topic, { type = "", data = "", idempotencyKey = "" } = {}) {
      const res = await fetch(`http://${addrs.http}/v1/topics/${encodeURIComponent(topic)}/events`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ type, data, idempotency_key: idempotencyKey }),
      });
      const body = await res.text();
      if (res.status !== 200) {
        throw new Error(`publish to ${topic}: HTTP ${res.status}: ${body}`);
      }
      return JSON.parse(body);
    },
  };
}
