import type { EmbeddingsRequest } from "../../chat/schema.ts";
import type { EmbeddingsResponse, ResponseContext } from "../types.ts";
import { UnsupportedInputError, UpstreamFormatError } from "../types.ts";

/** OpenAI embeddings <-> Gemini batchEmbedContents. */

export function textInputs(input: EmbeddingsRequest["input"]): string[] {
  if (typeof input === "string") return [input];
  if (input.every((item) => typeof item === "string")) return input as string[];
  throw new UnsupportedInputError("Gemini embeddings take text only; token-id arrays are not supported");
}

export function toBatchEmbedBody(req: EmbeddingsRequest, model: string): Record<string, unknown> {
  return {
    requests: textInputs(req.input).map((text) => ({
      model: `models/${model}`,
      content: { parts: [{ text }] },
      ...(req.dimensions ? { outputDimensionality: req.dimensions } : {}),
    })),
  };
}

/** The OpenAI SDK asks for base64 by default: little-endian float32 bytes, base64-encoded. */
function toBase64(values: number[]): string {
  const bytes = new Uint8Array(new Float32Array(values).buffer);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function toEmbeddingsList(body: unknown, ctx: ResponseContext, req: EmbeddingsRequest): EmbeddingsResponse {
  const response = body as { embeddings?: Array<{ values?: unknown }>; embedding?: { values?: unknown } } | null;
  const embeddings = response?.embeddings ?? (response?.embedding ? [response.embedding] : undefined);
  if (!Array.isArray(embeddings) || !embeddings.every((e) => Array.isArray(e?.values))) {
    throw new UpstreamFormatError("Gemini returned no embeddings");
  }
  const base64 = req.encoding_format === "base64";
  // Gemini reports no token counts for embeddings; ~4 characters per token is the usual
  // estimate, close enough for budgets and far better than reporting zero.
  const chars = textInputs(req.input).reduce((sum, text) => sum + text.length, 0);
  const promptTokens = Math.ceil(chars / 4);
  return {
    object: "list",
    data: embeddings.map((e, index) => {
      const values = e.values as number[];
      return { object: "embedding", index, embedding: base64 ? toBase64(values) : values };
    }),
    model: ctx.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}
