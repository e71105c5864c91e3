import type { Sql } from "../../shared/db/connect.ts";
import { LAPSE_INTERVALS, type NodeRecord, type NodeStatus } from "./records.ts";
// Type only: this module is also loaded by the Worker, which must not pull in node-info.ts.
import type { NodeInfo } from "../node-info.ts";

/** Upserts the node's row (migrations/0010): the copy of the registry that the edge and `fleet status` read. */
export async function upsertNodeRow(sql: Sql, r: NodeRecord): Promise<void> {
  await sql`
    INSERT INTO fleet_nodes (id, hostname, os, arch, cpus, memory_bytes, labels, capabilities, roles, version, capacity,
      running_tasks, status, heartbeat_interval_ms, started_at, last_heartbeat, updated_at)
    VALUES (${r.id}, ${r.hostname}, ${r.os}, ${r.arch}, ${r.cpus}, ${r.memory_bytes}, ${r.labels}, ${r.capabilities}, ${r.roles},
      ${r.version}, ${r.capacity}, ${r.running_tasks}, ${r.status}, ${r.heartbeat_interval_ms}, ${r.started_at}, ${r.last_heartbeat}, now())
    ON CONFLICT (id) DO UPDATE SET hostname = EXCLUDED.hostname, os = EXCLUDED.os, arch = EXCLUDED.arch, cpus = EXCLUDED.cpus,
      memory_bytes = EXCLUDED.memory_bytes, labels = EXCLUDED.labels, capabilities = EXCLUDED.capabilities, roles = EXCLUDED.roles,
      version = EXCLUDED.version, capacity = EXCLUDED.capacity, running_tasks = EXCLUDED.running_tasks, status = EXCLUDED.status,
      heartbeat_interval_ms = EXCLUDED.heartbeat_interval_ms, started_at = EXCLUDED.started_at,
      last_heartbeat = EXCLUDED.last_heartbeat, updated_at = now()`;
}

/** Marks nodes whose heartbeat lapsed as down; every agent runs this with its own heartbeat. Returns their ids. */
export async function markLapsedDown(sql: Sql): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    UPDATE fleet_nodes SET status = 'down', updated_at = now()
    WHERE status IN ('up', 'draining')
      AND last_heartbeat < now() - make_interval(secs => heartbeat_interval_ms * ${LAPSE_INTERVALS} / 1000.0)
    RETURNING id`;
  return rows.map((r) => r.id);
}

/** A node as `fleet status` and the dashboard show it: its registration, and how it is doing. */
export interface FleetNodeView extends NodeInfo {
  /** up, draining, stopped, or down (said so, or its heartbeat lapsed). */
  health: NodeStatus;
  running: number;
  /** running / capacity, 0..1. */
  load: number;
  running_tasks: string[];
  last_heartbeat: string;
  heartbeat_age_ms: number;
  started_at: string;
}

/** Every node, health judged against the database clock so a skewed reader cannot misjudge it. */
export async function readFleet(sql: Sql): Promise<FleetNodeView[]> {
  const rows = await sql<(Omit<FleetNodeView, "health" | "running" | "load" | "last_heartbeat" | "started_at" | "heartbeat_age_ms" | "memory_bytes"> & {
    status: NodeStatus; lapsed: boolean; last_heartbeat: Date; started_at: Date; heartbeat_age_ms: number; memory_bytes: string | number;
  })[]>`
    SELECT id, hostname, os, arch, cpus, memory_bytes, labels, capabilities, roles, version, capacity, running_tasks, status,
      started_at, last_heartbeat,
      (extract(epoch FROM now() - last_heartbeat) * 1000)::float8 AS heartbeat_age_ms,
      last_heartbeat < now() - make_interval(secs => heartbeat_interval_ms * ${LAPSE_INTERVALS} / 1000.0) AS lapsed
    FROM fleet_nodes ORDER BY id`;
  return rows.map(({ status, lapsed, last_heartbeat, started_at, memory_bytes, ...r }) => {
    const health: NodeStatus = lapsed && (status === "up" || status === "draining") ? "down" : status;
    const running = health === "up" || health === "draining" ? r.running_tasks.length : 0;
    return {
      ...r,
      memory_bytes: Number(memory_bytes),
      health,
      running,
      load: r.capacity > 0 ? running / r.capacity : 0,
      running_tasks: running ? r.running_tasks : [],
      heartbeat_age_ms: Math.max(0, Math.round(r.heartbeat_age_ms)),
      last_heartbeat: last_heartbeat.toISOString(),
      started_at: started_at.toISOString(),
    };
  });
}

/** What the dashboard reads the fleet through (GatewayDeps.fleet). */
export interface FleetReader {
  nodes(): Promise<FleetNodeView[]>;
}

export const fleetReader = (sql: Sql): FleetReader => ({ nodes: () => readFleet(sql) });
