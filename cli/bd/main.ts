import { Command, CommanderError } from "commander";
import { TaskError, TaskInputError } from "../../workers/tasks/index.ts";
import { CliError } from "../errors.ts";
import { cancelCommand, closeCommand, createCommand, listCommand, readyCommand, retryCommand, showCommand, updateCommand } from "./tasks.ts";
import { depCommand } from "./dep.ts";
import { ganttCommand } from "./gantt.ts";

const program = new Command("bd")
  .description("bd: the godotz task DAG (beads-compatible commands; DATABASE_URL, else the embedded Postgres)")
  .exitOverride()
  // Commander's own usage errors become one line, like ours.
  .configureOutput({ outputError: (message, write) => write(`bd: ${message.replace(/^error: /, "").trim()}\n`) });

for (const command of [createCommand(), listCommand(), readyCommand(), showCommand(), updateCommand(), closeCommand(), depCommand(), retryCommand(), cancelCommand(), ganttCommand()]) {
  program.addCommand(command);
}
// Subcommands inherit exit override and error output only when set on each.
const everyCommand = (c: Command): Command[] => [c, ...c.commands.flatMap(everyCommand)];
for (const c of everyCommand(program)) c.exitOverride().configureOutput(program.configureOutput());

// Errors become exit codes once, here: 2 for usage and bad input, 1 for everything else, one line on stderr.
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  const fail = (code: number, message: string) => {
    console.error(`bd: ${message.split("\n")[0]}`);
    process.exit(code);
  };
  if (error instanceof TaskInputError) fail(2, error.message);
  if (error instanceof TaskError) fail(1, error.message);
  if (error instanceof CliError) fail(error.exitCode, error.message);
  if (process.env.BD_DEBUG) console.error((error as Error).stack);
  fail(1, (error as Error).message ?? String(error));
}
