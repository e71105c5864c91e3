import type { SharedRedis } from "../store/redis.ts";

/**
 * The tokens-per-minute window: the sliding window of @upstash/ratelimit (this window's count
 * plus the previous window's, weighted by how much of it still overlaps), with the check that
 * weighted requests need: refused when used + weight > limit, and then nothing is written. A
 * negative weight is a refund and is never refused.
 *
 * Why not the library's MultiRegionRatelimit, which checks the same way: it keeps one hash field
 * per admitted request and its script sends back both windows' hashes whole on every call, so a
 * check costs O(requests in the last two minutes) on the wire and in JSON parsing. At a few
 * hundred requests a second that is thousands of fields per call, and it brought a gateway down
 * to tens of requests a second. Here each window is one counter (INCRBY), as in the library's
 * single-region window, and the script returns only the decision.
 */
const LIMIT = `
local current, previous = KEYS[1], KEYS[2]
local limit, now, window, weight = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local used = tonumber(redis.call('GET', current) or '0')
local before = tonumber(redis.call('GET', previous) or '0')
if weight > 0 and before * (1 - (now % window) / window) + used + weight > limit then return 0 end
redis.call('INCRBY', current, weight)
redis.call('PEXPIRE', current, window * 2 + 1000)
return 1
`;

export interface TokenWindow {
  limit(identifier: string, options: { rate: number }): Promise<{ success: boolean; reset: number }>;
}

export function tokenWindow(redis: SharedRedis, o: { prefix: string; limit: number; windowMs: number }): TokenWindow {
  const script = redis.createScript<number>(LIMIT);
  return {
    async limit(identifier, { rate }) {
      // Date.now, as @upstash/ratelimit's own windows use, so both kinds of limit share a clock.
      const now = Date.now();
      const window = Math.floor(now / o.windowMs);
      const key = (w: number) => `${o.prefix}:${identifier}:${w}`;
      const admitted = await script.exec([key(window), key(window - 1)], [String(o.limit), String(now), String(o.windowMs), String(rate)]);
      return { success: Number(admitted) === 1, reset: (window + 1) * o.windowMs };
    },
  };
}
