// The open-loop load generator of bench/gateway: what it sends, on how many connections, and that
// time spent waiting for a free connection is part of the latency (no coordinated omission).
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { openLoop } from "../../bench/gateway/open-loop.ts";

/** A server that answers each request after `holdMs` with the status `statusFor` gives its number. */
async function server(holdMs: number, statusFor: (n: number) => number = () => 200) {
  const bodies: string[] = [];
  let connections = 0;
  const s = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      const status = statusFor(bodies.length);
      bodies.push(body);
      setTimeout(() => res.writeHead(status, { "content-type": "application/json" }).end("{}"), holdMs);
    });
  });
  s.on("connection", () => connections++);
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/`;
  return { url, bodies, connections: () => connections, close: () => new Promise<void>((resolve) => s.close(() => resolve())) };
}

test("sends every request with its body, on no more connections than allowed", async () => {
  const s = await server(0);
  try {
    let n = 0;
    const result = await openLoop({ url: s.url, headers: { "content-type": "application/json" }, body: () => JSON.stringify({ n: n++ }), rate: 1000, requests: 30, connections: 3 });
    assert.equal(result.latencies.length, 30);
    assert.equal(result.non2xx, 0);
    assert.equal(result.errors, 0);
    assert.ok(result.connectionsOpened >= 1 && result.connectionsOpened <= 3, `opened ${result.connectionsOpened}`);
    assert.equal(s.connections(), result.connectionsOpened);
    assert.deepEqual(s.bodies.map((b) => (JSON.parse(b) as { n: number }).n).sort((a, b) => a - b), [...Array(30).keys()]);
    assert.ok(result.latencies.every((l) => l >= 0));
  } finally {
    await s.close();
  }
});

test("a request that waits for a busy connection is timed from its scheduled send", async () => {
  // One connection, answers held 30 ms, a request scheduled every 1 ms: request k cannot finish
  // before (k + 1) × 30 ms after the first send, yet was scheduled k ms after it.
  const s = await server(30);
  try {
    const result = await openLoop({ url: s.url, headers: {}, body: () => "{}", rate: 1000, requests: 4, connections: 1 });
    assert.equal(result.latencies.length, 4);
    assert.equal(result.connectionsOpened, 1);
    const slowest = Math.max(...result.latencies);
    // 4 × 30 − 3 = 117 ms at least; a little under for timer rounding on the server.
    assert.ok(slowest >= 110, `slowest latency ${slowest.toFixed(1)} ms should include the wait for the connection`);
  } finally {
    await s.close();
  }
});

test("counts non-2xx answers apart and leaves warm-up requests unmeasured", async () => {
  const s = await server(0, (n) => (n % 2 === 1 ? 503 : 200));
  try {
    const result = await openLoop({ url: s.url, headers: {}, body: () => "{}", rate: 1000, requests: 6, warmup: 4, connections: 2 });
    assert.equal(s.bodies.length, 10);
    assert.equal(result.latencies.length + result.non2xx, 6);
    assert.equal(result.non2xx, 3);
    assert.equal(result.errors, 0);
  } finally {
    await s.close();
  }
});

test("a refused connection is an error, not a latency", async () => {
  const s = await server(0);
  await s.close();
  const result = await openLoop({ url: s.url, headers: {}, body: () => "{}", rate: 1000, requests: 3, connections: 1, timeoutMs: 2_000 });
  assert.equal(result.latencies.length, 0);
  assert.equal(result.errors, 3);
});
