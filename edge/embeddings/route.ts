import type { Context } from "hono";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { recordCall } from "../deps.ts";
import { embeddingsRequest, type EmbeddingsRequest } from "../chat/schema.ts";
import { readBody } from "../request/body.ts";
import { lookupModel } from "../routing/resolve.ts";
import { assertKeyAllowsModel } from "../auth/middleware.ts";
import { sendUpstream, UpstreamAttemptError } from "../upstream/send.ts";
import { GatewayError, invalidRequest, upstreamError } from "../errors.ts";
import { costUsd } from "../pricing/cost.ts";
import { baseAuditRecord } from "../audit/from-context.ts";
import { responseHeaders } from "../response-headers.ts";

export async function handleEmbeddings(c: Context<GatewayEnv>, deps: GatewayDeps): Promise<Response> {
  let req: EmbeddingsRequest | undefined;
  try {
    req = await readBody(c, embeddingsRequest);
    const model = lookupModel(deps.models, req.model);
    assertKeyAllowsModel(c.get("key"), model);
    if (model.config.type !== "embedding") {
      throw new GatewayError(400, "invalid_request_error", "model_not_embedding", `Model "${req.model}" is not an embedding model`, "model");
    }
    const adapter = model.adapter;
    if (!adapter.embeddingsRequest || !adapter.embeddingsResponse) {
      throw invalidRequest(`Provider kind "${adapter.kind}" has no embeddings API`, "model", "embeddings_unsupported");
    }
    const upstreamRequest = adapter.embeddingsRequest(req, model.target);
    let result;
    try {
      const { response, abort } = await sendUpstream(deps.fetch, model, upstreamRequest, c.req.raw.signal);
      try {
        result = adapter.embeddingsResponse(await response.json(), { id: c.get("requestId"), created: Math.floor(Date.now() / 1000), model: model.name }, req);
      } catch (error) {
        throw upstreamError(502, `provider "${model.providerName}" sent an unreadable answer: ${(error as Error).message}`);
      } finally {
        abort();
      }
    } catch (error) {
      throw error instanceof UpstreamAttemptError ? error.error : error;
    }
    const cost = costUsd(model.config.price, result.usage.prompt_tokens, 0);
    recordCall(deps, {
      ...baseAuditRecord(c, "/v1/embeddings", req.model, req),
      model_used: model.name,
      provider: model.providerName,
      prompt_tokens: result.usage.prompt_tokens,
      cost_usd: cost,
      // Vectors are large and reproducible from the input; the audit keeps their count and size.
      response_body: { object: "list", model: result.model, usage: result.usage, vectors: result.data.length },
    });
    return c.json(result, 200, responseHeaders(model, "bypass", cost));
  } catch (error) {
    if (error instanceof GatewayError) {
      recordCall(deps, { ...baseAuditRecord(c, "/v1/embeddings", req?.model ?? null, req ?? null), status: error.status, error_code: error.code, error_message: error.message });
    }
    throw error;
  }
}
