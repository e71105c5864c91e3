import type { Conversation, Reply } from "./reply.ts";
import type { Route } from "./route.ts";
import { completionTokens, countChars, decideReply, estimateTokens, jsonPieces, streamPieces } from "./reply.ts";
import { SimBadRequest, sendEvents, sendJson } from "./http.ts";
import { nextId } from "./route.ts";

/** Anthropic Messages API, plain and streamed with its named events. */

interface Block {
  type?: string;
  text?: string;
  id?: string;
  tool_use_id?: string;
  content?: unknown;
}
interface Message {
  role?: string;
  content?: string | Block[];
}

function blocksOf(message: Message): Block[] {
  return typeof message.content === "string" ? [{ type: "text", text: message.content }] : (message.content ?? []);
}

/** The checks the real API makes that an adapter is most likely to get wrong. */
function validate(body: Record<string, unknown>): Message[] {
  if (typeof body.max_tokens !== "number") throw new SimBadRequest("max_tokens: Field required");
  if (!Array.isArray(body.messages) || body.messages.length === 0) throw new SimBadRequest("messages: at least one message is required");
  const messages = body.messages as Message[];
  messages.forEach((message, i) => {
    if (message.role !== "user" && message.role !== "assistant") {
      throw new SimBadRequest(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    }
    const blocks = blocksOf(message);
    if (blocks.some((b) => b.type === "text" && !b.text)) throw new SimBadRequest(`messages.${i}: text content blocks must be non-empty`);
    const previous = messages[i - 1];
    const useIds = previous?.role === "assistant" ? blocksOf(previous).filter((b) => b.type === "tool_use").map((b) => b.id) : [];
    const resultIds = blocks.filter((b) => b.type === "tool_result").map((b) => b.tool_use_id);
    if (resultIds.some((id) => !useIds.includes(id))) {
      throw new SimBadRequest(`messages.${i}: unexpected tool_use_id found in tool_result blocks`);
    }
    if (useIds.length && useIds.some((id) => !resultIds.includes(id))) {
      throw new SimBadRequest(`messages.${i}: tool_use ids were found without tool_result blocks immediately after`);
    }
  });
  return messages;
}

function blockText(blocks: Block[]): string {
  return blocks.map((b) => (b.type === "text" ? (b.text ?? "") : "")).join("");
}

function countImages(blocks: Block[]): number {
  return blocks.reduce((n, b) => n + (b.type === "image" ? 1 : Array.isArray(b.content) ? countImages(b.content as Block[]) : 0), 0);
}

function conversationOf(body: Record<string, unknown>, messages: Message[], model: string): Conversation {
  const last = messages[messages.length - 1]!;
  const lastResult = last.role === "user" ? blocksOf(last).find((b) => b.type === "tool_result") : undefined;
  const lastUser = [...messages].reverse().find((m) => m.role === "user" && blocksOf(m).some((b) => b.type === "text"));
  const choice = body.tool_choice as { type?: string; name?: string } | undefined;
  const tools = ((body.tools ?? []) as Array<{ name?: string; input_schema?: Record<string, unknown> }>).map((t) => ({
    name: t.name ?? "",
    schema: t.input_schema,
  }));
  return {
    model,
    lastUserText: lastUser ? blockText(blocksOf(lastUser)) : "",
    toolResult: lastResult ? (typeof lastResult.content === "string" ? lastResult.content : blockText((lastResult.content ?? []) as Block[])) : undefined,
    tools,
    forcedTool: choice?.type === "tool" ? choice.name : undefined,
    toolsDisabled: choice?.type === "none",
    images: messages.reduce((n, m) => n + countImages(blocksOf(m)), 0),
    promptChars: countChars(body.system) + countChars(messages) + countChars(body.tools),
    maxTokens: body.max_tokens as number,
  };
}

function stopReason(reply: Reply): string {
  return reply.kind === "tool" ? "tool_use" : reply.truncated ? "max_tokens" : "end_turn";
}

function contentBlock(reply: Reply, toolId: string) {
  return reply.kind === "text" ? { type: "text", text: reply.text } : { type: "tool_use", id: toolId, name: reply.name, input: reply.args };
}

const sse = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

function streamEvents(conv: Conversation, reply: Reply): string[] {
  const inputTokens = estimateTokens(conv.promptChars);
  const message = { id: nextId("msg_"), type: "message", role: "assistant", model: conv.model, content: [], stop_reason: null, stop_sequence: null };
  const events = [
    sse("message_start", { message: { ...message, usage: { input_tokens: inputTokens, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } } }),
  ];
  if (reply.kind === "text") {
    events.push(sse("content_block_start", { index: 0, content_block: { type: "text", text: "" } }), sse("ping", {}));
    for (const text of streamPieces(reply.text)) events.push(sse("content_block_delta", { index: 0, delta: { type: "text_delta", text } }));
  } else {
    events.push(sse("content_block_start", { index: 0, content_block: { type: "tool_use", id: nextId("toolu_"), name: reply.name, input: {} } }), sse("ping", {}));
    // The real API opens tool input with an empty partial_json.
    for (const partial_json of ["", ...jsonPieces(JSON.stringify(reply.args))]) {
      events.push(sse("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json } }));
    }
  }
  events.push(
    sse("content_block_stop", { index: 0 }),
    sse("message_delta", { delta: { stop_reason: stopReason(reply), stop_sequence: null }, usage: { output_tokens: completionTokens(reply) } }),
    sse("message_stop", {}),
  );
  return events;
}

export const anthropicMessages: Route = {
  provider: "anthropic",
  kind: "chat",
  target(body) {
    if (typeof body.model !== "string" || !body.model) throw new SimBadRequest("model: Field required");
    return { model: body.model, stream: body.stream === true };
  },
  respond(body, model, behaviour, res) {
    const messages = validate(body);
    const conv = conversationOf(body, messages, model);
    const reply = decideReply(conv, behaviour);
    if (body.stream === true) return sendEvents(res, streamEvents(conv, reply), behaviour);
    sendJson(res, 200, {
      id: nextId("msg_"),
      type: "message",
      role: "assistant",
      model,
      content: [contentBlock(reply, nextId("toolu_"))],
      stop_reason: stopReason(reply),
      stop_sequence: null,
      usage: { input_tokens: estimateTokens(conv.promptChars), output_tokens: completionTokens(reply), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
  },
};
