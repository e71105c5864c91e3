import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRateLimiter, LimiterUnavailableError, type RateCheck, type RateDecision } from "../../edge/limits/rate.ts";
import { startStores, unreachableNative, unreachableRedis, sleep, type Store } from "./stores.ts";

let stores: Awaited<ReturnType<typeof startStores>>;
before(async () => {
  stores = await startStores();
});
after(() => stores.close());

const fresh = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`;
const request = (overrides: Partial<RateCheck>): RateCheck => ({ keyId: "k", model: "m", tokens: 1, ...overrides });
const refusal = (decision: RateDecision) => (decision.ok ? undefined : { scope: decision.scope, limit: decision.limit });

for (const storeName of ["redis", "native", "in-memory"] as const) {
  describe(`rate limits (${storeName})`, () => {
    const store = (): Store => stores.stores.find((s) => s.name === storeName)!;
    const limiter = (options: { windowMs?: number; now?: () => number } = {}) =>
      createRateLimiter(store().redis, { prefix: `${store().prefix}:rate`, ...options });

    test("requests per minute per key: the one over the limit is refused with scope and Retry-After", async () => {
      const rate = limiter();
      const keyId = fresh("key");
      for (let i = 0; i < 3; i++) assert.deepEqual(await rate.check(request({ keyId, keyRpm: 3 })), { ok: true });
      const refused = await rate.check(request({ keyId, keyRpm: 3 }));
      assert.deepEqual(refusal(refused), { scope: "key_rpm", limit: 3 });
      assert.ok(!refused.ok && refused.retryAfterSeconds >= 1 && refused.retryAfterSeconds <= 60, JSON.stringify(refused));
      // Another key is not affected.
      assert.deepEqual(await rate.check(request({ keyId: fresh("other"), keyRpm: 3 })), { ok: true });
    });

    test("tokens per minute per key: a request that would overshoot is refused and charges nothing", async () => {
      const rate = limiter();
      const keyId = fresh("key");
      assert.equal((await rate.check(request({ keyId, keyTpm: 100, tokens: 60 }))).ok, true);
      assert.deepEqual(refusal(await rate.check(request({ keyId, keyTpm: 100, tokens: 50 }))), { scope: "key_tpm", limit: 100 });
      // Had the refused 50 been counted, these 40 would not fit.
      assert.equal((await rate.check(request({ keyId, keyTpm: 100, tokens: 40 }))).ok, true);
      assert.deepEqual(refusal(await rate.check(request({ keyId, keyTpm: 100, tokens: 1 }))), { scope: "key_tpm", limit: 100 });
    });

    test("per-model limits are shared by every key on the model", async () => {
      const rate = limiter();
      const model = fresh("model");
      assert.equal((await rate.check(request({ keyId: fresh("a"), model, modelRpm: 2 }))).ok, true);
      assert.equal((await rate.check(request({ keyId: fresh("b"), model, modelRpm: 2 }))).ok, true);
      assert.deepEqual(refusal(await rate.check(request({ keyId: fresh("c"), model, modelRpm: 2 }))), { scope: "model_rpm", limit: 2 });

      const tpmModel = fresh("model");
      assert.equal((await rate.check(request({ keyId: fresh("a"), model: tpmModel, modelTpm: 50, tokens: 30 }))).ok, true);
      assert.deepEqual(refusal(await rate.check(request({ keyId: fresh("b"), model: tpmModel, modelTpm: 50, tokens: 30 }))), { scope: "model_tpm", limit: 50 });
    });

    test("a model's token limit refusing does not eat the key's request quota", async () => {
      const rate = limiter();
      const keyId = fresh("key");
      const model = fresh("model");
      assert.equal((await rate.check(request({ keyId, keyRpm: 10, model, modelTpm: 100, tokens: 100 }))).ok, true);
      assert.deepEqual(refusal(await rate.check(request({ keyId, keyRpm: 10, model, modelTpm: 100, tokens: 50 }))), { scope: "model_tpm", limit: 100 });
      // One request used, the refused one refunded: exactly nine more fit the key's 10.
      const other = fresh("model");
      let passed = 0;
      for (let i = 0; i < 12; i++) if ((await rate.check(request({ keyId, keyRpm: 10, model: other }))).ok) passed++;
      assert.equal(passed, 9);
    });

    test("a key's request limit refusing does not eat the model's token quota", async () => {
      const rate = limiter();
      const greedy = fresh("greedy");
      const model = fresh("model");
      assert.equal((await rate.check(request({ keyId: greedy, keyRpm: 1, model, modelTpm: 100, tokens: 10 }))).ok, true);
      assert.deepEqual(refusal(await rate.check(request({ keyId: greedy, keyRpm: 1, model, modelTpm: 100, tokens: 10 }))), { scope: "key_rpm", limit: 1 });
      // 10 used by the first request; had the refused one been charged, 90 more would not fit.
      assert.equal((await rate.check(request({ keyId: fresh("other"), model, modelTpm: 100, tokens: 90 }))).ok, true);
    });

    test("concurrent checks never admit more than the limit", async () => {
      const rate = limiter();
      const keyId = fresh("key");
      const decisions = await Promise.all(Array.from({ length: 20 }, () => rate.check(request({ keyId, keyRpm: 5 }))));
      assert.equal(decisions.filter((d) => d.ok).length, 5);
    });

    test("a request with no limits set passes", async () => {
      assert.deepEqual(await limiter().check(request({ keyId: fresh("key"), keyRpm: null, modelTpm: 0, tokens: 1_000_000 })), { ok: true });
    });
  });
}

test("in-memory: the window slides and Retry-After counts to the window's end (injected clock)", async () => {
  let now = 15_000;
  const rate = createRateLimiter(undefined, { now: () => now });
  for (let i = 0; i < 4; i++) assert.equal((await rate.check(request({ keyRpm: 4 }))).ok, true);
  assert.deepEqual(await rate.check(request({ keyRpm: 4 })), { ok: false, scope: "key_rpm", limit: 4, retryAfterSeconds: 45 });
  // Half-way through the next minute, half of the previous minute's 4 requests still count.
  now = 90_000;
  assert.equal((await rate.check(request({ keyRpm: 4 }))).ok, true);
  assert.equal((await rate.check(request({ keyRpm: 4 }))).ok, true);
  assert.equal((await rate.check(request({ keyRpm: 4 }))).ok, false);
  // Two minutes on, the window is empty again.
  now = 240_000;
  for (let i = 0; i < 4; i++) assert.equal((await rate.check(request({ keyRpm: 4 }))).ok, true);
});

for (const storeName of ["redis", "native"] as const) {
  test(`${storeName}: a refused key recovers once its window has passed (short window)`, async () => {
    const store = stores.stores.find((s) => s.name === storeName)!;
    const windowMs = 400;
    const rate = createRateLimiter(store.redis, { prefix: `${store.prefix}:rate`, windowMs });
    const keyId = fresh("key");
    assert.equal((await rate.check(request({ keyId, keyRpm: 2, keyTpm: 20, tokens: 10 }))).ok, true);
    assert.equal((await rate.check(request({ keyId, keyRpm: 2, keyTpm: 20, tokens: 10 }))).ok, true);
    assert.equal((await rate.check(request({ keyId, keyRpm: 2, keyTpm: 20, tokens: 10 }))).ok, false);
    // Two window boundaries later neither the current nor the previous window holds anything.
    await sleep((Math.floor(Date.now() / windowMs) + 2) * windowMs - Date.now() + 20);
    assert.equal((await rate.check(request({ keyId, keyRpm: 2, keyTpm: 20, tokens: 10 }))).ok, true);
    assert.equal((await rate.check(request({ keyId, keyRpm: 2, keyTpm: 20, tokens: 10 }))).ok, true);
  });
}

test("an unreachable store is a LimiterUnavailableError, not an admission", async () => {
  const rate = createRateLimiter(await unreachableRedis(), { prefix: "godotz-test:unreachable" });
  await assert.rejects(rate.check(request({ keyRpm: 10, modelTpm: 100 })), LimiterUnavailableError);
});

test("native: a closed port is a LimiterUnavailableError at once, not after the store timeout", async () => {
  const native = await unreachableNative();
  try {
    const rate = createRateLimiter(native, { prefix: "godotz-test:unreachable", timeoutMs: 2_000 });
    for (let i = 0; i < 3; i++) {
      // The first call meets the failed first connection; later ones a client known to be down.
      const started = performance.now();
      await assert.rejects(rate.check(request({ keyRpm: 10, modelTpm: 100 })), LimiterUnavailableError);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 500, `call ${i} failed after ${elapsed.toFixed(0)} ms`);
    }
  } finally {
    await native.close();
  }
});

test("REST and native clients on one Redis count against the same window", async () => {
  const [rest, native] = [stores.stores[0]!, stores.stores[1]!];
  const prefix = `${rest.prefix}:rate-shared`;
  const viaRest = createRateLimiter(rest.redis, { prefix });
  const viaNative = createRateLimiter(native.redis, { prefix });
  const keyId = fresh("key");
  assert.equal((await viaRest.check(request({ keyId, keyRpm: 2, keyTpm: 100, tokens: 40 }))).ok, true);
  assert.equal((await viaNative.check(request({ keyId, keyRpm: 2, keyTpm: 100, tokens: 40 }))).ok, true);
  assert.deepEqual(refusal(await viaRest.check(request({ keyId, keyRpm: 3, keyTpm: 100, tokens: 40 }))), { scope: "key_tpm", limit: 100 });
  assert.deepEqual(refusal(await viaNative.check(request({ keyId, keyRpm: 2, keyTpm: 100, tokens: 1 }))), { scope: "key_rpm", limit: 2 });
});
