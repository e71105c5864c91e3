import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import postgres from "postgres";
import { runTemporalWorker } from "../../workers/temporal/worker.ts";
import { connectSwarmClient } from "../../workers/temporal/client.ts";
import type { TemporalConfig } from "../../workers/temporal/config.ts";

// No Temporal server runs here; what can be checked is that a worker or client pointed at an
// address where none listens fails at once with the transport's error instead of hanging.

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("no cluster at TEMPORAL_ADDRESS", () => {
  test("the worker does not start, and says why", async () => {
    const config: TemporalConfig = { address: `127.0.0.1:${await closedPort()}`, namespace: "default", taskQueue: "godotz-swarms" };
    // Never queried: the connection fails first.
    const sql = postgres("postgres://nobody@127.0.0.1:1/none", { max: 1 });
    try {
      await assert.rejects(
        runTemporalWorker({ config, sql, gateway: { url: "http://127.0.0.1:1", key: "k" }, name: "test", signal: new AbortController().signal }),
        /connect|refused|transport/i,
      );
    } finally {
      await sql.end();
    }
  });

  test("the client does not connect, and says why", async () => {
    const config: TemporalConfig = { address: `127.0.0.1:${await closedPort()}`, namespace: "default", taskQueue: "godotz-swarms" };
    await assert.rejects(connectSwarmClient(config, { connectTimeoutMs: 1000 }), /connect|refused|unavailable|transport/i);
  });
});
