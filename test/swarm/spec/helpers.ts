import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../../../shared/config/load.ts";
import { simulatedConfigYaml } from "../../../cli/dev-config.ts";
import { catalogueFromConfig, loadSwarmFile, SwarmFileError, type ModelCatalogue, type SwarmIssue } from "../../../workers/swarm/spec/index.ts";

export const EXAMPLES = fileURLToPath(new URL("../../../examples/", import.meta.url));

/** The models `godotz dev --simulate` serves: glm-5.1, glm-4.7 (glm), gemini-3.1-pro-low, claude-sonnet-4.5. */
export const simulated: ModelCatalogue = catalogueFromConfig(parseConfig(simulatedConfigYaml("http://127.0.0.1:1"), "simulated"));

/** A fresh folder for one test's files; remove it with the returned function. */
export async function tempDir(): Promise<{ dir: string; write(rel: string, text: string): Promise<string>; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), "godotz-swarm-"));
  return {
    dir,
    async write(rel, text) {
      const file = path.join(dir, rel);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, text);
      return file;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Loads a file that must be refused and returns its issues. */
export async function refusedIssues(file: string, catalogue: ModelCatalogue = simulated): Promise<SwarmIssue[]> {
  try {
    await loadSwarmFile(file, { catalogue });
  } catch (error) {
    assert.ok(error instanceof SwarmFileError, `expected SwarmFileError, got ${error}`);
    assert.ok(error.issues.length > 0);
    return error.issues;
  }
  assert.fail(`expected ${file} to be refused`);
}

/** Line and column (1-based) of the first occurrence of `needle` in `text`, after the line containing `after` if given. */
export function positionIn(text: string, needle: string, after?: string): { line: number; column: number } {
  const lines = text.split("\n");
  const start = after === undefined ? 0 : lines.findIndex((l) => l.includes(after));
  assert.ok(start >= 0, `no line with ${after}`);
  for (let i = start; i < lines.length; i++) {
    const col = lines[i]!.indexOf(needle);
    if (col >= 0) return { line: i + 1, column: col + 1 };
  }
  assert.fail(`no ${needle} in text`);
}

/** The one issue at `issuePath`, checked to point at `needle` in the file's text. */
export function issueAt(issues: SwarmIssue[], issuePath: string, text: string, needle: string, after?: string): SwarmIssue {
  const found = issues.filter((i) => i.path === issuePath);
  assert.equal(found.length, 1, `expected one issue at ${issuePath}, got ${JSON.stringify(issues, null, 1)}`);
  const issue = found[0]!;
  assert.deepEqual({ line: issue.line, column: issue.column }, positionIn(text, needle, after), `position of ${issuePath}: ${JSON.stringify(issue)}`);
  return issue;
}

/** A valid swarm to start from: supervisor (glm), worker (gemini), critic (claude). */
export const BASE = `name: base
version: 1
agents:
  boss:
    type: supervisor
    model: glm-5.1
  helper:
    type: worker
    family: gemini
  checker:
    type: critic
    model: claude-sonnet-4.5
topology:
  supervisor: boss
  workers: [helper, checker]
`;
