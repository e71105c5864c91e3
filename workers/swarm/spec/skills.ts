import { readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { locateZodIssues, parseYaml, positionOf, type YamlIssue } from "../../../shared/yaml/locate.ts";

/**
 * Agent Skills (agentskills.io): a folder holding SKILL.md, which starts with YAML front matter
 * (`name`, `description`, optional `license`, `compatibility`, `metadata`, `allowed-tools`) and
 * continues with Markdown instructions. The loaded skill carries the body text so a worker that
 * lacks the folder can still give the agent its instructions.
 */

export interface LoadedSkill {
  name: string;
  description: string;
  /** The Markdown after the front matter. */
  body: string;
}

/** A SKILL.md problem, in the file it was found in. */
export interface SkillIssue extends YamlIssue {
  file: string;
}

const MAX_SKILL_BYTES = 256 * 1024;

const frontMatterSchema = z.looseObject({
  name: z
    .string()
    .max(64)
    .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, "must be 1-64 lower-case letters, digits and single hyphens, not starting or ending with a hyphen"),
  description: z.string().trim().min(1, "must say what the skill does and when to use it").max(1024),
  license: z.string().optional(),
  compatibility: z.string().max(500).optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  "allowed-tools": z.string().optional(),
});

/** Reads `<dir>/SKILL.md`; `dir` is the folder as the caller displays it (relative to the working directory). */
export async function loadSkill(dir: string): Promise<{ skill?: LoadedSkill; issues: SkillIssue[] }> {
  const file = path.join(dir, "SKILL.md");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file; a skill is a folder with a SKILL.md" : code === "ENOTDIR" ? "not a folder" : (error as Error).message;
    return { issues: [{ file, path: "", message: `cannot read skill: ${why}` }] };
  }
  if (Buffer.byteLength(text) > MAX_SKILL_BYTES) {
    return { issues: [{ file, path: "", message: `SKILL.md is larger than ${MAX_SKILL_BYTES / 1024} KiB`, line: 1, column: 1 }] };
  }
  return parseSkill(text, file, path.basename(path.resolve(dir)));
}

/** Splits and validates SKILL.md text; `folderName` must equal the front matter's `name`. */
export function parseSkill(text: string, file: string, folderName: string): { skill?: LoadedSkill; issues: SkillIssue[] } {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const close = lines[0]?.trimEnd() === "---" ? lines.findIndex((l, i) => i > 0 && l.trimEnd() === "---") : -1;
  if (close < 0) {
    return { issues: [{ file, path: "", message: "SKILL.md must start with YAML front matter between two `---` lines", line: 1, column: 1 }] };
  }
  // The front matter begins on line 2 of the file; shift positions so they point into SKILL.md itself.
  const at = (issue: YamlIssue): SkillIssue => ({ ...issue, file, line: issue.line === undefined ? 1 : issue.line + 1, column: issue.column ?? 1 });
  const parsed = parseYaml(lines.slice(1, close).join("\n"));
  if (parsed.syntaxIssues.length > 0) return { issues: parsed.syntaxIssues.map(at) };
  const result = frontMatterSchema.safeParse(parsed.doc.toJS() ?? {});
  if (!result.success) return { issues: locateZodIssues(parsed, result.error.issues).map(at) };
  const { name, description } = result.data;
  if (name !== folderName) {
    const pos = positionOf(parsed, ["name"]);
    return { issues: [at({ path: "name", message: `"${name}" must match the skill's folder name "${folderName}"`, ...pos })] };
  }
  return { skill: { name, description, body: lines.slice(close + 1).join("\n").trim() }, issues: [] };
}
