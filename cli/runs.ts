import { setTimeout as sleep } from "node:timers/promises";
import { Command, Option } from "commander";
import { openDatabase, type Sql } from "../shared/db/connect.ts";
import { migrate } from "../shared/db/migrate.ts";
import { renderRunGraph, runDetails } from "../workers/swarm/runs/details.ts";
import { listRuns, RUN_STATUSES, RunNotFoundError, type RunStatus } from "../workers/swarm/runs/store.ts";
import { databaseUrl } from "./database.ts";
import { CliError } from "./errors.ts";
import { cancelRun, temporalRunsFrom, watchesOnTemporal, watchTemporalRun } from "./runs-temporal.ts";

/** Opens the database for one command and maps a missing run to a clear CLI error. */
export async function withRunsDatabase<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = openDatabase(await databaseUrl((line) => console.error(line)), { max: 2 });
  try {
    await migrate(sql);
    return await fn(sql);
  } catch (error) {
    if (error instanceof RunNotFoundError) throw new CliError(error.message, 1);
    throw error;
  } finally {
    await sql.end();
  }
}

const RUN_ID = /^run_[0-9a-z]{10,40}$/;
function checkRunId(id: string): string {
  if (!RUN_ID.test(id)) throw new CliError(`"${id}" is not a run id (run_ followed by letters and digits)`, 2);
  return id;
}

export function runsCommand(): Command {
  const runs = new Command("runs").description("swarm runs: list, show (--watch draws the graph live), cancel");
  runs
    .command("list")
    .description("recent runs, newest first")
    .option("--swarm <name>", "only this swarm's runs")
    .addOption(new Option("--status <status>", "only runs in this status").choices([...RUN_STATUSES]))
    .addOption(new Option("--limit <n>", "how many").default(20).argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 1000) throw new CliError("--limit must be a whole number from 1 to 1000", 2);
      return n;
    }))
    .option("--json", "print JSON")
    .action(async (o: { swarm?: string; status?: RunStatus; limit: number; json?: boolean }) => {
      const rows = await withRunsDatabase((sql) => listRuns(sql, o));
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      console.log(["RUN", "SWARM", "STATUS", "TRIGGER", "CREATED", "ERROR"].join("\t"));
      for (const r of rows) console.log([r.id, `${r.swarm} v${r.swarm_version}`, r.status, r.trigger, r.created_at.toISOString(), r.error?.slice(0, 60) ?? ""].join("\t"));
    });
  runs
    .command("show")
    .description("a run, its steps and what it has cost; --watch redraws its graph until it ends")
    .argument("<run>", "run id")
    .option("--json", "print JSON")
    .option("--watch", "redraw the graph with each node's state until the run ends")
    .addOption(new Option("--interval <ms>", "redraw interval with --watch").default(500).argParser(Number).hideHelp())
    .action(async (id: string, o: { json?: boolean; watch?: boolean; interval: number }) => {
      checkRunId(id);
      await withRunsDatabase(async (sql) => {
        if (o.watch) {
          // A Temporal run is drawn from its workflow's progress query, when the cluster is configured.
          const temporal = temporalRunsFrom();
          if (!(await watchesOnTemporal(sql, id, temporal, (line) => console.error(line))) || !temporal) return watch(sql, id, o.interval, o.json === true);
          const runs = await temporal();
          try {
            await watchTemporalRun(runs, id, { intervalMs: o.interval, json: o.json === true, clear: process.stdout.isTTY === true });
          } finally {
            await runs.close();
          }
          return;
        }
        const details = await runDetails(sql, id);
        if (o.json) return console.log(JSON.stringify(details, null, 2));
        console.log(renderRunGraph(details));
        console.log("");
        console.log(["STEP", "TASK", "AGENT", "STATUS", "MODEL", "TOKENS", "COST_USD", "ERROR"].join("\t"));
        for (const s of details.steps) console.log([s.step, s.task_id, s.agent ?? "-", s.status, s.model ?? "-", s.tokens, s.cost_usd.toFixed(6), s.error?.slice(0, 60) ?? ""].join("\t"));
      });
    });
  runs
    .command("cancel")
    .description("stop a run: a queued one at once, a running one at its next step boundary (a Temporal run: its steps in flight are cancelled)")
    .argument("<run>", "run id")
    .option("--json", "print JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      checkRunId(id);
      const run = await withRunsDatabase((sql) => cancelRun(sql, id, temporalRunsFrom()));
      if (o.json) return console.log(JSON.stringify(run, null, 2));
      if (run.previous_status === "queued") console.log(`${id}: cancelled`);
      else if (run.via === "temporal") console.log(`${id}: cancel signal sent to its Temporal workflow; its steps in flight are cancelled`);
      else if (run.previous_status === "running") console.log(`${id}: cancellation requested; it stops at its next step boundary`);
      else console.log(`${id}: already ${run.previous_status}; nothing to cancel`);
    });
  return runs;
}

/** Redraws until the run has finished (bounded by the run itself; Ctrl-C stops watching). */
async function watch(sql: Sql, id: string, intervalMs: number, json: boolean): Promise<void> {
  const tty = process.stdout.isTTY === true;
  for (;;) {
    const details = await runDetails(sql, id);
    const finished = ["completed", "failed", "cancelled"].includes(details.run.status);
    if (json) console.log(JSON.stringify({ status: details.run.status, steps: details.steps.map((s) => ({ step: s.step, agent: s.agent, status: s.status })), usage: details.usage }));
    else {
      if (tty) process.stdout.write("\x1b[2J\x1b[H");
      console.log(renderRunGraph(details));
      if (!tty) console.log("");
    }
    if (finished) return;
    await sleep(Math.max(100, intervalMs));
  }
}
