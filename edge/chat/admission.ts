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
import { holdBudget, type RequestBudget } from "../budget/hold.ts";
import type { Lease } from "../limits/concurrency.ts";
import { healthOrder, takeSlot } from "./attempts.ts";

export interface Admission {
  budget: RequestBudget;
  /** The candidates in the order to try them. */
  ordered: ResolvedModel[];
  /** The slot of the first of them, already asked for (when it is the model asked for). */
  firstSlot?: Promise<Lease | undefined>;
}

/**
 * Rate limits, the budget hold, the health order and a slot on the model asked for, all at once:
 * none depends on another's answer, so a request waits on one round trip to the stores instead of
 * four in a row (with the native Redis client, commands of the same tick share one pipeline).
 * The first refusal, in that order, is the answer, and what the others took is given back: the
 * hold released, the slot released or its wait abandoned. A rate-limit charge is not refunded
 * when the budget refuses (as before), and a half-open model's probe lease taken by the health
 * order of a refused request lapses on its own. The slot is speculative: when health puts
 * another model first, it is given back and the attempts take their own.
 */
export async function admit(deps: GatewayDeps, c: Context<GatewayEnv>, req: ChatCompletionRequest, candidates: ResolvedModel[]): Promise<Admission> {
  const primary = candidates[0]!;
  // The slot's wait ends when admission refuses or the client leaves: one controller fed by both
  // rather than AbortSignal.any, whose WeakRefs kept every request's signals, and what they reach,
  // alive through young-generation collections (docs/benchmarks.md, governed tail at 500 requests/s).
  const giveUp = new AbortController();
  const client = c.req.raw.signal;
  const clientGone = () => giveUp.abort(client.reason);
  if (client.aborted) clientGone();
  else client.addEventListener("abort", clientGone, { once: true });
  const slot = takeSlot(deps, c, primary, giveUp.signal);
  const unlisten = () => client.removeEventListener("abort", clientGone);
  slot.then(unlisten, unlisten); // read where the slot is used, or dropped with it
  const dropSlot = () => {
    giveUp.abort();
    slot.then((lease) => void lease?.release(), () => {});
  };
  const [rate, held, order] = await Promise.allSettled([checkRateLimits(deps, c, req, primary), holdBudget(deps, c.get("key"), req, candidates), healthOrder(deps, candidates)]);
  const refusal = [rate, held, order].find((r) => r.status === "rejected");
  if (refusal) {
    dropSlot();
    if (held.status === "fulfilled") held.value.settle(undefined, 0);
    throw refusal.reason;
  }
  const budget = (held as PromiseFulfilledResult<RequestBudget>).value;
  const ordered = (order as PromiseFulfilledResult<ResolvedModel[]>).value;
  if (ordered[0] !== primary) {
    dropSlot();
    return { budget, ordered };
  }
  return { budget, ordered, firstSlot: slot };
}

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
