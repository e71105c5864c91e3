import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { setMaxListeners } from "node:events";
import {
  createConcurrencyLimiter,
  ConcurrencyRefusedError,
  LimiterUnavailableError,
  DEFAULT_MODEL_CONCURRENCY,
  type AcquireInput,
  type ConcurrencyLimiter,
} from "../../edge/limits/concurrency.ts";
import { startStores, unreachableNative, unreachableRedis, sleep, type Store } from "./stores.ts";

let stores: Awaited<ReturnType<typeof startStores>>;
before(async () => {
  stores = await startStores();
});
after(() => stores.close());

const fresh = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;
const ask = (overrides: Partial<AcquireInput> & Pick<AcquireInput, "model" | "cap">): AcquireInput => ({
  keyId: "k",
  maxWaitMs: 5_000,
  maxQueue: 100,
  ...overrides,
});

/** Counts holders across every limiter a test uses, to see the cap is never exceeded. */
function occupancy() {
  let now = 0;
  let max = 0;
  return {
    get max() {
      return max;
    },
    async hold(limiter: ConcurrencyLimiter, input: AcquireInput, holdMs: number) {
      const lease = await limiter.acquire(input);
      max = Math.max(max, ++now);
      await sleep(holdMs);
      now--;
      await lease.release();
    },
  };
}

const refusedBecause = (reason: string) => (error: unknown) => error instanceof ConcurrencyRefusedError && error.reason === reason;

