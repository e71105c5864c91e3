import { readFile } from "node:fs/promises";
import { Command } from "commander";
import type { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { openDatabase } from "../shared/db/connect.ts";
import { migrate } from "../shared/db/migrate.ts";
import { InvalidRunRequestError, requestRun } from "../workers/swarm/dispatch/request.ts";
import { runDetails } from "../workers/swarm/runs/details.ts";
import { openCheckpointer } from "../workers/swarm/runtime/checkpointer.ts";
import { executeRun } from "../workers/swarm/runtime/executor.ts";
import type { Progress } from "../workers/swarm/runtime/steps.ts";
import { loadSwarmFile } from "../workers/swarm/spec/load.ts";
import { databaseUrl } from "./database.ts";
import { CliError } from "./errors.ts";
import { modelCatalogue } from "./swarm.ts";
import { runtimeGateway } from "./workers.ts";

const MAX_INPUT_BYTES = 1024 * 1024;

/** `--input TEXT` or `--input @file`. */
export async function readRunInput(value: string): Promise<string> {
  if (!value.startsWith("@")) return value;
  const file = value.slice(1);
  if (!file) throw new CliError("--input @ needs a file name after the @", 2);
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read the input file ${file}: ${error.code === "ENOENT" ? "no such file" : error.message}`, 2);
  });
  if (Buffer.byteLength(text) > MAX_INPUT_BYTES) throw new CliError(`the input file ${file} is larger than 1 MiB`, 2);
  return text;
}

/** A progress line: which agent is working, and tokens and cost so far. */
export function progressLine(p: Progress, total: { tokens: number; cost: number }): string {
  const who = `step ${p.step.padEnd(4)} ${p.agent.padEnd(12)}`;
  if (p.kind === "step-started") return `  ▸ ${who} working: ${p.title.replace(/^[^:]+: /, "")}`;
  if (p.kind === "step-retrying") return `  ↻ ${who} retrying: ${p.error}`;
  if (!p.ok) return `  ✖ ${who} failed: ${p.error}`;
  return `  ✔ ${who} ${p.model ?? ""}  ${p.tokens ?? 0} tokens  $${(p.cost_usd ?? 0).toFixed(6)}   │ so far ${total.tokens} tokens  $${total.cost.toFixed(6)}`;
}

/** `godotz swarm run FILE --input TEXT|@file`: the lead attaches it to `godotz swarm`. */
export function swarmRunCommand(): Command {
  return new Command("run")
    .description("run a swarm here and show its progress (no separate worker needed)")
    .argument("<file>", "swarm file")
    .requiredOption("--input <text>", "the task, or @file to read it from a file")
    .option("--config <file>", "gateway configuration giving the models and their families (default: $GODOTZ_CONFIG or ./godotz.yaml)")
    .option("--json", "print the outcome as JSON (no progress lines)")
    .option("--detach", "only queue the run for `godotz workers` and print its id")
    .action(async (file: string, opts: { input: string; config?: string; json?: boolean; detach?: boolean }) => {
      const log = (line: string) => console.error(line);
      const input = await readRunInput(opts.input);
      const loaded = await loadSwarmFile(file, { catalogue: await modelCatalogue(opts.config, log) });
      const gateway = opts.detach ? undefined : await runtimeGateway();
      const url = await databaseUrl(log);
      // Each branch of a fan-out opens and closes its step on a connection of its own.
      const sql = openDatabase(url, { max: 4 + (loaded.spec.topology.max_parallel ?? 1) });
      let checkpointer: PostgresSaver | undefined;
      const interrupt = new AbortController();
      const onSignal = () => interrupt.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      try {
        await migrate(sql);
        const { runId } = await requestRun(sql, { loaded, input, trigger: "cli" }).catch((error: unknown) => {
          throw error instanceof InvalidRunRequestError ? new CliError(error.message, 2) : error;
        });
        if (opts.detach) {
          console.log(opts.json ? JSON.stringify({ run_id: runId, status: "queued" }) : runId);
          return;
        }
        checkpointer = await openCheckpointer(url);
        if (!opts.json) log(`godotz: run ${runId} of ${loaded.spec.name} v${loaded.spec.version}`);
        const total = { tokens: 0, cost: 0 };
        const outcome = await executeRun(
          {
            sql,
            gateway: gateway!,
            checkpointer,
            worker: `cli-${process.pid}`,
            signal: interrupt.signal,
            onProgress: (p) => {
              if (p.kind === "step-finished" && p.ok) {
                total.tokens += p.tokens ?? 0;
                total.cost += p.cost_usd ?? 0;
              }
              if (!opts.json) log(progressLine(p, total));
            },
          },
          runId,
        );
        if (outcome.status === "running") {
          throw new CliError(`interrupted: run ${runId} stays running and \`godotz workers\` resumes it from its last step`, 130);
        }
        const details = await runDetails(sql, runId);
        if (opts.json) {
          console.log(JSON.stringify({ run_id: runId, swarm: loaded.spec.name, status: outcome.status, output: outcome.output, error: outcome.error, usage: details.usage, audit: details.audit, steps: details.steps }, null, 2));
        } else {
          log(`godotz: run ${runId} ${outcome.status}: ${details.steps.length} steps, ${details.usage.tokens} tokens, $${details.usage.cost_usd.toFixed(6)}`);
          if (outcome.output) console.log(outcome.output);
        }
        if (outcome.status !== "completed") throw new CliError(`run ${runId} ${outcome.status}${outcome.error ? `: ${outcome.error}` : ""}`, 1);
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        await checkpointer?.end().catch(() => {});
        await sql.end();
      }
    });
}
