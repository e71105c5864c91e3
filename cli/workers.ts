import { readFile } from "node:fs/promises";
import path from "node:path";
import { Command, Option } from "commander";
import { openDatabase } from "../shared/db/connect.ts";
import { migrate } from "../shared/db/migrate.ts";
import { EventBus } from "../workers/events/bus.ts";
import type { GatewayTarget } from "../workers/swarm/runtime/gateway.ts";
import { namespacedStreams, RunWorker } from "../workers/swarm/worker.ts";
import { databaseUrl, stateDir } from "./database.ts";
import { CliError } from "./errors.ts";
import { stopOnSignals } from "./signals.ts";
import { SwarmScheduler } from "../workers/swarm/schedule/index.ts";
import { connectSwarmClient, runTemporalWorker, temporalConfigFrom, TemporalConfigError } from "../workers/temporal/index.ts";

/**
 * The gateway agents call: GODOTZ_URL and GODOTZ_API_KEY (a virtual key), else the local dev
 * gateway and the virtual key `godotz dev` recorded in .godotz/dev.json.
 */
export async function runtimeGateway(env: Record<string, string | undefined> = process.env): Promise<GatewayTarget> {
  const dev = await readFile(path.join(stateDir(), "dev.json"), "utf8").then((t) => JSON.parse(t) as { url?: string; key?: string }, () => undefined);
  const url = env.GODOTZ_URL ?? dev?.url;
  const key = env.GODOTZ_API_KEY ?? dev?.key;
  if (!url) throw new CliError("no gateway for the agents: set GODOTZ_URL, or start `godotz dev`", 2);
  if (!key) throw new CliError("the agents need a virtual key: set GODOTZ_API_KEY (see `godotz keys create`)", 2);
  return { url: url.replace(/\/+$/, "").replace(/\/v1$/, ""), key };
}

const positive = (what: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`${what} must be a positive number`, 2);
  return n;
};

export function workersCommand(): Command {
  return new Command("workers")
    .description("run a swarm worker: executes queued runs, resumes runs of dead workers, publishes run and task events")
    .addOption(new Option("--concurrency <n>", "runs executed at once").default(2).argParser(positive("--concurrency")))
    .addOption(new Option("--lease-seconds <n>", "how soon another worker resumes a run of this one if it dies").default(30).argParser(positive("--lease-seconds")))
    .addOption(new Option("--ack-wait-seconds <n>", "how long the run queue waits for this worker's ack").default(30).argParser(positive("--ack-wait-seconds")))
    .option("--name <name>", "this worker's name on the runs it holds (default host-pid-random)")
    .option("--durable <name>", "the run queue consumer shared by a pool of workers", "godotz-workers")
    .addOption(new Option("--streams-namespace <ns>", "use streams of their own (GODOTZ_RUNS_<NS> on <ns>.godotz.runs.>, …)").env("GODOTZ_STREAMS_NAMESPACE").hideHelp())
    .action(async (opts: { concurrency: number; leaseSeconds: number; ackWaitSeconds: number; name?: string; durable: string; streamsNamespace?: string }) => {
      const log = (line: string) => console.error(line);
      const gateway = await runtimeGateway();
      const url = await databaseUrl(log);
      const sql = openDatabase(url, { max: 5 + opts.concurrency * 2 });
      await migrate(sql);
      let streams;
      try {
        streams = opts.streamsNamespace ? namespacedStreams(opts.streamsNamespace) : undefined;
      } catch (error) {
        throw new CliError((error as Error).message, 2);
      }
      let temporal;
      try {
        temporal = temporalConfigFrom();
      } catch (error) {
        if (error instanceof TemporalConfigError) throw new CliError(error.message, 2);
        throw error;
      }
      // With TEMPORAL_ADDRESS set, runs are Temporal workflows: this process starts them and hosts
      // a Temporal worker; without it, runs execute here on LangGraph (docs/temporal.md).
      const swarmClient = temporal ? await connectSwarmClient(temporal) : undefined;
      const bus = await EventBus.connect({ name: "godotz-worker" });
      const worker = new RunWorker({
        temporal: swarmClient,
        sql,
        databaseUrl: url,
        bus,
        gateway,
        name: opts.name,
        durable: opts.durable,
        streams,
        concurrency: opts.concurrency,
        leaseMs: opts.leaseSeconds * 1000,
        ackWaitMs: opts.ackWaitSeconds * 1000,
      });
      await worker.start();
      const stopTemporal = new AbortController();
      const temporalWorker = temporal ? runTemporalWorker({ config: temporal, sql, gateway, name: worker.name, signal: stopTemporal.signal }) : undefined;
      temporalWorker?.catch((error: Error) => {
        log(`godotz workers: the Temporal worker stopped: ${error.message}`);
        process.exitCode = 1;
      });
      const scheduler = new SwarmScheduler(sql, { log: (line) => log(`scheduler: ${line}`) });
      await scheduler.start();
      log(`godotz workers: ${worker.name} ready (gateway ${gateway.url}, ${temporal ? `Temporal at ${temporal.address}` : `${opts.concurrency} runs at once`})`);
      stopOnSignals(async () => {
        await scheduler.stop();
        stopTemporal.abort();
        await temporalWorker?.catch(() => {});
        await worker.stop();
        await swarmClient?.close();
        await bus.close();
        await sql.end();
      });
    });
}