for (const storeName of ["redis", "native", "in-memory"] as const) {
  describe(`concurrency caps (${storeName})`, () => {
    const store = (): Store => stores.stores.find((s) => s.name === storeName)!;
    const limiter = (options: { leaseMs?: number } = {}) =>
      createConcurrencyLimiter(store().redis, { prefix: `${store().prefix}:slots`, pollMs: 20, ...options });

    test("many concurrent acquirers never exceed the cap, and all get through", async () => {
      const slots = limiter();
      const model = fresh("model");
      const seen = occupancy();
      await Promise.all(Array.from({ length: 30 }, (_, i) => seen.hold(slots, ask({ model, cap: 3, keyId: `key-${i % 4}` }), 5 + (i % 4) * 5)));
      assert.equal(seen.max, 3);
    });

    test("a request beyond its key's queue bound is refused at once, other keys still queue", async () => {
      const slots = limiter();
      const model = fresh("model");
      const held = await slots.acquire(ask({ model, cap: 1 }));
      const waiting = [slots.acquire(ask({ model, cap: 1, maxQueue: 2 })), slots.acquire(ask({ model, cap: 1, maxQueue: 2 }))];
      await sleep(200); // both waiters have made their first attempt and joined the queue
      let releasedFirst = false;
      await assert.rejects(slots.acquire(ask({ model, cap: 1, maxQueue: 2, maxWaitMs: 10_000 })), (error: unknown) => !releasedFirst && refusedBecause("queue_full")(error));
      // The bound is per key: another key still gets a place in the queue.
      const otherKey = slots.acquire(ask({ model, cap: 1, maxQueue: 2, keyId: "other" }));
      await sleep(100);
      releasedFirst = true;
      await held.release();
      // Any waiter may be served first; each gives its slot back as soon as it has it.
      await Promise.all([...waiting, otherKey].map((lease) => lease.then((l) => l.release())));
    });

    test("a full model with no wait allowed refuses at once", async () => {
      const slots = limiter();
      const model = fresh("model");
      const held = await slots.acquire(ask({ model, cap: 1 }));
      await assert.rejects(slots.acquire(ask({ model, cap: 1, maxWaitMs: 0 })), refusedBecause("timeout"));
      await held.release();
      await (await slots.acquire(ask({ model, cap: 1, maxWaitMs: 0 }))).release();
    });

    test("a waiter that waits too long is refused, and a released slot is taken by the next", async () => {
      const slots = limiter();
      const model = fresh("model");
      const held = await slots.acquire(ask({ model, cap: 1 }));
      await assert.rejects(slots.acquire(ask({ model, cap: 1, maxWaitMs: 300 })), (error: unknown) => {
        assert.ok(refusedBecause("timeout")(error), String(error));
        assert.ok((error as ConcurrencyRefusedError).waitedMs >= 250, `waited ${(error as ConcurrencyRefusedError).waitedMs} ms`);
        return true;
      });
      const next = slots.acquire(ask({ model, cap: 1, maxWaitMs: 5_000 }));
      await sleep(50);
      await held.release();
      await (await next).release();
    });

    test("an aborted signal stops the wait and gives up the queue place", async () => {
      const slots = limiter();
      const model = fresh("model");
      const held = await slots.acquire(ask({ model, cap: 1 }));
      const controller = new AbortController();
      const waiting = slots.acquire(ask({ model, cap: 1, maxQueue: 1, maxWaitMs: 30_000, signal: controller.signal }));
      await sleep(100);
      controller.abort();
      await assert.rejects(waiting, (error: unknown) => error instanceof Error && error.name === "AbortError");
      // Its place is free again: a queue of one takes a new waiter.
      const next = slots.acquire(ask({ model, cap: 1, maxQueue: 1 }));
      await sleep(100);
      await held.release();
      await (await next).release();
    });

    test("one greedy key cannot starve another key on the same model", async () => {
      const slots = limiter();
      const model = fresh("glm-4.7");
      const seen = occupancy();
      const stop = new AbortController();
      setMaxListeners(100, stop.signal); // one listener per waiting loop
      let greedyGrants = 0;
      // Key A floods: 50 loops of acquire, hold 100 ms, release. Served in arrival order, B's
      // request would queue behind ~48 of them: about 48 × 100 ms / 2 slots = 2.4 s.
      const flood = Array.from({ length: 50 }, async () => {
        while (!stop.signal.aborted) {
          try {
            await seen.hold(slots, ask({ model, cap: 2, keyId: "greedy", maxWaitMs: 30_000, signal: stop.signal }), 100);
            greedyGrants++;
          } catch (error) {
            if (!stop.signal.aborted) throw error;
          }
        }
      });
      await sleep(300);
      // Key B makes 5 sequential requests; each may wait at most 1 s, far below A's queue.
      const waits: number[] = [];
      try {
        for (let i = 0; i < 5; i++) {
          const started = Date.now();
          await seen.hold(slots, ask({ model, cap: 2, keyId: "modest", maxWaitMs: 1_000 }), 100);
          waits.push(Date.now() - started - 100);
        }
      } finally {
        stop.abort();
        await Promise.all(flood);
      }
      assert.equal(waits.length, 5);
      assert.ok(greedyGrants > 5, `greedy key got ${greedyGrants} slots`);
      assert.ok(seen.max <= 2, `max holders ${seen.max}`);
    });
  });
}

