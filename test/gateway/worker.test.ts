import { startLocalUpstash } from "../../edge/store/local-upstash.ts";
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, rmdir } from "node:fs/promises";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer } from "node:net";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { KeyStore } from "../../edge/auth/keys.ts";
import { startSimulator, type Simulator } from "../../simulator/server.ts";
import { simulatedConfigYaml } from "../../cli/dev-config.ts";
import { freshDatabase } from "../helpers/db.ts";
import { MASTER_KEY } from "../helpers/stack.ts";
import { SIGNATURE_HEADER, signDelivery } from "../../edge/hooks/signature.ts";
import { deploySwarms } from "../../workers/swarm/dispatch/registry.ts";
import { loadedSwarm } from "../hooks/helpers.ts";

/**
 * The Worker entry (edge/worker.ts) under `wrangler dev`, i.e. in workerd, not in Node: the same
 * OpenAI-client checks as the Node gateway, with postgres.js on cloudflare:sockets and the audit
 * written from ctx.waitUntil. DEBUG_WORKER_TEST=1 prints wrangler's request log at the end.
 */

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const WRANGLER = join(REPO, "node_modules", "wrangler", "bin", "wrangler.js");
const STARTUP_MS = 90_000;
const HOOK_SECRET = `whsec_${crypto.randomUUID()}`;
// wrangler bundles into .wrangler/tmp beside wrangler.toml (not configurable) and removes its own
// bundle on exit; the emptied folders go too if this run made them (another run may still use them).
const WRANGLER_DIR = join(REPO, ".wrangler");
const madeWranglerDir = !existsSync(WRANGLER_DIR);

let db: { url: string; drop(): Promise<void> };
let sql: Sql;
let simulator: Simulator;
let key: string;
let wrangler: ChildProcess | undefined;
let persistDir: string;
let workerUrl: string;
let client: OpenAI;
let output = "";
let langfuse: Server;
/** Events the Worker's Langfuse SDK posted to the fake ingestion endpoint. */
const traced: { type: string; body: Record<string, unknown> }[] = [];

/** A stand-in for Langfuse's ingestion API (POST /api/public/ingestion answers 207 per event). */
async function startFakeLangfuse(): Promise<{ server: Server; url: string }> {
  const server = createHttpServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/api/public/ingestion") {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: "not found" }));
        return;
      }
      const { batch } = JSON.parse(body) as { batch: { id: string; type: string; body: Record<string, unknown> }[] };
      traced.push(...batch);
      res.writeHead(207, { "content-type": "application/json" }).end(JSON.stringify({ successes: batch.map((e) => ({ id: e.id, status: 201 })), errors: [] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}` };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + STARTUP_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`wrangler exited (${child.exitCode ?? child.signalCode}):\n${output}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`wrangler dev did not answer /health within ${STARTUP_MS / 1000}s:\n${output}`);
}

/** Signals wrangler's whole process group (wrangler, workerd, esbuild); false once none is left. */
function signalGroup(signal: NodeJS.Signals): boolean {
  try {
    process.kill(-wrangler!.pid!, signal);
    return true;
  } catch {
    return false;
  }
}

let upstash: Awaited<ReturnType<typeof startLocalUpstash>> | undefined;

