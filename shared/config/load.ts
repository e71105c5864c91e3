import { LineCounter, parseDocument, isNode } from "yaml";
import type { z } from "zod";
import { configSchema, type GodotzConfig } from "./schema.ts";

/** A configuration problem, located in the file so the user can jump to it. */
export interface ConfigIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `invalid configuration in ${source}:\n` +
        issues
          .map((i) => `  ${source}${i.line ? `:${i.line}:${i.column ?? 1}` : ""} ${i.path || "(root)"}: ${i.message}`)
          .join("\n"),
    );
    this.name = "ConfigError";
  }
}

/** Parses and validates godotz.yaml text; `source` names the file in error messages. */
export function parseConfig(text: string, source = "godotz.yaml"): GodotzConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: "", message: e.message.split("\n")[0] ?? e.message, line: pos.line, column: pos.col };
      }),
    );
  }
  const result = configSchema.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  throw new ConfigError(source, result.error.issues.map((issue) => locate(issue, doc, lineCounter)));
}

function locate(issue: z.core.$ZodIssue, doc: ReturnType<typeof parseDocument>, lines: LineCounter): ConfigIssue {
  const path = issue.path.map(String);
  // Unknown keys are reported on the parent object; point at the offending key itself.
  const keys = issue.code === "unrecognized_keys" ? issue.keys : [];
  const located = [...path, ...keys.slice(0, 1)];
  for (let depth = located.length; depth >= 0; depth--) {
    const node = doc.getIn(located.slice(0, depth), true);
    const pair = depth > 0 ? findKey(doc, located.slice(0, depth)) : undefined;
    const range = pair ?? (isNode(node) ? node.range : undefined);
    if (range) {
      const pos = lines.linePos(range[0]);
      return { path: [...path, ...keys].join("."), message: issue.message, line: pos.line, column: pos.col };
    }
  }
  return { path: path.join("."), message: issue.message };
}

/** The range of the key token of a mapping entry, so errors point at `api_key:` not its value. */
function findKey(doc: ReturnType<typeof parseDocument>, path: string[]): [number, number, number] | undefined {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  const last = path[path.length - 1];
  if (!parent || typeof parent !== "object" || !("items" in parent) || !Array.isArray(parent.items)) return undefined;
  for (const item of parent.items as unknown[]) {
    if (item && typeof item === "object" && "key" in item) {
      const key = (item as { key: unknown }).key;
      if (isNode(key) && String((key as { value?: unknown }).value) === last && key.range) return key.range;
    }
  }
  return undefined;
}
