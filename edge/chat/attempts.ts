import type { Context } from "hono";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import type { ChatCompletionRequest } from "./schema.ts";
import type { ResolvedModel } from "../routing/resolve.ts";
import { sendUpstream, UpstreamAttemptError } from "../upstream/send.ts";
import { withRetries, gatewayRetryDefaults, isTransientUpstreamError, upstreamRetryAfterMs } from "../upstream/retry.ts";
import { HealthStoreUnavailableError } from "../health/book.ts";
import { ConcurrencyRefusedError, DEFAULT_MODEL_CONCURRENCY, LimiterUnavailableError, type Lease } from "../limits/concurrency.ts";
import { GatewayError, upstreamError } from "../errors.ts";
import { storeUnavailable } from "../governance/unavailable.ts";
import { completeChat } from "./complete.ts";
import { streamChat } from "./stream.ts";
import type { Finish } from "./finish.ts";

/**
 * Tries the candidates, already in order of health (healthOrder; FR-L2-006): on each, takes a concurrency slot, sends
 * with retries (exponential backoff with jitter on 5xx, timeouts and provider 429), and records
 * every attempt in the shared health book. The first model that answers wins.
 */
export async function tryCandidates(
  c: Context<GatewayEnv>,
  deps: GatewayDeps,
  req: ChatCompletionRequest,
  candidates: ResolvedModel[],
  outputBound: (model: ResolvedModel) => ChatCompletionRequest,
  finish: Finish,
  /** The first candidate's slot, when admission already asked for it. */
  firstSlot?: Promise<Lease | undefined>,
): Promise<Response> {
  const stream = req.stream === true;
  let lastError: GatewayError | undefined;
  for (const [i, model] of candidates.entries()) {
    let lease: Lease | undefined;
    try {
      lease = await (i === 0 && firstSlot ? firstSlot : takeSlot(deps, c, model));
    } catch (error) {
      if (!(error instanceof ConcurrencyRefusedError)) throw error;
      lastError = new GatewayError(429, "rate_limit_error", "rate_limited", `Model ${model.name} is at its concurrency limit of ${error.cap} (${error.reason === "queue_full" ? "queue full" : `waited ${error.waitedMs} ms`})`, null, { "retry-after": "1" });
      continue;
    }
    const release = () => void lease?.release();
    const upstreamRequest = model.adapter.chatRequest(outputBound(model), model.target, stream);
    const started = performance.now();
    try {
      const { response, abort } = await withRetries(() => sendUpstream(deps.fetch, model, upstreamRequest, c.req.raw.signal), {
        ...gatewayRetryDefaults,
        signal: c.req.raw.signal,
        isRetryable: isTransientUpstreamError,
        retryAfterMs: upstreamRetryAfterMs,
        onRetry: () => recordHealth(deps, model, false, started),
      });
      recordHealth(deps, model, true, started, "after the response");
      const done: Finish = (outcome) => {
        release();
        finish(outcome);
      };
      return stream ? streamChat(c, deps, req, model, response, abort, done) : await completeChat(c, deps, req, model, response, abort, done);
    } catch (error) {
      release();
      if (c.req.raw.signal?.aborted) throw new GatewayError(499, "invalid_request_error", "client_disconnected", "The client disconnected before an answer arrived");
      if (!(error instanceof UpstreamAttemptError)) throw error;
      if (error.retryable) recordHealth(deps, model, false, started);
      lastError = error.error;
      if (!error.retryable) break;
    }
  }
  throw lastError ?? upstreamError(502, "no model could answer");
}

/** The candidates in the order to try them, by the shared health book. */
export async function healthOrder(deps: GatewayDeps, candidates: ResolvedModel[]): Promise<ResolvedModel[]> {
  if (candidates.length < 2) return candidates;
  try {
    const order = await deps.governance.health.order(candidates.map((m) => m.name));
    return order.flatMap((name) => candidates.find((m) => m.name === name) ?? []);
  } catch (error) {
    if (!(error instanceof HealthStoreUnavailableError)) throw error;
    storeUnavailable(deps, "model health store", error);
    return candidates;
  }
}

/**
 * A concurrency slot on the model. The wait ends when the client disconnects, or, when `giveUp` is
 * given, when it aborts: the caller makes it follow the client's signal too.
 */
export async function takeSlot(deps: GatewayDeps, c: Context<GatewayEnv>, model: ResolvedModel, giveUp?: AbortSignal): Promise<Lease | undefined> {
  const cap = model.config.max_concurrency ?? DEFAULT_MODEL_CONCURRENCY[model.name];
  if (!cap) return undefined;
  try {
    return await deps.governance.concurrency.acquire({
      model: model.name,
      cap,
      keyId: c.get("key").id,
      signal: giveUp ?? c.req.raw.signal,
      maxWaitMs: deps.config.limits.max_wait_ms,
      maxQueue: deps.config.limits.max_queue,
    });
  } catch (error) {
    if (!(error instanceof LimiterUnavailableError)) throw error;
    storeUnavailable(deps, "concurrency limiter", error);
    return undefined;
  }
}

/**
 * Off the request path: a slow health store must not slow the answer. A success is sent once the
 * answer is written (its latency taken now); a failure at once, before the next attempt.
 */
function recordHealth(deps: GatewayDeps, model: ResolvedModel, ok: boolean, started: number, when?: "after the response"): void {
  const latencyMs = performance.now() - started;
  const record = () => deps.governance.health.record(model.name, { ok, latencyMs }).catch(() => {});
  if (when) deps.background.afterResponse(record);
  else deps.background.run(record());
}
