import { z } from "zod";
import { subjectToken } from "../../events/schema.ts";

/** How a run was started; the CHECK of swarm_runs.trigger (migrations/0007). */
export const RUN_TRIGGERS = ["cli", "webhook", "schedule", "api"] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

export const runId = z.string().regex(/^run_[0-9a-z]{10,40}$/, "must be a run id such as run_k3j9x…");

/** A run handed to the workers, as it travels on NATS; validated before publishing and after receiving. */
export const runRequest = z.strictObject({
  run_id: runId,
  swarm: z.string().min(1).max(200),
  trigger: z.enum(RUN_TRIGGERS),
  requested_at: z.iso.datetime(),
});
export type RunRequest = z.output<typeof runRequest>;

/** `<prefix>.<swarm>.requested`: one subject per swarm, so a worker pool can take only some swarms. */
export function runRequestSubject(prefix: string, swarm: string): string {
  return `${prefix}.${subjectToken(swarm)}.requested`;
}
