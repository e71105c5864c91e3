import { Command, Option } from "commander";
import { startSimulator } from "../simulator/server.ts";
import { stopOnSignals } from "./signals.ts";

export function simulateCommand(): Command {
  return new Command("simulate")
    .description("serve simulated model providers (OpenAI, Anthropic, Gemini wire formats) for offline runs and tests")
    .addOption(new Option("-p, --port <n>", "port").default(8790).argParser(Number))
    .option("--host <addr>", "address", "127.0.0.1")
    .action(async (o: { port: number; host: string }) => {
      const simulator = await startSimulator({ port: o.port, host: o.host });
      console.log(`godotz simulator: ${simulator.url}  (/openai/v1, /anthropic/v1, /gemini/v1beta)`);
      stopOnSignals(() => simulator.close());
    });
}
