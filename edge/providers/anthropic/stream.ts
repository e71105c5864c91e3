import type { ChunkOut, ResponseContext, StreamTranslator } from "../types.ts";
import { UpstreamStreamError } from "../types.ts";
import { deltaChunk, parseEventData, usageChunk } from "../chunks.ts";
import type { AnthropicUsage } from "./response.ts";
import { finishReasonOf, usageFrom } from "./response.ts";

/**
 * Anthropic stream events -> OpenAI chunks. Content blocks are numbered across text and tool
 * use; OpenAI numbers only tool calls, so each tool_use block gets the next tool-call index.
 */

interface BlockStart {
  type: string;
  text?: string;
  id?: string;
  name?: string;
}

interface Delta {
  type: string;
  text?: string;
  partial_json?: string;
}

export function anthropicStream(ctx: ResponseContext): StreamTranslator {
  const toolIndexByBlock = new Map<number, number>();
  let usage: AnthropicUsage = {};
  let started = false;
  let usageSent = false;

  function sendUsage(): ChunkOut[] {
    if (!started || usageSent) return [];
    usageSent = true;
    return [usageChunk(ctx, usageFrom(usage))];
  }

  function onBlockStart(index: number, block: BlockStart): ChunkOut[] {
    if (block.type === "text") return block.text ? [deltaChunk(ctx, { content: block.text })] : [];
    if (block.type !== "tool_use") return [];
    const toolIndex = toolIndexByBlock.size;
    toolIndexByBlock.set(index, toolIndex);
    const call = { index: toolIndex, id: block.id ?? "", type: "function" as const, function: { name: block.name ?? "", arguments: "" } };
    return [deltaChunk(ctx, { tool_calls: [call] })];
  }

  function onBlockDelta(index: number, delta: Delta): ChunkOut[] {
    if (delta.type === "text_delta") return delta.text ? [deltaChunk(ctx, { content: delta.text })] : [];
    if (delta.type !== "input_json_delta" || !delta.partial_json) return [];
    const toolIndex = toolIndexByBlock.get(index);
    if (toolIndex === undefined) return [];
    return [deltaChunk(ctx, { tool_calls: [{ index: toolIndex, function: { arguments: delta.partial_json } }] })];
  }

  return {
    onEvent(event) {
      const data = parseEventData(event.data);
      const type = event.event ?? (data.type as string | undefined);
      switch (type) {
        case "message_start": {
          started = true;
          const message = data.message as { usage?: AnthropicUsage } | undefined;
          usage = { ...message?.usage };
          return [deltaChunk(ctx, { role: "assistant", content: "" })];
        }
        case "content_block_start":
          return onBlockStart(data.index as number, data.content_block as BlockStart);
        case "content_block_delta":
          return onBlockDelta(data.index as number, data.delta as Delta);
        case "message_delta": {
          // message_delta usage is cumulative and may repeat input counts; newer fields win.
          usage = { ...usage, ...(data.usage as AnthropicUsage | undefined) };
          const stopReason = (data.delta as { stop_reason?: string | null } | undefined)?.stop_reason;
          return [deltaChunk(ctx, {}, finishReasonOf(stopReason))];
        }
        case "message_stop":
          return sendUsage();
        case "error": {
          const error = data.error as { type?: string; message?: string } | undefined;
          throw new UpstreamStreamError(error?.message ?? error?.type ?? "Anthropic stream error");
        }
        default:
          // ping, content_block_stop, and event types added later carry nothing to translate.
          return [];
      }
    },
    finish: sendUsage,
  };
}
