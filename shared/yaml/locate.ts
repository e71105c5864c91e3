import { LineCounter, parseDocument, isNode, isMap, isSeq, type Document } from "yaml";
import type { z } from "zod";

/**
 * Where a problem in a YAML file is, so users (and editors) can jump to it. Shared by godotz.yaml
 * loading and swarm-file loading: both parse with `yaml`, validate the plain data with zod, and
 * map each zod issue's path back to the key it came from.
 */
export interface YamlIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export interface ParsedYaml {
  doc: Document.Parsed;
  lines: LineCounter;
  /** Syntax errors (bad indentation, duplicate keys, several documents), positioned; empty when the text parsed. */
  syntaxIssues: YamlIssue[];
}

export function parseYaml(text: string): ParsedYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const syntaxIssues = doc.errors.map((e) => {
    const pos = lines.linePos(e.pos[0]);
    return { path: "", message: e.message.split("\n")[0] ?? e.message, line: pos.line, column: pos.col };
  });
  return { doc, lines, syntaxIssues };
}

type Key = string | number;

/**
 * Position of the deepest existing node along `path`: the key token of a mapping entry (so errors
 * point at `api_key:`, not at its value), else the item of a sequence, else the root.
 */
export function positionOf(parsed: ParsedYaml, path: readonly Key[]): { line: number; column: number } | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const prefix = path.slice(0, depth);
    const range = (depth > 0 ? keyRange(parsed.doc, prefix) : undefined) ?? nodeRange(parsed.doc, prefix);
    if (range) {
      const pos = parsed.lines.linePos(range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return undefined;
}

/** A path-and-message problem found after parsing (by zod or by cross-field rules), positioned. */
export function locatePath(parsed: ParsedYaml, path: readonly Key[], message: string): YamlIssue {
  return { path: path.map(String).join("."), message, ...positionOf(parsed, path) };
}

/** Zod issues positioned in the file; a union's failure is reported through its closest branch. */
export function locateZodIssues(parsed: ParsedYaml, issues: readonly z.core.$ZodIssue[]): YamlIssue[] {
  return flattenUnions(issues).map((issue) => {
    const path = issue.path.filter((k): k is Key => typeof k !== "symbol");
    // Unknown keys are reported on the parent object; point at the offending key itself.
    const keys = issue.code === "unrecognized_keys" ? issue.keys : [];
    const pos = positionOf(parsed, [...path, ...keys.slice(0, 1)]);
    return { path: [...path, ...keys].map(String).join("."), message: issue.message, ...pos };
  });
}

/**
 * Zod reports "Invalid input" for a union no branch of which matched, with each branch's issues
 * nested. The branch with the fewest issues is almost always the one the author meant (an MCP
 * server with `command:` is a stdio server with one bad field, not a URL server with two unknown
 * keys), so its issues are reported instead, under the union's path.
 */
function flattenUnions(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== "invalid_union" || issue.errors.length === 0) return [issue];
    const best = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
    if (best.length === 0) return [issue];
    return flattenUnions(best.map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] }) as z.core.$ZodIssue));
  });
}

/** `  file:line:col path: message`, the format both configuration and swarm errors print. */
export function formatIssue(source: string, issue: YamlIssue): string {
  return `${source}${issue.line ? `:${issue.line}:${issue.column ?? 1}` : ""} ${issue.path || "(root)"}: ${issue.message}`;
}

function nodeRange(doc: Document.Parsed, path: readonly Key[]): readonly [number, number, number] | undefined {
  const node = doc.getIn(path, true);
  return isNode(node) ? node.range ?? undefined : undefined;
}

function keyRange(doc: Document.Parsed, path: readonly Key[]): readonly [number, number, number] | undefined {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  const last = path[path.length - 1];
  if (isSeq(parent)) {
    const item = parent.items[Number(last)];
    return isNode(item) ? item.range ?? undefined : undefined;
  }
  if (!isMap(parent)) return undefined;
  for (const item of parent.items) {
    const key = item.key;
    if (isNode(key) && String((key as { value?: unknown }).value) === String(last) && key.range) return key.range;
  }
  return undefined;
}
