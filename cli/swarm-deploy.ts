import { readFile } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { openDatabase } from "../shared/db/connect.ts";
import { migrate } from "../shared/db/migrate.ts";
import { databaseUrl, stateDir } from "./database.ts";
import { modelCatalogue } from "./swarm.ts";
import { CliError } from "./errors.ts";
import { loadSwarmFile, SwarmFileError, type LoadedSwarm } from "../workers/swarm/spec/load.ts";
import { deploySwarms } from "../workers/swarm/dispatch/registry.ts";

interface Deployed {
  name: string;
  version: string;
  file: string;
  created: boolean;
  deployed_at: string;
  /** Where deliveries go and which `env:` secrets sign them; null when the swarm has no webhook trigger. */
  webhook: { url: string; secrets: string[] } | null;
}

/**
 * `godotz swarm deploy FILE...`: loads and validates each swarm file (with its nested swarms and
 * skills) and registers it in Postgres, where the edge finds it: a Cloudflare Worker has no files
 * to read. All files are checked before any is written, and they are written together.
 */
export function swarmDeployCommand(): Command {
  return new Command("deploy")
    .description("register swarm files with the database, so webhooks (and any worker) can start their runs")
    .argument("<file...>", "swarm files")
    .option("-c, --config <file>", "godotz.yaml, whose models the swarms are checked against (default: $GODOTZ_CONFIG or ./godotz.yaml; as `swarm validate`)")
    .option("--url <url>", "the gateway's public URL, for the webhook addresses printed (default: $GODOTZ_URL or the dev gateway)")
    .option("--json", "print JSON")
    .action(async (files: string[], o: { config?: string; url?: string; json?: boolean }) => {
      const catalogue = await modelCatalogue(o.config, (line) => console.error(line));
      const loaded: { loaded: LoadedSwarm; source: string }[] = [];
      const problems: string[] = [];
      for (const file of files) {
        try {
          loaded.push({ loaded: await loadSwarmFile(file, { catalogue }), source: path.resolve(file) });
        } catch (error) {
          if (!(error instanceof SwarmFileError)) throw error;
          problems.push(error.message);
        }
      }
      if (problems.length) throw new CliError(`nothing deployed:\n${problems.join("\n")}`, 2);

      const base = await gatewayUrl(o.url);
      const sql = openDatabase(await databaseUrl((line) => console.error(line)), { max: 1 });
      let results;
      try {
        await migrate(sql);
        results = await deploySwarms(sql, loaded).catch((error: Error) => {
          throw new CliError(`nothing deployed: ${error.message}`);
        });
      } finally {
        await sql.end({ timeout: 5 });
      }
      const deployed: Deployed[] = results.map((r, i) => {
        const { loaded: swarm, source } = loaded[i]!;
        const secrets = swarm.spec.triggers.flatMap((t) => ("webhook" in t ? [t.webhook.secret] : []));
        const hookPath = `/hooks/${encodeURIComponent(r.name)}`;
        return {
          name: r.name,
          version: r.version,
          file: source,
          created: r.created,
          deployed_at: r.deployed_at.toISOString(),
          webhook: secrets.length ? { url: base ? `${base}${hookPath}` : hookPath, secrets } : null,
        };
      });
      if (o.json) return console.log(JSON.stringify(deployed, null, 2));
      for (const d of deployed) {
        console.log(`${d.created ? "deployed" : "updated"} ${d.name} version ${d.version} (${path.relative(process.cwd(), d.file) || d.file})`);
        if (d.webhook) console.log(`  webhook: POST ${d.webhook.url}  (signed with ${d.webhook.secrets.join(" or ")}; see docs/webhooks.md)`);
      }
    });
}

/** --url, else GODOTZ_URL, else the dev gateway `godotz dev` recorded; undefined prints paths only. */
async function gatewayUrl(flag: string | undefined): Promise<string | undefined> {
  const dev = await readFile(path.join(stateDir(), "dev.json"), "utf8").then((t) => (JSON.parse(t) as { url?: string }).url, () => undefined);
  const url = flag ?? process.env.GODOTZ_URL ?? dev;
  if (url === undefined) return undefined;
  if (!/^https?:\/\/\S+$/.test(url)) throw new CliError(`--url must be an http(s) URL, not ${url}`, 2);
  return url.replace(/\/+$/, "");
}
