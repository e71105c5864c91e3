import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { gatewayRetryDefaults, isTransientUpstreamError, upstreamRetryAfterMs, withRetries, type RetryOptions } from "../../edge/upstream/retry.ts";
import { UpstreamAttemptError } from "../../edge/upstream/send.ts";
import { GatewayError, invalidRequest, upstreamError } from "../../edge/errors.ts";

class Transient extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

const base: RetryOptions = {
  retries: 3,
  minTimeoutMs: 10,
  maxTimeoutMs: 1_000,
  isRetryable: (error) => error instanceof Transient,
  retryAfterMs: (error) => (error instanceof Transient ? error.retryAfterMs : undefined),
};

/** An attempt that fails with `errors` in turn, then answers "ok"; counts its calls. */
function scripted(errors: Error[]) {
  const calls: number[] = [];
  return {
    calls,
    attempt: async (n: number) => {
      calls.push(n);
      const error = errors[n - 1];
      if (error) throw error;
      return "ok";
    },
  };
}

describe("withRetries", () => {
  test("retries transient errors with delays that double, then answers", async () => {
    const { calls, attempt } = scripted([new Transient("1"), new Transient("2"), new Transient("3")]);
    const delays: number[] = [];
    const started = performance.now();
    const result = await withRetries(attempt, { ...base, random: () => 1, onRetry: (_e, n, ms) => delays.push(n, ms) });
    const elapsed = performance.now() - started;
    assert.equal(result, "ok");
    assert.deepEqual(calls, [1, 2, 3, 4]);
    assert.deepEqual(delays, [1, 10, 2, 20, 3, 40]);
    assert.ok(elapsed >= 65, `the delays were really waited: ${elapsed} ms`);
  });

  test("delays are capped at maxTimeoutMs and jittered below the exponential bound", async () => {
    const errors = Array.from({ length: 5 }, (_, i) => new Transient(`fail ${i + 1}`));
    const capped: number[] = [];
    await assert.rejects(
      withRetries(scripted(errors).attempt, { ...base, retries: 4, maxTimeoutMs: 25, random: () => 1, onRetry: (_e, _n, ms) => capped.push(ms) }),
      { message: "fail 5" },
      "out of retries: the last attempt's error",
    );
    assert.deepEqual(capped, [10, 20, 25, 25]);

    const halved: number[] = [];
    await withRetries(scripted(errors.slice(0, 3)).attempt, { ...base, random: () => 0.5, onRetry: (_e, _n, ms) => halved.push(ms) });
    assert.deepEqual(halved, [5, 10, 20]);

    const jittered: number[] = [];
    await withRetries(scripted(errors.slice(0, 3)).attempt, { ...base, minTimeoutMs: 4, onRetry: (_e, _n, ms) => jittered.push(ms) });
    assert.equal(jittered.length, 3);
    jittered.forEach((ms, i) => assert.ok(ms >= 0 && ms <= 4 * 2 ** i, `retry ${i + 1} waited ${ms} ms`));
  });

  test("a non-retryable error stops at once, and is the error the caller gets", async () => {
    const fatal = new Error("bad request");
    const { calls, attempt } = scripted([new Transient("1"), fatal]);
    let retries = 0;
    await assert.rejects(withRetries(attempt, { ...base, onRetry: () => retries++ }), (error) => error === fatal);
    assert.deepEqual(calls, [1, 2]);
    assert.equal(retries, 1);
  });

  test("retries: 0 makes one attempt", async () => {
    const only = new Transient("once");
    const { calls, attempt } = scripted([only]);
    await assert.rejects(withRetries(attempt, { ...base, retries: 0 }), (error) => error === only);
    assert.deepEqual(calls, [1]);
  });

  test("a Retry-After within maxTimeoutMs is waited at least", async () => {
    const { calls, attempt } = scripted([new Transient("429", 60)]);
    const delays: number[] = [];
    const started = performance.now();
    assert.equal(await withRetries(attempt, { ...base, random: () => 0, onRetry: (_e, _n, ms) => delays.push(ms) }), "ok");
    assert.deepEqual(calls, [1, 2]);
    assert.deepEqual(delays, [60]);
    assert.ok(performance.now() - started >= 55, "waited the Retry-After");
  });

  test("a Retry-After longer than maxTimeoutMs ends the retries so the caller can fall back", async () => {
    const limited = new Transient("429", 5_000);
    const { calls, attempt } = scripted([limited]);
    let retries = 0;
    const started = performance.now();
    await assert.rejects(withRetries(attempt, { ...base, onRetry: () => retries++ }), (error) => error === limited);
    assert.deepEqual(calls, [1]);
    assert.equal(retries, 0);
    assert.ok(performance.now() - started < 500);
  });

  test("an abort during the wait stops at once with the signal's reason", async () => {
    const controller = new AbortController();
    const reason = new Error("client went away");
    const { calls, attempt } = scripted([new Transient("1"), new Transient("2")]);
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const timersBefore = timers();
    const started = performance.now();
    const run = withRetries(attempt, { ...base, minTimeoutMs: 5_000, maxTimeoutMs: 5_000, random: () => 1, signal: controller.signal });
    setTimeout(() => controller.abort(reason), 20);
    await assert.rejects(run, (error) => error === reason);
    assert.ok(performance.now() - started < 1_000, "did not wait out the 5 s delay");
    assert.deepEqual(calls, [1]);
    assert.equal(timers(), timersBefore, "the 5 s wait was cancelled, not left running");
  });

  test("an abort during an attempt stops without another attempt; an aborted signal makes none", async () => {
    const controller = new AbortController();
    const reason = new Error("gone");
    const calls: number[] = [];
    let retries = 0;
    const run = withRetries(
      async (n) => {
        calls.push(n);
        await new Promise((resolve) => setTimeout(resolve, 30));
        throw new Transient("late");
      },
      { ...base, signal: controller.signal, onRetry: () => retries++ },
    );
    setTimeout(() => controller.abort(reason), 5);
    await assert.rejects(run, (error) => error === reason);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.deepEqual(calls, [1]);
    assert.equal(retries, 0, "the failure of an attempt cut short by the abort schedules no retry");

    let attempted = false;
    await assert.rejects(
      withRetries(async () => (attempted = true), { ...base, signal: AbortSignal.abort(reason) }),
      (error) => error === reason,
    );
    assert.equal(attempted, false);
  });

  test("gateway defaults: two quick retries, capped at 2 s", () => {
    assert.deepEqual({ ...gatewayRetryDefaults }, { retries: 2, minTimeoutMs: 100, maxTimeoutMs: 2_000 });
  });
});

