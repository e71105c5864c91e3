import { Command, Option } from "commander";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { startNodeGateway } from "../edge/node.ts";
import { parseConfig } from "../shared/config/load.ts";
import { generateKey } from "../edge/auth/keys.ts";
import { startSimulator } from "../simulator/server.ts";
import { simulatedConfigYaml } from "./dev-config.ts";
import { loadConfigFile } from "./config-file.ts";
import { databaseUrl, stateDir } from "./database.ts";
import { stopOnSignals } from "./signals.ts";
import { prepareSharedStore } from "./shared-store.ts";
import { openDatabase } from "../shared/db/connect.ts";
import { EventBus } from "../workers/events/bus.ts";
import { namespacedStreams, RunWorker } from "../workers/swarm/worker.ts";
import { SwarmScheduler } from "../workers/swarm/schedule/index.ts";

interface DevState {
  url: string;
  master_key: string;
  key?: string;
}

export function devCommand(): Command {
  return new Command("dev")
    .description("run the local stack: gateway + embedded Postgres (+ simulated models with --simulate)")
    .option("--simulate", "serve simulated models (OpenAI, Anthropic and Gemini wire formats) instead of real providers")
    .option("-c, --config <file>", "godotz.yaml to use without --simulate")
    .addOption(new Option("-p, --port <n>", "gateway port").default(Number(process.env.GODOTZ_PORT ?? 8787)).argParser(Number))
    .action(async (opts: { simulate?: boolean; config?: string; port: number }) => {
      const log = (line: string) => console.error(line);
      await mkdir(stateDir(), { recursive: true });
      const statePath = path.join(stateDir(), "dev.json");
      const previous = await readFile(statePath, "utf8").then((t) => JSON.parse(t) as DevState, () => undefined);
      const env = { ...process.env };
      env.GODOTZ_MASTER_KEY ??= previous?.master_key ?? generateKey().replace("gdz_", "gdzm_");

      let config;
      let closeSimulator = async () => {};
      if (opts.simulate) {
        const simulator = await startSimulator({ port: 0 });
        closeSimulator = () => simulator.close();
        env.GODOTZ_SIMULATOR_KEY = "simulated";
        config = parseConfig(simulatedConfigYaml(simulator.url), "(simulated dev config)");
        log(`godotz dev: simulated providers at ${simulator.url} (OpenAI, Anthropic and Gemini wire formats)`);
      } else {
        config = (await loadConfigFile(opts.config)).config;
      }

      const closeStore = await prepareSharedStore(env, { probeLocal: true, log });
      const dbUrl = await databaseUrl(log);
      const gateway = await startNodeGateway({ config, env, databaseUrl: dbUrl, port: opts.port, log });
      // Reuse the dev key across restarts while it is still valid, so scripts keep working.
      let key = previous?.key;
      if (!key || !(await gateway.deps.keys.findActive(key))) key = (await gateway.deps.keys.create({ name: "dev" })).key;
      const state: DevState = { url: gateway.url, master_key: env.GODOTZ_MASTER_KEY!, key };
      await writeFile(statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
      const stopWorker = await startSwarmWorker(dbUrl, { url: gateway.url, key }, log);

      console.log(
        [
          "",
          `  godotz gateway   ${gateway.url}/v1${opts.simulate ? "   (SIMULATED models: no real provider is called)" : ""}`,
          `  virtual key      ${key}`,
          `  master key       ${state.master_key}   (admin API; also in .godotz/dev.json)`,
          `  models           ${Object.keys(config.models).join(", ")}`,
          "",
          `  try:  curl ${gateway.url}/v1/chat/completions -H "authorization: Bearer ${key}" \\`,
          `          -H "content-type: application/json" -d '{"model":"glm-5.1","messages":[{"role":"user","content":"hello"}]}'`,
          "",
        ].join("\n"),
      );
      stopOnSignals(async () => {
        await stopWorker();
        await gateway.close();
        await closeSimulator();
        await closeStore();
      });
    });
}

/**
 * The swarm worker, in this process: queued runs (webhooks, `swarm run --detach`) execute and the
 * run, step and task events reach NATS. Without NATS the stack still serves; `godotz swarm run`
 * executes runs in its own process then.
 */
async function startSwarmWorker(url: string, gateway: { url: string; key: string }, log: (line: string) => void): Promise<() => Promise<void>> {
  let bus: EventBus;
  try {
    bus = await EventBus.connect({ name: "godotz-dev-worker", connectTimeoutMs: 2000 });
  } catch (error) {
    log(`godotz dev: swarm worker not started (${(error as Error).message}); \`godotz swarm run\` still runs swarms in its own process`);
    return async () => {};
  }
  const sql = openDatabase(url, { max: 6 });
  try {
    // GODOTZ_STREAMS_NAMESPACE keeps two stacks on one NATS apart (tests, side-by-side installs).
    const namespace = process.env.GODOTZ_STREAMS_NAMESPACE;
    const streams = namespace ? namespacedStreams(namespace) : undefined;
    const worker = new RunWorker({ sql, databaseUrl: url, bus, gateway, streams, name: `dev-${process.pid}`, log: (line) => log(`godotz dev: worker: ${line}`) });
    await worker.start();
    const scheduler = new SwarmScheduler(sql, { log: (line) => log(`godotz dev: scheduler: ${line}`) });
    await scheduler.start();
    log(`godotz dev: swarm worker ${worker.name} ready (runs queued by webhooks, schedules and \`swarm run --detach\` execute here)`);
    return async () => {
      await scheduler.stop();
      await worker.stop();
      await bus.close();
      await sql.end();
    };
  } catch (error) {
    log(`godotz dev: swarm worker not started: ${(error as Error).message}`);
    await bus.close();
    await sql.end();
    return async () => {};
  }
}
