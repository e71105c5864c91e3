import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import postgres from "postgres";
import { startSimulator, type Simulator } from "../../simulator/server.ts";
import { simulatedConfigYaml } from "../../cli/dev-config.ts";
import { freshDatabase } from "../helpers/db.ts";
import { runGodotz, spawnGodotz, waitForOutput, type Spawned } from "../helpers/process.ts";

const MASTER = "gdzm_cli_test_master_key";
let simulator: Simulator;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dir: string;
let configPath: string;
let env: Record<string, string>;

before(async () => {
  simulator = await startSimulator();
  db = await freshDatabase();
  dir = await mkdtemp(path.join(tmpdir(), "godotz-cli-"));
  configPath = path.join(dir, "godotz.yaml");
  await writeFile(configPath, simulatedConfigYaml(simulator.url));
  env = { DATABASE_URL: db.url, GODOTZ_MASTER_KEY: MASTER, GODOTZ_SIMULATOR_KEY: "simulated", GODOTZ_HOME: path.join(dir, ".godotz") };
});
after(async () => {
  await simulator.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

async function startGateway(): Promise<{ proc: Spawned; url: string }> {
  const proc = spawnGodotz(["gateway", "--config", configPath, "--port", "0"], env);
  const [, url] = await waitForOutput(proc, /godotz gateway: (http:\/\/\S+)\/v1/);
  return { proc, url: url! };
}

test("godotz config check names the file, field and line of a problem, with exit code 2", async () => {
  const bad = path.join(dir, "bad.yaml");
  const text = simulatedConfigYaml(simulator.url).replace("family: glm, price: { input: 1.0", "family: glm, price: { input: -1");
  await writeFile(bad, text);
  const line = text.split("\n").findIndex((l) => l.includes("input: -1")) + 1;
  const { code, output } = await runGodotz(["config", "check", bad], env);
  assert.equal(code, 2);
  assert.ok(output.includes(`${bad}:${line}:`), output);
  assert.match(output, /models\.glm-5\.1\.price\.input: Too small/);
  const ok = await runGodotz(["config", "check", configPath], env);
  assert.equal(ok.code, 0, ok.output);
  const missing = await runGodotz(["config", "check", path.join(dir, "nope.yaml")], env);
  assert.equal(missing.code, 2);
  assert.match(missing.output, /no such file/);
});

test("keys create/list/revoke through the CLI, and a revoked key is refused on its next request", async () => {
  const { proc, url } = await startGateway();
  try {
    const cli = { ...env, GODOTZ_URL: url };
    const created = await runGodotz(["keys", "create", "--name", "cli-bot", "--families", "glm", "--budget-usd", "12.5", "--json"], cli);
    assert.equal(created.code, 0, created.output);
    const key = JSON.parse(created.output.slice(created.output.indexOf("{"))) as { id: string; key: string; families: string[]; budget_usd: number };
    assert.deepEqual(key.families, ["glm"]);
    assert.equal(key.budget_usd, 12.5);

    const client = new OpenAI({ apiKey: key.key, baseURL: `${url}/v1`, maxRetries: 0 });
    const ok = await client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "hi" }] });
    assert.equal(ok.object, "chat.completion");

    const list = await runGodotz(["keys", "list"], cli);
    assert.match(list.output, new RegExp(`${key.id}\\s+cli-bot.*active`));
    assert.ok(!list.output.includes(key.key), "the secret is never listed");

    const revoked = await runGodotz(["keys", "revoke", key.id], cli);
    assert.equal(revoked.code, 0, revoked.output);
    await assert.rejects(client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "hi" }] }), OpenAI.AuthenticationError);

    const again = await runGodotz(["keys", "revoke", key.id], cli);
    assert.equal(again.code, 1);
    assert.match(again.output, /404/);
    const badInput = await runGodotz(["keys", "create", "--name", "x", "--budget-usd", "lots"], cli);
    assert.notEqual(badInput.code, 0);
    assert.match(badInput.output, /--budget-usd must be a positive number/);
    const wrongMaster = await runGodotz(["keys", "list"], { ...cli, GODOTZ_MASTER_KEY: "gdzm_wrong" });
    assert.equal(wrongMaster.code, 1);
    assert.match(wrongMaster.output, /401/);
  } finally {
    proc.child.kill("SIGTERM");
    await proc.exited;
  }
});

test("SIGTERM while requests are in flight: every answered request is in the audit", async () => {
  const { proc, url } = await startGateway();
  const created = await runGodotz(["keys", "create", "--name", "load", "--json"], { ...env, GODOTZ_URL: url });
  const { key } = JSON.parse(created.output.slice(created.output.indexOf("{"))) as { key: string };
  const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
  simulator.script("glm-4.7", { latencyMs: 300 });
  try {
    const requests = Array.from({ length: 120 }, (_, i) =>
      client.chat.completions.create({ model: i % 2 ? "glm-5.1" : "glm-4.7", messages: [{ role: "user", content: `shutdown ${i}` }] }).then(
        () => true,
        () => false,
      ),
    );
    // Stop while slow requests are waiting on the upstream: the simulator records a call when it
    // arrives, before its 300 ms, so these are in flight through the gateway at SIGTERM.
    const slowBefore = simulator.calls().filter((c) => c.model === "glm-4.7").length;
    const slowInFlight = () => simulator.calls().filter((c) => c.model === "glm-4.7").length - slowBefore;
    const deadline = Date.now() + 20_000;
    while (slowInFlight() < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const inFlightAtStop = slowInFlight();
    assert.ok(inFlightAtStop >= 10, `only ${inFlightAtStop} slow requests reached the upstream`);
    proc.child.kill("SIGTERM");
    const answered = (await Promise.all(requests)).filter(Boolean).length;
    assert.equal(await proc.exited, 0, proc.output());
    // Every request in flight at SIGTERM is finished, not dropped.
    assert.ok(answered >= inFlightAtStop, `only ${answered} answered of ${inFlightAtStop} in flight`);
    const sql = postgres(db.url, { max: 1 });
    try {
      const [row] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM audit_log WHERE endpoint = '/v1/chat/completions' AND status = 200 AND request_body::text LIKE '%shutdown %'`;
      assert.equal(Number(row!.n), answered);
    } finally {
      await sql.end();
    }
  } finally {
    simulator.reset();
  }
});
