import { readFile } from "node:fs/promises";
import { parseConfig } from "../shared/config/load.ts";
import type { GodotzConfig } from "../shared/config/schema.ts";
import { CliError } from "./errors.ts";

/** `--config FILE`, else GODOTZ_CONFIG, else ./godotz.yaml. */
export async function loadConfigFile(flag: string | undefined): Promise<{ path: string; config: GodotzConfig }> {
  const path = flag ?? process.env.GODOTZ_CONFIG ?? "godotz.yaml";
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new CliError(`cannot read configuration ${path}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file (pass --config FILE or set GODOTZ_CONFIG)" : (error as Error).message}`, 2);
  }
  return { path, config: parseConfig(text, path) };
}
