import { z } from "zod";
import type { Sql } from "../../shared/db/connect.ts";

export const spendQuery = z.strictObject({
  group_by: z.enum(["key", "agent", "model", "day", "swarm", "task"]).default("key"),
  from: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
  to: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
});
export type SpendQuery = z.infer<typeof spendQuery>;

export interface SpendRow {
  group: string | null;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
}

const GROUP_EXPRESSIONS: Record<SpendQuery["group_by"], string> = {
  key: "key_id",
  agent: "agent",
  swarm: "swarm",
  task: "task",
  model: "coalesce(model_used, model_requested)",
  day: "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
};

/** Spend straight from the audit rows, so the two can never disagree. `to` is exclusive. */
export class SpendStore {
  constructor(private readonly sql: Sql) {}

  async query(q: SpendQuery): Promise<SpendRow[]> {
    const group = this.sql.unsafe(GROUP_EXPRESSIONS[q.group_by]);
    const from = q.from ? new Date(q.from) : new Date(0);
    const to = q.to ? new Date(q.to) : new Date("9999-12-31T00:00:00Z");
    const rows = await this.sql<{ group: string | null; requests: string; prompt_tokens: string; completion_tokens: string; cost_usd: number }[]>`
      SELECT ${group} AS "group", count(*) AS requests, coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
             coalesce(sum(completion_tokens), 0) AS completion_tokens, coalesce(sum(cost_usd), 0)::numeric AS cost_usd
      FROM audit_log WHERE created_at >= ${from} AND created_at < ${to}
      GROUP BY 1 ORDER BY cost_usd DESC, 1`;
    return rows.map((r) => ({
      group: r.group,
      requests: Number(r.requests),
      prompt_tokens: Number(r.prompt_tokens),
      completion_tokens: Number(r.completion_tokens),
      cost_usd: Number(r.cost_usd),
    }));
  }
}
