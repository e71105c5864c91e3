import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { GODOTZ_BIN } from "../../helpers/process.ts";
import { simulatedConfigYaml } from "../../../cli/dev-config.ts";
import { BASE, EXAMPLES, positionIn, tempDir } from "./helpers.ts";

const tmp = await tempDir();
after(() => tmp.remove());

/** Runs `godotz` in `cwd` with no configuration in its environment, keeping stdout and stderr apart. */
function godotz(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  if (!options.env?.GODOTZ_CONFIG) delete env.GODOTZ_CONFIG;
  return new Promise((resolve) => {
    execFile(process.execPath, [GODOTZ_BIN, ...args], { cwd: options.cwd ?? tmp.dir, env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// Ajv with JSON Schema 2020-12 support ships with the MCP SDK; resolve it from there.
const requireFromSdk = createRequire(fileURLToPath(import.meta.resolve("@modelcontextprotocol/sdk/validation/ajv")));
const Ajv2020 = (requireFromSdk("ajv/dist/2020") as { default: new (o: object) => AjvLike }).default;
const addFormats = (requireFromSdk("ajv-formats") as { default: (ajv: AjvLike) => void }).default;
interface AjvLike {
  compile(schema: object): ((data: unknown) => boolean) & { errors?: unknown };
}

const examples = ["research.yaml", "panel.yaml", "nested.yaml", "nested/fact-check.yaml"].map((f) => path.join(EXAMPLES, f));

test("validate: the examples pass against the simulated models, said on stderr", async () => {
  const { code, stdout, stderr } = await godotz(["swarm", "validate", ...examples]);
  assert.equal(code, 0, stderr);
  for (const f of examples) assert.match(stdout, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ok \\(swarm `));
  assert.match(stdout, /nested\.yaml: ok \(swarm newsroom v1, 3 agents, 1 nested swarm\)/);
  assert.match(stderr, /simulated dev models/);
});

test("validate: an invalid file exits 2 with every issue as file:line:col path: message", async () => {
  const text = BASE.replace("model: claude-sonnet-4.5", "model: glm-4.7").replace("workers: [helper, checker]", "workers: [helper, checker, ghost]");
  const bad = await tmp.write("bad.yaml", text);
  const { code, stdout, stderr } = await godotz(["swarm", "validate", path.join(EXAMPLES, "panel.yaml"), "bad.yaml"]);
  assert.equal(code, 2, stderr);
  assert.match(stdout, /panel\.yaml: ok/);
  const echo = positionIn(text, "model: glm-4.7");
  const ghost = positionIn(text, "ghost");
  assert.ok(stderr.includes(`bad.yaml:${echo.line}:${echo.column} agents.checker.model: echo chamber: critic "checker" and supervisor "boss"`), stderr);
  assert.ok(stderr.includes(`bad.yaml:${ghost.line}:${ghost.column} topology.workers.2: unknown worker "ghost"`), stderr);
  assert.match(stderr, /1 of 2 swarm files are invalid/);
  assert.ok(bad);
});

test("validate --json: one result per file on stdout; a missing file is an issue too", async () => {
  const { code, stdout } = await godotz(["swarm", "validate", "--json", path.join(EXAMPLES, "research.yaml"), "missing.yaml"]);
  assert.equal(code, 2);
  const results = JSON.parse(stdout) as { file: string; valid: boolean; swarm?: { name: string }; issues: { file: string; message: string }[] }[];
  assert.equal(results.length, 2);
  assert.equal(results[0]?.valid, true);
  assert.equal(results[0]?.swarm?.name, "research");
  assert.equal(results[1]?.valid, false);
  assert.match(results[1]!.issues[0]!.message, /no such file/);
});

test("validate uses the gateway configuration when there is one: --config, GODOTZ_CONFIG, ./godotz.yaml", async () => {
  // A gateway without claude, nor the critic role that routed to it: the research example's
  // critic asks for a role it does not have.
  const config = simulatedConfigYaml("http://127.0.0.1:1").split("\n").filter((l) => !l.includes("claude")).join("\n");
  const dir = path.dirname(await tmp.write("with-config/godotz.yaml", config));
  const research = path.join(EXAMPLES, "research.yaml");
  for (const run of [
    () => godotz(["swarm", "validate", "--config", path.join(dir, "godotz.yaml"), research]),
    () => godotz(["swarm", "validate", research], { env: { GODOTZ_CONFIG: path.join(dir, "godotz.yaml") } }),
    () => godotz(["swarm", "validate", research], { cwd: dir }),
  ]) {
    const { code, stderr } = await run();
    assert.equal(code, 2, stderr);
    assert.match(stderr, /agents\.critic\.family: no chat model of family "critic"/);
    assert.doesNotMatch(stderr, /simulated dev models/);
  }
  const missing = await godotz(["swarm", "validate", "--config", "nowhere.yaml", research]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read configuration nowhere\.yaml/);
});

test("schema: JSON Schema 2020-12 that accepts the examples and refuses malformed swarms", async () => {
  const { code, stdout, stderr } = await godotz(["swarm", "schema"]);
  assert.equal(code, 0, stderr);
  const schema = JSON.parse(stdout) as { $schema: string; $id: string; properties: Record<string, unknown> };
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.ok(schema.$id);
  for (const key of ["name", "version", "agents", "panels", "topology", "mcp_servers", "budget", "triggers"]) assert.ok(key in schema.properties, key);

  const ajv = new Ajv2020({ allErrors: true });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  for (const f of examples) assert.ok(validate(parse(await readFile(f, "utf8"))), `${f}: ${JSON.stringify(validate.errors)}`);
  const base = parse(BASE) as Record<string, unknown> & { agents: Record<string, Record<string, unknown>> };
  assert.ok(validate(base), JSON.stringify(validate.errors));
  assert.ok(!validate({ ...base, colour: "red" }), "unknown top-level key");
  assert.ok(!validate({ ...base, agents: { ...base.agents, helper: { type: "worker", model: "glm-4.7", family: "glm" } } }), "model and family together");
  assert.ok(!validate({ ...base, agents: { ...base.agents, helper: { type: "wizard", model: "glm-4.7" } } }), "unknown type");
  assert.ok(!validate({ ...base, topology: { supervisor: "boss" } }), "topology without workers");
});
