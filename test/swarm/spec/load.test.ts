import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, symlink } from "node:fs/promises";
import path from "node:path";
import { parseConfig } from "../../../shared/config/load.ts";
import { catalogueFromConfig, loadSwarmFile, parseSwarm, SwarmFileError } from "../../../workers/swarm/spec/index.ts";
import { BASE, EXAMPLES, issueAt, positionIn, refusedIssues, simulated, tempDir } from "./helpers.ts";

const tmp = await tempDir();
after(() => tmp.remove());
let counter = 0;
/** Writes a swarm file into its own folder of the temp dir and returns its path and text. */
async function swarmFile(text: string, extra: Record<string, string> = {}): Promise<{ file: string; text: string; dir: string }> {
  const dir = `case-${++counter}`;
  for (const [rel, content] of Object.entries(extra)) await tmp.write(path.join(dir, rel), content);
  return { file: await tmp.write(path.join(dir, "swarm.yaml"), text), text, dir: path.join(tmp.dir, dir) };
}

test("every example validates against the simulated dev models and loads self-contained", async () => {
  const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith(".yaml"));
  assert.ok(files.length >= 3, `examples: ${files.join(", ")}`);
  for (const f of [...files, "nested/fact-check.yaml"]) {
    const loaded = await loadSwarmFile(path.join(EXAMPLES, f), { catalogue: simulated });
    assert.deepEqual(JSON.parse(JSON.stringify(loaded)), loaded, `${f} must survive a JSON round trip`);
  }
  const research = await loadSwarmFile(path.join(EXAMPLES, "research.yaml"), { catalogue: simulated });
  assert.deepEqual(Object.keys(research.skills), ["skills/cite-sources"]);
  assert.equal(research.skills["skills/cite-sources"]?.name, "cite-sources");
  assert.match(research.skills["skills/cite-sources"]!.description, /source/);
  assert.match(research.skills["skills/cite-sources"]!.body, /^# Cite sources/);
  assert.equal(research.spec.agents.critic?.type, "critic");

  const nested = await loadSwarmFile(path.join(EXAMPLES, "nested.yaml"), { catalogue: simulated });
  const desk = nested.subswarms.desk;
  assert.equal(desk?.spec.name, "fact-check");
  assert.equal(desk?.file, path.join(EXAMPLES, "nested/fact-check.yaml"));
  assert.deepEqual(Object.keys(desk!.skills), ["../skills/cite-sources"]);

  const panel = await loadSwarmFile(path.join(EXAMPLES, "panel.yaml"), { catalogue: simulated });
  assert.deepEqual(panel.spec.panels.jury?.agents, ["glm-juror", "gemini-juror", "claude-juror"]);
});

test("the examples also validate against the shipped godotz.example.yaml", async () => {
  const config = parseConfig(await readFile(new URL("../../../godotz.example.yaml", import.meta.url), "utf8"));
  for (const f of (await readdir(EXAMPLES)).filter((name) => name.endsWith(".yaml"))) {
    await loadSwarmFile(path.join(EXAMPLES, f), { catalogue: catalogueFromConfig(config) });
  }
});

test("parseSwarm fills defaults and reads the text alone", () => {
  const spec = parseSwarm(BASE, "base.yaml", simulated);
  assert.equal(spec.version, "1");
  assert.deepEqual(spec.panels, {});
  assert.deepEqual(spec.triggers, []);
  const helper = spec.agents.helper;
  assert.ok(helper && helper.type === "worker");
  assert.deepEqual(helper.limits, { max_calls: 20, max_tokens: 2048, timeout_seconds: 120, max_attempts: 4 });
  assert.equal(spec.topology.max_turns, 20);
});

