import type { Context } from "hono";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { recordCall } from "../deps.ts";
import { chatCompletionRequest, type ChatCompletionRequest } from "./schema.ts";
import { readBody } from "../request/body.ts";
import type { ResolvedModel } from "../routing/resolve.ts";
import { GatewayError } from "../errors.ts";
import { baseAuditRecord } from "../audit/from-context.ts";
import type { RequestBudget } from "../budget/hold.ts";
import { replayResponse } from "../cache/replay.ts";
import { candidateModels } from "./candidates.ts";
import { admit, lookupCache, type CacheLookup } from "./admission.ts";
import { tryCandidates } from "./attempts.ts";
import type { Finish } from "./finish.ts";

/**
 * POST /v1/chat/completions. In order: validate, route (fallbacks, vision), answer from the cache
 * when allowed, admission (rate limits, budget hold, health order and the first slot, at once),
 * then the candidates in that order with concurrency slots and retries. Whatever happens, the call is audited once.
 */
export async function handleChat(c: Context<GatewayEnv>, deps: GatewayDeps): Promise<Response> {
  let req: ChatCompletionRequest | undefined;
  try {
    req = await readBody(c, chatCompletionRequest);
    const candidates = candidateModels(deps, c, req);
    if (candidates[0]!.config.type !== "chat") {
      throw new GatewayError(400, "invalid_request_error", "model_not_chat", `Model "${req.model}" is an embedding model; use /v1/embeddings`, "model");
    }
    const cached = await lookupCache(deps, c, req);
    c.set("cache", cached.state);
    if (cached.state === "hit") return answerFromCache(c, deps, req, cached.answer);
    const { budget, ordered, firstSlot } = await admit(deps, c, req, candidates);
    try {
      // Hardcore forbids fallback: a family request gets the healthiest of its models, alone.
      return await tryCandidates(c, deps, req, deps.config.hardcore ? ordered.slice(0, 1) : ordered, (model) => boundedOutput(req!, model, budget), finisher(deps, budget, cached), firstSlot);
    } catch (error) {
      budget.settle(undefined, 0);
      throw error;
    }
  } catch (error) {
    if (error instanceof GatewayError) {
      recordCall(deps, {
        ...baseAuditRecord(c, "/v1/chat/completions", req?.model ?? null, req ?? null),
        stream: req?.stream === true,
        status: error.status,
        error_code: error.code,
        error_message: error.message,
      });
    }
    throw error;
  }
}

/** Settle the budget with the actual cost and keep a complete answer for the next identical request. */
function finisher(deps: GatewayDeps, budget: RequestBudget, cached: CacheLookup): Finish {
  return ({ model, cost, completion }) => {
    budget.settle(model, cost);
    if (cached.state === "miss" && completion) {
      const answer = { ...completion, model: model.name, cached_at: Date.now() };
      deps.background.run(deps.governance.cache.set(cached.key, answer, deps.config.cache.ttl_seconds).catch((e) => deps.log(`godotz: cache write failed: ${(e as Error).message}`)));
    }
  };
}

/** A hit costs nothing and is audited as a hit. */
function answerFromCache(c: Context<GatewayEnv>, deps: GatewayDeps, req: ChatCompletionRequest, answer: Parameters<typeof replayResponse>[0]): Response {
  recordCall(deps, {
    ...baseAuditRecord(c, "/v1/chat/completions", req.model, req),
    model_used: answer.model,
    stream: req.stream === true,
    cache: "hit",
    prompt_tokens: answer.usage?.prompt_tokens ?? 0,
    completion_tokens: answer.usage?.completion_tokens ?? 0,
    cost_usd: 0,
    response_body: answer,
    response_text: answer.choices[0]?.message.content ?? null,
  });
  return replayResponse(answer, req, { id: `chatcmpl-${c.get("requestId")}`, created: Math.floor(Date.now() / 1000) });
}

/** Under a budget the hold assumed the model's output limit; make the provider keep to it. */
function boundedOutput(req: ChatCompletionRequest, model: ResolvedModel, budget: RequestBudget): ChatCompletionRequest {
  if (!budget.capped || req.max_tokens != null || req.max_completion_tokens != null) return req;
  return { ...req, max_tokens: model.config.max_output_tokens };
}
