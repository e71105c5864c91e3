import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { NativeRedis } from "../../edge/store/native-redis.ts";
import { connectNative } from "../helpers/native.ts";
import { startUpstash } from "../helpers/upstash.ts";

/*
 * The native client stands in for @upstash/redis, so every result must be what @upstash/redis
 * (as connectRedis configures it) returns for the same command on the same Redis.
 */
let upstash: Awaited<ReturnType<typeof startUpstash>>;
let native: NativeRedis;
const prefix = `godotz-test:native:${crypto.randomUUID()}`;

before(async () => {
  upstash = await startUpstash();
  native = connectNative();
});
after(async () => {
  const keys = await native.keys(`${prefix}:*`);
  if (keys.length) await native.del(...keys);
  await native.close();
  await upstash.stop();
});

const values = ["42", "-7", "1.50", "007", "12345678901234567890", "true", "null", '"quoted"', '{"a":[1,"2",null]}', "[1,2]", "not json", ""];

test("GET returns what @upstash/redis returns, value for value", async () => {
  for (const [i, value] of values.entries()) {
    const key = `${prefix}:get:${i}`;
    assert.equal(await native.set(key, value, { px: 60_000 }), await upstash.redis.set(`${key}:rest`, value, { px: 60_000 }));
    assert.deepEqual(await native.get(key), await upstash.redis.get(`${key}:rest`), `value ${JSON.stringify(value)}`);
  }
  assert.deepEqual(await native.get(`${prefix}:absent`), await upstash.redis.get(`${prefix}:absent`));
});

test("script results (integers, strings, nil, nested arrays) come back alike, through EVALSHA and EVAL", async () => {
  const script = "return {tonumber(ARGV[1]), ARGV[2], false, {ARGV[3], 5}, redis.call('GET', KEYS[1])}";
  const keys = [`${prefix}:script`];
  await native.set(keys[0]!, "3.0", { px: 60_000 });
  for (const args of [["1", "2", "x"], ["10", '{"b":1}', "1.50"], ["0", "007", "[]"]]) {
    const viaNative = await native.createScript<unknown>(script).exec(keys, args);
    const viaRest = await upstash.redis.createScript<unknown>(script).exec(keys, args);
    assert.deepEqual(viaNative, viaRest, JSON.stringify(args));
    assert.deepEqual(await native.eval(script, keys, args), viaRest);
  }
  assert.equal(await native.zrem(`${prefix}:zset`, "a"), await upstash.redis.zrem(`${prefix}:zset`, "a"));
});

test("EVALSHA of an unknown script fails with NOSCRIPT, as @upstash/ratelimit expects before it falls back", async () => {
  await assert.rejects(native.evalsha("0".repeat(40), [], []), (error: unknown) => `${error}`.includes("NOSCRIPT"));
});

test("commands issued together are in flight together, and each gets its own answer", async () => {
  const keys = Array.from({ length: 20 }, (_, i) => `${prefix}:tick:${i}`);
  await Promise.all(keys.map((key, i) => native.set(key, String(i), { px: 60_000 })));
  assert.deepEqual(await Promise.all(keys.map((key) => native.get(key))), keys.map((_, i) => i));
});
