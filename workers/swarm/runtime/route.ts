import type { ToolDefinition } from "./gateway.ts";
import type { WorkerChoice } from "./round-table.ts";

/**
 * The supervisor's `route` tool, shared by both engines (graph.ts and the Temporal activities) so
 * a swarm is routed the same whichever runs it. With `max_parallel` 1 the supervisor names one
 * worker (`next: "writer"`); with more it names a list (`next: ["a", "b"]`), and the named workers
 * run at once. FINISH ends the run in both forms.
 */

export const FINISH = "FINISH";

/** A routing decision: the workers to run next (one, or several at once), or FINISH. */
export type Route = { finish: true; reason?: string } | { finish: false; workers: string[]; reason?: string };

/** A route the supervisor's answer does not make; callers decide whether another attempt may help. */
export class RouteError extends Error {
  override name = "RouteError";
}

export function routeTool(workers: readonly string[], maxParallel: number): ToolDefinition {
  const choices = [...workers, FINISH];
  const next =
    maxParallel > 1
      ? {
          type: "array",
          items: { type: "string", enum: choices },
          minItems: 1,
          maxItems: maxParallel,
          uniqueItems: true,
          description: `The workers who work next, all at once (at most ${maxParallel}), or ["${FINISH}"] when the task is done`,
        }
      : { type: "string", enum: choices };
  return {
    type: "function",
    function: {
      name: "route",
      description: maxParallel > 1 ? "Choose who works next (several workers run in parallel), or FINISH when the task is done." : "Choose who works next, or FINISH when the task is done.",
      parameters: { type: "object", properties: { next, reason: { type: "string" } }, required: ["next"] },
    },
  };
}

/** The supervisor's system prompt: its instructions, its team with their roles, and how to route. */
export function supervisorPrompt(instructions: string, workers: readonly WorkerChoice[], maxParallel: number): string {
  const roster = workers.map((w) => `- ${w.name}: ${w.role ?? "worker"}`).join("\n");
  return `${instructions.trim()}\n\nYour team:\n${roster}\n\n${routeRequest(maxParallel)}`.trim();
}

/** The line of the supervisor's system prompt that asks for the route. */
export function routeRequest(maxParallel: number): string {
  return maxParallel > 1
    ? `Call the route tool with the workers who work next; up to ${maxParallel} of them work at once, in parallel, and you see all their answers. Name ${FINISH} alone when the task is done.`
    : `Call the route tool with who works next, or ${FINISH} when the task is done.`;
}

/**
 * Reads the route tool's arguments. A fan-out swarm's supervisor may still answer with a single
 * name (models simplify), which is read as a list of one; a one-at-a-time swarm takes only a name.
 */
export function parseRoute(args: string | undefined, workers: readonly string[], maxParallel: number): Route {
  let parsed: { next?: unknown; reason?: unknown } | undefined;
  try {
    parsed = args ? (JSON.parse(args) as typeof parsed) : undefined;
  } catch {
    parsed = undefined;
  }
  const reason = typeof parsed?.reason === "string" ? { reason: parsed.reason } : {};
  const raw = parsed?.next;
  const named = typeof raw === "string" ? [raw] : maxParallel > 1 && Array.isArray(raw) && raw.every((n) => typeof n === "string") ? [...new Set(raw as string[])] : [];
  const fail = (why: string) => new RouteError(`the supervisor did not route to ${why} (it answered ${args ?? "without the route tool"})`);
  if (named.length === 0 || named.some((n) => n !== FINISH && !workers.includes(n))) {
    throw fail(maxParallel > 1 ? `up to ${maxParallel} of ${workers.join(", ")}, or ${FINISH}` : `one of ${[...workers, FINISH].join(", ")}`);
  }
  if (named.includes(FINISH)) {
    if (named.length > 1) throw fail(`${FINISH} alone`);
    return { finish: true, ...reason };
  }
  if (named.length > maxParallel) throw fail(`at most ${maxParallel} workers at once`);
  return { finish: false, workers: named, ...reason };
}
