import { z } from "zod";
import { triggerSchema } from "../spec/schema.ts";

// The swarms table holds loaded swarms as JSON (workers/swarm/spec LoadedSwarm); a row comes from
// outside this process, so its triggers are checked against the swarm file's own trigger schema.
const deployedTriggers = z.looseObject({
  spec: z.looseObject({ triggers: z.array(z.unknown()).default([]) }),
});

/** The distinct cron expressions of a deployed swarm's schedule triggers, in file order. */
export function scheduleCrons(loaded: unknown): string[] {
  const parsed = deployedTriggers.safeParse(loaded);
  if (!parsed.success) return [];
  const crons: string[] = [];
  for (const raw of parsed.data.spec.triggers) {
    const trigger = triggerSchema.safeParse(raw);
    if (trigger.success && "schedule" in trigger.data && !crons.includes(trigger.data.schedule.cron)) crons.push(trigger.data.schedule.cron);
  }
  return crons;
}
