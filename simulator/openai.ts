import type { ServerResponse } from "node:http";
import type { Behaviour } from "./script.ts";
import type { Conversation, Reply } from "./reply.ts";
import type { Route } from "./route.ts";
import { completionTokens, countChars, decideReply, embed, estimateTokens, jsonPieces, streamPieces } from "./reply.ts";
import { SimBadRequest, sendEvents, sendJson } from "./http.ts";
import { nextId } from "./route.ts";

/** OpenAI chat completions and embeddings, as api.openai.com answers them. */

interface Message {
  role?: string;
  content?: unknown;
  tool_calls?: unknown[];
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p: { type?: string; text?: string }) => (p?.type === "text" ? (p.text ?? "") : "")).join("");
}

function conversationOf(body: Record<string, unknown>, model: string): Conversation {
  const messages = body.messages as Message[];
  const last = messages[messages.length - 1];
  const lastUser = [...messages].reverse().find((m) => m.role === "user");
  let images = 0;
  let promptChars = 0;
  for (const m of messages) {
    promptChars += countChars(m.content) + countChars(m.tool_calls);
    if (Array.isArray(m.content)) images += m.content.filter((p: { type?: string }) => p?.type === "image_url").length;
  }
  const tools = ((body.tools ?? []) as Array<{ function?: { name?: string; parameters?: Record<string, unknown> } }>).map((t) => ({
    name: t.function?.name ?? "",
    schema: t.function?.parameters,
  }));
  const choice = body.tool_choice as string | { function?: { name?: string } } | undefined;
  return {
    model,
    lastUserText: textOf(lastUser?.content),
    toolResult: last?.role === "tool" ? textOf(last.content) : undefined,
    tools,
    forcedTool: typeof choice === "object" ? choice?.function?.name : undefined,
    toolsDisabled: choice === "none",
    images,
    promptChars: promptChars + countChars(body.tools),
    maxTokens: (body.max_completion_tokens ?? body.max_tokens) as number | undefined,
  };
}

function finishReason(reply: Reply): string {
  return reply.kind === "tool" ? "tool_calls" : reply.truncated ? "length" : "stop";
}

function usage(conv: Conversation, reply: Reply) {
  const prompt = estimateTokens(conv.promptChars);
  const completion = completionTokens(reply);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function completion(conv: Conversation, reply: Reply) {
  const message =
    reply.kind === "text"
      ? { role: "assistant", content: reply.text, refusal: null }
      : {
          role: "assistant",
          content: null,
          refusal: null,
          tool_calls: [{ id: nextId("call_"), type: "function", function: { name: reply.name, arguments: JSON.stringify(reply.args) } }],
        };
  return {
    id: nextId("chatcmpl-"),
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: conv.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(reply) }],
    usage: usage(conv, reply),
    system_fingerprint: null,
  };
}

function streamEvents(conv: Conversation, reply: Reply, includeUsage: boolean): string[] {
  const id = nextId("chatcmpl-");
  const created = Math.floor(Date.now() / 1000);
  const event = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: conv.model, system_fingerprint: null, choices, ...(includeUsage ? { usage: null } : {}), ...extra })}\n\n`;
  const delta = (d: Record<string, unknown>, finish: string | null = null) => event([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);

  const events = [delta({ role: "assistant", content: "", refusal: null })];
  if (reply.kind === "text") {
    for (const piece of streamPieces(reply.text)) events.push(delta({ content: piece }));
  } else {
    events.push(delta({ tool_calls: [{ index: 0, id: nextId("call_"), type: "function", function: { name: reply.name, arguments: "" } }] }));
    for (const piece of jsonPieces(JSON.stringify(reply.args))) events.push(delta({ tool_calls: [{ index: 0, function: { arguments: piece } }] }));
  }
  events.push(delta({}, finishReason(reply)));
  if (includeUsage) events.push(event([], { usage: usage(conv, reply) }));
  events.push("data: [DONE]\n\n");
  return events;
}

export const openaiChat: Route = {
  provider: "openai",
  kind: "chat",
  target(body) {
    if (typeof body.model !== "string" || !body.model) throw new SimBadRequest("you must provide a model parameter");
    if (!Array.isArray(body.messages) || body.messages.length === 0) throw new SimBadRequest("'messages' must be a non-empty array");
    return { model: body.model, stream: body.stream === true };
  },
  respond(body, model, behaviour: Behaviour | undefined, res: ServerResponse) {
    const conv = conversationOf(body, model);
    const reply = decideReply(conv, behaviour);
    if (body.stream !== true) return sendJson(res, 200, completion(conv, reply));
    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    return sendEvents(res, streamEvents(conv, reply, includeUsage), behaviour);
  },
};

function inputsOf(input: unknown): string[] {
  if (typeof input === "string") return [input];
  if (!Array.isArray(input) || input.length === 0) throw new SimBadRequest("'input' must be a string or a non-empty array");
  // A flat number array is one tokenised input; an array of arrays is several.
  if (typeof input[0] === "number") return [input.join(" ")];
  return input.map((item) => (Array.isArray(item) ? item.join(" ") : String(item)));
}

function float32Base64(values: number[]): string {
  return Buffer.from(new Float32Array(values).buffer).toString("base64");
}

export const openaiEmbeddings: Route = {
  provider: "openai",
  kind: "embeddings",
  target(body) {
    if (typeof body.model !== "string" || !body.model) throw new SimBadRequest("you must provide a model parameter");
    return { model: body.model, stream: false };
  },
  respond(body, model, _behaviour, res) {
    const inputs = inputsOf(body.input);
    const dimensions = typeof body.dimensions === "number" ? body.dimensions : undefined;
    const base64 = body.encoding_format === "base64";
    const data = inputs.map((text, index) => {
      const vector = embed(text, dimensions);
      return { object: "embedding", index, embedding: base64 ? float32Base64(vector) : vector };
    });
    const tokens = estimateTokens(inputs.reduce((sum, t) => sum + t.length, 0));
    sendJson(res, 200, { object: "list", data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
  },
};

export function openaiModels(extra: string[]) {
  const ids = new Set(["gpt-4o-mini", "gpt-4o", "text-embedding-3-small", ...extra]);
  return { object: "list", data: [...ids].map((id) => ({ id, object: "model", created: 1700000000, owned_by: "simulator" })) };
}
