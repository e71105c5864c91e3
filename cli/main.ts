import { setMaxListeners } from "node:events";
import { Command, CommanderError } from "commander";
import { gatewayCommand } from "./gateway.ts";
import { keysCommand } from "./keys.ts";
import { devCommand } from "./dev.ts";
import { migrateCommand, configCommand, dbCommand } from "./maintenance.ts";
import { simulateCommand } from "./simulate.ts";
import { spendCommand } from "./spend.ts";
import { budgetCommand } from "./budget.ts";
import { swarmCommand } from "./swarm.ts";
import { swarmDeployCommand } from "./swarm-deploy.ts";
import { fleetAgentCommand, fleetCommand } from "./fleet.ts";
import { swarmRunCommand } from "./swarm-run.ts";
import { runsCommand } from "./runs.ts";
import { eventsCommand } from "./events.ts";
import { workersCommand } from "./workers.ts";
import { CliError } from "./errors.ts";
import { ConfigError } from "../shared/config/load.ts";
import { SwarmFileError } from "../workers/swarm/spec/index.ts";

// A swarm fan-out of up to 32 branches runs in one LangGraph super-step, and LangGraph listens on
// that step's abort signal once per runnable in flight; Node's default of 10 listeners would print
// a leak warning from the 11th branch on. The listeners go away as each branch ends, so the default
// is raised here, process-wide, as applications do (the signal itself is LangGraph's, out of reach).
setMaxListeners(128);

const program = new Command("godotz")
  .description("godotz: the harness for agent fleets (gateway, budgets, swarms, fleet)")
  .showHelpAfterError()
  .exitOverride();

program.addCommand(devCommand());
program.addCommand(gatewayCommand());
program.addCommand(keysCommand());
program.addCommand(spendCommand());
program.addCommand(budgetCommand());
program.addCommand(migrateCommand());
program.addCommand(dbCommand());
program.addCommand(configCommand());
program.addCommand(simulateCommand());
program.addCommand(swarmCommand().addCommand(swarmRunCommand()).addCommand(swarmDeployCommand()));
program.addCommand(runsCommand());
program.addCommand(eventsCommand());
program.addCommand(workersCommand());
program.addCommand(fleetAgentCommand());
program.addCommand(fleetCommand());

// Errors are mapped to exit codes once, here: 2 for usage and configuration, 1 for everything else.
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  if (error instanceof ConfigError || error instanceof SwarmFileError) {
    console.error(error.message);
    process.exit(2);
  }
  if (error instanceof CliError) {
    console.error(`godotz: ${error.message}`);
    process.exit(error.exitCode);
  }
  console.error(`godotz: ${(error as Error).stack ?? error}`);
  process.exit(1);
}
