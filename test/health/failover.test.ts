import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createHealthBook, type HealthBook } from "../../edge/health/book.ts";
import { withRetries } from "../../edge/upstream/retry.ts";
import { startLocalUpstash } from "../../edge/store/local-upstash.ts";
import { connectRedis } from "../../edge/store/redis.ts";

/*
 * The pieces of FR-L2-006 composed the way the chat route is meant to use them (order by health,
 * retry transient failures on one model, record every attempt, fall back), against real HTTP
 * upstreams, one of which is killed and restarted mid-run.
 */

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const OPEN_MS = 30_000;

class UpstreamDown extends Error {}

function upstream(name: string): Server {
  return createServer((_req, res) => res.end(JSON.stringify({ model: name })));
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

async function kill(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** One gateway request: the models it tried, in order, and the one that answered. */
async function request(book: HealthBook, urls: Map<string, string>, chain: string[], order?: string[]): Promise<{ tried: string[]; answeredBy: string }> {
  const tried: string[] = [];
  for (const model of order ?? (await book.order(chain))) {
    try {
      const answer = await withRetries(
        async () => {
          tried.push(model);
          const started = performance.now();
          try {
            const response = await fetch(urls.get(model)!, { signal: AbortSignal.timeout(1_000) });
            const body = (await response.json()) as { model: string };
            await book.record(model, { ok: true, latencyMs: performance.now() - started });
            return body.model;
          } catch (error) {
            await book.record(model, { ok: false, latencyMs: performance.now() - started });
            throw new UpstreamDown((error as Error).message);
          }
        },
        { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 5, isRetryable: (error) => error instanceof UpstreamDown },
      );
      return { tried, answeredBy: answer };
    } catch {
      continue;
    }
  }
  throw new Error(`no model answered (tried ${tried.join(", ")})`);
}

describe("fallback when the primary dies mid-run, and back when it recovers", () => {
  let upstash: Awaited<ReturnType<typeof startLocalUpstash>>;
  let redis: NonNullable<ReturnType<typeof connectRedis>>;
  const prefix = `godotz:test:failover:${crypto.randomUUID()}`;
  const primary = upstream("primary");
  const fallback = upstream("fallback");
  const urls = new Map<string, string>();

  before(async () => {
    upstash = await startLocalUpstash({ redisUrl: REDIS_URL });
    redis = connectRedis({ UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token })!;
    urls.set("primary", `http://127.0.0.1:${await listen(primary)}/`);
    urls.set("fallback", `http://127.0.0.1:${await listen(fallback)}/`);
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await upstash.close();
    if (primary.listening) await kill(primary);
    await kill(fallback);
  });

  test("requests continue on the fallback once the primary dies, and return to it when it recovers", async () => {
    let now = 1_700_000_000_000;
    // Two gateway processes sharing health through Redis take turns with the requests.
    const books = [createHealthBook(redis, { prefix, now: () => now, openMs: OPEN_MS }), createHealthBook(redis, { prefix, now: () => now, openMs: OPEN_MS })];
    const chain = ["primary", "fallback"];
    const run = (i: number) => request(books[i % 2]!, urls, chain);

    for (let i = 0; i < 3; i++) assert.deepEqual(await run(i), { tried: ["primary"], answeredBy: "primary" });

    const port = Number(new URL(urls.get("primary")!).port);
    await kill(primary);
    const during = [];
    for (let i = 0; i < 8; i++) during.push(await run(i));
    assert.ok(during.every((r) => r.answeredBy === "fallback"), JSON.stringify(during));
    // The first request spends three attempts on the primary (first try, two retries); that
    // drops its successEma to 0.512, clearly below the fallback's, so later requests go to the
    // fallback first and do not pay for the dead primary at all.
    assert.deepEqual(during[0]!.tried, ["primary", "primary", "primary", "fallback"]);
    for (const r of during.slice(1)) assert.deepEqual(r.tried, ["fallback"]);

    await listen(primary, port);
    // With no new evidence the primary's failures age (half-life 60 s): at 60 s it is still
    // 0.756, more than 0.2 behind; at 80 s it is 0.806 and takes its place back.
    now += 60_000;
    assert.deepEqual(await run(0), { tried: ["fallback"], answeredBy: "fallback" });
    now += 20_000;
    for (let i = 0; i < 3; i++) assert.deepEqual(await run(i), { tried: ["primary"], answeredBy: "primary" });
  });

  test("when concurrent requests open the circuit, it is skipped, probed after the cooldown and closed", async () => {
    let now = 1_800_000_000_000;
    const book = createHealthBook(redis, { prefix: `${prefix}:circuit`, now: () => now, openMs: OPEN_MS });
    const chain = ["primary", "fallback"];
    const port = Number(new URL(urls.get("primary")!).port);
    await kill(primary);
    // Two requests in flight at once, both routed before either failed, both start on the
    // primary: six failed attempts in a row.
    const orders = await Promise.all([book.order(chain), book.order(chain)]);
    const burst = await Promise.all(orders.map((order) => request(book, urls, chain, order)));
    for (const r of burst) assert.deepEqual(r, { tried: ["primary", "primary", "primary", "fallback"], answeredBy: "fallback" });
    assert.equal((await book.snapshot(["primary"])).get("primary")!.circuit, "open");
    // Even a dead fallback would not bring the primary back before its cooldown: it is left out.
    assert.deepEqual(await book.order(chain), ["fallback"]);

    await listen(primary, port);
    now += OPEN_MS - 1;
    assert.deepEqual(await request(book, urls, chain), { tried: ["fallback"], answeredBy: "fallback" }, "still cooling down");
    now += 1;
    assert.deepEqual(await request(book, urls, chain), { tried: ["primary"], answeredBy: "primary" }, "the probe finds it back");
    assert.equal((await book.snapshot(["primary"])).get("primary")!.circuit, "closed");
    for (let i = 0; i < 3; i++) assert.deepEqual(await request(book, urls, chain), { tried: ["primary"], answeredBy: "primary" });
  });
});
