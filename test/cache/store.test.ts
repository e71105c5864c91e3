import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Socket } from "node:net";
import { connectRedis, type SharedRedis } from "../../edge/store/redis.ts";
import { CacheUnavailableError, createResponseCache, type ResponseCache } from "../../edge/cache/store.ts";
import { MemoryResponseCache } from "../../edge/cache/memory.ts";
import { REDIS_URL, textAnswer, toolAnswer } from "./helpers.ts";
import { startUpstash } from "../helpers/upstash.ts";
import { closedPort, connectNative } from "../helpers/native.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `key` is gone; fails if it outlives the bound. */
async function expiresWithin(cache: ResponseCache, key: string, boundMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < boundMs) {
    if ((await cache.get(key)) === undefined) return Date.now() - start;
    await sleep(25);
  }
  assert.fail(`${key} was still cached after ${boundMs} ms`);
}

function storeContract(name: string, make: () => ResponseCache) {
  describe(name, () => {
    test("a stored answer comes back equal; an unknown key is a miss", async () => {
      const cache = make();
      assert.equal(await cache.get("absent"), undefined);
      await cache.set("text", textAnswer(), 60);
      await cache.set("tools", toolAnswer(), 60);
      assert.deepEqual(await cache.get("text"), textAnswer());
      assert.deepEqual(await cache.get("tools"), toolAnswer());
    });

    test("a later set replaces the answer", async () => {
      const cache = make();
      await cache.set("k", textAnswer("first"), 60);
      await cache.set("k", textAnswer("second"), 60);
      assert.equal((await cache.get("k"))?.choices[0]?.message.content, "second");
    });

    test("an answer expires after its TTL, and not before", async () => {
      const cache = make();
      await cache.set("short", textAnswer(), 0.4);
      await cache.set("long", textAnswer(), 60);
      assert.notEqual(await cache.get("short"), undefined, "gone before its TTL");
      const waited = await expiresWithin(cache, "short", 2_000);
      assert.ok(waited >= 250, `expired after ${waited} ms, before the 400 ms TTL`);
      assert.notEqual(await cache.get("long"), undefined);
    });

    test("a TTL of 0 stores nothing", async () => {
      const cache = make();
      await cache.set("zero", textAnswer(), 0);
      assert.equal(await cache.get("zero"), undefined);
    });

    test("changing what get returned does not change the cache", async () => {
      const cache = make();
      await cache.set("k", textAnswer("kept"), 60);
      const got = (await cache.get("k"))!;
      got.choices[0]!.message.content = "mutated";
      assert.equal((await cache.get("k"))?.choices[0]?.message.content, "kept");
    });
  });
}

/** What these tests need of a client beyond the cache's own commands: inspecting and cleaning up. */
type TestRedis = SharedRedis & {
  keys(pattern: string): Promise<string[]>;
  del(...keys: string[]): Promise<number>;
  pttl(key: string): Promise<number>;
};

const clients: Array<{ name: string; open(): Promise<{ redis: TestRedis; close(): Promise<void> }> }> = [
  {
    name: "real Redis through the local Upstash REST server",
    async open() {
      const upstash = await startUpstash(REDIS_URL);
      return { redis: upstash.redis, close: upstash.stop };
    },
  },
  {
    name: "real Redis over a native connection",
    async open() {
      const redis = connectNative(REDIS_URL);
      return { redis, close: () => redis.close() };
    },
  },
];

for (const client of clients) {
  describe(`Redis store (${client.name})`, () => {
    let opened: Awaited<ReturnType<typeof client.open>>;
    let redis: TestRedis;
    const prefix = `godotz:test:cache:${crypto.randomUUID()}:`;
    before(async () => {
      opened = await client.open();
      redis = opened.redis;
    });
    after(async () => {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      await opened.close();
    });

    storeContract("contract", () => createResponseCache(redis, { prefix }));

    test("answers live in Redis under the prefix, with a TTL Redis enforces", async () => {
      const cache = createResponseCache(redis, { prefix });
      assert.equal(cache.kind, "redis");
      await cache.set("visible", textAnswer(), 30);
      const ttlMs = await redis.pttl(`${prefix}visible`);
      assert.ok(ttlMs > 25_000 && ttlMs <= 30_000, `PTTL ${ttlMs}`);
      // A second cache object (another gateway process) sees the same answer.
      assert.deepEqual(await createResponseCache(redis, { prefix }).get("visible"), textAnswer());
      // A different prefix is a different cache.
      assert.equal(await createResponseCache(redis, { prefix: `${prefix}other:` }).get("visible"), undefined);
    });

    test("a value that is not an answer is a miss, not an error", async () => {
      await redis.set(`${prefix}garbage`, "not json at all", { px: 60_000 });
      await redis.set(`${prefix}other-shape`, JSON.stringify({ hello: "world" }), { px: 60_000 });
      const cache = createResponseCache(redis, { prefix });
      assert.equal(await cache.get("garbage"), undefined);
      assert.equal(await cache.get("other-shape"), undefined);
    });
  });
}

