// Swarm runtime benchmark: the runtime's own cost per graph step (checkpoint, step task, events,
// cancel/budget checks), with simulated models that answer at once (simulator latency 0). Two
// swarms: a supervisor routing through 50 workers (101 steps), and a supervisor with 20 workers
// (41 steps). Each step's overhead is the time between it and the step before minus the time its
// model call spent in the gateway.
// A worker is a long-lived process, so the figures are those of a warm one: each swarm first runs
// until BENCH_WARMUP_STEPS steps (default 1,500) have gone by, which is how long V8 takes to finish
// optimising the code a step runs (a step runs most of it once); the process's first run of each
// swarm is reported apart ("cold"). Then BENCH_RUNS runs (default 10): p50/p99 over all their
// steps pooled (the headline), and, as earlier versions reported, the median over runs of each
// run's own p50/p99 (for 41 steps a run's p99 is its slowest step).
// Also counted: round trips to Postgres per step, which load does not move.
// Run: npm run bench:swarm (not in CI; run it on a quiet machine).
import net from "node:net";
import { MemorySaver } from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { openDatabase } from "../../shared/db/connect.ts";
import { requestRun } from "../../workers/swarm/dispatch/request.ts";
import { executeRun } from "../../workers/swarm/runtime/executor.ts";
import { swarmSchema } from "../../workers/swarm/spec/schema.ts";
import type { LoadedSwarm } from "../../workers/swarm/spec/load.ts";
import { startStack } from "../../test/helpers/stack.ts";
import { watchModelCalls } from "./model-calls.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const WARMUP_STEPS = Number(process.env.BENCH_WARMUP_STEPS ?? 1500);
// The agents call the simulator directly (its OpenAI API), so the gateway's own work (audit,
// budgets, in this same process) is not counted as the runtime's; bench:gateway measures that.
// BENCH_VIA_GATEWAY=1 sends them through the gateway instead.
const VIA_GATEWAY = process.env.BENCH_VIA_GATEWAY === "1";

