import type { SharedRedis } from "../store/redis.ts";
import { CacheUnavailableError, asCachedAnswer, type CachedAnswer, type ResponseCache } from "./answer.ts";

/**
 * Answers as JSON strings under `prefix + key`, expiring in Redis itself (PX, so sub-second TTLs
 * work too). @upstash/redis parses JSON values on read by default; asCachedAnswer takes either
 * the parsed object or the raw string, whichever the client was configured to return.
 */
export function redisResponseCache(redis: SharedRedis, prefix: string, timeoutMs: number): ResponseCache {
  return {
    kind: "redis",
    async get(key) {
      let value: unknown;
      try {
        value = await withTimeout(redis.get<unknown>(prefix + key), timeoutMs);
      } catch (error) {
        throw new CacheUnavailableError("get", error);
      }
      return value === null ? undefined : asCachedAnswer(value);
    },
    async set(key: string, answer: CachedAnswer, ttlSeconds: number) {
      const px = Math.round(ttlSeconds * 1000);
      if (px <= 0) return;
      try {
        await withTimeout(redis.set(prefix + key, JSON.stringify(answer), { px }), timeoutMs);
      } catch (error) {
        throw new CacheUnavailableError("set", error);
      }
    },
  };
}

/**
 * A cache that answers slowly is worse than none: the request could have gone upstream. A store
 * that hangs (a REST proxy retrying a dead Redis, a black-holed network) is reported as unavailable
 * after `timeoutMs` instead; the command itself is left to finish or fail on its own.
 */
function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  promise.catch(() => {}); // lost the race: its failure is no longer anyone's concern
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
