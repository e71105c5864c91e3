import type { SharedRedis } from "../store/redis.ts";
import type { GodotzConfig } from "../../shared/config/schema.ts";
import { createRateLimiter, type RateLimiter } from "../limits/rate.ts";
import { createConcurrencyLimiter, type ConcurrencyLimiter } from "../limits/concurrency.ts";
import { createResponseCache, type ResponseCache } from "../cache/store.ts";
import { createHealthBook, type HealthBook } from "../health/book.ts";

/**
 * The shared state behind governance. With Redis (Upstash REST) it is shared by every gateway
 * process; without, each capability keeps it in-process, which is exact for one process only.
 */
export interface Governance {
  rate: RateLimiter;
  concurrency: ConcurrencyLimiter;
  cache: ResponseCache;
  health: HealthBook;
  /** "redis" when shared across processes, "memory" when single-process. */
  store: "redis" | "memory";
}

/** `namespace` separates gateways (or test runs) that share one Redis but not their state. */
export function createGovernance(redis: SharedRedis | undefined, config: Pick<GodotzConfig, "routing">, namespace = "godotz"): Governance {
  const { failure_threshold, open_ms } = config.routing.circuit;
  return {
    rate: createRateLimiter(redis, { prefix: `${namespace}:rate` }),
    concurrency: createConcurrencyLimiter(redis, { prefix: `${namespace}:slots` }),
    cache: createResponseCache(redis, { prefix: `${namespace}:cache` }),
    health: createHealthBook(redis, { failureThreshold: failure_threshold, openMs: open_ms, prefix: `${namespace}:health` }),
    store: redis ? "redis" : "memory",
  };
}
