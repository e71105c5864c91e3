import { Command, Option } from "commander";
import { adminRequest, adminTarget } from "./admin-client.ts";
import type { SpendRow } from "../edge/admin/spend.ts";

export function spendCommand(): Command {
  return new Command("spend")
    .description("spend from the audit, grouped by key, agent, model or day")
    .addOption(new Option("--by <group>", "grouping").choices(["key", "agent", "model", "day", "swarm", "task"]).default("key"))
    .option("--from <date>", "start (ISO date or time, inclusive)")
    .option("--to <date>", "end (ISO date or time, exclusive)")
    .option("--json", "print JSON")
    .option("--url <url>", "gateway URL (default: $GODOTZ_URL or the dev gateway)")
    .action(async (o: { by: string; from?: string; to?: string; json?: boolean; url?: string }) => {
      const query = new URLSearchParams({ group_by: o.by, ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}) });
      const { rows } = await adminRequest<{ rows: SpendRow[] }>(await adminTarget(o), "GET", `/spend?${query}`);
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      console.log([o.by.toUpperCase(), "REQUESTS", "PROMPT", "COMPLETION", "COST_USD"].join("\t"));
      for (const r of rows) console.log([r.group ?? "-", r.requests, r.prompt_tokens, r.completion_tokens, r.cost_usd.toFixed(6)].join("\t"));
    });
}