before(async () => {
  db = await freshDatabase();
  sql = openDatabase(db.url, { max: 2 });
  await migrate(sql);
  key = (await new KeyStore(sql).create({ name: "worker-test" })).key;
  await deploySwarms(sql, [{ loaded: loadedSwarm("hooked", [{ webhook: { secret: "env:HOOKED_SECRET" } }]), source: null }]);
  simulator = await startSimulator({ host: "127.0.0.1", port: 0 });
  const fake = await startFakeLangfuse();
  langfuse = fake.server;
  persistDir = await mkdtemp(join(tmpdir(), "godotz-wrangler-"));

  upstash = await startLocalUpstash({ redisUrl: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379" });
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const vars = {
    // Governance state through @upstash/redis, as on Cloudflare, reaching the real Redis here.
    UPSTASH_REDIS_REST_URL: upstash.url,
    UPSTASH_REDIS_REST_TOKEN: upstash.token,
    GODOTZ_REDIS_NAMESPACE: `godotz-worker-test-${crypto.randomUUID()}`,
    GODOTZ_CONFIG_YAML: simulatedConfigYaml(simulator.url),
    DATABASE_URL: db.url,
    GODOTZ_MASTER_KEY: MASTER_KEY,
    GODOTZ_SIMULATOR_KEY: "simulated",
    HOOKED_SECRET: HOOK_SECRET,
    LANGFUSE_PUBLIC_KEY: "pk-lf-test",
    LANGFUSE_SECRET_KEY: "sk-lf-test",
    LANGFUSE_BASEURL: fake.url,
  };
  // --var splits on the first ':' only and the value travels as one argv entry, so the
  // multi-line YAML needs no quoting and no env file.
  const args = [WRANGLER, "dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort),
    "--persist-to", persistDir, "--show-interactive-dev-session=false", "--log-level", "info",
    ...Object.entries(vars).flatMap(([name, value]) => ["--var", `${name}:${value}`])];
  // Its output (request log, reloads, the Worker's console.error) is shown only when something fails.
  // Detached: wrangler is the leader of its own process group, so `after` can end workerd with it.
  wrangler = spawn(process.execPath, args, {
    cwd: REPO,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", CI: "1" },
  });
  // The group is detached, so Ctrl-C or a killed runner would not reach it, and an orphaned
  // workerd keeps running (spinning a core): take it down whenever this process goes.
  process.once("exit", () => signalGroup("SIGKILL"));
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      signalGroup("SIGKILL");
      process.exit(128 + constants.signals[signal]);
    });
  }
  wrangler.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  wrangler.stderr!.on("data", (d: Buffer) => (output += d.toString()));

  workerUrl = `http://127.0.0.1:${port}`;
  await waitForHealth(workerUrl, wrangler);
  client = new OpenAI({ apiKey: key, baseURL: `${workerUrl}/v1`, maxRetries: 0 });
});

