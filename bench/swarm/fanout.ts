// Swarm fan-out benchmark: a supervisor that sends work to 20 workers at once (max_parallel 20),
// with simulated models that answer at once (simulator latency 0) and the Postgres checkpointer
// on. The run is three graph steps: the supervisor's decision, the 20-wide super-step, FINISH.
//
// - Super-step wall time: from the supervisor's step finishing to the last branch finishing.
// - Per-branch overhead: a branch's wall time minus its model call. All branches are launched
//   together when the super-step starts, so a branch's wall time runs from there to its own
//   finish, and includes waiting for its 19 siblings on one event loop and one connection pool.
// - Baseline, measured in the same process: the same 20 workers routed one at a time
//   (max_parallel 1, 41 steps); the time its 20 worker steps take together is compared with the
//   fan-out's one super-step.
//
// Median of RUNS runs after a warm-up. BENCH_MODEL_MS=100 gives every model call that latency;
// BENCH_POOL=25 runs with a larger Postgres pool.
// Run: npm run bench:swarm-fanout (not in CI; under `flock /tmp/godotz-bench.lock` on shared hosts).
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { openDatabase } from "../../shared/db/connect.ts";
import { requestRun } from "../../workers/swarm/dispatch/request.ts";
import { executeRun } from "../../workers/swarm/runtime/executor.ts";
import type { Progress } from "../../workers/swarm/runtime/steps.ts";
import { swarmSchema } from "../../workers/swarm/spec/schema.ts";
import type { LoadedSwarm } from "../../workers/swarm/spec/load.ts";
import { startStack } from "../../test/helpers/stack.ts";
import { watchModelCalls } from "./model-calls.ts";

const RUNS = 5;
const WIDTH = 20;
const MODEL_MS = Number(process.env.BENCH_MODEL_MS ?? 0);
// The pool `godotz workers` opens with its default concurrency (5 + 2 × 2); BENCH_POOL overrides it.
const POOL = Number(process.env.BENCH_POOL ?? 9);

function swarm(name: string, maxParallel: number): LoadedSwarm {
  const agents: Record<string, unknown> = { boss: { type: "supervisor", model: "glm-5.1" } };
  const names = Array.from({ length: WIDTH }, (_, i) => `w${i}`);
  for (const w of names) agents[w] = { type: "worker", model: "glm-4.7" };
  const topology = { supervisor: "boss", workers: names, max_turns: WIDTH + 2, ...(maxParallel > 1 ? { max_parallel: maxParallel } : {}) };
  return { spec: swarmSchema.parse({ name, version: 1, agents, topology }), file: `${name}.yaml`, subswarms: {}, skills: {} };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => x.toFixed(1);

const stack = await startStack();
if (MODEL_MS > 0) for (const model of ["glm-5.1", "glm-4.7"]) stack.simulator.script(model, { latencyMs: MODEL_MS });
const sql = openDatabase(stack.databaseUrl, { max: POOL });
const checkpointer = PostgresSaver.fromConnString(stack.databaseUrl);
await checkpointer.setup();

// Each model call, by the agent that made it.
const { calls, stop: stopWatching } = watchModelCalls();

interface Finished {
  step: string;
  agent: string;
  at: number;
}

async function once(loaded: LoadedSwarm): Promise<{ finished: Finished[]; t0: number; t1: number }> {
  const { runId } = await requestRun(sql, { loaded, input: "bench", trigger: "api" });
  calls.length = 0;
  const finished: Finished[] = [];
  const onProgress = (p: Progress) => p.kind === "step-finished" && finished.push({ step: p.step, agent: p.agent, at: performance.now() });
  const t0 = performance.now();
  const outcome = await executeRun({ sql, gateway: { url: `${stack.simulator.url}/openai`, key: "simulated" }, checkpointer, worker: "bench", onProgress }, runId);
  const t1 = performance.now();
  if (outcome.status !== "completed") throw new Error(`bench run ${outcome.status}: ${outcome.error}`);
  return { finished, t0, t1 };
}

/** The fan-out run: its super-step's wall time and each branch's overhead. */
async function fanOutRun(loaded: LoadedSwarm) {
  const { finished, t0, t1 } = await once(loaded);
  const decided = finished.find((f) => f.step === "0")!.at;
  const branches = finished.filter((f) => f.step.startsWith("1."));
  if (branches.length !== WIDTH) throw new Error(`expected ${WIDTH} branches, got ${branches.length}`);
  const overheads = branches.map((b) => {
    const call = calls.find((c) => c.agent === b.agent)!;
    return b.at - decided - (call.end - call.start);
  });
  const sorted = [...overheads].sort((a, b) => a - b);
  return { superStepMs: Math.max(...branches.map((b) => b.at)) - decided, branchMedian: median(overheads), branchMax: sorted.at(-1)!, totalMs: t1 - t0, steps: finished.length };
}

/** The baseline: the same workers one at a time; the wall time of their 20 steps together. */
async function oneAtATimeRun(loaded: LoadedSwarm) {
  const { finished, t0, t1 } = await once(loaded);
  let workersMs = 0;
  finished.forEach((f, i) => {
    if (f.agent !== "boss") workersMs += f.at - (i === 0 ? t0 : finished[i - 1]!.at);
  });
  return { workersMs, totalMs: t1 - t0, steps: finished.length };
}

const wide = swarm("bench-fanout", WIDTH);
const narrow = swarm("bench-one-at-a-time", 1);
await fanOutRun(wide); // warm-up: connections, JIT
await oneAtATimeRun(narrow);
const fan: Awaited<ReturnType<typeof fanOutRun>>[] = [];
const seq: Awaited<ReturnType<typeof oneAtATimeRun>>[] = [];
for (let r = 0; r < RUNS; r++) {
  // Interleaved, so a change in the machine's load falls on both alike.
  fan.push(await fanOutRun(wide));
  seq.push(await oneAtATimeRun(narrow));
}
stopWatching();

const m = (xs: number[]) => median(xs);
const superStep = m(fan.map((f) => f.superStepMs));
const sequential = m(seq.map((s) => s.workersMs));
console.log(`model latency ${MODEL_MS} ms; pool ${POOL} connections; median of ${RUNS} runs`);
console.log(`fan-out (max_parallel ${WIDTH}): 3 graph steps, ${fan[0]!.steps} step tasks; 20-wide super-step ${ms(superStep)} ms; per-branch overhead median ${ms(m(fan.map((f) => f.branchMedian)))} ms, max ${ms(m(fan.map((f) => f.branchMax)))} ms; whole run ${ms(m(fan.map((f) => f.totalMs)))} ms`);
console.log(`one at a time (baseline): ${seq[0]!.steps} graph steps and step tasks; the 20 worker steps ${ms(sequential)} ms (${ms(sequential / WIDTH)} ms each); whole run ${ms(m(seq.map((s) => s.totalMs)))} ms`);
console.log(`20 worker turns: fan-out super-step / one at a time = ${(superStep / sequential).toFixed(2)}`);
await checkpointer.end();
await sql.end();
await stack.close();
