import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { EventBus } from "../../../workers/events/bus.ts";
import { RunEventRelay } from "../../../workers/swarm/runtime/events.ts";
import { namespacedStreams } from "../../../workers/swarm/worker.ts";
import { startRuntimeStack, tempDir, TWO_WORKERS, type RuntimeStack } from "./helpers.ts";

const GODOTZ = fileURLToPath(new URL("../../../bin/godotz.mjs", import.meta.url));
// Resolved here: the commands run in a folder of their own, where `--import tsx` would not resolve.
const namespace = `cli${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const streams = namespacedStreams(namespace);

let rt: RuntimeStack;
let dir: Awaited<ReturnType<typeof tempDir>>;
let swarmFile: string;
let bus: EventBus;

before(async () => {
  rt = await startRuntimeStack();
  dir = await tempDir();
  swarmFile = await dir.write("duo.yaml", TWO_WORKERS);
  await dir.write("task.txt", "A task read from a file");
  bus = await EventBus.connect({ name: "cli-test" });
});
after(async () => {
  await bus?.jsm.streams.delete(streams.events.name).catch(() => {});
  await bus?.close();
  await rt?.close();
  await dir?.remove();
});

function godotz(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { GODOTZ_CONFIG: _config, ...inherited } = process.env;
  const child = spawn(process.execPath, [GODOTZ, ...args], {
    cwd: dir.dir, // no godotz.yaml here: swarm files are checked against the simulated models
    env: { ...inherited, DATABASE_URL: rt.stack.databaseUrl, GODOTZ_URL: rt.stack.gateway.url, GODOTZ_API_KEY: rt.stack.key, GODOTZ_HOME: dir.dir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

test("swarm run shows which agent works, tokens and cost so far, and prints the output", async () => {
  const r = await godotz(["swarm", "run", swarmFile, "--input", "What is 6 times 7?"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /run run_[0-9a-z]+ of duo v1/);
  assert.match(r.stderr, /▸ step 1 +alpha +working: drafts/);
  assert.match(r.stderr, /✔ step 1 +alpha +claude-sonnet-4\.5 +\d+ tokens +\$0\.\d+ +│ so far \d+ tokens +\$0\.\d+/);
  const last = [...r.stderr.matchAll(/so far (\d+) tokens +\$([0-9.]+)/g)].at(-1)!;
  assert.match(r.stderr, new RegExp(`completed: 5 steps, ${last[1]} tokens, \\$${last[2]!.replace(".", "\\.")}`), "the summary agrees with the last progress line");
  assert.match(r.stdout, /Simulated gemini-3\.1-pro-low reply/);
});

test("swarm run --json and --input @file; runs list/show/show --watch describe the run", async () => {
  const r = await godotz(["swarm", "run", swarmFile, "--input", `@${dir.dir}/task.txt`, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { run_id: string; status: string; usage: { tokens: number; cost_usd: number }; audit: { calls: number }; steps: { agent: string; status: string; tokens: number }[] };
  assert.equal(out.status, "completed");
  assert.ok(out.usage.cost_usd > 0 && out.usage.tokens > 0);
  assert.equal(out.usage.tokens, out.steps.reduce((n, s) => n + s.tokens, 0));
  assert.ok(out.audit.calls <= 5, "the audit is written in batches and may trail");
  assert.deepEqual(out.steps.map((s) => s.agent), ["lead", "alpha", "lead", "beta", "lead"]);
  const [row] = await rt.sql<{ input: string }[]>`SELECT input FROM swarm_runs WHERE id = ${out.run_id}`;
  assert.equal(row!.input, "A task read from a file");

  const list = await godotz(["runs", "list", "--json", "--swarm", "duo"]);
  assert.equal(list.code, 0, list.stderr);
  assert.ok((JSON.parse(list.stdout) as { id: string }[]).some((x) => x.id === out.run_id));

  const show = await godotz(["runs", "show", out.run_id]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /COMPLETED/);
  assert.match(show.stdout, /\[lead\] +supervisor +✔ done +\(3 turns\)/);
  assert.match(show.stdout, /├─► \[alpha\] +worker +✔ done/);
  assert.match(show.stdout, /└─► \[beta\] +worker +✔ done/);

  const watch = await godotz(["runs", "show", out.run_id, "--watch"]);
  assert.equal(watch.code, 0, watch.stderr);
  assert.match(watch.stdout, /└─► \[beta\]/, "a finished run is drawn once and the watch ends");
});

test("runs cancel: a queued run is cancelled; a run that has finished is left as it is", async () => {
  const queued = await godotz(["swarm", "run", swarmFile, "--input", "later", "--detach"]);
  assert.equal(queued.code, 0, queued.stderr);
  const runId = queued.stdout.trim();
  assert.match(runId, /^run_[0-9a-z]+$/);
  const cancel = await godotz(["runs", "cancel", runId]);
  assert.equal(cancel.code, 0, cancel.stderr);
  assert.match(cancel.stdout, /cancelled/);
  const again = await godotz(["runs", "cancel", runId]);
  assert.match(again.stdout, /already cancelled/);
});

test("bad input gets a clear error and the right exit code", async () => {
  const missing = await godotz(["swarm", "run", swarmFile, "--input", "@nope.txt"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read the input file nope\.txt: no such file/);
  const nul = await dir.write("nul.txt", "before\u0000after");
  const withNul = await godotz(["swarm", "run", swarmFile, "--input", `@${nul}`]);
  assert.equal(withNul.code, 2, withNul.stderr);
  assert.match(withNul.stderr, /input: must not contain NUL characters/);
  const badFile = await godotz(["swarm", "run", `${dir.dir}/absent.yaml`, "--input", "x"]);
  assert.equal(badFile.code, 2, badFile.stderr);
  const badId = await godotz(["runs", "show", "not-a-run"]);
  assert.equal(badId.code, 2);
  assert.match(badId.stderr, /"not-a-run" is not a run id/);
  const unknown = await godotz(["runs", "show", "run_0000000000000000000000000"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no run run_0000000000000000000000000/);
  const badLimit = await godotz(["runs", "list", "--limit", "0"]);
  assert.equal(badLimit.code, 2);
  const noKey = await godotz(["events", "tail", "--run", "bad id"]);
  assert.equal(noKey.code, 2);
});

test("events tail follows a run's events from the stream", async () => {
  const r = await godotz(["swarm", "run", swarmFile, "--input", "tail me", "--json"]);
  const { run_id: runId } = JSON.parse(r.stdout) as { run_id: string };
  await bus.ensureStream(streams.events);
  const relay = new RunEventRelay(rt.sql, bus, { stream: streams.events });
  // Bounded: the outbox of this database holds a few dozen rows.
  for (let i = 0; i < 20 && ((await relay.relayOnce()).published > 0); i++);
  const tail = await godotz(["events", "tail", "--run", runId, "--all", "--count", "3", "--streams-namespace", namespace]);
  assert.equal(tail.code, 0, tail.stderr);
  const lines = tail.stdout.trim().split("\n");
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, new RegExp(`duo  ${runId}  run  created`));
  assert.match(lines[1]!, new RegExp(`duo  ${runId}  run  started`));
  assert.match(lines[2]!, /step 0 lead {2}created/);
  const json = await godotz(["events", "tail", "--swarm", "duo", "--all", "--count", "1", "--json", "--streams-namespace", namespace]);
  assert.equal((JSON.parse(json.stdout) as { type: string }).type, "created");
});