test("shape errors point at the offending key", async () => {
  const text = BASE.replace("    family: gemini\n", "    family: gemini\n    colour: red\n")
    .replace("    type: critic\n", "    type: wizard\n")
    .replace("name: base", "name: Base")
    .concat("mcp_servers:\n  files: { command: node, args: [1] }\ntriggers:\n  - webhook: { secret: hunter2 }\n");
  const { file } = await swarmFile(text);
  const issues = await refusedIssues(file);
  issueAt(issues, "name", text, "name:");
  issueAt(issues, "agents.helper.colour", text, "colour:");
  assert.match(issueAt(issues, "agents.checker.type", text, "type: wizard").message, /supervisor.*worker.*critic.*reviewer.*swarm/);
  issueAt(issues, "mcp_servers.files.args.0", text, "1]");
  assert.match(issueAt(issues, "triggers.0.webhook.secret", text, "secret:").message, /env:HOOK_SECRET/);
  assert.ok(issues.every((i) => i.file === file));
});

test("an agent must give exactly one of model and family", async () => {
  const text = BASE.replace("    family: gemini\n", "    family: gemini\n    model: glm-4.7\n");
  const { file } = await swarmFile(text);
  assert.match(issueAt(await refusedIssues(file), "agents.helper", text, "helper:").message, /exactly one of `model` or `family`/);
});

test("the supervisor must be an existing model agent of type supervisor", async () => {
  for (const [supervisor, pattern] of [
    ["nobody", /unknown agent "nobody"/],
    ["helper", /"helper" is of type worker/],
  ] as const) {
    const text = BASE.replace("supervisor: boss", `supervisor: ${supervisor}`);
    const { file } = await swarmFile(text);
    assert.match(issueAt(await refusedIssues(file), "topology.supervisor", text, "supervisor:", "topology:").message, pattern);
  }
  const nestedBoss = BASE.replace("  boss:\n    type: supervisor\n    model: glm-5.1\n", "  boss:\n    type: swarm\n    swarm: other.yaml\n");
  const { file } = await swarmFile(nestedBoss, { "other.yaml": BASE });
  assert.match(issueAt(await refusedIssues(file), "topology.supervisor", nestedBoss, "supervisor:", "topology:").message, /of type swarm/);
});

test("workers must exist, be listed once and not be the supervisor", async () => {
  const text = BASE.replace("workers: [helper, checker]", "workers: [helper, ghost, boss, helper]");
  const { file } = await swarmFile(text);
  const issues = await refusedIssues(file);
  assert.match(issueAt(issues, "topology.workers.1", text, "ghost").message, /unknown worker "ghost".*helper, checker/);
  assert.match(issueAt(issues, "topology.workers.2", text, "boss,", "topology:").message, /is the supervisor/);
  assert.match(issueAt(issues, "topology.workers.3", text, "helper]").message, /listed twice/);
});

test("tools must name declared MCP servers", async () => {
  const text = BASE.replace("    family: gemini\n", "    family: gemini\n    tools: [files, web]\n") + "mcp_servers:\n  files: { command: node, args: [server.mjs] }\n";
  const { file } = await swarmFile(text);
  assert.match(issueAt(await refusedIssues(file), "agents.helper.tools.1", text, "web]").message, /unknown MCP server "web" \(mcp_servers: files\)/);
});

test("models must be chat models of the gateway; families must have one", async () => {
  const text = BASE.replace("family: gemini", "family: mistral").replace("model: claude-sonnet-4.5", "model: claude-9").replace("model: glm-5.1", "model: text-embedding-3-small");
  const { file } = await swarmFile(text);
  const issues = await refusedIssues(file);
  assert.match(issueAt(issues, "agents.helper.family", text, "family:").message, /no chat model of family "mistral".*glm, gemini, claude/);
  assert.match(issueAt(issues, "agents.checker.model", text, "model: claude-9").message, /unknown model "claude-9"/);
  assert.match(issueAt(issues, "agents.boss.model", text, "model: text-embedding").message, /embedding model/);
});

