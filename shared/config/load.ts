import { configSchema, type GodotzConfig } from "./schema.ts";
import { formatIssue, locateZodIssues, parseYaml, type YamlIssue } from "../yaml/locate.ts";

/** A configuration problem, located in the file so the user can jump to it. */
export type ConfigIssue = YamlIssue;

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`invalid configuration in ${source}:\n` + issues.map((i) => `  ${formatIssue(source, i)}`).join("\n"));
    this.name = "ConfigError";
  }
}

/** Parses and validates godotz.yaml text; `source` names the file in error messages. */
export function parseConfig(text: string, source = "godotz.yaml"): GodotzConfig {
  const parsed = parseYaml(text);
  if (parsed.syntaxIssues.length > 0) throw new ConfigError(source, parsed.syntaxIssues);
  const result = configSchema.safeParse(parsed.doc.toJS() ?? {});
  if (result.success) return result.data;
  throw new ConfigError(source, locateZodIssues(parsed, result.error.issues));
}
