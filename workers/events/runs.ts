import { z } from "zod";
import type { EventBus } from "./bus.ts";
import type { EventStreamSpec } from "./stream.ts";
import { parseEvent, subjectToken } from "./schema.ts";

/**
 * What happened to a swarm run or one of its steps (an agent's turn, a panel, a nested swarm).
 * `retrying` is a step's transient failure that will be tried again; `cancelled` ends a run (and
 * its unfinished steps) that `godotz runs cancel` stopped.
 */
export const RUN_EVENT_TYPES = ["created", "started", "retrying", "completed", "failed", "cancelled"] as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[number];

/** A step's path in its run: "3", or "3.1" for step 1 of the nested swarm run at step 3. */
export const stepPath = z.string().regex(/^\d+(\.[0-9a-z_-]+)*$/, "must be a step path such as 3 or 3.1");

export const runEvent = z.object({
  type: z.enum(RUN_EVENT_TYPES),
  swarm: z.string().min(1),
  run_id: z.string().min(1),
  /** Absent for the run itself. */
  step: stepPath.nullable(),
  agent: z.string().min(1).nullable(),
  /** The step's task in the task DAG. */
  task_id: z.string().min(1).nullable(),
  at: z.iso.datetime(),
  /** The attempt that failed (`retrying`), or how many times a worker has taken the run (run `started`). */
  attempt: z.number().int().min(0).optional(),
  error: z.string().max(2000).optional(),
  model: z.string().optional(),
  tokens: z.number().int().min(0).optional(),
  cost_usd: z.number().min(0).optional(),
  /** The start of the step's answer, or of the run's output. */
  output_summary: z.string().max(500).optional(),
});
export type RunEvent = z.output<typeof runEvent>;

/** `<prefix>.<swarm>.<run>.<step>`; the run's own events use the step token `run`. */
export function runEventSubject(prefix: string, event: Pick<RunEvent, "swarm" | "run_id" | "step">): string {
  const step = event.step === null ? "run" : event.step.replaceAll(".", "-");
  return `${prefix}.${subjectToken(event.swarm)}.${subjectToken(event.run_id)}.${step}`;
}

/** The subject filter for `events tail`: every event, one swarm's, or one run's. */
export function runEventFilter(prefix: string, selection: { swarm?: string; run?: string }): string {
  const swarm = selection.swarm === undefined ? "*" : subjectToken(selection.swarm);
  return selection.run === undefined ? `${prefix}.${swarm}.>` : `${prefix}.${swarm}.${subjectToken(selection.run)}.>`;
}

export interface RunEventSink {
  publish(event: RunEvent, msgID: string): Promise<{ duplicate: boolean }>;
}

/** Publishes run events into the stream `spec` describes, each checked against the schema first. */
export function runEventSink(bus: EventBus, spec: EventStreamSpec): RunEventSink {
  return {
    async publish(event, msgID) {
      const valid = parseEvent(runEvent, event, `run event ${msgID}`);
      return bus.publish(runEventSubject(spec.subjectPrefix, valid), valid, msgID);
    },
  };
}
