import type { Behaviour } from "./script.ts";

/**
 * What the simulated model says, decided once from a provider-neutral view of the request so
 * all three wire formats answer alike.
 */

export interface SimTool {
  name: string;
  schema?: Record<string, unknown> | undefined;
}

export interface Conversation {
  model: string;
  /** Text of the last user message (not counting tool results). */
  lastUserText: string;
  /** Set when the request ends with a tool result: that result's text. */
  toolResult?: string | undefined;
  tools: SimTool[];
  /** A tool the request forces by name. */
  forcedTool?: string | undefined;
  toolsDisabled: boolean;
  images: number;
  promptChars: number;
  maxTokens?: number | undefined;
}

export type Reply =
  | { kind: "text"; text: string; truncated: boolean }
  | { kind: "tool"; name: string; args: Record<string, unknown> };

export function estimateTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

function exampleValue(schema: unknown): unknown {
  const s = (schema ?? {}) as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
  switch (String(type).toLowerCase()) {
    case "number":
    case "integer":
      return 1;
    case "boolean":
      return true;
    case "array":
      return [exampleValue(s.items)];
    case "object":
      return exampleArgs(s);
    default:
      return "example";
  }
}

/** Arguments that satisfy the schema's required properties with plausible values. */
export function exampleArgs(schema: Record<string, unknown> | undefined): Record<string, unknown> {
  const properties = (schema?.properties ?? {}) as Record<string, unknown>;
  const required = Array.isArray(schema?.required) ? (schema.required as string[]) : [];
  return Object.fromEntries(required.map((name) => [name, exampleValue(properties[name])]));
}

function truncate(text: string, maxTokens: number | undefined): { text: string; truncated: boolean } {
  if (!maxTokens || estimateTokens(text.length) <= maxTokens) return { text, truncated: false };
  return { text: text.slice(0, maxTokens * 4), truncated: true };
}

export function decideReply(conv: Conversation, behaviour: Behaviour | undefined): Reply {
  if (behaviour?.reply !== undefined) return { kind: "text", ...truncate(behaviour.reply, conv.maxTokens) };
  const agentic = conv.toolResult === undefined && !conv.toolsDisabled ? agentReply(conv) : undefined;
  if (agentic) return agentic;
  if (conv.toolResult !== undefined) {
    const text = `Simulated ${conv.model} reply using the tool result: ${conv.toolResult.slice(0, 60)}`;
    return { kind: "text", ...truncate(text, conv.maxTokens) };
  }
  if (conv.tools.length && !conv.toolsDisabled) {
    const tool = conv.tools.find((t) => t.name === conv.forcedTool) ?? conv.tools[0]!;
    return { kind: "tool", name: tool.name, args: exampleArgs(tool.schema) };
  }
  const seen = conv.images ? ` (saw ${conv.images} image${conv.images === 1 ? "" : "s"})` : "";
  const text = `Simulated ${conv.model} reply to: ${conv.lastUserText.slice(0, 60)}${seen}`;
  return { kind: "text", ...truncate(text, conv.maxTokens) };
}

export function completionTokens(reply: Reply): number {
  return reply.kind === "text" ? estimateTokens(reply.text.length) : estimateTokens(reply.name.length + JSON.stringify(reply.args).length);
}

/** Word-sized pieces, as a real model streams. */
export function streamPieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

/** JSON text in a few pieces, as tool arguments stream. */
export function jsonPieces(json: string): string[] {
  const size = Math.max(1, Math.ceil(json.length / 3));
  const pieces: string[] = [];
  for (let i = 0; i < json.length; i += size) pieces.push(json.slice(i, i + size));
  return pieces;
}

/** A deterministic unit vector derived from the text (FNV-1a per dimension). */
export function embed(text: string, dimensions = 8): number[] {
  const values: number[] = [];
  for (let d = 0; d < dimensions; d++) {
    let hash = 0x811c9dc5 ^ d;
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
    values.push(((hash >>> 0) / 0xffffffff) * 2 - 1);
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((v) => v / norm);
}

export function countChars(value: unknown): number {
  if (typeof value === "string") return value.length;
  return value == null ? 0 : JSON.stringify(value).length;
}

/**
 * Rules that let a simulated model play a part in a swarm, so example swarms run end to end
 * without a provider (documented in docs/swarm-runtime.md):
 *
 * - Routing: a tool with a string property `next` whose `enum` includes "FINISH" is a supervisor's
 *   routing tool. The model routes to the first option, in enum order, that no line of the last
 *   user message names as `[option]` (the runtime writes each finished turn that way), and to
 *   FINISH once every option has answered.
 * - Fan-out routing: when `next` is an array whose `items.enum` includes "FINISH", the model names
 *   the first `maxItems` options, in enum order, that have not answered yet, all at once; then
 *   `["FINISH"]`.
 * - Panels: a tool with properties `answer` and `confidence` asks for an answer with a confidence.
 *   The confidence is fixed per model (0.5–0.95, from a hash of its name). When the message shows
 *   the panel's earlier answers as lines `[agent] (confidence c) answer`, the model adopts the most
 *   confident one, so a panel converges as a ReConcile round table does.
 */
function agentReply(conv: Conversation): Reply | undefined {
  const tool = conv.tools.find((t) => t.name === conv.forcedTool) ?? conv.tools[0];
  const properties = (tool?.schema?.properties ?? {}) as Record<string, { enum?: unknown[]; items?: { enum?: unknown[] }; maxItems?: unknown }>;
  if (!tool) return undefined;
  const done = () => new Set([...conv.lastUserText.matchAll(/^\[([^\]\s]+)\]/gm)].map((m) => m[1]));
  const options = properties.next?.enum;
  if (Array.isArray(options) && options.includes("FINISH")) {
    const answered = done();
    const next = options.find((o) => o !== "FINISH" && typeof o === "string" && !answered.has(o)) ?? "FINISH";
    return { kind: "tool", name: tool.name, args: { next, reason: next === "FINISH" ? "every worker has answered" : `${String(next)} has not answered yet` } };
  }
  const fanOut = properties.next?.items?.enum;
  if (Array.isArray(fanOut) && fanOut.includes("FINISH")) {
    const answered = done();
    const width = typeof properties.next?.maxItems === "number" ? properties.next.maxItems : 1;
    const next = fanOut.filter((o): o is string => o !== "FINISH" && typeof o === "string" && !answered.has(o)).slice(0, Math.max(1, width));
    if (!next.length) return { kind: "tool", name: tool.name, args: { next: ["FINISH"], reason: "every worker has answered" } };
    return { kind: "tool", name: tool.name, args: { next, reason: `${next.join(", ")} ${next.length === 1 ? "has" : "have"} not answered yet` } };
  }
  if (properties.answer && properties.confidence) {
    const own = 0.5 + (Number.parseInt(embedHash(conv.model).toString(16).slice(-4), 16) % 46) / 100;
    const peers = [...conv.lastUserText.matchAll(/^\[[^\]]+\] \(confidence ([0-9.]+)\) (.+)$/gm)].map((m) => ({ confidence: Number(m[1]), answer: m[2]! }));
    const best = peers.sort((a, b) => b.confidence - a.confidence)[0];
    if (best && best.confidence > own) return { kind: "tool", name: tool.name, args: { answer: best.answer, confidence: best.confidence } };
    return { kind: "tool", name: tool.name, args: { answer: `Simulated ${conv.model} answer to: ${firstLine(conv.lastUserText).slice(0, 60)}`, confidence: own } };
  }
  return undefined;
}

function embedHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

function firstLine(text: string): string {
  return text.split("\n").find((l) => l.trim())?.trim() ?? "";
}
