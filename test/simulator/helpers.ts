import { EventSourceParserStream } from "eventsource-parser/stream";
import type { ChatCompletionRequest } from "../../edge/chat/schema.ts";
import type { ChatCompletion, ChatCompletionChunk, ProviderAdapter, SseEvent, UpstreamRequest, UpstreamTarget } from "../../edge/providers/types.ts";
import type { Simulator } from "../../simulator/server.ts";

/** Drives the simulator through an adapter the way the gateway will: build, fetch, translate. */

export const BASE_PATHS: Record<ProviderAdapter["kind"], string> = {
  openai: "/openai/v1",
  anthropic: "/anthropic/v1",
  gemini: "/gemini/v1beta",
};

export function targetFor(sim: Simulator, adapter: ProviderAdapter, upstreamModel: string): UpstreamTarget {
  return { baseUrl: sim.url + BASE_PATHS[adapter.kind], apiKey: "test-key", headers: {}, upstreamModel };
}

export const ctx = { id: "chatcmpl-test42", created: 1700000000, model: "godotz-model" };

export function send(req: UpstreamRequest): Promise<Response> {
  return fetch(req.url, { method: req.method, headers: req.headers, body: req.body });
}

/** Provider JSON in tests is read loosely; the assertions are the schema. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const json = async (res: Response): Promise<any> => res.json();

export async function readSse(res: Response): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const stream = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  for await (const message of stream) events.push({ ...(message.event ? { event: message.event } : {}), data: message.data });
  return events;
}

export async function chatPlain(sim: Simulator, adapter: ProviderAdapter, model: string, req: ChatCompletionRequest): Promise<ChatCompletion> {
  const res = await send(adapter.chatRequest(req, targetFor(sim, adapter, model), false));
  const text = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${adapter.errorMessage(res.status, text)}`);
  return adapter.chatResponse(JSON.parse(text), ctx);
}

export async function chatStream(sim: Simulator, adapter: ProviderAdapter, model: string, req: ChatCompletionRequest): Promise<ChatCompletionChunk[]> {
  const res = await send(adapter.chatRequest(req, targetFor(sim, adapter, model), true));
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${adapter.errorMessage(res.status, await res.text())}`);
  const translator = adapter.chatStream(ctx);
  const chunks: ChatCompletionChunk[] = [];
  for (const event of await readSse(res)) chunks.push(...translator.onEvent(event).map((c) => c.chunk));
  chunks.push(...translator.finish().map((c) => c.chunk));
  return chunks;
}

/** Folds stream chunks back into one message, as an OpenAI client would. */
export function assemble(chunks: ChatCompletionChunk[]) {
  let content = "";
  const calls: Array<{ id: string; name: string; arguments: string }> = [];
  const finishReasons: string[] = [];
  for (const chunk of chunks) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    content += choice.delta.content ?? "";
    for (const call of choice.delta.tool_calls ?? []) {
      const slot = (calls[call.index] ??= { id: "", name: "", arguments: "" });
      if (call.id) slot.id = call.id;
      if (call.function?.name) slot.name = call.function.name;
      slot.arguments += call.function?.arguments ?? "";
    }
    if (choice.finish_reason) finishReasons.push(choice.finish_reason);
  }
  const usageChunks = chunks.filter((c) => c.usage);
  return { content, calls, finishReasons, usageChunks, first: chunks[0], last: chunks[chunks.length - 1] };
}
