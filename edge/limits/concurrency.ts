import type { SharedRedis } from "../store/redis.ts";
import { ConcurrencyRefusedError, LimiterUnavailableError } from "./errors.ts";
import { createMemoryConcurrencyLimiter } from "./concurrency-memory.ts";
import { createRedisConcurrencyLimiter } from "./concurrency-redis.ts";

export { ConcurrencyRefusedError, LimiterUnavailableError };

/** FR-L4-005: how many requests each known GLM model may have in flight, gateway-wide. */
export const DEFAULT_MODEL_CONCURRENCY: Readonly<Record<string, number>> = Object.freeze({
  "glm-5.1": 10,
  "glm-5-turbo": 1,
  "glm-4.7": 2,
  "glm-4.5-air": 5,
});

/** A held slot. release() never throws: a slot that cannot be given back expires with its lease. */
export interface Lease {
  release(): Promise<void>;
}

export interface AcquireInput {
  model: string;
  cap: number;
  keyId: string;
  signal?: AbortSignal;
  /** How long to wait in the queue for a slot; 0 refuses at once when the model is full. */
  maxWaitMs: number;
  /** Waiters allowed per model; a request beyond them is refused without waiting. */
  /** Most requests of one key waiting for this model at once; more are refused at once. */
  maxQueue: number;
}

export interface ConcurrencyLimiter {
  /**
   * Resolves with a slot, or rejects with ConcurrencyRefusedError (queue full or waited too
   * long), LimiterUnavailableError (store unreachable) or the signal's reason (aborted).
   */
  acquire(input: AcquireInput): Promise<Lease>;
}

export interface ConcurrencyOptions {
  /** How long a slot outlives its holder's last renewal: the bound on a crashed process's slot. */
  leaseMs?: number;
  prefix?: string;
  /** Mean pause between a waiter's attempts (Redis only; in-process waiters are woken directly). */
  pollMs?: number;
  /** How long a store call may take before the store counts as unavailable. */
  timeoutMs?: number;
}

/**
 * Per-model concurrency caps. With Redis the slots are shared by every gateway process; without
 * it they hold for this process only (the documented `npm run dev` default).
 */
export function createConcurrencyLimiter(redis: SharedRedis | undefined, options: ConcurrencyOptions = {}): ConcurrencyLimiter {
  if (!redis) return createMemoryConcurrencyLimiter();
  return createRedisConcurrencyLimiter(redis, {
    leaseMs: options.leaseMs ?? 15_000,
    prefix: options.prefix ?? "godotz:slots",
    pollMs: options.pollMs ?? 50,
    timeoutMs: options.timeoutMs ?? 2_000,
  });
}
