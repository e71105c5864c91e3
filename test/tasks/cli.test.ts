import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freshDatabase } from "../helpers/db.ts";

// The bd CLI end to end, spawned as a user (or an agent) would run it, on a fresh database
// it migrates itself.
const BD = fileURLToPath(new URL("../../bin/bd.mjs", import.meta.url));
let db: Awaited<ReturnType<typeof freshDatabase>>;

before(async () => {
  db = await freshDatabase("godotz_bd");
});
after(async () => {
  await db.drop();
});

function bd(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BD, ...args], { env: { ...process.env, DATABASE_URL: db.url }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}
async function bdJson<T>(...args: string[]): Promise<T> {
  const r = await bd(...args, "--json");
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}
interface TaskJson {
  id: string;
  title: string;
  status: string;
  priority: number;
  issue_type: string;
  labels: string[];
  estimated_minutes: number | null;
  close_reason: string | null;
  created_at: string;
  dependencies?: { id: string; dependency_type: string }[];
}

test("create, dep add, ready, show, close, list: the beads flow with --json shapes", async () => {
  const schema = await bdJson<TaskJson>("create", "Design schema", "-p", "1", "-t", "feature", "-l", "db,core", "-e", "30");
  assert.match(schema.id, /^gz-[0-9a-z]{4,}$/);
  assert.equal(schema.status, "open");
  assert.equal(schema.priority, 1);
  assert.equal(schema.issue_type, "feature");
  assert.deepEqual(schema.labels, ["db", "core"]);
  assert.equal(schema.estimated_minutes, 30);
  assert.ok(!Number.isNaN(Date.parse(schema.created_at)));

  const store = await bdJson<TaskJson>("create", "Write store", "-p", "0", "--deps", `blocks:${schema.id}`);
  const docs = await bdJson<TaskJson>("create", "Docs", "-p", "2");
  const added = await bdJson<{ status: string; issue_id: string; depends_on_id: string; type: string }>("dep", "add", docs.id, store.id, "--type", "blocks");
  assert.deepEqual(added, { status: "added", issue_id: docs.id, depends_on_id: store.id, type: "blocks" });

  const ready = await bdJson<TaskJson[]>("ready");
  assert.deepEqual(ready.map((t) => t.id), [schema.id]);

  const human = await bd("ready");
  assert.equal(human.code, 0);
  assert.match(human.stdout.trim(), new RegExp(`^${schema.id}\\s+P1\\s+open\\s+feature\\s+Design schema$`));

  const [shown] = await bdJson<TaskJson[]>("show", store.id);
  assert.deepEqual(shown!.dependencies!.map((d) => [d.id, d.dependency_type]), [[schema.id, "blocks"]]);

  const tree = await bd("dep", "tree", docs.id);
  assert.deepEqual(tree.stdout.trim().split("\n").map((l) => l.match(/gz-[0-9a-z]+/)?.[0]), [docs.id, store.id, schema.id]);

  const [closed] = await bdJson<TaskJson[]>("close", schema.id, "--reason", "merged");
  assert.equal(closed!.status, "closed");
  assert.equal(closed!.close_reason, "merged");
  assert.deepEqual((await bdJson<TaskJson[]>("ready")).map((t) => t.id), [store.id]);

  const open = await bdJson<TaskJson[]>("list", "--status", "open");
  assert.deepEqual(open.map((t) => t.id), [store.id, docs.id]);
  assert.deepEqual((await bdJson<TaskJson[]>("list", "--label", "core")).map((t) => t.id), [schema.id]);

  const [updated] = await bdJson<TaskJson[]>("update", docs.id, "--priority", "0", "--title", "Docs, now urgent");
  assert.equal(updated!.priority, 0);
  assert.equal(updated!.title, "Docs, now urgent");

  const cancelled = await bdJson<TaskJson[]>("cancel", store.id);
  assert.deepEqual(cancelled.map((t) => [t.id, t.status]), [[store.id, "cancelled"], [docs.id, "cancelled"]]);
});

test("errors are one line on stderr: exit 1 for a wrong state or unknown id, 2 for bad usage", async () => {
  const a = await bdJson<TaskJson>("create", "a");
  const b = await bdJson<TaskJson>("create", "b", "--deps", a.id);
  const cases: [string[], number, RegExp][] = [
    [["show", "gz-zzzzzz"], 1, /^bd: no task gz-zzzzzz$/],
    [["dep", "add", a.id, b.id], 1, /^bd: .*would close a dependency cycle/],
    [["retry", a.id], 1, /^bd: cannot retry gz-\w+: it is open$/],
    [["create", "x", "-p", "7"], 2, /^bd: priority: must be 0-4/],
    [["list", "--status", "done"], 2, /^bd: status: must be one of/],
    [["dep", "add", a.id, b.id, "--type", "needs"], 2, /^bd: dependency type: must be one of/],
    [["dep", "add", a.id, a.id], 2, /^bd: gz-\w+ cannot depend on itself$/],
    [["frobnicate"], 2, /^bd: unknown command 'frobnicate'$/],
    [["create"], 2, /^bd: title: a task needs a title$/],
  ];
  const results = await Promise.all(cases.map(([args]) => bd(...args)));
  results.forEach((r, i) => {
    const [args, code, pattern] = cases[i]!;
    assert.equal(r.code, code, `bd ${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, `bd ${args.join(" ")} printed one line: ${r.stderr}`);
    assert.match(r.stderr.trim(), pattern, `bd ${args.join(" ")}`);
    assert.equal(r.stdout, "", `bd ${args.join(" ")} printed nothing on stdout`);
  });
  const help = await bd("dep", "add", "--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--type <type>/);
});
