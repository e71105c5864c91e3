import type { ChatCompletion, ResponseContext, ToolCallOut, Usage } from "../types.ts";
import { UpstreamFormatError } from "../types.ts";
import { completionOf, usageOf } from "../chunks.ts";

/** Anthropic Messages response -> OpenAI chat.completion. */

export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

interface AnthropicBlock {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
}

const FINISH_REASONS: Record<string, string> = {
  end_turn: "stop",
  stop_sequence: "stop",
  pause_turn: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  tool_use: "tool_calls",
  refusal: "content_filter",
};

export function finishReasonOf(stopReason: string | null | undefined): string {
  return (stopReason && FINISH_REASONS[stopReason]) || "stop";
}

/** OpenAI's prompt_tokens counts every input token; Anthropic reports cached ones apart. */
export function promptTokensOf(usage: AnthropicUsage): number {
  return (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0);
}

export function usageFrom(usage: AnthropicUsage): Usage {
  return usageOf(promptTokensOf(usage), usage.output_tokens ?? 0);
}

export function toChatCompletion(body: unknown, ctx: ResponseContext): ChatCompletion {
  const message = body as { content?: unknown; stop_reason?: string | null; usage?: AnthropicUsage } | null;
  if (!message || typeof message !== "object" || !Array.isArray(message.content)) {
    throw new UpstreamFormatError("Anthropic returned no content blocks");
  }
  let text = "";
  const toolCalls: ToolCallOut[] = [];
  for (const block of message.content as AnthropicBlock[]) {
    if (block.type === "text") text += block.text ?? "";
    else if (block.type === "tool_use") {
      toolCalls.push({
        id: block.id ?? `call_${toolCalls.length}`,
        type: "function",
        function: { name: block.name ?? "", arguments: JSON.stringify(block.input ?? {}) },
      });
    }
    // thinking and server-tool blocks have no OpenAI counterpart and are left out.
  }
  return completionOf(ctx, text, toolCalls, finishReasonOf(message.stop_reason), usageFrom(message.usage ?? {}));
}