test("echo chamber: a critic on the supervisor's family is refused, naming both agents and the family", async () => {
  const text = BASE.replace("model: claude-sonnet-4.5", "model: glm-4.7");
  const { file } = await swarmFile(text);
  const issue = issueAt(await refusedIssues(file), "agents.checker.model", text, "model: glm-4.7");
  assert.match(issue.message, /echo chamber/);
  assert.match(issue.message, /critic "checker"/);
  assert.match(issue.message, /supervisor "boss"/);
  assert.match(issue.message, /family "glm"/);
});

test("echo chamber holds for reviewers, for roles naming a critic or reviewer, and through families and roles", async () => {
  const reviewer = BASE.replace("type: critic\n    model: claude-sonnet-4.5", "type: reviewer\n    family: glm");
  const a = await swarmFile(reviewer);
  assert.match(issueAt(await refusedIssues(a.file), "agents.checker.family", reviewer, "family: glm").message, /reviewer "checker" and supervisor "boss" .*"glm"/);

  const byRole = BASE.replace("    family: gemini\n", "    model: glm-4.7\n    role: Code reviewer\n");
  const b = await swarmFile(byRole);
  assert.match(issueAt(await refusedIssues(b.file), "agents.helper.model", byRole, "model: glm-4.7").message, /"helper" and supervisor "boss"/);

  // routing.roles: `family: critic` routes to whatever family the gateway gives critics.
  const viaRole = BASE.replace("model: claude-sonnet-4.5", "family: critic");
  const c = await swarmFile(viaRole);
  const sameFamily = { ...simulated, roles: { critic: "glm" } };
  assert.match(issueAt(await refusedIssues(c.file, sameFamily), "agents.checker.family", viaRole, "family: critic").message, /family "glm"/);
  const loaded = await loadSwarmFile(c.file, { catalogue: { ...simulated, roles: { critic: "claude" } } });
  assert.equal(loaded.spec.agents.checker?.type, "critic");
});

test("a worker on the supervisor's family is fine; so is a critic on another", async () => {
  const text = BASE.replace("family: gemini", "model: glm-4.7");
  const { file } = await swarmFile(text);
  assert.equal((await loadSwarmFile(file, { catalogue: simulated })).spec.name, "base");
});

test("panels: at least two existing model agents, no repeats, at least two families, no name clash", async () => {
  const short = BASE + "panels:\n  jury: { agents: [helper] }\n";
  const s = await swarmFile(short);
  issueAt(await refusedIssues(s.file), "panels.jury.agents", short, "agents: [helper]", "panels:");

  const text =
    BASE.replace("workers: [helper, checker]", "workers: [jury, same, helper]").replace("agents:\n", "agents:\n  echo:\n    type: worker\n    model: glm-4.7\n  sub:\n    type: swarm\n    swarm: other.yaml\n") +
    "panels:\n  jury: { agents: [helper, ghost, sub, helper] }\n  same: { agents: [boss, echo] }\n  helper: { agents: [helper, checker] }\n";
  const { file } = await swarmFile(text, { "other.yaml": BASE });
  const issues = await refusedIssues(file);
  assert.match(issueAt(issues, "panels.jury.agents.1", text, "ghost").message, /unknown agent "ghost"/);
  assert.match(issueAt(issues, "panels.jury.agents.2", text, "sub,", "jury:").message, /nested swarm/);
  assert.match(issueAt(issues, "panels.jury.agents.3", text, "helper]", "jury:").message, /twice/);
  assert.match(issueAt(issues, "panels.same.agents", text, "agents", "same:").message, /at least two model families.*"glm"/);
  assert.match(issueAt(issues, "panels.helper", text, "helper:", "panels:").message, /both an agent and a panel/);
});

