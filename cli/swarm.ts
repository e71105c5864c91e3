import { access } from "node:fs/promises";
import { Command } from "commander";
import { parseConfig } from "../shared/config/load.ts";
import { formatIssue } from "../shared/yaml/locate.ts";
import { catalogueFromConfig, loadSwarmFile, swarmJsonSchema, SwarmFileError, type LoadedSwarm, type ModelCatalogue, type SwarmIssue } from "../workers/swarm/spec/index.ts";
import { loadConfigFile } from "./config-file.ts";
import { simulatedConfigYaml } from "./dev-config.ts";
import { CliError } from "./errors.ts";

/** `godotz swarm …`; exported so further subcommands (run, deploy) are added to the same command. */
export function swarmCommand(): Command {
  const swarm = new Command("swarm").description("define and run swarms (see docs/swarms.md)");
  swarm
    .command("validate")
    .description("validate swarm files, their nested swarms and skills; errors name file:line:column")
    .argument("<files...>", "swarm files")
    .option("--config <file>", "gateway configuration giving the models and their families (default: $GODOTZ_CONFIG or ./godotz.yaml)")
    .option("--json", "print the result as JSON")
    .action(async (files: string[], opts: { config?: string; json?: boolean }) => {
      const catalogue = await modelCatalogue(opts.config, (line) => console.error(line));
      const results = [];
      for (const file of files) results.push(await validateOne(file, catalogue));
      if (opts.json) console.log(JSON.stringify(results, null, 2));
      for (const r of opts.json ? [] : results) {
        if (r.valid) console.log(`${r.file}: ok (${r.summary})`);
        else for (const issue of r.issues) console.error(formatIssue(issue.file, issue));
      }
      const invalid = results.filter((r) => !r.valid).length;
      if (invalid > 0) throw new CliError(`${invalid} of ${results.length} swarm file${results.length === 1 ? " is" : "s are"} invalid`, 2);
    });
  swarm
    .command("schema")
    .description("print the JSON Schema of swarm files, for editors")
    .action(() => console.log(JSON.stringify(swarmJsonSchema(), null, 2)));
  return swarm;
}

/**
 * The models to check families against: the configuration the gateway will run with, else (no
 * file at all) the simulated models of `godotz dev --simulate`, said out loud so nobody mistakes
 * a pass against them for a pass against their own gateway.
 */
export async function modelCatalogue(flag: string | undefined, note: (line: string) => void): Promise<ModelCatalogue> {
  if (flag === undefined && process.env.GODOTZ_CONFIG === undefined && !(await exists("godotz.yaml"))) {
    note("godotz: no godotz.yaml (and no --config or GODOTZ_CONFIG): checking models against the simulated dev models (glm-5.1, glm-4.7, gemini-3.1-pro-low, claude-sonnet-4.5)");
    return catalogueFromConfig(parseConfig(simulatedConfigYaml("http://127.0.0.1:1"), "simulated dev configuration"));
  }
  return catalogueFromConfig((await loadConfigFile(flag)).config);
}

interface ValidationResult {
  file: string;
  valid: boolean;
  swarm?: { name: string; version: string };
  summary?: string;
  issues: SwarmIssue[];
}

async function validateOne(file: string, catalogue: ModelCatalogue): Promise<ValidationResult> {
  try {
    const loaded = await loadSwarmFile(file, { catalogue });
    return { file, valid: true, swarm: { name: loaded.spec.name, version: loaded.spec.version }, summary: summarise(loaded), issues: [] };
  } catch (error) {
    if (error instanceof SwarmFileError) return { file, valid: false, issues: error.issues };
    throw error;
  }
}

function summarise(loaded: LoadedSwarm): string {
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  const parts = [`swarm ${loaded.spec.name} v${loaded.spec.version}`, count(Object.keys(loaded.spec.agents).length, "agent")];
  const panels = Object.keys(loaded.spec.panels).length;
  const nested = Object.keys(loaded.subswarms).length;
  const skills = Object.keys(loaded.skills).length;
  if (panels) parts.push(count(panels, "panel"));
  if (nested) parts.push(count(nested, "nested swarm"));
  if (skills) parts.push(count(skills, "skill"));
  return parts.join(", ");
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
