import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freshDatabase } from "../helpers/db.ts";
import { openDatabase, type Sql } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { TaskStore } from "../../workers/tasks/index.ts";

// `bd gantt` end to end on a small DAG: done → running → two planned branches → a last task.
const BD = fileURLToPath(new URL("../../bin/bd.mjs", import.meta.url));
let db: Awaited<ReturnType<typeof freshDatabase>>;
let sql: Sql;
const ids: Record<string, string> = {};

before(async () => {
  db = await freshDatabase("godotz_bd_gantt");
  sql = openDatabase(db.url, { max: 2 });
  await migrate(sql);
  const store = new TaskStore(sql);
  const make = async (name: string, estimate: number | undefined, deps: string[] = [], issue_type = "task") =>
    (ids[name] = (await store.create({ title: `${name} step with a rather long title`, swarm: "g", estimated_minutes: estimate, issue_type, dependencies: deps.map((d) => ({ type: "blocks" as const, depends_on_id: ids[d]! })) })).task.id);
  await make("design", 60);
  await make("build", 90, ["design"]);
  await make("docs", 20, ["build"]);
  await make("tests", undefined, ["build"], "qa");
  await make("ship", 10, ["docs", "tests"]);
  await store.create({ title: "elsewhere", swarm: "other" });
  // A finished qa task of another swarm: 40 minutes measured, the fallback for "tests".
  const past = (await store.create({ title: "old qa", swarm: "other", issue_type: "qa" })).task.id;
  await sql`UPDATE tasks SET status = 'closed', started_at = now() - interval '5 hours', closed_at = now() - interval '260 minutes' WHERE id = ${past}`;
  await sql`UPDATE tasks SET status = 'closed', started_at = now() - interval '3 hours', closed_at = now() - interval '2 hours' WHERE id = ${ids.design!}`;
  await store.claimTask(ids.build!, { worker: "w" });
  await sql`UPDATE tasks SET started_at = now() - interval '30 minutes' WHERE id = ${ids.build!}`;
});
after(async () => {
  await sql.end();
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

test("bd gantt draws one row per task with done, running and planned bars, the critical path and ETAs, within --width", async () => {
  const [wide, narrow, json, picked, bad] = await Promise.all([
    bd("gantt", "--swarm", "g", "--width", "100"),
    bd("gantt", "--swarm", "g", "--width", "60"),
    bd("gantt", "--swarm", "g", "--json"),
    bd("gantt", ids.docs!, ids.ship!, "--width", "80"),
    bd("gantt", "--width", "0"),
  ]);
  for (const [r, width] of [[wide, 100], [narrow, 60]] as const) {
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes("\u001b["), "no colour when stdout is not a terminal");
    const lines = r.stdout.trimEnd().split("\n");
    for (const line of lines) assert.ok([...line].length <= width, `fits in ${width}: ${JSON.stringify(line)} (${[...line].length})`);
    const row = (name: string) => lines.find((l) => l.includes(ids[name]!)) ?? assert.fail(`a row for ${name}:\n${r.stdout}`);
    assert.match(row("design"), /│[^│]*█[^│]*│ done /);
    assert.match(row("build"), /│[^│]*▓[^│]*│ eta /);
    for (const name of ["build", "tests", "ship"]) assert.match(row(name), /^◆ /, `${name} is on the critical path`);
    assert.match(row("docs"), /^ {2}gz-/, "docs has 20 minutes of slack");
    assert.match(row("tests"), /▒/);
    assert.match(row("docs"), /░/);
    assert.ok(!r.stdout.includes("elsewhere"), "--swarm filters the rows");
    assert.match(r.stdout, /^ETA \d{4}-\d\d-\d\d \d\d:\d\d \(in 1h 50m\) for 4 unfinished of 5 tasks$/m);
    assert.match(r.stdout, new RegExp(`^Critical path: ${ids.build} → ${ids.tests} → ${ids.ship}$`, "m"));
  }

  assert.equal(json.code, 0, json.stderr);
  const plan = JSON.parse(json.stdout) as { eta: string; now: string; critical_path: string[]; tasks: { id: string; kind: string; start: string; end: string; eta: string | null; critical: boolean; duration_source: string; duration_minutes: number }[] };
  const minutes = (iso: string | null) => (iso === null ? null : Math.round((Date.parse(iso) - Date.parse(plan.now)) / 60_000));
  assert.deepEqual(plan.tasks.map((t) => [t.id, t.kind, minutes(t.eta), t.critical]), [
    [ids.design, "done", null, false], [ids.build, "running", 60, true], [ids.docs, "planned", 80, false], [ids.tests, "planned", 100, true], [ids.ship, "planned", 110, true],
  ]);
  const tests = plan.tasks.find((t) => t.id === ids.tests)!;
  assert.deepEqual([tests.duration_source, Math.round(tests.duration_minutes)], ["measured", 40]);
  assert.equal(minutes(plan.eta), 110);

  assert.equal(picked.code, 0, picked.stderr);
  const rows = picked.stdout.split("\n").filter((l) => /gz-/.test(l) && l.includes("│"));
  assert.deepEqual(rows.map((l) => l.match(/gz-[0-9a-z]+/)![0]), [ids.docs, ids.ship], "ids select the rows; their upstream still sets the times");
  assert.match(picked.stdout, /\(in 1h 50m\) for 2 unfinished of 2 tasks/);

  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^bd: width: must be a whole number > 0$/m);
});