test("an answer written through one client reads back equal through the other", async () => {
  const upstash = await startUpstash(REDIS_URL);
  const native = connectNative(REDIS_URL);
  const prefix = `godotz:test:cache:${crypto.randomUUID()}:`;
  try {
    await createResponseCache(upstash.redis, { prefix }).set("a", toolAnswer(), 60);
    await createResponseCache(native, { prefix }).set("b", textAnswer("42"), 60);
    assert.deepEqual(await createResponseCache(native, { prefix }).get("a"), toolAnswer());
    assert.deepEqual(await createResponseCache(upstash.redis, { prefix }).get("b"), textAnswer("42"));
  } finally {
    await native.del(`${prefix}a`, `${prefix}b`);
    await native.close();
    await upstash.stop();
  }
});

describe("Redis unreachable", () => {
  test("connection refused → CacheUnavailableError on get and set", async () => {
    // Bind and release a port so nothing listens on it.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const redis = connectRedis({ UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${port}`, UPSTASH_REDIS_REST_TOKEN: "t" })!;
    const cache = createResponseCache(redis);
    await assert.rejects(cache.get("k"), (error: unknown) => error instanceof CacheUnavailableError && error.operation === "get");
    await assert.rejects(cache.set("k", textAnswer(), 60), (error: unknown) => error instanceof CacheUnavailableError && error.operation === "set");
  });

  test("native: connection refused → CacheUnavailableError on get and set, at once", async () => {
    const native = connectNative(`redis://127.0.0.1:${await closedPort()}`);
    try {
      const cache = createResponseCache(native, { timeoutMs: 2_000 });
      const started = performance.now();
      await assert.rejects(cache.get("k"), (error: unknown) => error instanceof CacheUnavailableError && error.operation === "get");
      await assert.rejects(cache.set("k", textAnswer(), 60), (error: unknown) => error instanceof CacheUnavailableError && error.operation === "set");
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 500, `failed after ${elapsed.toFixed(0)} ms`);
    } finally {
      await native.close();
    }
  });

  test("native: a Redis that accepts but never answers → CacheUnavailableError after the timeout", async () => {
    const sockets: Socket[] = [];
    const server = createTcpServer((socket) => void sockets.push(socket));
    const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
    const native = connectNative(`redis://127.0.0.1:${port}`);
    try {
      const cache = createResponseCache(native, { timeoutMs: 150 });
      const start = performance.now();
      await assert.rejects(cache.get("k"), CacheUnavailableError);
      const elapsed = performance.now() - start;
      assert.ok(elapsed >= 140 && elapsed < 1_000, `failed after ${elapsed} ms`);
    } finally {
      await native.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("a store that never answers → CacheUnavailableError after the timeout, not a hang", async () => {
    const held: ServerResponse[] = [];
    const server: Server = createServer((_req, res) => void held.push(res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const redis = connectRedis({ UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${port}`, UPSTASH_REDIS_REST_TOKEN: "t" })!;
      const cache = createResponseCache(redis, { timeoutMs: 150 });
      const start = performance.now();
      await assert.rejects(cache.get("k"), CacheUnavailableError);
      const elapsed = performance.now() - start;
      assert.ok(elapsed >= 140 && elapsed < 1_000, `failed after ${elapsed} ms`);
    } finally {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("in-memory store (no Redis: single process)", () => {
  storeContract("contract", () => createResponseCache(undefined));

  test("without Redis the factory gives the in-memory store", () => {
    assert.equal(createResponseCache(undefined).kind, "memory");
  });

  test("bounded: at maxEntries the least recently used answer goes first", async () => {
    const cache = new MemoryResponseCache({ maxEntries: 3 });
    await cache.set("a", textAnswer("a"), 60);
    await cache.set("b", textAnswer("b"), 60);
    await cache.set("c", textAnswer("c"), 60);
    assert.notEqual(await cache.get("a"), undefined); // a is now the most recently used
    await cache.set("d", textAnswer("d"), 60);
    assert.equal(cache.size, 3);
    assert.equal(await cache.get("b"), undefined, "b was least recently used and should be gone");
    for (const key of ["a", "c", "d"]) assert.equal((await cache.get(key))?.choices[0]?.message.content, key);
    for (let i = 0; i < 100; i++) await cache.set(`bulk-${i}`, textAnswer(), 60);
    assert.equal(cache.size, 3);
  });

  test("expiry follows the injected clock", async () => {
    let now = 1_000_000;
    const cache = new MemoryResponseCache({ maxEntries: 10, now: () => now });
    await cache.set("k", textAnswer(), 10);
    now += 9_999;
    assert.notEqual(await cache.get("k"), undefined);
    now += 1;
    assert.equal(await cache.get("k"), undefined);
    assert.equal(cache.size, 0, "an expired entry is dropped when read");
  });
});
