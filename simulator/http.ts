import type { IncomingMessage, ServerResponse } from "node:http";
import type { Behaviour } from "./script.ts";

/** Small response helpers; the simulator is a benchmark baseline, so nothing here logs. */

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A request the real provider would refuse with a 400. */
export class SimBadRequest extends Error {}

/**
 * Writes preformatted SSE events. Without a delay or a drop they go out in one write, which
 * keeps the benchmark baseline cheap; otherwise one write per event.
 */
export async function sendEvents(res: ServerResponse, events: string[], behaviour: Behaviour | undefined): Promise<void> {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  const delay = behaviour?.chunkDelayMs ?? 0;
  const dropAfter = behaviour?.dropAfterChunks;
  if (!delay && dropAfter === undefined) {
    res.end(events.join(""));
    return;
  }
  for (let i = 0; i < events.length; i++) {
    if (dropAfter !== undefined && i >= dropAfter) {
      res.destroy();
      return;
    }
    if (delay && i > 0) await sleep(delay);
    if (res.destroyed) return;
    // Wait for each write so a later drop does not discard events still buffered.
    await new Promise<void>((resolve) => res.write(events[i]!, () => resolve()));
  }
  res.end();
}
