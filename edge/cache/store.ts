import type { SharedRedis } from "../store/redis.ts";
import type { ResponseCache, ResponseCacheOptions } from "./answer.ts";
import { MemoryResponseCache } from "./memory.ts";
import { redisResponseCache } from "./redis-cache.ts";

export { CacheUnavailableError, type CachedAnswer, type ResponseCache, type ResponseCacheOptions } from "./answer.ts";

/**
 * Redis (through @upstash/redis) when there is one, so all gateway processes share hits.
 * Without Redis, an in-process LRU: correct, but each process has its own cache (documented as
 * single-process, like the other in-process fallbacks).
 */
export function createResponseCache(redis: SharedRedis | undefined, options: ResponseCacheOptions = {}): ResponseCache {
  if (redis) return redisResponseCache(redis, options.prefix ?? "godotz:cache:", options.timeoutMs ?? 500);
  return new MemoryResponseCache({ maxEntries: options.maxEntries ?? 10_000 });
}
