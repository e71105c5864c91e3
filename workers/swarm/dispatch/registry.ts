import type postgres from "postgres";
import type { Sql } from "../../../shared/db/connect.ts";
import type { SwarmSnapshot } from "./request.ts";

/** A swarm as `godotz swarm deploy` registered it: the Worker has no files, so this row is the swarm. */
export interface DeployedSwarm {
  name: string;
  version: string;
  /** The loaded swarm (workers/swarm/spec LoadedSwarm), as JSON. */
  spec: SwarmSnapshot & Record<string, unknown>;
  source: string | null;
  deployed_at: Date;
}

export interface DeployResult {
  name: string;
  version: string;
  /** True when no swarm of the name was deployed before. */
  created: boolean;
  deployed_at: Date;
}

/**
 * Registers loaded swarms under their names, replacing what was deployed before, all or none.
 * Runs already started keep the spec they were created with (swarm_runs.spec).
 */
export async function deploySwarms(sql: Sql, swarms: { loaded: SwarmSnapshot; source: string | null }[]): Promise<DeployResult[]> {
  const names = swarms.map((s) => s.loaded.spec.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new Error(`two of the files define swarm ${twice}`);
  return sql.begin(async (tx) => {
    const out: DeployResult[] = [];
    for (const { loaded, source } of swarms) {
      const { name, version } = loaded.spec;
      const [row] = await tx<{ created: boolean; deployed_at: Date }[]>`
        INSERT INTO swarms (name, version, spec, source) VALUES (${name}, ${version}, ${tx.json(loaded as unknown as postgres.JSONValue)}, ${source})
        ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, spec = EXCLUDED.spec, source = EXCLUDED.source, deployed_at = now()
        RETURNING (xmax = 0) AS created, deployed_at`;
      out.push({ name, version, created: row!.created, deployed_at: row!.deployed_at });
    }
    return out;
  });
}

export async function findDeployedSwarm(sql: Sql, name: string): Promise<DeployedSwarm | undefined> {
  const [row] = await sql<DeployedSwarm[]>`SELECT name, version, spec, source, deployed_at FROM swarms WHERE name = ${name}`;
  return row;
}
