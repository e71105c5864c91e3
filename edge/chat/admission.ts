import type { Context } from "hono";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import type { ChatCompletionRequest } from "./schema.ts";
import type { ResolvedModel } from "../routing/resolve.ts";
import { GatewayError } from "../errors.ts";
import { LimiterUnavailableError } from "../limits/rate.ts";
import { cacheDecision } from "../cache/policy.ts";
import { cacheKey } from "../cache/key.ts";
import { CacheUnavailableError, type CachedAnswer } from "../cache/store.ts";
import { storeUnavailable } from "../governance/unavailable.ts";
import { estimateTokens } from "./accumulate.ts";

/**
 * Requests and tokens per minute, per key and per model. Tokens are counted up front as the
 * prompt estimate plus the output the request asks for, since the actual count is only known
 * after the call.
 */
export async function checkRateLimits(deps: GatewayDeps, c: Context<GatewayEnv>, req: ChatCompletionRequest, model: ResolvedModel): Promise<void> {
  const key = c.get("key");
  if (!key.rpm && !key.tpm && !model.config.rpm && !model.config.tpm) return;
  let decision;
  try {
    decision = await deps.governance.rate.check({
      keyId: key.id,
      keyRpm: key.rpm,
      keyTpm: key.tpm,
      model: model.name,
      modelRpm: model.config.rpm,
      modelTpm: model.config.tpm,
      tokens: estimateTokens(req.messages) + (req.max_completion_tokens ?? req.max_tokens ?? 0),
    });
  } catch (error) {
    if (!(error instanceof LimiterUnavailableError)) throw error;
    return storeUnavailable(deps, "rate limiter", error);
  }
  if (decision.ok) return;
  const [who, what] = decision.scope.split("_") as ["key" | "model", "rpm" | "tpm"];
  throw new GatewayError(
    429,
    "rate_limit_error",
    "rate_limited",
    `Rate limit reached: ${who === "key" ? `key ${key.name}` : `model ${model.name}`} allows ${decision.limit} ${what === "rpm" ? "requests" : "tokens"} per minute`,
    null,
    { "retry-after": String(decision.retryAfterSeconds) },
  );
}

export type CacheLookup = { state: "hit"; answer: CachedAnswer } | { state: "miss"; key: string } | { state: "bypass" };

/** Looks the request up when the policy allows caching it; answers are partitioned per virtual key. */
export async function lookupCache(deps: GatewayDeps, c: Context<GatewayEnv>, req: ChatCompletionRequest): Promise<CacheLookup> {
  const policy = { ttlSeconds: deps.config.cache.ttl_seconds, deterministicOnly: deps.config.cache.deterministic_only };
  if (cacheDecision(req, { cacheControl: c.req.header("cache-control") }, policy) === "bypass") return { state: "bypass" };
  const key = await cacheKey(req, c.get("key").id);
  try {
    const answer = await deps.governance.cache.get(key);
    return answer ? { state: "hit", answer } : { state: "miss", key };
  } catch (error) {
    if (!(error instanceof CacheUnavailableError)) throw error;
    storeUnavailable(deps, "response cache", error);
    return { state: "bypass" };
  }
}
