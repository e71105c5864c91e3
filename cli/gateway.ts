import { Command, Option } from "commander";
import { startNodeGateway } from "../edge/node.ts";
import { loadConfigFile } from "./config-file.ts";
import { databaseUrl } from "./database.ts";
import { stopOnSignals } from "./signals.ts";
import { prepareSharedStore } from "./shared-store.ts";

export function gatewayCommand(): Command {
  return new Command("gateway")
    .description("serve the OpenAI-compatible gateway on Node")
    .option("-c, --config <file>", "godotz.yaml (default: $GODOTZ_CONFIG or ./godotz.yaml)")
    .addOption(new Option("-p, --port <n>", "port").default(8787).argParser(Number))
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .action(async (opts: { config?: string; port: number; host: string }) => {
      const { path, config } = await loadConfigFile(opts.config);
      const log = (line: string) => console.error(line);
      const env = { ...process.env };
      const closeStore = await prepareSharedStore(env, { probeLocal: false, log });
      const gateway = await startNodeGateway({ config, env, databaseUrl: await databaseUrl(log), port: opts.port, host: opts.host, log });
      console.error(`godotz gateway: ${gateway.url}/v1 (config ${path})`);
      stopOnSignals(async () => {
        await gateway.close();
        await closeStore();
      });
    });
}
