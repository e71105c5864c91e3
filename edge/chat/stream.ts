import type { Context } from "hono";
import { EventSourceParserStream } from "eventsource-parser/stream";
import type { GatewayDeps, GatewayEnv } from "../deps.ts";
import { recordCall } from "../deps.ts";
import type { ChatCompletionRequest } from "./schema.ts";
import type { ResolvedModel } from "../routing/resolve.ts";
import type { ChunkOut } from "../providers/types.ts";
import { StreamAccumulator, estimateTokens } from "./accumulate.ts";
import { costUsd } from "../pricing/cost.ts";
import { baseAuditRecord } from "../audit/from-context.ts";
import { formatUsd, responseHeaders } from "../response-headers.ts";
import type { Finish } from "./finish.ts";

const encoder = new TextEncoder();

/**
 * Relays an upstream stream to the client as OpenAI SSE, chunk by chunk as it arrives (pull-based,
 * so a slow client slows the upstream read instead of buffering). When the stream ends, dies or
 * the client leaves, the call is priced and audited with what was received.
 */
export function streamChat(
  c: Context<GatewayEnv>,
  deps: GatewayDeps,
  req: ChatCompletionRequest,
  model: ResolvedModel,
  upstream: Response,
  abortUpstream: () => void,
  finish: Finish,
): Response {
  const translator = model.adapter.chatStream({ id: `chatcmpl-${c.get("requestId")}`, created: Math.floor(Date.now() / 1000), model: model.name });
  const accumulator = new StreamAccumulator();
  const clientWantsUsage = req.stream_options?.include_usage === true;
  const startedAt = c.get("startedAt");
  let firstByteMs: number | null = null;
  let settled = false;

  const events = upstream.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();

  const settle = (status: number, error?: { code: string; message: string }) => {
    if (settled) return;
    settled = true;
    abortUpstream();
    const usage = accumulator.usage ?? {
      prompt_tokens: estimateTokens(req.messages),
      completion_tokens: estimateTokens(accumulator.message()),
      total_tokens: 0,
    };
    const cost = costUsd(model.config.price, usage.prompt_tokens, usage.completion_tokens);
    const message = accumulator.message();
    finish({
      model,
      cost,
      completion:
        status === 200
          ? { id: `chatcmpl-${c.get("requestId")}`, object: "chat.completion", created: Math.floor(Date.now() / 1000), model: model.name, choices: [{ index: 0, message, finish_reason: accumulator.finishReason }], usage }
          : undefined,
    });
    recordCall(deps, {
      ...baseAuditRecord(c, "/v1/chat/completions", req.model, req),
      model_used: model.name,
      provider: model.providerName,
      stream: true,
      status,
      error_code: error?.code ?? null,
      error_message: error?.message ?? null,
      prompt_tokens: usage.prompt_tokens,
      completion_tokens: usage.completion_tokens,
      cost_usd: cost,
      first_byte_ms: firstByteMs,
      response_body: { choices: [{ index: 0, message: accumulator.message(), finish_reason: accumulator.finishReason }], usage },
      response_text: accumulator.text,
    });
    return cost;
  };

  /** Sends chunks on; returns how many went to the client. */
  const emit = (controller: ReadableStreamDefaultController<Uint8Array>, outs: ChunkOut[]): number => {
    let sent = 0;
    for (const out of outs) {
      accumulator.add(out.chunk);
      // The gateway always asks upstream for usage; a client that did not ask gets no usage-only chunk.
      if (!clientWantsUsage && out.chunk.choices.length === 0 && out.chunk.usage) continue;
      firstByteMs ??= Math.round(performance.now() - startedAt);
      controller.enqueue(encoder.encode(`data: ${out.json}\n\n`));
      sent++;
    }
    return sent;
  };

  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        // A pull that enqueues nothing is not called again, so read until something goes out.
        for (;;) {
          const { value, done } = await events.read();
          if (done) break;
          if (emit(controller, translator.onEvent({ event: value.event, data: value.data })) > 0) return;
        }
        emit(controller, translator.finish());
        const cost = settle(200);
        controller.enqueue(encoder.encode(`: x-godotz-cost-usd ${formatUsd(cost ?? 0)}\n\ndata: [DONE]\n\n`));
        controller.close();
      } catch (error) {
        if (c.req.raw.signal?.aborted) {
          settle(499, { code: "client_disconnected", message: "client disconnected before the stream ended" });
          controller.close();
          return;
        }
        const message = `stream from provider "${model.providerName}" failed: ${(error as Error).message}`;
        settle(502, { code: "upstream_stream_error", message });
        // OpenAI's SDKs raise an APIError for a `data: {"error": ...}` event.
        controller.enqueue(encoder.encode(`data: ${JSON.stringify({ error: { message, type: "api_error", code: "upstream_stream_error", param: null } })}\n\n`));
        controller.close();
      }
    },
    cancel() {
      // The client went away: stop the upstream and keep what arrived.
      settle(499, { code: "client_disconnected", message: "client disconnected before the stream ended" });
      void events.cancel().catch(() => {});
    },
  });

  return new Response(body, {
    status: 200,
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      ...responseHeaders(model, c.get("cache")),
    },
  });
}
