import type { ProviderAdapter, UpstreamTarget } from "../types.ts";
import { joinUrl, readErrorMessage } from "../http.ts";
import { toMessagesBody } from "./request.ts";
import { toChatCompletion } from "./response.ts";
import { anthropicStream } from "./stream.ts";

/** Anthropic Messages API. No embeddings: Anthropic has no embeddings endpoint. */

export const ANTHROPIC_VERSION = "2023-06-01";

function headers(target: UpstreamTarget): Record<string, string> {
  const h: Record<string, string> = { "content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION, ...target.headers };
  if (target.apiKey) h["x-api-key"] = target.apiKey;
  return h;
}

export const anthropicAdapter: ProviderAdapter = {
  kind: "anthropic",
  defaultBaseUrl: "https://api.anthropic.com/v1",

  chatRequest(req, target, stream) {
    const body = toMessagesBody(req, target.upstreamModel, stream);
    return { url: joinUrl(target.baseUrl, "messages"), method: "POST", headers: headers(target), body: JSON.stringify(body) };
  },

  chatResponse: toChatCompletion,
  chatStream: anthropicStream,
  // Anthropic's `{type:"error", error:{type, message}}` is one of the shapes readErrorMessage knows.
  errorMessage: readErrorMessage,
};
