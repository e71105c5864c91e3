import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { openDatabase, type Sql } from "../../../shared/db/connect.ts";
import { EventBus } from "../../../workers/events/bus.ts";
import { namespacedStreams } from "../../../workers/swarm/worker.ts";
import { freshDatabase } from "../../helpers/db.ts";
import { spawnGodotz, waitForOutput, type Spawned } from "../../helpers/process.ts";
import { EXAMPLES } from "../spec/helpers.ts";
import { tempDir } from "./helpers.ts";

// `godotz dev --simulate` runs the swarm worker in its own process: a queued run executes with no
// separate worker and no API key, and `swarm run` uses the dev gateway and key from .godotz/dev.json.

const GODOTZ = fileURLToPath(new URL("../../../bin/godotz.mjs", import.meta.url));
const namespace = `dev${process.pid}${Math.random().toString(36).slice(2, 6)}`;

let db: { url: string; drop(): Promise<void> };
let home: Awaited<ReturnType<typeof tempDir>>;
let dev: Spawned;
let sql: Sql;
let env: Record<string, string | undefined>;

before(async () => {
  db = await freshDatabase();
  home = await tempDir();
  const { GODOTZ_CONFIG: _c, GODOTZ_URL: _u, GODOTZ_API_KEY: _k, GODOTZ_MASTER_KEY: _m, ...inherited } = process.env;
  env = { ...inherited, DATABASE_URL: db.url, GODOTZ_HOME: home.dir, GODOTZ_STREAMS_NAMESPACE: namespace };
  dev = spawnGodotz(["dev", "--simulate", "-p", "0"], env);
  await waitForOutput(dev, /swarm worker dev-\d+ ready/, 60_000);
  await waitForOutput(dev, /virtual key +gdz_/, 60_000);
  sql = openDatabase(db.url, { max: 2 });
});
after(async () => {
  if (dev && dev.child.exitCode === null) {
    dev.child.kill("SIGTERM");
    await Promise.race([dev.exited, sleep(20_000)]);
    if (dev.child.exitCode === null) dev.child.kill("SIGKILL");
  }
  await sql?.end();
  const bus = await EventBus.connect({ name: "dev-test-cleanup" }).catch(() => undefined);
  for (const s of Object.values(namespacedStreams(namespace))) await bus?.jsm.streams.delete(s.name).catch(() => {});
  await bus?.close();
  await db?.drop();
  await home?.remove();
});

function godotz(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [GODOTZ, ...args], { cwd: home.dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

test("a run queued with --detach is executed by the worker inside `godotz dev --simulate`", async () => {
  const queued = await godotz(["swarm", "run", `${EXAMPLES}research.yaml`, "--input", "Why is the sky blue?", "--detach"]);
  assert.equal(queued.code, 0, queued.stderr);
  const runId = queued.stdout.trim();
  const deadline = Date.now() + 60_000;
  let status = "queued";
  while (Date.now() < deadline && !["completed", "failed", "cancelled"].includes(status)) {
    await sleep(100);
    const [row] = await sql<{ status: string }[]>`SELECT status FROM swarm_runs WHERE id = ${runId}`;
    status = row?.status ?? "missing";
  }
  assert.equal(status, "completed", dev.output().slice(-3000));
  const [run] = await sql<{ worker: string }[]>`SELECT worker FROM swarm_runs WHERE id = ${runId}`;
  assert.match(run!.worker, /^dev-\d+$/);
});

test("`swarm run` against the dev stack needs no API key: it uses the dev gateway and key", async () => {
  const r = await godotz(["swarm", "run", `${EXAMPLES}panel.yaml`, "--input", "Is water wet?"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /step 1 +jury/);
});
