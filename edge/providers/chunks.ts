import type { ChatCompletion, ChatCompletionChunk, ChunkOut, ResponseContext, ToolCallOut, Usage } from "./types.ts";
import { UpstreamFormatError } from "./types.ts";

/** Builders for OpenAI stream chunks, for adapters that translate another provider's events. */

type Delta = ChatCompletionChunk["choices"][number]["delta"];

export function deltaChunk(ctx: ResponseContext, delta: Delta, finishReason: string | null = null): ChunkOut {
  const chunk: ChatCompletionChunk = {
    id: ctx.id,
    object: "chat.completion.chunk",
    created: ctx.created,
    model: ctx.model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
  return { chunk, json: JSON.stringify(chunk) };
}

/** OpenAI's shape for `stream_options.include_usage`: a last chunk with no choices. */
export function usageChunk(ctx: ResponseContext, usage: Usage): ChunkOut {
  const chunk: ChatCompletionChunk = {
    id: ctx.id,
    object: "chat.completion.chunk",
    created: ctx.created,
    model: ctx.model,
    choices: [],
    usage,
  };
  return { chunk, json: JSON.stringify(chunk) };
}

export function usageOf(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** One SSE data payload as a JSON object; anything else means the upstream is not speaking its protocol. */
export function parseEventData(data: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new UpstreamFormatError(`upstream sent a stream event that is not JSON: ${data.slice(0, 200)}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new UpstreamFormatError(`upstream sent a stream event that is not a JSON object: ${data.slice(0, 200)}`);
  }
  return parsed as Record<string, unknown>;
}

/** A whole answer in OpenAI's shape, from what a provider's response was translated into. */
export function completionOf(ctx: ResponseContext, text: string, toolCalls: ToolCallOut[], finishReason: string, usage: Usage): ChatCompletion {
  return {
    id: ctx.id,
    object: "chat.completion",
    created: ctx.created,
    model: ctx.model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: text || (toolCalls.length ? null : ""),
          ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
          refusal: null,
        },
        finish_reason: finishReason,
        logprobs: null,
      },
    ],
    usage,
  };
}
