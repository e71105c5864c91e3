import type { ChatCompletionRequest } from "../chat/schema.ts";

export interface CachePolicy {
  /** `cache.ttl_seconds` from the config; 0 turns the cache off. */
  ttlSeconds: number;
  /** Cache only requests whose answer is meant to be repeatable (temperature 0). */
  deterministicOnly: boolean;
}

export type CacheDecision = "lookup" | "bypass";

/**
 * Whether a request may be answered from (and stored in) the cache. "bypass" skips both: a
 * request that must not read the cache must not fill it either, or it would shape the next
 * caller's answer.
 */
export function cacheDecision(req: ChatCompletionRequest, headers: { cacheControl?: string }, policy: CachePolicy): CacheDecision {
  if (!(policy.ttlSeconds > 0)) return "bypass";
  if (clientRefusesCache(headers.cacheControl)) return "bypass";
  // Several sampled choices are meant to differ; one stored set would defeat the point.
  if (req.n != null && req.n > 1) return "bypass";
  // The stored answer keeps no logprobs, so it cannot answer a request that asks for them.
  if ((req as { logprobs?: unknown }).logprobs === true) return "bypass";
  // OpenAI samples at temperature 1 when none is given, so an absent temperature is not deterministic.
  if (policy.deterministicOnly && !(req.temperature === 0)) return "bypass";
  return "lookup";
}

/** `no-cache` (revalidate: here, ask the model again) and `no-store` both mean: not from the cache. */
function clientRefusesCache(cacheControl: string | undefined): boolean {
  if (!cacheControl) return false;
  return cacheControl
    .split(",")
    .map((directive) => directive.trim().split("=")[0]!.trim().toLowerCase())
    .some((name) => name === "no-cache" || name === "no-store");
}
