import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { ClientRequest, IncomingMessage } from "node:http";

export interface ModelCall {
  /** The agent that made it (the runtime names it in x-godotz-agent). */
  agent: string;
  start: number;
  end: number;
}

/**
 * Times the chat completions the swarm runtime sends (over node:http, workers/swarm/runtime/post.ts),
 * from the request to the end of its answer. A call is one with the runtime's x-godotz-task header,
 * so a gateway's own calls to its providers in this process are not counted.
 */
export function watchModelCalls(): { calls: ModelCall[]; stop(): void } {
  const calls: ModelCall[] = [];
  const onRequest = (message: unknown) => {
    const { request } = message as { request: ClientRequest };
    if (!request.path.endsWith("/v1/chat/completions") || request.getHeader("x-godotz-task") === undefined) return;
    const agent = String(request.getHeader("x-godotz-agent") ?? "?");
    const start = performance.now();
    request.once("response", (response: IncomingMessage) => response.once("end", () => calls.push({ agent, start, end: performance.now() })));
  };
  subscribe("http.client.request.start", onRequest);
  return { calls, stop: () => unsubscribe("http.client.request.start", onRequest) };
}
