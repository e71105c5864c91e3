import { readFile, realpath } from "node:fs/promises";
import path from "node:path";
import { formatIssue, locatePath, locateZodIssues, parseYaml, type ParsedYaml, type YamlIssue } from "../../../shared/yaml/locate.ts";
import { swarmSchema, type SwarmSpec } from "./schema.ts";
import { loadSkill, type LoadedSkill } from "./skills.ts";
import { validateSwarm, type ModelCatalogue } from "./validate.ts";

/**
 * A swarm with everything it names read in: nested swarm files and skill folders. It is plain
 * JSON, stored whole with each run (jsonb) and executed by workers that may not have the files.
 */
export interface LoadedSwarm {
  spec: SwarmSpec;
  /** The file it came from, as given (nested files: joined onto their parent's folder). */
  file: string;
  /** agent name → the nested swarm that agent runs. */
  subswarms: Record<string, LoadedSwarm>;
  /** Skill folder exactly as written in an agent's `skills:` → the skill. */
  skills: Record<string, LoadedSkill>;
}

/** A problem in a swarm file, a nested swarm file or a SKILL.md: `file` says which. */
export interface SwarmIssue extends YamlIssue {
  file: string;
}

export class SwarmFileError extends Error {
  constructor(
    readonly source: string,
    readonly issues: SwarmIssue[],
  ) {
    super(`invalid swarm ${source}:\n` + issues.map((i) => `  ${formatIssue(i.file, i)}`).join("\n"));
    this.name = "SwarmFileError";
  }
}

export interface LoadOptions {
  /** The gateway's models and role routing (see catalogueFromConfig); families are checked against it. */
  catalogue: ModelCatalogue;
}

const MAX_SWARM_BYTES = 1024 * 1024;

/** Reads, validates and loads a swarm file and everything it names; throws SwarmFileError listing every problem. */
export async function loadSwarmFile(file: string, options: LoadOptions): Promise<LoadedSwarm> {
  const issues: SwarmIssue[] = [];
  const text = await readSwarmText(file, issues);
  const loaded = text === undefined ? undefined : await loadText(text, file, options.catalogue, [await identity(file)], issues);
  if (!loaded || issues.length > 0) throw new SwarmFileError(file, inReadingOrder(issues));
  return loaded;
}

/** Files in the order they were first reached, each file's issues top to bottom. */
function inReadingOrder(issues: SwarmIssue[]): SwarmIssue[] {
  const files = [...new Set(issues.map((i) => i.file))];
  return issues
    .map((issue, index) => ({ issue, index }))
    .sort((a, b) => files.indexOf(a.issue.file) - files.indexOf(b.issue.file) || (a.issue.line ?? 0) - (b.issue.line ?? 0) || a.index - b.index)
    .map(({ issue: { file, ...rest } }) => ({ file, ...rest }));
}

/**
 * Parses and validates swarm text alone: shape and cross-field rules, but no nested files or
 * skills are read. Without a catalogue, models are not looked up (see validateSwarm).
 */
export function parseSwarm(text: string, source = "swarm.yaml", catalogue?: ModelCatalogue): SwarmSpec {
  const { spec, issues } = checkText(text, source, catalogue);
  if (!spec || issues.length > 0) throw new SwarmFileError(source, inReadingOrder(issues));
  return spec;
}

function checkText(text: string, file: string, catalogue: ModelCatalogue | undefined): { spec?: SwarmSpec; parsed: ParsedYaml; issues: SwarmIssue[] } {
  const parsed = parseYaml(text);
  const inFile = (issue: YamlIssue): SwarmIssue => ({ ...issue, file, line: issue.line ?? 1, column: issue.column ?? 1 });
  if (parsed.syntaxIssues.length > 0) return { parsed, issues: parsed.syntaxIssues.map(inFile) };
  const result = swarmSchema.safeParse(parsed.doc.toJS() ?? {});
  if (!result.success) return { parsed, issues: locateZodIssues(parsed, result.error.issues).map(inFile) };
  const rules = validateSwarm(result.data, catalogue).map((r) => inFile(locatePath(parsed, r.path, r.message)));
  return { spec: result.data, parsed, issues: rules };
}

async function loadText(text: string, file: string, catalogue: ModelCatalogue, chain: string[], issues: SwarmIssue[]): Promise<LoadedSwarm | undefined> {
  const { spec, parsed, issues: own } = checkText(text, file, catalogue);
  issues.push(...own);
  if (!spec) return undefined;
  const here = (p: (string | number)[], message: string): SwarmIssue => ({ file, line: 1, column: 1, ...locatePath(parsed, p, message) });
  const dir = path.dirname(file);

  const skills: Record<string, LoadedSkill> = {};
  const tried = new Set<string>(); // a folder shared by several agents is read, and reported, once
  for (const [agentName, agent] of Object.entries(spec.agents)) {
    if (agent.type === "swarm") continue;
    for (const [i, folder] of agent.skills.entries()) {
      if (tried.has(folder)) continue;
      tried.add(folder);
      const { skill, issues: skillIssues } = await loadSkill(besides(dir, folder));
      if (skill) skills[folder] = skill;
      else if (skillIssues.some((s) => s.line === undefined)) issues.push(here(["agents", agentName, "skills", i], skillIssues.map((s) => s.message).join("; ") + ` (${besides(dir, folder)})`));
      else issues.push(...skillIssues);
    }
  }

  const subswarms: Record<string, LoadedSwarm> = {};
  for (const [agentName, agent] of Object.entries(spec.agents)) {
    if (agent.type !== "swarm") continue;
    const nested = besides(dir, agent.swarm);
    const where = ["agents", agentName, "swarm"];
    const nestedText = await readNested(nested, (message) => issues.push(here(where, message)));
    if (nestedText === undefined) continue;
    const id = await identity(nested);
    if (chain.includes(id)) {
      const names = [...chain.slice(chain.indexOf(id)), id].map((c) => path.relative(process.cwd(), c) || c);
      issues.push(here(where, `nested swarms form a cycle: ${names.join(" → ")}`));
      continue;
    }
    const sub = await loadText(nestedText, nested, catalogue, [...chain, id], issues);
    if (sub) subswarms[agentName] = sub;
  }
  return { spec, file, subswarms, skills };
}

async function readSwarmText(file: string, issues: SwarmIssue[]): Promise<string | undefined> {
  return readNested(file, (message) => issues.push({ file, path: "", message }));
}

async function readNested(file: string, fail: (message: string) => void): Promise<string | undefined> {
  try {
    const text = await readFile(file, "utf8");
    if (Buffer.byteLength(text) > MAX_SWARM_BYTES) {
      fail(`${file} is larger than ${MAX_SWARM_BYTES / 1024} KiB`);
      return undefined;
    }
    return text;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    fail(`cannot read ${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a folder" : (error as Error).message}`);
    return undefined;
  }
}

/** A path written in a swarm file, which is relative to that file's folder. */
function besides(dir: string, written: string): string {
  return path.isAbsolute(written) ? written : path.join(dir, written);
}

/** The real path, so a cycle through a symlink or a `../` detour is still recognised. */
async function identity(file: string): Promise<string> {
  try {
    return await realpath(file);
  } catch {
    return path.resolve(file);
  }
}