describe("upstream predicates", () => {
  const rateLimited = (retryAfter?: string) =>
    new UpstreamAttemptError(new GatewayError(429, "rate_limit_error", "rate_limited", "slow down", null, retryAfter ? { "retry-after": retryAfter } : {}), true);

  test("5xx, timeouts and provider 429 are transient; bad credentials and bad requests are not", () => {
    assert.equal(isTransientUpstreamError(new UpstreamAttemptError(upstreamError(502, "boom"), true)), true);
    assert.equal(isTransientUpstreamError(new UpstreamAttemptError(upstreamError(503, "down"), true)), true);
    assert.equal(isTransientUpstreamError(new UpstreamAttemptError(upstreamError(504, "slow", "upstream_timeout"), true)), true);
    assert.equal(isTransientUpstreamError(rateLimited()), true);
    assert.equal(isTransientUpstreamError(new UpstreamAttemptError(upstreamError(502, "creds", "upstream_auth_failed"), true)), false);
    assert.equal(isTransientUpstreamError(new UpstreamAttemptError(invalidRequest("no"), false)), false);
    assert.equal(isTransientUpstreamError(new UpstreamAttemptError(upstreamError(502, "client gone"), false)), false);
    assert.equal(isTransientUpstreamError(new Error("other")), false);
  });

  test("Retry-After in seconds or as an HTTP date", () => {
    assert.equal(upstreamRetryAfterMs(rateLimited("2")), 2_000);
    assert.equal(upstreamRetryAfterMs(rateLimited("0.5")), 500);
    const now = Date.parse("2026-01-01T00:00:00Z");
    assert.equal(upstreamRetryAfterMs(rateLimited("Thu, 01 Jan 2026 00:00:03 GMT"), now), 3_000);
    assert.equal(upstreamRetryAfterMs(rateLimited("Wed, 31 Dec 2025 23:59:00 GMT"), now), 0);
    assert.equal(upstreamRetryAfterMs(rateLimited("soon")), undefined);
    assert.equal(upstreamRetryAfterMs(rateLimited()), undefined);
    assert.equal(upstreamRetryAfterMs(new Error("x")), undefined);
  });
});
