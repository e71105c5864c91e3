import type { ChatCompletionChunk, ToolCallOut, Usage } from "../providers/types.ts";

/** Builds the whole answer out of stream chunks, for the audit and for pricing. */
export class StreamAccumulator {
  text = "";
  finishReason: string | null = null;
  usage: Usage | undefined;
  private readonly toolCalls = new Map<number, ToolCallOut>();

  add(chunk: ChatCompletionChunk): void {
    if (chunk.usage) this.usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.index !== 0) continue;
      if (choice.delta?.content) this.text += choice.delta.content;
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
      for (const call of choice.delta?.tool_calls ?? []) {
        const existing = this.toolCalls.get(call.index) ?? { id: "", type: "function" as const, function: { name: "", arguments: "" } };
        if (call.id) existing.id = call.id;
        if (call.function?.name) existing.function.name += call.function.name;
        if (call.function?.arguments) existing.function.arguments += call.function.arguments;
        this.toolCalls.set(call.index, existing);
      }
    }
  }

  message() {
    const tool_calls = [...this.toolCalls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c);
    return { role: "assistant" as const, content: this.text || null, ...(tool_calls.length ? { tool_calls } : {}) };
  }
}

/** Rough token count (4 characters a token) for upstreams that report no usage; better than pricing at zero. */
export function estimateTokens(value: unknown): number {
  const text = typeof value === "string" ? value : JSON.stringify(value ?? "");
  return Math.ceil(text.length / 4);
}
