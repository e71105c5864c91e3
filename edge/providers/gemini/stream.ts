import type { ChunkOut, ResponseContext, StreamTranslator } from "../types.ts";
import { deltaChunk, parseEventData, usageChunk } from "../chunks.ts";
import type { GeminiUsage } from "./response.ts";
import { finishReasonOf, readResponse, toolCallOf, usageFrom } from "./response.ts";

/**
 * Gemini streams whole GenerateContentResponse objects, one per event, each holding the new
 * parts only. Function calls arrive complete, so each becomes one tool_calls delta with id,
 * name and all its arguments. usageMetadata is cumulative: the last one seen is the total.
 */
export function geminiStream(ctx: ResponseContext): StreamTranslator {
  let started = false;
  let finished = false;
  let usageSent = false;
  let toolCalls = 0;
  let usage: GeminiUsage | undefined;

  function start(out: ChunkOut[]): void {
    if (started) return;
    started = true;
    out.push(deltaChunk(ctx, { role: "assistant", content: "" }));
  }

  return {
    onEvent(event) {
      const response = readResponse(parseEventData(event.data), true);
      const out: ChunkOut[] = [];
      start(out);
      if (response.usageMetadata) usage = response.usageMetadata;
      const candidate = response.candidates?.[0];
      let text = "";
      const calls = [];
      for (const part of candidate?.content?.parts ?? []) {
        if (part.functionCall) calls.push({ index: toolCalls, ...toolCallOf(ctx, part.functionCall, toolCalls++) });
        else if (typeof part.text === "string" && !part.thought) text += part.text;
      }
      if (text) out.push(deltaChunk(ctx, { content: text }));
      if (calls.length) out.push(deltaChunk(ctx, { tool_calls: calls }));
      if (!finished && (candidate?.finishReason || (!candidate && response.promptFeedback?.blockReason))) {
        finished = true;
        const reason = candidate ? finishReasonOf(candidate.finishReason, toolCalls > 0) : "content_filter";
        out.push(deltaChunk(ctx, {}, reason));
      }
      return out;
    },
    finish() {
      if (usageSent || !usage) return [];
      usageSent = true;
      return [usageChunk(ctx, usageFrom(usage))];
    },
  };
}