test("nested swarms load recursively; a cycle is refused naming the chain", async () => {
  const outer = BASE.replace("workers: [helper, checker]", "workers: [helper, checker, team]").replace("agents:\n", "agents:\n  team:\n    type: swarm\n    swarm: teams/inner.yaml\n");
  const inner = BASE.replace("name: base", "name: inner").replace("workers: [helper, checker]", "workers: [helper, checker, back]").replace("agents:\n", "agents:\n  back:\n    type: swarm\n    swarm: ../swarm.yaml\n");
  const { file, dir } = await swarmFile(outer, { "teams/inner.yaml": inner });
  const issues = await refusedIssues(file);
  const innerFile = path.join(dir, "teams/inner.yaml");
  assert.equal(issues.length, 1, JSON.stringify(issues));
  assert.equal(issues[0]?.file, innerFile);
  assert.equal(issues[0]?.path, "agents.back.swarm");
  assert.deepEqual({ line: issues[0]?.line, column: issues[0]?.column }, positionIn(inner, "swarm:", "back:"));
  assert.match(issues[0]!.message, /cycle: .*swarm\.yaml → .*teams\/inner\.yaml → .*swarm\.yaml/);

  // Without the back edge it loads, inner swarm carried whole.
  const fine = await swarmFile(outer, { "teams/inner.yaml": BASE.replace("name: base", "name: inner") });
  const loaded = await loadSwarmFile(fine.file, { catalogue: simulated });
  assert.equal(loaded.subswarms.team?.spec.name, "inner");
  assert.deepEqual(loaded.subswarms.team?.subswarms, {});
});

test("a swarm naming itself, or itself through a symlink, is a cycle", async () => {
  const self = BASE.replace("workers: [helper, checker]", "workers: [helper, me]").replace("agents:\n", "agents:\n  me:\n    type: swarm\n    swarm: ./link.yaml\n");
  const { file, dir } = await swarmFile(self);
  await symlink(file, path.join(dir, "link.yaml"));
  const [issue] = await refusedIssues(file);
  assert.equal(issue?.path, "agents.me.swarm");
  assert.match(issue!.message, /cycle/);
});

test("a missing or invalid nested swarm is reported where it is", async () => {
  const outer = BASE.replace("workers: [helper, checker]", "workers: [helper, a, b]").replace("agents:\n", "agents:\n  a:\n    type: swarm\n    swarm: missing.yaml\n  b:\n    type: swarm\n    swarm: bad.yaml\n");
  const bad = BASE.replace("supervisor: boss", "supervisor: nobody");
  const { file, dir } = await swarmFile(outer, { "bad.yaml": bad });
  const issues = await refusedIssues(file);
  assert.match(issueAt(issues, "agents.a.swarm", outer, "swarm: missing").message, /cannot read .*missing\.yaml: no such file/);
  const nested = issues.find((i) => i.file === path.join(dir, "bad.yaml"));
  assert.equal(nested?.path, "topology.supervisor");
  assert.equal(nested?.line, positionIn(bad, "supervisor:", "topology:").line);
});

const SKILL = "---\nname: tidy\ndescription: Keeps answers tidy. Use always.\n---\n\n# Tidy\n\nBe brief.\n";
const withSkill = (folder: string) => BASE.replace("    family: gemini\n", `    family: gemini\n    skills: [${folder}]\n`).replace("    model: claude-sonnet-4.5\n", `    model: claude-sonnet-4.5\n    skills: [${folder}]\n`);

test("skills are read once per folder, with their body", async () => {
  const { file } = await swarmFile(withSkill("skills/tidy"), { "skills/tidy/SKILL.md": SKILL });
  const loaded = await loadSwarmFile(file, { catalogue: simulated });
  assert.deepEqual(loaded.skills, { "skills/tidy": { name: "tidy", description: "Keeps answers tidy. Use always.", body: "# Tidy\n\nBe brief." } });
});

test("a skill folder without SKILL.md is refused at the agent's skills entry", async () => {
  const text = withSkill("skills/none");
  const { file } = await swarmFile(text, { "skills/none/README.md": "not a skill" });
  const issues = await refusedIssues(file);
  assert.match(issueAt(issues, "agents.helper.skills.0", text, "skills/none").message, /SKILL\.md/);
});

