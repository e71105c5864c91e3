import { openDatabase, type Sql } from "../../../shared/db/connect.ts";
import { migrate } from "../../../shared/db/migrate.ts";
import { deploySwarms } from "../../../workers/swarm/dispatch/index.ts";
import type { LoadedSwarm } from "../../../workers/swarm/spec/load.ts";
import { swarmSchema } from "../../../workers/swarm/spec/schema.ts";
import { freshDatabase } from "../../helpers/db.ts";

/** A migrated database of the test file's own, with a pool; `close()` ends the pool and drops it. */
export async function scheduleDatabase(): Promise<{ url: string; sql: Sql; close(): Promise<void> }> {
  const db = await freshDatabase("godotz_schedule");
  const sql = openDatabase(db.url, { max: 4 });
  await migrate(sql);
  return {
    url: db.url,
    sql,
    async close() {
      await sql.end();
      await db.drop();
    },
  };
}

/** A loaded swarm as the loader returns it, without files, with these schedules (and a webhook, which must be ignored). */
export function scheduledSwarm(name: string, crons: string[], version = "1"): LoadedSwarm {
  const spec = swarmSchema.parse({
    name,
    version,
    agents: { lead: { type: "supervisor", family: "claude" }, writer: { type: "worker", family: "glm" } },
    topology: { supervisor: "lead", workers: ["writer"] },
    triggers: [{ webhook: { secret: "env:UNUSED_HOOK_SECRET" } }, ...crons.map((cron) => ({ schedule: { cron } }))],
  });
  return { spec, file: `${name}.yaml`, subswarms: {}, skills: {} };
}

export async function deploy(sql: Sql, ...swarms: LoadedSwarm[]): Promise<void> {
  await deploySwarms(sql, swarms.map((loaded) => ({ loaded, source: null })));
}

export interface TickRow {
  swarm: string;
  cron: string;
  tick_at: Date;
  run_id: string | null;
}

/** Plain arrays (postgres.js returns a subclass), so deepEqual compares rows only. */
export async function ticksOf(sql: Sql, swarm: string): Promise<TickRow[]> {
  return [...(await sql<TickRow[]>`SELECT swarm, cron, tick_at, run_id FROM swarm_schedule_ticks WHERE swarm = ${swarm} ORDER BY tick_at, cron`)];
}

export interface RunRow {
  id: string;
  swarm: string;
  swarm_version: string;
  input: string;
  trigger: string;
  status: string;
}

export async function runsOf(sql: Sql, swarm: string): Promise<RunRow[]> {
  return [...(await sql<RunRow[]>`SELECT id, swarm, swarm_version, input, trigger, status FROM swarm_runs WHERE swarm = ${swarm} ORDER BY created_at, id`)];
}


export { waitFor, freePort } from "../../helpers/wait.ts";