describe("concurrency caps shared through Redis", () => {
  const redis = () => stores.stores[0]!.redis;
  const limiter = (options: { leaseMs?: number } = {}) =>
    createConcurrencyLimiter(redis(), { prefix: `${stores.stores[0]!.prefix}:slots`, pollMs: 20, ...options });

  test("two limiter instances (two processes) share one cap", async () => {
    const one = limiter();
    const two = limiter();
    const model = fresh("model");
    const seen = occupancy();
    await Promise.all(Array.from({ length: 20 }, (_, i) => seen.hold(i % 2 ? one : two, ask({ model, cap: 2, keyId: `key-${i % 3}` }), 10)));
    assert.equal(seen.max, 2);

    const a = await one.acquire(ask({ model, cap: 2 }));
    const b = await one.acquire(ask({ model, cap: 2 }));
    await assert.rejects(two.acquire(ask({ model, cap: 2, maxWaitMs: 0 })), refusedBecause("timeout"));
    await a.release();
    await (await two.acquire(ask({ model, cap: 2, maxWaitMs: 0 }))).release();
    await b.release();
  });

  test("a live holder keeps its slot past its lease length by renewing it", async () => {
    const holder = limiter({ leaseMs: 300 });
    const other = limiter();
    const model = fresh("model");
    const lease = await holder.acquire(ask({ model, cap: 1 }));
    for (let i = 0; i < 6; i++) {
      await sleep(200);
      await assert.rejects(other.acquire(ask({ model, cap: 1, maxWaitMs: 0 })), refusedBecause("timeout"));
    }
    await lease.release();
    await (await other.acquire(ask({ model, cap: 1, maxWaitMs: 0 }))).release();
  });

  test("a slot held by a crashed process frees itself when its lease expires", async () => {
    const model = fresh("model");
    const { url, token } = stores.upstash;
    // A separate OS process takes the only slot with a 600 ms lease, then is killed outright.
    const holder = `
      const { createConcurrencyLimiter } = await import(${JSON.stringify(new URL("../../edge/limits/concurrency.ts", import.meta.url).href)});
      const { connectRedis } = await import(${JSON.stringify(new URL("../../edge/store/redis.ts", import.meta.url).href)});
      const [url, token, prefix, model] = process.argv.slice(1);
      const slots = createConcurrencyLimiter(connectRedis({ UPSTASH_REDIS_REST_URL: url, UPSTASH_REDIS_REST_TOKEN: token }), { prefix, leaseMs: 600 });
      await slots.acquire({ model, cap: 1, keyId: "crashing", maxWaitMs: 0, maxQueue: 0 });
      console.log("held");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", holder, url, token, `${stores.stores[0]!.prefix}:slots`, model], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`holder exited (${code})`)));
    });
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));

    const slots = limiter();
    await assert.rejects(slots.acquire(ask({ model, cap: 1, maxWaitMs: 0 })), refusedBecause("timeout"));
    const started = Date.now();
    const lease = await slots.acquire(ask({ model, cap: 1, maxWaitMs: 5_000 }));
    assert.ok(Date.now() - started < 5_000);
    await lease.release();
  });

  test("an unreachable store is a LimiterUnavailableError", async () => {
    const slots = createConcurrencyLimiter(await unreachableRedis(), { prefix: "godotz-test:unreachable" });
    await assert.rejects(slots.acquire(ask({ model: "m", cap: 1 })), LimiterUnavailableError);
  });

  test("native: a closed port is a LimiterUnavailableError at once", async () => {
    const native = await unreachableNative();
    try {
      const slots = createConcurrencyLimiter(native, { prefix: "godotz-test:unreachable", timeoutMs: 2_000 });
      const started = performance.now();
      await assert.rejects(slots.acquire(ask({ model: "m", cap: 1 })), LimiterUnavailableError);
      assert.ok(performance.now() - started < 500, `failed after ${(performance.now() - started).toFixed(0)} ms`);
    } finally {
      await native.close();
    }
  });

  test("a REST and a native limiter (a Worker and a Node gateway) share one cap", async () => {
    const prefix = `${stores.stores[0]!.prefix}:slots-shared`;
    const rest = createConcurrencyLimiter(stores.stores[0]!.redis, { prefix, pollMs: 20 });
    const native = createConcurrencyLimiter(stores.native, { prefix, pollMs: 20 });
    const model = fresh("model");
    const seen = occupancy();
    await Promise.all(Array.from({ length: 20 }, (_, i) => seen.hold(i % 2 ? rest : native, ask({ model, cap: 2, keyId: `key-${i % 3}` }), 10)));
    assert.equal(seen.max, 2);
    const held = await native.acquire(ask({ model, cap: 1 }));
    await assert.rejects(rest.acquire(ask({ model, cap: 1, maxWaitMs: 0 })), refusedBecause("timeout"));
    await held.release();
    await (await rest.acquire(ask({ model, cap: 1, maxWaitMs: 0 }))).release();
  });
});

test("FR-L4-005 default caps for the known GLM models", () => {
  assert.deepEqual({ ...DEFAULT_MODEL_CONCURRENCY }, { "glm-5.1": 10, "glm-5-turbo": 1, "glm-4.7": 2, "glm-4.5-air": 5 });
});
