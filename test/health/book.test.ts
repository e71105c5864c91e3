import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { createHealthBook, HealthStoreUnavailableError, type HealthBook, type HealthBookOptions } from "../../edge/health/book.ts";
import { startLocalUpstash } from "../../edge/store/local-upstash.ts";
import { connectRedis, type SharedRedis } from "../../edge/store/redis.ts";
import { NativeRedis } from "../../edge/store/native-redis.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const OPEN_MS = 30_000;
const HALF_LIFE = 60_000;

const near = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${actual}`);

/** A clock the test moves by hand, so cooldowns pass without sleeping. */
function clock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

type MakeBook = (options: HealthBookOptions) => HealthBook;

async function fail(book: HealthBook, model: string, times: number) {
  for (let i = 0; i < times; i++) await book.record(model, { ok: false, latencyMs: 5 });
}

/** The same behaviour is required of the Redis store (Lua) and the in-memory one (TypeScript). */
function healthContract(makeBook: () => MakeBook) {
  test("EMA of success and latency: new models start healthy with unknown latency", async () => {
    const c = clock();
    const book = makeBook()({ now: c.now });
    const fresh = (await book.snapshot(["m"])).get("m")!;
    assert.deepEqual(fresh, { successEma: 1, latencyEmaMs: 0, samples: 0, circuit: "closed", consecutiveFailures: 0 });

    await book.record("m", { ok: true, latencyMs: 100 });
    await book.record("m", { ok: false, latencyMs: 9_000 });
    let h = (await book.snapshot(["m"])).get("m")!;
    near(h.successEma, 0.8, "0.2*0 + 0.8*1");
    assert.equal(h.latencyEmaMs, 100, "the first success sets the latency; failures do not move it");
    assert.equal(h.consecutiveFailures, 1);

    await book.record("m", { ok: true, latencyMs: 200 });
    h = (await book.snapshot(["m"])).get("m")!;
    near(h.successEma, 0.84, "0.2*1 + 0.8*0.8");
    near(h.latencyEmaMs, 120, "0.2*200 + 0.8*100");
    assert.equal(h.samples, 3);
    assert.equal(h.consecutiveFailures, 0);
    assert.equal(h.circuit, "closed");
  });

  test("alpha is configurable", async () => {
    const book = makeBook()({ now: clock().now, alpha: 0.5 });
    await fail(book, "m", 2);
    near((await book.snapshot(["m"])).get("m")!.successEma, 0.25, "two failures at alpha 0.5");
  });

  test("an idle model's EMA ages back toward 1 (half the distance per half-life)", async () => {
    const c = clock();
    const book = makeBook()({ now: c.now });
    await fail(book, "m", 2);
    near((await book.snapshot(["m"])).get("m")!.successEma, 0.64, "two failures");
    c.advance(HALF_LIFE);
    near((await book.snapshot(["m"])).get("m")!.successEma, 0.82, "one half-life later");
    // The next sample starts from the aged value, not the stored one.
    await book.record("m", { ok: true, latencyMs: 10 });
    near((await book.snapshot(["m"])).get("m")!.successEma, 0.2 + 0.8 * 0.82, "sample after ageing");
  });

  test("the circuit opens after N consecutive failures, not before", async () => {
    const c = clock();
    const book = makeBook()({ now: c.now, failureThreshold: 5 });
    await fail(book, "m", 4);
    assert.equal((await book.snapshot(["m"])).get("m")!.circuit, "closed");
    c.advance(10);
    await fail(book, "m", 1);
    const h = (await book.snapshot(["m"])).get("m")!;
    assert.equal(h.circuit, "open");
    assert.equal(h.openedAt, c.now());
    assert.equal(h.consecutiveFailures, 5);
  });

  test("the circuit also opens when successEma falls below the threshold with enough samples", async () => {
    const book = makeBook()({ now: clock().now, openBelow: 0.5, minSamples: 5 });
    await fail(book, "m", 4); // 0.4096, but only 4 samples
    assert.equal((await book.snapshot(["m"])).get("m")!.circuit, "closed");
    await book.record("m", { ok: true, latencyMs: 10 }); // 0.5277, resets the run of failures
    await fail(book, "m", 1); // 0.4221 < 0.5 with 6 samples, one failure in a row
    const h = (await book.snapshot(["m"])).get("m")!;
    assert.equal(h.consecutiveFailures, 1);
    assert.equal(h.circuit, "open");
  });

  test("after openMs the circuit is half-open; a success there closes it and clears the slate", async () => {
    const c = clock();
    const book = makeBook()({ now: c.now, openMs: OPEN_MS });
    await fail(book, "m", 5);
    c.advance(OPEN_MS - 1);
    assert.equal((await book.snapshot(["m"])).get("m")!.circuit, "open");
    // A late success from a call started earlier does not close a cooling circuit.
    await book.record("m", { ok: true, latencyMs: 10 });
    assert.equal((await book.snapshot(["m"])).get("m")!.circuit, "open");
    c.advance(1);
    assert.equal((await book.snapshot(["m"])).get("m")!.circuit, "half_open");
    await book.record("m", { ok: true, latencyMs: 10 });
    const h = (await book.snapshot(["m"])).get("m")!;
    assert.equal(h.circuit, "closed");
    assert.equal(h.successEma, 1);
    assert.equal(h.consecutiveFailures, 0);
    assert.equal(h.openedAt, undefined);
  });

  test("a failure in half-open re-opens the circuit for another openMs", async () => {
    const c = clock();
    const book = makeBook()({ now: c.now, openMs: OPEN_MS });
    await fail(book, "m", 5);
    c.advance(OPEN_MS);
    await fail(book, "m", 1);
    const h = (await book.snapshot(["m"])).get("m")!;
    assert.equal(h.circuit, "open");
    assert.equal(h.openedAt, c.now());
    c.advance(OPEN_MS - 1);
    assert.equal((await book.snapshot(["m"])).get("m")!.circuit, "open");
  });

  test("order keeps the configured order while models are healthy, one failure included", async () => {
    const book = makeBook()({ now: clock().now });
    assert.deepEqual(await book.order(["a", "b", "c"]), ["a", "b", "c"]);
    await fail(book, "a", 1); // 0.8: not clearly worse than 1.0
    assert.deepEqual(await book.order(["a", "b", "c"]), ["a", "b", "c"]);
    assert.deepEqual(await book.order(["c", "a", "b", "a"]), ["c", "a", "b"], "configured order, duplicates once");
  });

  test("order demotes a failing primary below clearly healthier fallbacks", async () => {
    const book = makeBook()({ now: clock().now });
    await fail(book, "a", 2); // 0.64
    assert.deepEqual(await book.order(["a", "b", "c"]), ["b", "c", "a"]);
    await fail(book, "b", 1); // 0.8: within the margin of c, so b keeps its place before c
    assert.deepEqual(await book.order(["a", "b", "c"]), ["b", "c", "a"]);
    await fail(book, "b", 1); // 0.64 like a: now c leads, then a and b in configured order
    assert.deepEqual(await book.order(["a", "b", "c"]), ["c", "a", "b"]);
  });

  test("order leaves out open circuits; if all are open, probes the one whose cooldown ends first", async () => {
    const c = clock();
    const book = makeBook()({ now: c.now, openMs: OPEN_MS });
    await fail(book, "b", 5);
    assert.deepEqual(await book.order(["a", "b", "c"]), ["a", "c"]);
    c.advance(1_000);
    await fail(book, "a", 5);
    c.advance(1_000);
    await fail(book, "c", 5);
    assert.deepEqual(await book.order(["a", "b", "c"]), ["b"]);
    assert.deepEqual(await book.order(["c", "a"]), ["a"]);
  });

  test("traffic returns to the primary when it recovers: one probe at a time, then first again", async () => {
    const c = clock();
    const book = makeBook()({ now: c.now, openMs: OPEN_MS });
    await fail(book, "a", 5);
    assert.deepEqual(await book.order(["a", "b"]), ["b"]);
    c.advance(OPEN_MS);
    assert.deepEqual(await book.order(["a", "b"]), ["a", "b"], "the probe goes where the primary is configured");
    assert.deepEqual(await book.order(["a", "b"]), ["b"], "a concurrent request does not probe too");
    await book.record("a", { ok: true, latencyMs: 50 });
    assert.deepEqual(await book.order(["a", "b"]), ["a", "b"]);
    assert.deepEqual(await book.order(["a", "b"]), ["a", "b"]);
  });

  test("a probe that never reports frees its lease after probeLeaseMs", async () => {
    const c = clock();
    const book = makeBook()({ now: c.now, openMs: OPEN_MS, probeLeaseMs: 5_000 });
    await fail(book, "a", 5);
    c.advance(OPEN_MS);
    assert.deepEqual(await book.order(["a", "b"]), ["a", "b"]);
    c.advance(4_999);
    assert.deepEqual(await book.order(["a", "b"]), ["b"]);
    c.advance(1);
    assert.deepEqual(await book.order(["a", "b"]), ["a", "b"]);
  });

  test("a demoted primary that gets no traffic earns its place back as its failures age", async () => {
    const c = clock();
    const book = makeBook()({ now: c.now });
    await fail(book, "a", 2);
    assert.deepEqual(await book.order(["a", "b"]), ["b", "a"]);
    c.advance(HALF_LIFE); // 0.82
    assert.deepEqual(await book.order(["a", "b"]), ["a", "b"]);
  });
}

describe("health book, in memory (no Redis: one process)", () => {
  healthContract(() => (options) => createHealthBook(undefined, options));

  test("two in-memory books do not share state", async () => {
    const one = createHealthBook(undefined);
    const two = createHealthBook(undefined);
    await fail(one, "m", 5);
    assert.equal((await one.snapshot(["m"])).get("m")!.circuit, "open");
    assert.equal((await two.snapshot(["m"])).get("m")!.circuit, "closed");
  });
});

/** What these tests need of a client beyond the book's own commands: inspecting and cleaning up. */
type TestRedis = SharedRedis & { keys(pattern: string): Promise<string[]>; del(...keys: string[]): Promise<number>; pttl(key: string): Promise<number> };

const clients: Array<{ name: string; open(): Promise<{ redis: TestRedis; close(): Promise<void> }> }> = [
  {
    name: "real Redis through the local Upstash REST server",
    async open() {
      const upstash = await startLocalUpstash({ redisUrl: REDIS_URL });
      return { redis: connectRedis({ UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token })!, close: upstash.close };
    },
  },
  {
    name: "real Redis over a native connection",
    async open() {
      const redis = new NativeRedis(REDIS_URL);
      return { redis, close: () => redis.close() };
    },
  },
];

for (const client of clients) {
  describe(`health book on Redis (${client.name})`, () => {
    let opened: Awaited<ReturnType<typeof client.open>>;
    let redis: TestRedis;
    const runPrefix = `godotz:test:health:${crypto.randomUUID()}`;
    let n = 0;
    const freshPrefix = () => `${runPrefix}:${n++}`;
    before(async () => {
      opened = await client.open();
      redis = opened.redis;
    });
    after(async () => {
      const keys = await redis.keys(`${runPrefix}:*`);
      if (keys.length) await redis.del(...keys);
      await opened.close();
    });

    healthContract(() => {
      const prefix = freshPrefix();
      return (options) => createHealthBook(redis, { prefix, ...options });
    });

    test("two books (two gateway processes) on the same Redis see each other's samples", async () => {
      const prefix = freshPrefix();
      const c = clock();
      const one = createHealthBook(redis, { prefix, now: c.now });
      const two = createHealthBook(redis, { prefix, now: c.now });
      await fail(one, "a", 3);
      await fail(two, "a", 2);
      const seen = (await one.snapshot(["a"])).get("a")!;
      assert.equal(seen.samples, 5);
      assert.equal(seen.circuit, "open", "five failures in a row across the two processes");
      assert.deepEqual(await two.order(["a", "b"]), ["b"]);
      c.advance(OPEN_MS);
      assert.deepEqual(await one.order(["a", "b"]), ["a", "b"], "process one takes the probe");
      assert.deepEqual(await two.order(["a", "b"]), ["b"], "process two sees the probe lease");
      await one.record("a", { ok: true, latencyMs: 10 });
      assert.deepEqual(await two.order(["a", "b"]), ["a", "b"]);
    });

    test("concurrent records from several processes are all counted (atomic updates)", async () => {
      const prefix = freshPrefix();
      const books = [createHealthBook(redis, { prefix }), createHealthBook(redis, { prefix }), createHealthBook(redis, { prefix })];
      await Promise.all(Array.from({ length: 30 }, (_, i) => books[i % 3]!.record("m", { ok: true, latencyMs: 10 })));
      assert.equal((await books[0]!.snapshot(["m"])).get("m")!.samples, 30);
    });

    test("state lives under the prefix, one hash per model, with a TTL", async () => {
      const prefix = freshPrefix();
      await createHealthBook(redis, { prefix, ttlMs: 60_000 }).record("gpt-x", { ok: true, latencyMs: 10 });
      assert.deepEqual(await redis.keys(`${prefix}:*`), [`${prefix}:gpt-x`]);
      const ttl = await redis.pttl(`${prefix}:gpt-x`);
      assert.ok(ttl > 50_000 && ttl <= 60_000, `PTTL ${ttl}`);
      assert.equal((await createHealthBook(redis, { prefix: freshPrefix() }).snapshot(["gpt-x"])).get("gpt-x")!.samples, 0);
    });
  });
}

describe("health store unavailable", () => {
  test("connection dropped → HealthStoreUnavailableError from record, snapshot and order", async () => {
    // A listener that drops every connection, rather than a freed port another process may take.
    const server = createServer();
    server.on("connection", (socket) => socket.destroy());
    const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
    try {
      const redis = connectRedis({ UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${port}`, UPSTASH_REDIS_REST_TOKEN: "t" })!;
      const book = createHealthBook(redis);
      await assert.rejects(book.record("m", { ok: true, latencyMs: 1 }), HealthStoreUnavailableError);
      await assert.rejects(book.snapshot(["m"]), HealthStoreUnavailableError);
      await assert.rejects(book.order(["m", "n"]), HealthStoreUnavailableError);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("native: connection dropped → HealthStoreUnavailableError from record, snapshot and order, at once", async () => {
    const server = createTcpServer((socket) => socket.destroy());
    const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
    const native = new NativeRedis(`redis://127.0.0.1:${port}`);
    try {
      const book = createHealthBook(native, { timeoutMs: 2_000 });
      const started = performance.now();
      await assert.rejects(book.record("m", { ok: true, latencyMs: 1 }), HealthStoreUnavailableError);
      await assert.rejects(book.snapshot(["m"]), HealthStoreUnavailableError);
      await assert.rejects(book.order(["m", "n"]), HealthStoreUnavailableError);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 1_000, `failed after ${elapsed.toFixed(0)} ms`);
    } finally {
      await native.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("a store that never answers → HealthStoreUnavailableError after the timeout, not a hang", async () => {
    const held: ServerResponse[] = [];
    const server: Server = createServer((_req, res) => void held.push(res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const redis = connectRedis({ UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${port}`, UPSTASH_REDIS_REST_TOKEN: "t" })!;
      const book = createHealthBook(redis, { timeoutMs: 150 });
      const start = performance.now();
      await assert.rejects(book.order(["m"]), HealthStoreUnavailableError);
      const elapsed = performance.now() - start;
      assert.ok(elapsed >= 140 && elapsed < 1_000, `failed after ${elapsed} ms`);
    } finally {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
