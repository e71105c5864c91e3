import type { Context } from "hono";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { recordCall } from "../deps.ts";
import type { ChatCompletionRequest } from "./schema.ts";
import type { ResolvedModel } from "../routing/resolve.ts";
import { UpstreamAttemptError } from "../upstream/send.ts";
import { upstreamError } from "../errors.ts";
import { costUsd } from "../pricing/cost.ts";
import { estimateTokens } from "./accumulate.ts";
import { baseAuditRecord } from "../audit/from-context.ts";
import { responseHeaders } from "../response-headers.ts";
import type { Finish } from "./finish.ts";

/** A non-streamed answer: read whole, priced, audited, returned in OpenAI's shape. */
export async function completeChat(
  c: Context<GatewayEnv>,
  deps: GatewayDeps,
  req: ChatCompletionRequest,
  model: ResolvedModel,
  response: Response,
  abort: () => void,
  finish: Finish,
): Promise<Response> {
  let completion;
  try {
    const body = await response.json();
    completion = model.adapter.chatResponse(body, { id: `chatcmpl-${c.get("requestId")}`, created: Math.floor(Date.now() / 1000), model: model.name });
  } catch (error) {
    throw new UpstreamAttemptError(upstreamError(502, `provider "${model.providerName}" sent an unreadable answer: ${(error as Error).message}`), true);
  } finally {
    abort();
  }
  const usage = completion.usage ?? {
    prompt_tokens: estimateTokens(req.messages),
    completion_tokens: estimateTokens(completion.choices[0]?.message),
    total_tokens: 0,
  };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  completion.usage = usage;
  const cost = costUsd(model.config.price, usage.prompt_tokens, usage.completion_tokens);
  // Settling the budget, releasing the slot and writing the cache wait for the answer too.
  deps.background.afterResponse(() => finish({ model, cost, completion }));
  recordCall(deps, {
    ...baseAuditRecord(c, "/v1/chat/completions", req.model, req),
    model_used: model.name,
    provider: model.providerName,
    status: 200,
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    cost_usd: cost,
    response_body: completion,
    response_text: completion.choices[0]?.message.content ?? null,
  });
  return c.json(completion, 200, responseHeaders(model, c.get("cache"), cost));
}
