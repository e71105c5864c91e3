import { Command, Option } from "commander";
import { adminRequest, adminTarget } from "./admin-client.ts";
import type { VirtualKey } from "../edge/auth/keys.ts";

const list = (v: string) => v.split(",").map((s) => s.trim()).filter(Boolean);

function positive(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
    return n;
  };
}

export function keysCommand(): Command {
  const keys = new Command("keys").description("create, list and revoke virtual keys (through the admin API)");
  const url = new Option("--url <url>", "gateway URL (default: $GODOTZ_URL or the dev gateway)");

  keys
    .command("create")
    .description("create a virtual key; the key is printed once")
    .requiredOption("--name <name>", "who or what the key is for")
    .option("--models <list>", "comma-separated models the key may use", list)
    .option("--families <list>", "comma-separated model families the key may use", list)
    .option("--tags <list>", "comma-separated tags (teams); budgets on a tag cap every key carrying it", list)
    .option("--budget-usd <n>", "spend cap in USD", positive("--budget-usd"))
    .addOption(new Option("--budget-period <p>", "budget period").choices(["daily", "monthly", "total"]))
    .option("--rpm <n>", "requests per minute", positive("--rpm"))
    .option("--tpm <n>", "tokens per minute", positive("--tpm"))
    .option("--json", "print JSON")
    .addOption(url)
    .action(async (o) => {
      const created = await adminRequest<VirtualKey & { key: string; budget_usd: number | null }>(await adminTarget(o), "POST", "/keys", {
        name: o.name, models: o.models, families: o.families, tags: o.tags, budget_usd: o.budgetUsd, budget_period: o.budgetPeriod, rpm: o.rpm, tpm: o.tpm,
      });
      if (o.json) console.log(JSON.stringify(created, null, 2));
      else console.log(`${created.id}  ${created.name}\nkey: ${created.key}\n(store it now: it is not shown again)`);
    });

  keys
    .command("list")
    .description("list virtual keys (never the secrets)")
    .option("--json", "print JSON")
    .addOption(url)
    .action(async (o) => {
      const { data } = await adminRequest<{ data: (VirtualKey & { budget_usd: number | null; budget_period: string | null })[] }>(await adminTarget(o), "GET", "/keys");
      if (o.json) return console.log(JSON.stringify(data, null, 2));
      console.log(["ID", "NAME", "PREFIX", "MODELS", "FAMILIES", "BUDGET", "STATUS"].join("\t"));
      for (const k of data) {
        const budget = k.budget_usd !== null ? `$${k.budget_usd}/${k.budget_period}` : "-";
        console.log([k.id, k.name, `${k.key_prefix}…`, k.models?.join(",") || "*", k.families?.join(",") || "*", budget, k.revoked_at ? "revoked" : "active"].join("\t"));
      }
    });

  keys
    .command("revoke")
    .description("revoke a key; it is refused from its next request on")
    .argument("<id>", "key id (vk_…)")
    .addOption(url)
    .action(async (id: string, o) => {
      await adminRequest(await adminTarget(o), "DELETE", `/keys/${encodeURIComponent(id)}`);
      console.log(`revoked ${id}`);
    });

  return keys;
}
