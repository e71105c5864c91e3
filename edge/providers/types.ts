import type { ChatCompletionRequest, EmbeddingsRequest } from "../chat/schema.ts";
import type { ProviderKind } from "../../shared/config/schema.ts";
import { GatewayError } from "../errors.ts";

/**
 * A provider adapter is data plus pure transforms: OpenAI-shaped request in, the provider's
 * HTTP request out; the provider's response (or stream events) in, OpenAI-shaped out. No I/O
 * here: the gateway does the fetch, so the same adapter runs on Node and on a Worker.
 */

export interface UpstreamTarget {
  baseUrl: string;
  apiKey: string | undefined;
  headers: Record<string, string>;
  /** Model name as the provider knows it. */
  upstreamModel: string;
}

export interface UpstreamRequest {
  url: string;
  method: "POST" | "GET";
  headers: Record<string, string>;
  body: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ToolCallOut {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: "assistant"; content: string | null; tool_calls?: ToolCallOut[]; refusal?: string | null };
    finish_reason: string | null;
    logprobs?: null;
  }>;
  usage?: Usage;
  system_fingerprint?: string | null;
}

export interface ChunkToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function?: { name?: string; arguments?: string };
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: { role?: "assistant"; content?: string | null; tool_calls?: ChunkToolCallDelta[]; refusal?: string | null };
    finish_reason: string | null;
    logprobs?: null;
  }>;
  usage?: Usage | null;
}

/** One server-sent event as the upstream sent it. */
export interface SseEvent {
  event?: string;
  data: string;
}

/** A chunk to send on, with its JSON text (kept as received where nothing changed). */
export interface ChunkOut {
  chunk: ChatCompletionChunk;
  json: string;
}

/** Identity for the OpenAI-shaped output: the gateway's id, time and model name. */
export interface ResponseContext {
  id: string;
  created: number;
  /** The godotz model name, reported back to the client. */
  model: string;
}

/** Turns one upstream stream into OpenAI chunks; holds the little state a stream needs. */
export interface StreamTranslator {
  /** Chunks for one upstream event (may be none). Throws UpstreamStreamError on an error event. */
  onEvent(event: SseEvent): ChunkOut[];
  /** Chunks to emit when the upstream stream ends (e.g. a final usage chunk). */
  finish(): ChunkOut[];
}

export interface EmbeddingsResponse {
  object: "list";
  data: Array<{ object: "embedding"; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface ProviderAdapter {
  kind: ProviderKind;
  defaultBaseUrl: string;
  chatRequest(req: ChatCompletionRequest, target: UpstreamTarget, stream: boolean): UpstreamRequest;
  chatResponse(body: unknown, ctx: ResponseContext): ChatCompletion;
  chatStream(ctx: ResponseContext): StreamTranslator;
  /** Absent when the provider has no embeddings API (Anthropic). */
  embeddingsRequest?(req: EmbeddingsRequest, target: UpstreamTarget): UpstreamRequest;
  embeddingsResponse?(body: unknown, ctx: ResponseContext, req: EmbeddingsRequest): EmbeddingsResponse;
  /** A readable message from an upstream error body, whatever shape the provider uses. */
  errorMessage(status: number, bodyText: string): string;
}

/** The upstream sent an error in the middle of a stream. */
export class UpstreamStreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UpstreamStreamError";
  }
}

/** The upstream answered with something the adapter cannot read. */
export class UpstreamFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UpstreamFormatError";
  }
}

/** The request asks for something this provider cannot take (e.g. token-id embeddings input); a 400, not a retry. */
export class UnsupportedInputError extends GatewayError {
  constructor(message: string) {
    super(400, "invalid_request_error", "unsupported_input", message);
    this.name = "UnsupportedInputError";
  }
}
