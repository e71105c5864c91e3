import type { ServerResponse } from "node:http";
import type { Behaviour, SimProvider } from "./script.ts";

/** One simulated endpoint: how to read the target from the body, and how to answer. */
export interface Route {
  provider: SimProvider;
  kind: "chat" | "embeddings";
  /** The model and stream flag; throws SimBadRequest for a body the real API would refuse. */
  target(body: Record<string, unknown>): { model: string; stream: boolean };
  respond(body: Record<string, unknown>, model: string, behaviour: Behaviour | undefined, res: ServerResponse): void | Promise<void>;
}

let counter = 0;
/** Ids need only be unique within a simulator run. */
export function nextId(prefix: string): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter.toString(36)}`;
}
