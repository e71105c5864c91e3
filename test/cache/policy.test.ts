import { test } from "node:test";
import assert from "node:assert/strict";
import { cacheDecision, type CachePolicy } from "../../edge/cache/policy.ts";
import type { ChatCompletionRequest } from "../../edge/chat/schema.ts";
import { request } from "./helpers.ts";

const on: CachePolicy = { ttlSeconds: 3600, deterministicOnly: true };
const anyTemperature: CachePolicy = { ttlSeconds: 3600, deterministicOnly: false };

const table: Array<[string, ChatCompletionRequest, { cacheControl?: string }, CachePolicy, "lookup" | "bypass"]> = [
  ["temperature 0", request(), {}, on, "lookup"],
  ["temperature 0, streamed", request({ stream: true }), {}, on, "lookup"],
  ["temperature absent (OpenAI default 1)", request({ temperature: undefined }), {}, on, "bypass"],
  ["temperature null", request({ temperature: null }), {}, on, "bypass"],
  ["temperature 0.7", request({ temperature: 0.7 }), {}, on, "bypass"],
  ["temperature 0.7, deterministicOnly off", request({ temperature: 0.7 }), {}, anyTemperature, "lookup"],
  ["temperature absent, deterministicOnly off", request({ temperature: undefined }), {}, anyTemperature, "lookup"],
  ["ttl 0 turns the cache off", request(), {}, { ttlSeconds: 0, deterministicOnly: true }, "bypass"],
  ["Cache-Control: no-cache", request(), { cacheControl: "no-cache" }, on, "bypass"],
  ["Cache-Control: no-store", request(), { cacheControl: "no-store" }, on, "bypass"],
  ["Cache-Control: NO-CACHE among others", request(), { cacheControl: "max-age=0, NO-CACHE" }, on, "bypass"],
  ["Cache-Control: no-cache with a field list", request(), { cacheControl: 'no-cache="set-cookie"' }, on, "bypass"],
  ["Cache-Control: max-age=60", request(), { cacheControl: "max-age=60" }, on, "lookup"],
  ["Cache-Control empty", request(), { cacheControl: "" }, on, "lookup"],
  ["n = 2", { ...request(), n: 2 } as ChatCompletionRequest, {}, anyTemperature, "bypass"],
  ["n = 1", request({ n: 1 }), {}, on, "lookup"],
  ["logprobs asked", { ...request(), logprobs: true } as ChatCompletionRequest, {}, on, "bypass"],
];

for (const [name, req, headers, policy, expected] of table) {
  test(`cache decision: ${name} → ${expected}`, () => {
    assert.equal(cacheDecision(req, headers, policy), expected);
  });
}
