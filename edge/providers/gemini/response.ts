import type { ChatCompletion, ResponseContext, ToolCallOut, Usage } from "../types.ts";
import { UpstreamFormatError, UpstreamStreamError } from "../types.ts";
import { completionOf, usageOf } from "../chunks.ts";

/** Gemini GenerateContentResponse -> OpenAI chat.completion. */

export interface GeminiPart {
  text?: string;
  thought?: boolean;
  functionCall?: { id?: string; name?: string; args?: unknown };
}

export interface GeminiUsage {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
}

export interface GeminiResponse {
  candidates?: Array<{ content?: { parts?: GeminiPart[] }; finishReason?: string }>;
  promptFeedback?: { blockReason?: string };
  usageMetadata?: GeminiUsage;
  error?: { message?: string; status?: string };
}

const FILTERED = new Set(["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"]);

export function finishReasonOf(reason: string | undefined, sawToolCall: boolean): string {
  if (reason === "MAX_TOKENS") return "length";
  if (reason && FILTERED.has(reason)) return "content_filter";
  return sawToolCall ? "tool_calls" : "stop";
}

/** Thinking tokens are billed as output, so they count as completion tokens. */
export function usageFrom(usage: GeminiUsage): Usage {
  const prompt = (usage.promptTokenCount ?? 0) + (usage.toolUsePromptTokenCount ?? 0);
  return usageOf(prompt, (usage.candidatesTokenCount ?? 0) + (usage.thoughtsTokenCount ?? 0));
}

/**
 * Gemini calls carry no id unless the model sets one; OpenAI clients need one to answer. The
 * response id makes it unique across turns, so a later call_0 is never confused with an earlier.
 */
export function toolCallId(ctx: ResponseContext, call: GeminiPart["functionCall"], n: number): string {
  return call?.id || `call_${n}_${ctx.id.replace(/[^A-Za-z0-9]/g, "").slice(-12)}`;
}

export function toolCallOf(ctx: ResponseContext, call: NonNullable<GeminiPart["functionCall"]>, n: number): ToolCallOut {
  return { id: toolCallId(ctx, call, n), type: "function", function: { name: call.name ?? "", arguments: JSON.stringify(call.args ?? {}) } };
}

/** An `error` object inside a stream is the upstream failing mid-answer, not a malformed body. */
export function readResponse(body: unknown, inStream: boolean): GeminiResponse {
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new UpstreamFormatError("Gemini returned a body that is not an object");
  const response = body as GeminiResponse;
  if (response.error) {
    const message = response.error.message ?? response.error.status ?? "Gemini error";
    throw inStream ? new UpstreamStreamError(message) : new UpstreamFormatError(message);
  }
  if (!Array.isArray(response.candidates) && !response.promptFeedback?.blockReason && !response.usageMetadata) {
    throw new UpstreamFormatError("Gemini returned no candidates");
  }
  return response;
}

export function toChatCompletion(body: unknown, ctx: ResponseContext): ChatCompletion {
  const response = readResponse(body, false);
  const candidate = response.candidates?.[0];
  let text = "";
  const toolCalls: ToolCallOut[] = [];
  for (const part of candidate?.content?.parts ?? []) {
    if (part.functionCall) toolCalls.push(toolCallOf(ctx, part.functionCall, toolCalls.length));
    else if (typeof part.text === "string" && !part.thought) text += part.text;
  }
  const finishReason = candidate ? finishReasonOf(candidate.finishReason, toolCalls.length > 0) : "content_filter";
  return completionOf(ctx, text, toolCalls, finishReason, usageFrom(response.usageMetadata ?? {}));
}