function swarm(name: string, workers: number): LoadedSwarm {
  const agents: Record<string, unknown> = { boss: { type: "supervisor", model: "glm-5.1" } };
  const names = Array.from({ length: workers }, (_, i) => `w${i}`);
  for (const w of names) agents[w] = { type: "worker", model: "glm-4.7" };
  const spec = swarmSchema.parse({ name, version: 1, agents, topology: { supervisor: "boss", workers: names, max_turns: workers + 2 } });
  return { spec, file: `${name}.yaml`, subswarms: {}, skills: {} };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const stack = await startStack();
const sql = openDatabase(stack.databaseUrl, { max: 5 });
// BENCH_CHECKPOINTER=memory shows the Postgres checkpointer's share of the overhead.
const postgresSaver = PostgresSaver.fromConnString(stack.databaseUrl);
await postgresSaver.setup();
const checkpointer = process.env.BENCH_CHECKPOINTER === "memory" ? new MemorySaver() : postgresSaver;

// Round trips to Postgres (the runtime's and the checkpointer's pools), a measure of the SQL work
// per step that the machine's load does not move: on each connection, a write that follows an
// answer (or is the first) starts a round trip; writes sent before the answer (postgres.js may
// send a pipelined transaction in two) belong to the same one.
const PG_PORT = Number(new URL(stack.databaseUrl).port || 5432);
let pgRoundTrips = 0;
const answered = new WeakSet<net.Socket>();
const started = new WeakSet<net.Socket>();
const socketWrite = net.Socket.prototype.write;
const socketEmit = net.Socket.prototype.emit;
net.Socket.prototype.write = function (this: net.Socket, ...args: Parameters<typeof socketWrite>) {
  if (this.remotePort === PG_PORT && (!started.has(this) || answered.has(this))) {
    pgRoundTrips++;
    started.add(this);
    answered.delete(this);
  }
  return socketWrite.apply(this, args);
} as typeof socketWrite;
net.Socket.prototype.emit = function (this: net.Socket, event: string | symbol, ...args: unknown[]) {
  if (event === "data" && this.remotePort === PG_PORT) answered.add(this);
  return socketEmit.apply(this, [event, ...args] as Parameters<typeof socketEmit>);
} as typeof socketEmit;

// Model-call time, measured around each chat completion the runtime sends.
const { calls, stop: stopWatching } = watchModelCalls();

async function once(loaded: LoadedSwarm): Promise<{ steps: number; overheads: number[]; totalMs: number; modelMs: number; roundTrips: number; endMs: number }> {
  const { runId } = await requestRun(sql, { loaded, input: "bench", trigger: "api" });
  calls.length = 0;
  const trips0 = pgRoundTrips;
  const finished: number[] = [];
  const t0 = performance.now();
  const outcome = await executeRun(
    { sql, gateway: VIA_GATEWAY ? { url: stack.gateway.url, key: stack.key } : { url: `${stack.simulator.url}/openai`, key: "simulated" }, checkpointer, worker: "bench", onProgress: (p) => p.kind === "step-finished" && finished.push(performance.now()) },
    runId,
  );
  const t1 = performance.now();
  if (outcome.status !== "completed") throw new Error(`bench run ${outcome.status}: ${outcome.error}`);
  const overheads = finished.map((end, i) => {
    const start = i === 0 ? t0 : finished[i - 1]!;
    const model = calls.filter((c) => c.start >= start && c.end <= end).reduce((ms, c) => ms + (c.end - c.start), 0);
    return end - start - model;
  });
  const modelMs = calls.reduce((ms, c) => ms + (c.end - c.start), 0);
  // The run's end: from its last step to executeRun returning (the final checkpoint, the run's
  // record and event), which the step figures do not hold.
  return { steps: finished.length, overheads, totalMs: t1 - t0, modelMs, roundTrips: pgRoundTrips - trips0, endMs: t1 - finished.at(-1)! };
}

const results: string[] = [];
const ms = (x: number) => x.toFixed(2);
for (const [label, loaded] of [["101-step chain (supervisor + 50 workers)", swarm("bench-chain", 50)], ["20-wide (supervisor + 20 workers, 41 steps)", swarm("bench-wide", 20)]] as const) {
  const cold = await once(loaded); // this process's first run of the swarm: connections, JIT
  const coldSorted = [...cold.overheads].sort((a, b) => a - b);
  let warmed = cold.steps;
  let warmups = 1;
  for (; warmed < WARMUP_STEPS; warmups++) warmed += (await once(loaded)).steps;
  const p50s: number[] = [];
  const p99s: number[] = [];
  const firsts: number[] = [];
  const ends: number[] = [];
  const means: number[] = [];
  const roundTrips: number[] = [];
  const pooled: number[] = [];
  const later: number[] = [];
  let steps = 0;
  for (let r = 0; r < RUNS; r++) {
    const run = await once(loaded);
    const sorted = [...run.overheads].sort((a, b) => a - b);
    steps = run.steps;
    pooled.push(...run.overheads);
    later.push(...run.overheads.slice(1));
    p50s.push(percentile(sorted, 50));
    p99s.push(percentile(sorted, 99));
    // The first step's time also holds the run's start (its claim and events, the model list, the
    // graph's compile): shown apart too, with the steps after it on their own.
    firsts.push(run.overheads[0]!);
    ends.push(run.endMs);
    means.push((run.totalMs - run.modelMs) / run.steps);
    roundTrips.push(run.roundTrips / run.steps);
  }
  pooled.sort((a, b) => a - b);
  later.sort((a, b) => a - b);
  results.push(
    `${label}: ${steps} steps, ${RUNS} runs after ${warmups} warm-up runs (${warmed} steps).\n` +
      `  all ${pooled.length} steps pooled: p50 ${ms(percentile(pooled, 50))} ms, p99 ${ms(percentile(pooled, 99))} ms, max ${ms(pooled.at(-1)!)} ms; ` +
      `steps after each run's first: p99 ${ms(percentile(later, 99))} ms; over 5 ms: ${pooled.filter((x) => x > 5).length}\n` +
      `  median of the runs: p50 ${ms(median(p50s))} ms, p99 ${ms(median(p99s))} ms (per run ${p99s.map(ms).join(", ")}), mean ${ms(median(means))} ms; ` +
      `first step (with the run's start) ${ms(median(firsts))} ms; run's end (last step to executeRun returning) ${ms(median(ends))} ms; ` +
      `Postgres round trips per step ${median(roundTrips).toFixed(2)}\n` +
      `  cold (the process's first run): p50 ${ms(percentile(coldSorted, 50))} ms, p99 ${ms(percentile(coldSorted, 99))} ms, first step ${ms(cold.overheads[0]!)} ms`,
  );
}
stopWatching();
net.Socket.prototype.write = socketWrite;
net.Socket.prototype.emit = socketEmit;
console.log(results.join("\n"));
await postgresSaver.end();
await sql.end();
await stack.close();
