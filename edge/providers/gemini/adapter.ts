import type { ProviderAdapter, UpstreamTarget } from "../types.ts";
import { joinUrl, readErrorMessage } from "../http.ts";
import { toGenerateContentBody } from "./request.ts";
import { toChatCompletion } from "./response.ts";
import { geminiStream } from "./stream.ts";
import { toBatchEmbedBody, toEmbeddingsList } from "./embeddings.ts";

/** Gemini API (Google AI Studio keys), generateContent family of endpoints. */

function headers(target: UpstreamTarget): Record<string, string> {
  const h: Record<string, string> = { "content-type": "application/json", ...target.headers };
  if (target.apiKey) h["x-goog-api-key"] = target.apiKey;
  return h;
}

/** Gemini names models "models/x"; config may use either form. */
function modelName(target: UpstreamTarget): string {
  return target.upstreamModel.replace(/^models\//, "");
}

export const geminiAdapter: ProviderAdapter = {
  kind: "gemini",
  defaultBaseUrl: "https://generativelanguage.googleapis.com/v1beta",

  chatRequest(req, target, stream) {
    const method = stream ? "streamGenerateContent?alt=sse" : "generateContent";
    const url = joinUrl(target.baseUrl, `models/${modelName(target)}:${method}`);
    return { url, method: "POST", headers: headers(target), body: JSON.stringify(toGenerateContentBody(req)) };
  },

  chatResponse: toChatCompletion,
  chatStream: geminiStream,

  embeddingsRequest(req, target) {
    const model = modelName(target);
    const url = joinUrl(target.baseUrl, `models/${model}:batchEmbedContents`);
    return { url, method: "POST", headers: headers(target), body: JSON.stringify(toBatchEmbedBody(req, model)) };
  },

  embeddingsResponse: toEmbeddingsList,
  // Gemini errors are `{error:{code,message,status}}`, sometimes wrapped in an array.
  errorMessage: readErrorMessage,
};
