import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import postgres from "postgres";
import { startEmbeddedPostgres, stopEmbeddedPostgres } from "../../shared/db/embedded.ts";

const child = fileURLToPath(new URL("fixtures/start-embedded.ts", import.meta.url));
let root: string;
const dataDir = () => path.join(root, "a", ".godotz", "postgres");

async function startInChild(dir: string, sleepSeconds?: number): Promise<{ url: string; owned: boolean }> {
  const args = ["--import", "tsx", child, dir, ...(sleepSeconds ? [String(sleepSeconds)] : [])];
  const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: 60_000 });
  return JSON.parse(stdout.split("\n")[0]!) as { url: string; owned: boolean };
}

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "godotz-embedded-"));
  await chmod(root, 0o755); // as root the server runs as an unprivileged user that must reach it
});

after(async () => {
  await stopEmbeddedPostgres(dataDir());
  await stopEmbeddedPostgres(path.join(root, "b", ".godotz", "postgres"));
  await rm(root, { recursive: true, force: true });
});

test("first start initialises the cluster and serves the godotz database", async () => {
  const db = await startEmbeddedPostgres({ dataDir: dataDir() });
  assert.equal(db.owned, true);
  assert.match(db.url, /^postgres:\/\/\w+@127\.0\.0\.1:\d+\/godotz$/);
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  const [row] = await sql`select current_database() as name`;
  assert.equal(row?.name, "godotz");
  await sql`create table kept (v text)`;
  await sql`insert into kept values ('survives restart')`;
  await sql.end();
});

test("another process reuses the running server", async () => {
  const mine = await startEmbeddedPostgres({ dataDir: dataDir() });
  const theirs = await startInChild(dataDir());
  assert.deepEqual(theirs, { url: mine.url, owned: false });
});

test("two processes hold connections and query at the same time", async () => {
  const { url } = await startEmbeddedPostgres({ dataDir: dataDir() });
  const sleepers = [startInChild(dataDir(), 3), startInChild(dataDir(), 3)];
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  let seen = 0;
  for (let i = 0; i < 100 && seen < 2; i++) {
    const [row] = await sql`select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep%'`;
    seen = Math.max(seen, row?.n as number);
    await new Promise((r) => setTimeout(r, 50));
  }
  await sql.end();
  assert.equal(seen, 2, "both child processes were inside a query at once");
  for (const s of await Promise.all(sleepers)) assert.equal(s.owned, false);
});

test("concurrent first starts from two processes start exactly one server", async () => {
  const dir = path.join(root, "b", ".godotz", "postgres");
  const both = await Promise.all([startInChild(dir), startInChild(dir)]);
  assert.equal(both[0]!.url, both[1]!.url);
  assert.deepEqual(both.map((b) => b.owned).sort(), [false, true]);
});

test("stop then start again keeps the data", async () => {
  await stopEmbeddedPostgres(dataDir());
  const again = await startEmbeddedPostgres({ dataDir: dataDir() });
  assert.equal(again.owned, true);
  const sql = postgres(again.url, { max: 1, onnotice: () => {} });
  const rows = await sql`select v from kept`;
  await sql.end();
  assert.deepEqual(rows.map((r) => r.v), ["survives restart"]);
  await again.stop();
  const probe = postgres(again.url, { max: 1, connect_timeout: 2 });
  await assert.rejects(probe`select 1`, "the server is gone after stop()");
  await probe.end();
});
