import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { openDatabase, type Sql } from "../../../shared/db/connect.ts";
import { parseConfig } from "../../../shared/config/load.ts";
import { simulatedConfigYaml } from "../../../cli/dev-config.ts";
import { requestRun } from "../../../workers/swarm/dispatch/request.ts";
import { executeRun } from "../../../workers/swarm/runtime/executor.ts";
import { catalogueFromConfig, loadSwarmFile } from "../../../workers/swarm/spec/index.ts";
import type { RunEvent } from "../../../workers/events/runs.ts";
import { startStack, type Stack } from "../../helpers/stack.ts";
import { tempDir } from "./helpers.ts";

/*
 * An agent with `family: <role>` (issue #5): the swarm validates against routing.roles, and at
 * run time sends the role as `model`, so the gateway picks a healthy model of the role's family.
 */

// The simulated models come with the roles coder → glm and critic → claude.
const configYaml = simulatedConfigYaml;

const SWARM = `
name: roled
version: 1
agents:
  lead: { type: supervisor, model: gemini-3.1-pro-low, instructions: "Route the work." }
  writer: { type: worker, family: coder, role: writes, instructions: "Write it." }
  checker: { type: critic, family: critic, instructions: "Check it." }
topology: { supervisor: lead, workers: [writer, checker], max_turns: 6 }
`;

let stack: Stack;
let sql: Sql;
let checkpointer: PostgresSaver;
let dir: Awaited<ReturnType<typeof tempDir>>;
before(async () => {
  stack = await startStack({ configYaml });
  sql = openDatabase(stack.databaseUrl, { max: 5 });
  checkpointer = PostgresSaver.fromConnString(stack.databaseUrl);
  await checkpointer.setup();
  dir = await tempDir();
});
after(async () => {
  await checkpointer?.end();
  await sql?.end();
  await stack?.close();
  await dir?.remove();
});

async function run(input: string) {
  const catalogue = catalogueFromConfig(parseConfig(configYaml("http://127.0.0.1:1"), "roles.yaml"));
  const loaded = await loadSwarmFile(await dir.write("swarm.yaml", SWARM), { catalogue });
  const { runId } = await requestRun(sql, { loaded, input, trigger: "cli" });
  return executeRun({ sql, gateway: { url: stack.gateway.url, key: stack.key }, checkpointer, worker: "roles-test", minBackoffMs: 10 }, runId);
}

const events = async (runId: string) => (await sql<{ payload: RunEvent }[]>`SELECT payload FROM run_events WHERE run_id = ${runId} ORDER BY seq`).map((r) => r.payload);

test("agents giving a role run end to end: the gateway picks the model of the role's family, the audit keeps the role", async () => {
  stack.simulator.reset();
  const outcome = await run("Write and check a haiku.");
  assert.equal(outcome.status, "completed", outcome.error ?? "");
  const done = (await events(outcome.runId)).filter((e) => e.type === "completed" && e.agent);
  assert.equal(done.find((e) => e.agent === "writer")?.model, "glm-5.1");
  assert.equal(done.find((e) => e.agent === "checker")?.model, "claude-sonnet-4.5");
  const audit = (await stack.auditRows()).filter((r) => r.swarm === "roled");
  assert.deepEqual(new Set(audit.filter((r) => r.agent === "writer").map((r) => `${r.model_requested}>${r.model_used}`)), new Set(["coder>glm-5.1"]));
  assert.deepEqual(new Set(audit.filter((r) => r.agent === "checker").map((r) => `${r.model_requested}>${r.model_used}`)), new Set(["critic>claude-sonnet-4.5"]));
});

test("a failing model of the role's family is passed over by the gateway, and the step still completes", async () => {
  stack.simulator.reset();
  stack.simulator.script("glm-5.1", { failStatus: 503 });
  try {
    const outcome = await run("Write it even though glm-5.1 is down.");
    assert.equal(outcome.status, "completed", outcome.error ?? "");
    const writer = (await events(outcome.runId)).find((e) => e.type === "completed" && e.agent === "writer");
    assert.equal(writer?.model, "glm-4.7");
    const writerCalls = stack.simulator.calls().filter((c) => c.kind === "chat" && c.model.startsWith("glm-"));
    assert.ok(writerCalls.some((c) => c.model === "glm-5.1"), "glm-5.1 was tried first");
  } finally {
    stack.simulator.reset();
  }
});
