import type { RateLimiter } from "./rate.ts";
import { rateRules, retryAfterSeconds } from "./rate-rules.ts";

/**
 * The no-Redis rate limiter: correct for one process only (documented for `npm run dev` on a
 * laptop). Same algorithm as @upstash/ratelimit's sliding window: a counter per fixed window,
 * with the previous window weighted by how much of it still overlaps the sliding one. Checking
 * and charging happen in one synchronous step, so either every limit is charged or none is.
 */
interface Counter {
  window: number;
  current: number;
  previous: number;
}

const SWEEP_EVERY = 1024;

export function createMemoryRateLimiter(o: { windowMs: number; now: () => number }): RateLimiter {
  const counters = new Map<string, Counter>();
  let checks = 0;

  const roll = (name: string, window: number): Counter => {
    const c = counters.get(name) ?? { window, current: 0, previous: 0 };
    if (c.window !== window) {
      c.previous = c.window === window - 1 ? c.current : 0;
      c.current = 0;
      c.window = window;
    }
    counters.set(name, c);
    return c;
  };

  // Counters idle for two windows weigh nothing; dropping them bounds memory by active keys.
  const sweep = (window: number) => {
    for (const [name, c] of counters) if (c.window < window - 1) counters.delete(name);
  };

  return {
    async check(input) {
      const now = o.now();
      const window = Math.floor(now / o.windowMs);
      const overlap = 1 - (now % o.windowMs) / o.windowMs;
      if (++checks % SWEEP_EVERY === 0) sweep(window);

      const rules = rateRules(input).map((rule) => ({ rule, counter: roll(`${rule.scope}:${rule.id}`, window) }));
      const refused = rules.find(({ rule, counter }) => counter.previous * overlap + counter.current + rule.weight > rule.limit);
      if (refused) {
        const resetAt = (window + 1) * o.windowMs;
        return { ok: false, scope: refused.rule.scope, limit: refused.rule.limit, retryAfterSeconds: retryAfterSeconds(resetAt, now) };
      }
      for (const { rule, counter } of rules) counter.current += rule.weight;
      return { ok: true };
    },
  };
}
