import type { ChatCompletionRequest, ChatMessage, ContentPart } from "../../chat/schema.ts";
import { UnsupportedInputError } from "../types.ts";
import { imageOf, parseArguments, partsOf, textOf } from "../parts.ts";

/** OpenAI chat request -> Anthropic Messages request body. */

type Block = Record<string, unknown>;
interface Turn {
  role: "user" | "assistant";
  content: Block[];
}

/** Anthropic requires max_tokens; OpenAI does not, so a default stands in. */
export const DEFAULT_MAX_TOKENS = 4096;

function blockOf(part: ContentPart): Block | undefined {
  if (part.type === "text") {
    const text = (part as { text: string }).text;
    // Anthropic rejects empty text blocks.
    return text ? { type: "text", text } : undefined;
  }
  if (part.type === "image_url") {
    const image = imageOf(part);
    return image.kind === "inline"
      ? { type: "image", source: { type: "base64", media_type: image.mimeType, data: image.data } }
      : { type: "image", source: { type: "url", url: image.url } };
  }
  throw new UnsupportedInputError(`content part type "${part.type}" is not supported for Anthropic models`);
}

function blocksOf(content: ChatMessage["content"]): Block[] {
  return partsOf(content).flatMap((part) => {
    const block = blockOf(part);
    return block ? [block] : [];
  });
}

function assistantBlocks(message: Extract<ChatMessage, { role: "assistant" }>): Block[] {
  const blocks = blocksOf(message.content);
  for (const call of message.tool_calls ?? []) {
    blocks.push({ type: "tool_use", id: call.id, name: call.function.name, input: parseArguments(call.function.arguments) });
  }
  return blocks;
}

function toolResultBlock(message: Extract<ChatMessage, { role: "tool" }>): Block {
  const content = typeof message.content === "string" ? message.content : blocksOf(message.content);
  return { type: "tool_result", tool_use_id: message.tool_call_id, content };
}

/** Consecutive same-role turns are merged: tool results of one assistant turn must arrive as one user turn. */
function pushTurn(turns: Turn[], role: Turn["role"], blocks: Block[]): void {
  if (blocks.length === 0) return;
  const last = turns[turns.length - 1];
  if (last && last.role === role) last.content.push(...blocks);
  else turns.push({ role, content: blocks });
}

function toolChoiceOf(req: ChatCompletionRequest): Block | undefined {
  const choice = req.tool_choice;
  let out: Block | undefined;
  if (choice === "auto") out = { type: "auto" };
  else if (choice === "required") out = { type: "any" };
  else if (choice === "none") return { type: "none" };
  else if (choice && typeof choice === "object") out = { type: "tool", name: choice.function.name };
  if (req.parallel_tool_calls === false) out = { ...(out ?? { type: "auto" }), disable_parallel_tool_use: true };
  return out;
}

export function toMessagesBody(req: ChatCompletionRequest, model: string, stream: boolean): Record<string, unknown> {
  const system: string[] = [];
  const turns: Turn[] = [];
  for (const message of req.messages) {
    if (message.role === "system" || message.role === "developer") system.push(textOf(message.content));
    else if (message.role === "user") pushTurn(turns, "user", blocksOf(message.content));
    else if (message.role === "assistant") pushTurn(turns, "assistant", assistantBlocks(message));
    else pushTurn(turns, "user", [toolResultBlock(message)]);
  }

  const body: Record<string, unknown> = {
    model,
    max_tokens: req.max_completion_tokens ?? req.max_tokens ?? DEFAULT_MAX_TOKENS,
    messages: turns,
  };
  const systemText = system.filter(Boolean).join("\n\n");
  if (systemText) body.system = systemText;
  if (stream) body.stream = true;
  // OpenAI allows temperature up to 2, Anthropic up to 1: clamp rather than fail the request upstream.
  if (req.temperature != null) body.temperature = Math.min(req.temperature, 1);
  if (req.top_p != null) body.top_p = req.top_p;
  if (req.stop != null) body.stop_sequences = typeof req.stop === "string" ? [req.stop] : req.stop;
  if (req.user) body.metadata = { user_id: req.user };
  if (req.tools?.length) {
    body.tools = req.tools.map((tool) => ({
      name: tool.function.name,
      ...(tool.function.description ? { description: tool.function.description } : {}),
      input_schema: tool.function.parameters ?? { type: "object", properties: {} },
    }));
    const choice = toolChoiceOf(req);
    if (choice) body.tool_choice = choice;
  }
  return body;
}
