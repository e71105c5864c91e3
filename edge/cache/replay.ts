import type { ChatCompletion, ChatCompletionChunk, ChunkToolCallDelta } from "../providers/types.ts";
import type { ChatCompletionRequest } from "../chat/schema.ts";
import { formatUsd } from "../response-headers.ts";
import type { CachedAnswer } from "./answer.ts";

/** The gateway's identity for this response; a hit is a new response, so it gets a fresh id. */
export interface ReplayIdentity {
  id: string;
  created: number;
}

/**
 * A cached answer as a plain response body: the stored completion with a fresh id and time, the
 * content untouched. Usage keeps the original token counts, because they describe the answer
 * (what it took to produce, what it would cost again); that the hit itself cost nothing is said by
 * the gateway, which records cost 0 and `x-godotz-cache: hit` in the audit and the headers.
 */
export function replayCompletion(answer: CachedAnswer, identity: ReplayIdentity): ChatCompletion {
  const { cached_at: _cachedAt, ...completion } = answer;
  return { ...completion, id: identity.id, created: identity.created };
}

/**
 * The same answer as the chunks a streaming upstream would have sent, in OpenAI's order: a role
 * chunk, content (and refusal, tool-call) deltas, a finish chunk per choice, then, only when the
 * client asked `stream_options.include_usage`, a usage chunk with no choices. With include_usage,
 * OpenAI puts `usage: null` on every other chunk, so the replay does too.
 */
export function replayChunks(answer: CachedAnswer, identity: ReplayIdentity, options: { includeUsage: boolean }): ChatCompletionChunk[] {
  const chunk = (choices: ChatCompletionChunk["choices"]): ChatCompletionChunk => ({
    id: identity.id,
    object: "chat.completion.chunk",
    created: identity.created,
    model: answer.model,
    ...(answer.system_fingerprint !== undefined ? { system_fingerprint: answer.system_fingerprint } : {}),
    choices,
    ...(options.includeUsage ? { usage: null } : {}),
  });
  const chunks: ChatCompletionChunk[] = [];
  for (const choice of answer.choices) {
    const { index, message } = choice;
    const send = (delta: ChatCompletionChunk["choices"][number]["delta"]) => chunks.push(chunk([{ index, delta, finish_reason: null }]));
    const content = message.content ?? "";
    const contentPieces = splitText(content, 48);
    // OpenAI opens with the role and an empty content ("" for text, null when only tools follow).
    send({ role: "assistant", content: message.content === null ? null : "" });
    for (const piece of contentPieces) send({ content: piece });
    if (message.refusal) for (const piece of splitText(message.refusal, 48)) send({ refusal: piece });
    (message.tool_calls ?? []).forEach((call, callIndex) => {
      const opening: ChunkToolCallDelta = { index: callIndex, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } };
      send({ tool_calls: [opening] });
      for (const piece of splitText(call.function.arguments, 32, false)) send({ tool_calls: [{ index: callIndex, function: { arguments: piece } }] });
    });
    chunks.push(chunk([{ index, delta: {}, finish_reason: choice.finish_reason ?? "stop" }]));
  }
  if (options.includeUsage && answer.usage) chunks.push({ ...chunk([]), usage: answer.usage });
  return chunks;
}

const encoder = new TextEncoder();

/** The chunks as the SSE bytes OpenAI sends: `data: <json>` events, then `data: [DONE]`. */
export function replayStream(answer: CachedAnswer, identity: ReplayIdentity, options: { includeUsage: boolean }): ReadableStream<Uint8Array> {
  const events = replayChunks(answer, identity, options).map((c) => `data: ${JSON.stringify(c)}\n\n`);
  events.push("data: [DONE]\n\n");
  // The whole answer is in hand, so one write per event, all at once; no upstream to pace.
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const event of events) controller.enqueue(encoder.encode(event));
      controller.close();
    },
  });
}

/**
 * What the client asked for, as a Response: JSON for a plain request, SSE for `stream: true`.
 * Says it was a hit, who answered and that it cost nothing; `headers` are added last.
 */
export function replayResponse(answer: CachedAnswer, req: Pick<ChatCompletionRequest, "stream" | "stream_options">, identity: ReplayIdentity, headers: Record<string, string> = {}): Response {
  const godotz = { "x-godotz-model": answer.model, "x-godotz-cache": "hit", "x-godotz-cost-usd": formatUsd(0) };
  if (req.stream === true) {
    const body = replayStream(answer, identity, { includeUsage: req.stream_options?.include_usage === true });
    return new Response(body, {
      status: 200,
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", ...godotz, ...headers },
    });
  }
  return new Response(JSON.stringify(replayCompletion(answer, identity)), {
    status: 200,
    headers: { "content-type": "application/json", ...godotz, ...headers },
  });
}

/**
 * Splits text into pieces of about `size` characters whose concatenation is the text exactly:
 * at whitespace when `atWords` (reads like a model typing), else anywhere but inside a surrogate
 * pair. Empty text gives no pieces.
 */
export function splitText(text: string, size: number, atWords = true): string[] {
  const units = atWords ? text.split(/(?<=\s)/) : Array.from(text);
  const pieces: string[] = [];
  let current = "";
  for (const unit of units) {
    current += unit;
    if (current.length >= size) {
      pieces.push(current);
      current = "";
    }
  }
  if (current) pieces.push(current);
  return pieces;
}
