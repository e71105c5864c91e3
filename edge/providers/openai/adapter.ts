import type { ProviderAdapter, UpstreamTarget, ChatCompletion, ChatCompletionChunk, EmbeddingsResponse } from "../types.ts";
import { UpstreamFormatError, UpstreamStreamError } from "../types.ts";
import { joinUrl, readErrorMessage } from "../http.ts";

/**
 * Any OpenAI-compatible API (OpenAI, z.ai GLM, DeepSeek, OpenRouter, Ollama, vLLM). Requests go
 * out as they came in, with the upstream model name; chunks come back as received.
 */

function headers(target: UpstreamTarget): Record<string, string> {
  const h: Record<string, string> = { "content-type": "application/json", ...target.headers };
  if (target.apiKey) h.authorization = `Bearer ${target.apiKey}`;
  return h;
}

export const openaiAdapter: ProviderAdapter = {
  kind: "openai",
  defaultBaseUrl: "https://api.openai.com/v1",

  chatRequest(req, target, stream) {
    // Built without `delete`, which turns the object into a slow dictionary for JSON.stringify.
    const { stream_options, ...rest } = req;
    const body: Record<string, unknown> = { ...rest, model: target.upstreamModel, stream };
    // Usage is needed for pricing and audit even when the client did not ask for it; the
    // gateway drops the usage chunk again if the client did not ask.
    if (stream) body.stream_options = { ...(stream_options ?? {}), include_usage: true };
    return { url: joinUrl(target.baseUrl, "chat/completions"), method: "POST", headers: headers(target), body: JSON.stringify(body) };
  },

  chatResponse(body, ctx) {
    if (!body || typeof body !== "object" || !Array.isArray((body as ChatCompletion).choices)) {
      throw new UpstreamFormatError("upstream returned no choices");
    }
    const completion = body as ChatCompletion;
    return { ...completion, id: completion.id ?? ctx.id, object: "chat.completion", model: ctx.model };
  },

  chatStream(ctx) {
    return {
      onEvent(event) {
        if (event.data === "[DONE]") return [];
        let chunk: ChatCompletionChunk & { error?: { message?: string } };
        try {
          chunk = JSON.parse(event.data);
        } catch {
          throw new UpstreamFormatError(`upstream sent a stream event that is not JSON: ${event.data.slice(0, 200)}`);
        }
        if (chunk.error) throw new UpstreamStreamError(chunk.error.message ?? "upstream stream error");
        if (!Array.isArray(chunk.choices)) chunk.choices = [];
        if (chunk.model === ctx.model) return [{ chunk, json: event.data }];
        chunk.model = ctx.model;
        return [{ chunk, json: JSON.stringify(chunk) }];
      },
      finish: () => [],
    };
  },

  embeddingsRequest(req, target) {
    const body = { ...req, model: target.upstreamModel };
    return { url: joinUrl(target.baseUrl, "embeddings"), method: "POST", headers: headers(target), body: JSON.stringify(body) };
  },

  embeddingsResponse(body, ctx) {
    if (!body || typeof body !== "object" || !Array.isArray((body as EmbeddingsResponse).data)) {
      throw new UpstreamFormatError("upstream returned no embeddings");
    }
    const response = body as EmbeddingsResponse;
    return { ...response, model: ctx.model, usage: response.usage ?? { prompt_tokens: 0, total_tokens: 0 } };
  },

  errorMessage: readErrorMessage,
};