after(async () => {
  if (process.env.DEBUG_WORKER_TEST) console.log(output);
  if (wrangler?.pid) {
    // SIGTERM to wrangler alone (its launcher passes it on once) lets it shut down and remove its
    // .wrangler/tmp bundle; then SIGKILL whatever is left in the group (workerd outlives a
    // wrangler that crashed).
    if (wrangler.exitCode === null && wrangler.signalCode === null) {
      const exited = new Promise((r) => wrangler!.once("exit", r));
      wrangler.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
    signalGroup("SIGKILL");
  }
  await sql?.end({ timeout: 5 });
  await simulator?.close();
  await upstash?.close();
  langfuse?.closeAllConnections();
  await new Promise((r) => (langfuse ? langfuse.close(r) : r(undefined)));
  await db?.drop();
  if (persistDir) await rm(persistDir, { recursive: true, force: true });
  if (madeWranglerDir) {
    await rmdir(join(WRANGLER_DIR, "tmp")).catch(() => {});
    await rmdir(WRANGLER_DIR).catch(() => {});
  }
});

interface AuditRow {
  id: string;
  endpoint: string;
  status: number;
  stream: boolean;
  model_used: string | null;
  key_id: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  response_text: string | null;
  error_code: string | null;
}

/**
 * The Worker writes audit rows in waitUntil, after the response: poll until `found` sees them.
 * On timeout the failure carries wrangler's output, where the Worker logs a failed audit write.
 */
async function auditRowsUntil(found: (rows: AuditRow[]) => boolean, timeoutMs = 10_000): Promise<AuditRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await sql<AuditRow[]>`SELECT * FROM audit_log ORDER BY created_at, id`;
    if (found(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`expected audit rows not written within ${timeoutMs / 1000}s (${rows.length} rows); wrangler output:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

test("a plain completion is answered by the Worker, priced and audited", async () => {
  const { data, response } = await client.chat.completions
    .create({ model: "glm-5.1", messages: [{ role: "user", content: "hello from workerd" }] })
    .withResponse();
  assert.equal(response.headers.get("x-godotz-model"), "glm-5.1");
  assert.match(data.choices[0]!.message.content ?? "", /hello from workerd/);
  assert.ok(data.usage!.prompt_tokens > 0 && data.usage!.completion_tokens > 0);
  const cost = Number(response.headers.get("x-godotz-cost-usd"));
  assert.ok(cost > 0);

  const rows = await auditRowsUntil((rs) => rs.some((r) => (r.response_text ?? "").includes("hello from workerd")));
  const row = rows.find((r) => (r.response_text ?? "").includes("hello from workerd"));
  assert.ok(row, "audit row written from waitUntil");
  assert.match(row.id, UUID_V7, "the Worker's request ids are time-ordered too");
  assert.equal(row.status, 200);
  assert.equal(row.model_used, "glm-5.1");
  assert.equal(row.prompt_tokens, data.usage!.prompt_tokens);
  assert.equal(row.completion_tokens, data.usage!.completion_tokens);
  assert.ok(Math.abs(row.cost_usd - cost) < 1e-9);

  // Tracing runs on workerd too: the Langfuse SDK posts the generation from waitUntil.
  const deadline = Date.now() + 5000;
  let generation;
  while (!(generation = traced.find((e) => e.type === "generation-create" && e.body.traceId === row.id)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(generation, `no Langfuse generation for ${row.id}; got ${traced.map((e) => e.type).join(",")}`);
  assert.equal(generation.body.model, "glm-5.1");
});

test("a stream with include_usage arrives in chunks, carries usage, ends, and is audited", async () => {
  const stream = await client.chat.completions.create({
    model: "claude-sonnet-4.5",
    messages: [{ role: "user", content: "stream from workerd" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let chunks = 0;
  let usage;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(chunks >= 3, `only ${chunks} chunks`);
  assert.match(text, /stream from workerd/);
  assert.ok(usage && usage.completion_tokens > 0);

  const rows = await auditRowsUntil((rs) => rs.some((r) => r.stream && r.response_text === text));
  const row = rows.find((r) => r.stream && r.response_text === text);
  assert.ok(row, "streamed call audited after the stream ended");
  assert.equal(row.completion_tokens, usage.completion_tokens);
  assert.ok(row.cost_usd > 0);
});

test("a client that hangs up mid-stream is audited with what arrived (the Worker's stream outlives fetch())", async () => {
  simulator.script("glm-4.7", { chunkDelayMs: 150 });
  try {
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: "glm-4.7", messages: [{ role: "user", content: "hang up on workerd please" }], stream: true },
      { signal: controller.signal },
    );
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) break;
    }
    controller.abort();
    const rows = await auditRowsUntil((rs) => rs.some((r) => r.stream && r.model_used === "glm-4.7" && r.status === 499));
    const row = rows.find((r) => r.stream && r.model_used === "glm-4.7");
    assert.ok(row, "the abandoned stream is audited");
    assert.equal(row.status, 499);
    assert.equal(row.error_code, "client_disconnected");
  } finally {
    simulator.reset();
  }
});

test("a tool call comes back in OpenAI's shape", async () => {
  const res = await client.chat.completions.create({ model: "gemini-3.1-pro-low", messages: [{ role: "user", content: "weather in Paris?" }], tools: [weatherTool] });
  const call = res.choices[0]!.message.tool_calls?.[0];
  assert.equal(res.choices[0]!.finish_reason, "tool_calls");
  assert.equal(call?.type === "function" && call.function.name, "get_weather");
  assert.ok(call?.type === "function" && typeof JSON.parse(call.function.arguments).city === "string");
});

test("embeddings and /v1/models work", async () => {
  const { data, response } = await client.embeddings.create({ model: "text-embedding-3-small", input: ["alpha", "beta"] }).withResponse();
  assert.equal(data.data.length, 2);
  assert.ok(data.data[0]!.embedding.length > 0);
  assert.equal(response.headers.get("x-godotz-model"), "text-embedding-3-small");

  const ids: string[] = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes("glm-5.1") && ids.includes("text-embedding-3-small"), ids.join(","));

  const rows = await auditRowsUntil((rs) => rs.some((r) => r.endpoint === "/v1/embeddings"));
  const row = rows.find((r) => r.endpoint === "/v1/embeddings");
  assert.ok(row && row.status === 200 && row.prompt_tokens > 0 && row.cost_usd > 0, JSON.stringify(row));
});

test("an upstream failure falls back to the next model in the chain", async () => {
  simulator.script("glm-5.1", { failStatus: 503 });
  try {
    const { data, response } = await client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "fallback on workerd" }] }).withResponse();
    assert.equal(response.headers.get("x-godotz-model"), "glm-4.7");
    assert.equal(data.model, "glm-4.7");
  } finally {
    simulator.reset();
  }
});

test("concurrent requests each get their own connection and all are audited", async () => {
  const prompts = Array.from({ length: 8 }, (_, i) => `parallel ${i} on workerd`);
  const answers = await Promise.all(prompts.map((content) => client.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content }] })));
  answers.forEach((a, i) => assert.match(a.choices[0]!.message.content ?? "", new RegExp(prompts[i]!)));
  const audited = (rs: AuditRow[]) => prompts.filter((p) => rs.some((r) => (r.response_text ?? "").includes(p))).length;
  assert.equal(audited(await auditRowsUntil((rs) => audited(rs) === prompts.length)), prompts.length);
});

test("a bad key is a 401 and malformed JSON a 400, in OpenAI's error shape", async () => {
  const bad = new OpenAI({ apiKey: "gdz_not_a_key", baseURL: `${workerUrl}/v1`, maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "x" }] }), OpenAI.AuthenticationError);

  const res = await fetch(`${workerUrl}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: "{not json",
  });
  assert.equal(res.status, 400);
  const body = (await res.json()) as { error: { type: string; message: string } };
  assert.equal(body.error.type, "invalid_request_error");
});

