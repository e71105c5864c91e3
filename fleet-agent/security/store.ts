import { z } from "zod";
import type { Sql } from "../../shared/db/connect.ts";
import { FleetInputError } from "../errors.ts";
import { token } from "../names.ts";

/** One sandbox security event as stored (migrations/0012), published and listed. */
export const securityEventRecord = z.object({
  id: z.number().int().positive().nullable(),
  at: z.string(),
  node_id: z.string(),
  task_id: z.string().nullable(),
  kind: z.enum(["write", "network", "read", "other"]),
  detail: z.string(),
  command: z.string(),
  work_dir: z.string(),
});
export type SecurityEventRecord = z.infer<typeof securityEventRecord>;

/** Inserts one event; returns its id. */
export async function insertSecurityEvent(sql: Sql, e: Omit<SecurityEventRecord, "id">): Promise<number> {
  const [row] = await sql<{ id: string }[]>`
    INSERT INTO security_events (at, node_id, task_id, kind, detail, command, work_dir)
    VALUES (${e.at}, ${e.node_id}, ${e.task_id}, ${e.kind}, ${e.detail}, ${e.command}, ${e.work_dir})
    RETURNING id`;
  return Number(row!.id);
}

export const MAX_LIST_LIMIT = 10_000;

const listQuery = z.object({
  node: token.optional(),
  since: z.union([z.iso.datetime({ offset: true }), z.iso.date()], "must be an ISO date or date-time (e.g. 2026-01-31 or 2026-01-31T12:00:00Z)").optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(50),
});
export type SecurityEventQuery = z.input<typeof listQuery>;

/** The newest events first, for the fleet or one node, optionally since a time. Bad input is a FleetInputError. */
export async function listSecurityEvents(sql: Sql, query: SecurityEventQuery = {}): Promise<SecurityEventRecord[]> {
  const parsed = listQuery.safeParse(query);
  if (!parsed.success) throw new FleetInputError(`security events query: ${z.prettifyError(parsed.error)}`);
  const q = parsed.data;
  const rows = await sql<{ id: string; at: Date; node_id: string; task_id: string | null; kind: SecurityEventRecord["kind"]; detail: string; command: string; work_dir: string }[]>`
    SELECT id, at, node_id, task_id, kind, detail, command, work_dir FROM security_events
    WHERE TRUE
      ${q.node === undefined ? sql`` : sql`AND node_id = ${q.node}`}
      ${q.since === undefined ? sql`` : sql`AND at >= ${q.since}`}
    ORDER BY at DESC, id DESC
    LIMIT ${q.limit}`;
  return rows.map((r) => ({ ...r, id: Number(r.id), at: r.at.toISOString() }));
}