test("bad SKILL.md front matter is refused with its position in SKILL.md", async () => {
  const cases: [string, string, RegExp, string, number][] = [
    ["no front matter", "# Tidy\n", /front matter/, "", 1],
    ["unclosed front matter", "---\nname: tidy\n", /front matter/, "", 1],
    ["bad name", SKILL.replace("name: tidy", "name: Tidy"), /lower-case/, "name", 2],
    ["name not the folder's", SKILL.replace("name: tidy", "name: neat"), /folder name "tidy"/, "name", 2],
    ["no description", SKILL.replace("description: Keeps answers tidy. Use always.\n", ""), /description|expected string/, "description", 2],
    ["YAML syntax", SKILL.replace("name: tidy", "name: [tidy"), /.+/, "", 3],
  ];
  for (const [what, content, pattern, issuePath, line] of cases) {
    const { file, dir } = await swarmFile(withSkill("skills/tidy"), { "skills/tidy/SKILL.md": content });
    const issues = await refusedIssues(file);
    const skillFile = path.join(dir, "skills/tidy/SKILL.md");
    assert.equal(issues.length, 1, `${what}: ${JSON.stringify(issues)}`);
    assert.equal(issues[0]?.file, skillFile, what);
    assert.equal(issues[0]?.path, issuePath, what);
    assert.match(issues[0]!.message, pattern, what);
    assert.ok(issues[0]!.line !== undefined && issues[0]!.line >= line, `${what}: line ${issues[0]?.line}`);
    if (issuePath === "name") assert.deepEqual({ line: issues[0]?.line, column: issues[0]?.column }, { line: 2, column: 1 }, what);
  }
});

test("YAML syntax errors are positioned; empty and non-mapping files are refused", async () => {
  const broken = "name: x\nagents:\n  boss: { type: supervisor\ntopology: {}\n";
  const a = await swarmFile(broken);
  const issues = await refusedIssues(a.file);
  assert.ok(issues.every((i) => i.file === a.file && i.line !== undefined && i.line >= 3), JSON.stringify(issues));

  const dup = BASE + "name: again\n";
  const b = await swarmFile(dup);
  const [issue] = await refusedIssues(b.file);
  assert.match(issue!.message, /unique/i);
  assert.equal(issue?.line, positionIn(dup, "name: again").line);

  for (const text of ["", "- just\n- a list\n"]) {
    const c = await swarmFile(text);
    const found = await refusedIssues(c.file);
    assert.ok(found.every((i) => i.line === 1 && i.column === 1), JSON.stringify(found));
  }
});

test("a missing file is refused with a clear message; the error formats file:line:col path: message", async () => {
  const missing = path.join(tmp.dir, "nope.yaml");
  const [issue] = await refusedIssues(missing);
  assert.match(issue!.message, /no such file/);

  const text = BASE.replace("workers: [helper, checker]", "workers: [helper, ghost]");
  const { file } = await swarmFile(text);
  const error = await loadSwarmFile(file, { catalogue: simulated }).catch((e: unknown) => e);
  assert.ok(error instanceof SwarmFileError);
  const { line, column } = positionIn(text, "ghost");
  assert.ok(error.message.includes(`${file}:${line}:${column} topology.workers.1: unknown worker "ghost"`), error.message);
  assert.throws(() => parseSwarm(text, "inline.yaml", simulated), (e: unknown) => e instanceof SwarmFileError && e.message.includes(`inline.yaml:${line}:${column} topology.workers.1`));
});

test("examples carry the editor schema comment and the committed schema file is current", async () => {
  const { swarmJsonSchema } = await import("../../../workers/swarm/spec/index.ts");
  const committed = JSON.parse(await readFile(path.join(EXAMPLES, "swarm.schema.json"), "utf8"));
  assert.deepEqual(committed, swarmJsonSchema(), "regenerate: godotz swarm schema > examples/swarm.schema.json");
  assert.match(await readFile(path.join(EXAMPLES, "research.yaml"), "utf8"), /^# yaml-language-server: \$schema=\.\/swarm\.schema\.json/);
});
