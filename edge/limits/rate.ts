import { Ratelimit } from "@upstash/ratelimit";
import type { Redis } from "@upstash/redis";
import type { SharedRedis } from "../store/redis.ts";
import { LimiterUnavailableError, storeCall } from "./errors.ts";
import { createMemoryRateLimiter } from "./rate-memory.ts";
import { rateRules, retryAfterSeconds, type RateRule } from "./rate-rules.ts";
import { tokenWindow, type TokenWindow } from "./token-window.ts";

export { LimiterUnavailableError };

/** One request's rate-limit question. A missing, null or non-positive limit is not enforced. */
export interface RateCheck {
  keyId: string;
  keyRpm?: number | null;
  keyTpm?: number | null;
  model: string;
  modelRpm?: number | null;
  modelTpm?: number | null;
  /** Tokens the request is charged against the tokens-per-minute limits. */
  tokens: number;
}

export type RateScope = "key_rpm" | "key_tpm" | "model_rpm" | "model_tpm";

export type RateDecision = { ok: true } | { ok: false; scope: RateScope; limit: number; retryAfterSeconds: number };

export interface RateLimiter {
  /** Charges the request against every applicable limit, or against none. Throws LimiterUnavailableError. */
  check(input: RateCheck): Promise<RateDecision>;
}

export interface RateLimiterOptions {
  /** Redis key prefix; tests use a unique one per run. */
  prefix?: string;
  /** Clock for the in-memory limiter and for Retry-After. @upstash/ratelimit reads Date.now itself. */
  now?: () => number;
  /** Sliding window length: a minute in production, shorter in tests. */
  windowMs?: number;
  /** How long a store call may take before the store counts as unavailable. */
  timeoutMs?: number;
}

export function createRateLimiter(redis: SharedRedis | undefined, options: RateLimiterOptions = {}): RateLimiter {
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  if (!redis) return createMemoryRateLimiter({ windowMs, now });
  return createRedisRateLimiter(redis, { prefix: options.prefix ?? "godotz:rate", windowMs, now, timeoutMs: options.timeoutMs ?? 2_000 });
}

type Limiter = Pick<Ratelimit, "limit"> | TokenWindow;

/*
 * Why two kinds of window and a refund rather than resetUsedTokens, as read in 2.0.8's source:
 * - resetUsedTokens deletes every window of an identifier, so it would wipe other requests'
 *   usage, not give back one request's share. Unusable as an undo.
 * - limit() with a negative `rate` is a refund: the sliding-window scripts skip the check for
 *   it and add the negative weight. So all limits are charged at once and, if any refuses, the
 *   ones that passed are refunded.
 * - The library's single-region sliding window checks "used >= limit" *before* adding the weight
 *   and then adds it anyway, so a weighted request that overshoots is refused yet stays counted,
 *   and the response cannot tell that case from "already full". Fine for weight 1 (requests per
 *   minute: an overshoot is impossible), wrong for tokens. Tokens per minute use tokenWindow
 *   (token-window.ts): the same sliding window, checking "used + weight > limit" and writing
 *   nothing when it refuses.
 * - ephemeralCache is off: it remembers a refusal per process until the window ends, which
 *   would refuse a small request after a large one was refused and ignore refunds.
 * - timeout is 0: the library's timeout *admits* the request when Redis is slow; here a slow
 *   store is an outage the caller decides about (fail open, or 503 in hardcore).
 */
function createRedisRateLimiter(redis: SharedRedis, o: { prefix: string; windowMs: number; now: () => number; timeoutMs: number }): RateLimiter {
  // @upstash/ratelimit's types ask for the whole @upstash/redis client. With analytics, protection
  // and dynamic limits off, its single-region sliding window calls only evalsha, then eval on
  // NOSCRIPT (2.0.8, safeEval), which every SharedRedis has: so the native client serves it too.
  const ratelimitRedis = redis as unknown as Redis;
  const window = `${o.windowMs} ms` as const;
  const limiters = new Map<string, Limiter>();
  const limiterFor = (rule: RateRule): Limiter => {
    const cacheKey = `${rule.scope}:${rule.limit}`;
    let limiter = limiters.get(cacheKey);
    if (!limiter) {
      // The limit is not part of the Redis key, so a changed limit keeps the usage counted so far.
      limiter = rule.scope.endsWith("_tpm")
        ? tokenWindow(redis, { prefix: `${o.prefix}:${rule.scope}:sum`, limit: rule.limit, windowMs: o.windowMs })
        : new Ratelimit({ prefix: `${o.prefix}:${rule.scope}`, ephemeralCache: false, timeout: 0, analytics: false, redis: ratelimitRedis, limiter: Ratelimit.slidingWindow(rule.limit, window) });
      limiters.set(cacheKey, limiter);
    }
    return limiter;
  };
  const charge = (rule: RateRule, rate: number) => storeCall(`rate ${rule.scope}`, o.timeoutMs, () => limiterFor(rule).limit(rule.id, { rate }));
  const refund = (rules: RateRule[]) => Promise.allSettled(rules.map((rule) => charge(rule, -rule.weight)));

  return {
    async check(input) {
      const rules = rateRules(input);
      const results = await Promise.allSettled(rules.map((rule) => charge(rule, rule.weight)));
      const charged = rules.filter((_, i) => {
        const r = results[i]!;
        return r.status === "fulfilled" && r.value.success;
      });
      const failure = results.find((r) => r.status === "rejected");
      if (failure) {
        // Best effort: the store is failing, so the refund may fail too.
        await refund(charged);
        throw failure.reason;
      }
      const refusedAt = results.findIndex((r) => r.status === "fulfilled" && !r.value.success);
      if (refusedAt < 0) return { ok: true };
      // A refund that fails leaves a little quota used; the refusal stands either way.
      await refund(charged);
      const rule = rules[refusedAt]!;
      const { reset } = (results[refusedAt] as PromiseFulfilledResult<{ reset: number }>).value;
      return { ok: false, scope: rule.scope, limit: rule.limit, retryAfterSeconds: retryAfterSeconds(reset, o.now()) };
    },
  };
}