test("the admin API creates and revokes a key, and the revoked key is refused", async () => {
  const admin = (method: string, route: string, body?: unknown) =>
    fetch(`${workerUrl}/admin${route}`, {
      method,
      headers: { authorization: `Bearer ${MASTER_KEY}`, "content-type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body),
    });
  const res = await admin("POST", "/keys", { name: "worker-made", models: ["glm-5.1"] });
  assert.equal(res.status, 201);
  const created = (await res.json()) as { id: string; key: string };
  const other = new OpenAI({ apiKey: created.key, baseURL: `${workerUrl}/v1`, maxRetries: 0 });
  await other.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "before revoke" }] });

  assert.equal((await admin("DELETE", `/keys/${created.id}`)).status, 200);
  await assert.rejects(other.chat.completions.create({ model: "glm-5.1", messages: [{ role: "user", content: "after revoke" }] }), OpenAI.AuthenticationError);

  const rows = await auditRowsUntil((rs) => rs.some((r) => r.key_id === created.id));
  assert.ok(rows.some((r) => r.key_id === created.id && r.status === 200), "the call made before revocation is audited under the new key");
});

test("on the Worker the response cache lives in Redis through @upstash/redis: a repeat is a hit", async () => {
  const ask = () => client.chat.completions.create({ model: "glm-5.1", temperature: 0, messages: [{ role: "user", content: "worker cache" }] }).withResponse();
  const first = await ask();
  assert.equal(first.response.headers.get("x-godotz-cache"), "miss");
  const calls = simulator.calls().length;
  let second = await ask();
  // The cache write runs in waitUntil after the response; give it a moment.
  for (let i = 0; i < 20 && second.response.headers.get("x-godotz-cache") !== "hit"; i++) {
    await new Promise((r) => setTimeout(r, 100));
    second = await ask();
  }
  assert.equal(second.response.headers.get("x-godotz-cache"), "hit");
  assert.equal(second.data.choices[0]!.message.content, first.data.choices[0]!.message.content);
  assert.equal(simulator.calls().length, calls, "a hit calls no upstream");
  const stored = await fetch(upstash!.url, { method: "POST", headers: { authorization: `Bearer ${upstash!.token}` }, body: JSON.stringify(["KEYS", "godotz-worker-test-*:cache*"]) });
  assert.ok(((await stored.json()) as { result: string[] }).result.length >= 1, "the answer is stored in Redis, not in the isolate");
});

test("a signed webhook delivery is accepted by the Worker and recorded with its run request; a replay is refused", async () => {
  const body = JSON.stringify({ input: "started from workerd" });
  const headers = { "content-type": "application/json", [SIGNATURE_HEADER]: await signDelivery(HOOK_SECRET, body) };
  const res = await fetch(`${workerUrl}/hooks/hooked`, { method: "POST", headers, body });
  const answer = (await res.json()) as { run_id: string; swarm: string; status: string };
  assert.equal(res.status, 202, `${JSON.stringify(answer)}\n${output}`);
  assert.deepEqual({ ...answer, run_id: undefined }, { run_id: undefined, swarm: "hooked", status: "queued" });
  // The Worker answers after its transaction committed: the rows are there now.
  const [run] = await sql`SELECT swarm, input, status, trigger FROM swarm_runs WHERE id = ${answer.run_id}`;
  assert.deepEqual({ ...run }, { swarm: "hooked", input: "started from workerd", status: "queued", trigger: "webhook" });
  assert.equal((await sql`SELECT 1 FROM swarm_run_requests WHERE run_id = ${answer.run_id} AND published_at IS NULL`).length, 1);
  const replay = await fetch(`${workerUrl}/hooks/hooked`, { method: "POST", headers, body });
  assert.equal(replay.status, 409);
  assert.equal(((await replay.json()) as { error: { code: string } }).error.code, "replayed_delivery");
  const unsigned = await fetch(`${workerUrl}/hooks/hooked`, { method: "POST", headers: { "content-type": "application/json" }, body });
  assert.equal(unsigned.status, 401);
});
