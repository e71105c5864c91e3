import type { ChatCompletion } from "../providers/types.ts";

/** The final answer as the client saw it (usage included), plus when it was stored. */
export type CachedAnswer = ChatCompletion & {
  /** The godotz model that answered (after any fallback), reported again on a hit. */
  model: string;
  /** Epoch milliseconds. */
  cached_at: number;
};

export interface ResponseCache {
  /** The answer stored under `key`, or undefined when there is none (or it expired). */
  get(key: string): Promise<CachedAnswer | undefined>;
  set(key: string, answer: CachedAnswer, ttlSeconds: number): Promise<void>;
  /** "redis" is shared by every gateway process; "memory" is this process only. */
  readonly kind: "redis" | "memory";
}

export interface ResponseCacheOptions {
  /** Prepended to every Redis key, so several gateways (or tests) can share one Redis. */
  prefix?: string;
  /** Bound on the in-memory store; ignored with Redis, which has its own eviction policy. */
  maxEntries?: number;
  /** A Redis command slower than this is reported as CacheUnavailableError (default 500 ms). */
  timeoutMs?: number;
}

/**
 * The cache store could not be read or written. Not a GatewayError on purpose: the caller
 * decides. Normally the gateway fails open (a miss, and the request goes upstream); in hardcore
 * mode, where nothing is served while a governance store is unreachable, it answers 503.
 */
export class CacheUnavailableError extends Error {
  constructor(
    readonly operation: "get" | "set",
    cause: unknown,
  ) {
    super(`response cache ${operation} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "CacheUnavailableError";
  }
}

/** A stored value that does not look like an answer (another writer, an old format) is a miss, not an error. */
export function asCachedAnswer(value: unknown): CachedAnswer | undefined {
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (typeof value !== "object" || value === null) return undefined;
  const answer = value as Partial<CachedAnswer>;
  if (answer.object !== "chat.completion" || !Array.isArray(answer.choices) || typeof answer.model !== "string") return undefined;
  return answer as CachedAnswer;
}
