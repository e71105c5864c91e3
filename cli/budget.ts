import { Command, Option } from "commander";
import { adminRequest, adminTarget } from "./admin-client.ts";
import type { Budget, BudgetStatus } from "../edge/budget/ledger.ts";
import { CliError } from "./errors.ts";

export function budgetCommand(): Command {
  const budget = new Command("budget").description("USD caps per key, model family or tag (team), through the admin API");
  const url = new Option("--url <url>", "gateway URL (default: $GODOTZ_URL or the dev gateway)");

  budget
    .command("set")
    .description("set (or change) a budget")
    .option("--key <id>", "a virtual key id (vk_…)")
    .option("--family <name>", "a model family (glm, gemini, …)")
    .option("--tag <name>", "a tag (team) of keys")
    .requiredOption("--usd <n>", "cap in USD", (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error("--usd must be a number ≥ 0");
      return n;
    })
    .addOption(new Option("--period <p>", "period (calendar UTC)").choices(["daily", "monthly", "total"]).default("monthly"))
    .addOption(url)
    .action(async (o: { key?: string; family?: string; tag?: string; usd: number; period: string; url?: string }) => {
      const targets = [o.key && ["key", o.key], o.family && ["family", o.family], o.tag && ["tag", o.tag]].filter(Boolean) as [string, string][];
      if (targets.length !== 1) throw new CliError("give exactly one of --key, --family or --tag", 2);
      const [scope, subject] = targets[0]!;
      const saved = await adminRequest<Budget>(await adminTarget(o), "PUT", "/budgets", { scope, subject, period: o.period, cap_usd: o.usd });
      console.log(`${saved.id}: $${saved.cap_usd} ${saved.period}`);
    });

  budget
    .command("show")
    .description("every budget with this period's spend, holds and what is left")
    .option("--json", "print JSON")
    .addOption(url)
    .action(async (o: { json?: boolean; url?: string }) => {
      const { data } = await adminRequest<{ data: BudgetStatus[] }>(await adminTarget(o), "GET", "/budgets");
      if (o.json) return console.log(JSON.stringify(data, null, 2));
      console.log(["BUDGET", "PERIOD", "CAP_USD", "SPENT_USD", "HELD_USD", "LEFT_USD", "USED"].join("\t"));
      for (const b of data) {
        const used = b.cap_usd > 0 ? `${Math.round(((b.spent_usd + b.reserved_usd) / b.cap_usd) * 100)}%` : "-";
        console.log([b.id, b.period, b.cap_usd.toFixed(2), b.spent_usd.toFixed(6), b.reserved_usd.toFixed(6), b.remaining_usd.toFixed(6), used].join("\t"));
      }
    });

  budget
    .command("rm")
    .description("remove a budget")
    .argument("<id>", "budget id, e.g. family:glm")
    .addOption(url)
    .action(async (id: string, o: { url?: string }) => {
      await adminRequest(await adminTarget(o), "DELETE", `/budgets/${encodeURIComponent(id)}`);
      console.log(`removed ${id}`);
    });
  return budget;
}
