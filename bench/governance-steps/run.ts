// The cost of each governance step on its own: the step functions the chat route calls, called
// directly in this process against the real stores (Redis both through the local Upstash REST
// server and over a native connection, budgets in Postgres), with the limits and config of the
// governed gateway benchmark.
//   npm run bench:governance-steps [-- --calls=2000 --concurrency=50 --runs=3 --no-write]
// Two measures per step: latency of one call at a time (p50/p99 of `calls` calls) and throughput
// with `concurrency` calls in flight (calls/s over `calls` calls), median of `runs`. Figures go
// to docs/benchmarks.md, section "Cost of each governance step".
import os from "node:os";
import { freshDatabase } from "../../test/helpers/db.ts";
import { startUpstash } from "../../test/helpers/upstash.ts";
import { NativeRedis } from "../../edge/store/native-redis.ts";
import type { SharedRedis } from "../../edge/store/redis.ts";
import { createGovernance } from "../../edge/governance/index.ts";
import { cacheKey } from "../../edge/cache/key.ts";
import { BudgetLedger } from "../../edge/budget/ledger.ts";
import { openDatabase } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { parseConfig } from "../../shared/config/load.ts";
import { governedConfigYaml } from "../gateway/config.ts";
import { replaceSection } from "../gateway/report.ts";
import type { ChatCompletionRequest } from "../../edge/chat/schema.ts";
import type { CachedAnswer } from "../../edge/cache/store.ts";

const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const CALLS = arg("calls", 2000);
const CONCURRENCY = arg("concurrency", 50);
const RUNS = arg("runs", 3);
const WRITE = !process.argv.includes("--no-write");
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const HEADING = "## Cost of each governance step";
const log = (line: string) => process.stderr.write(line + "\n");

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const median = (xs: number[]) => percentile(xs, 50);

interface Step {
  name: string;
  what: string;
  /** How the step reaches its store. */
  via: "REST" | "native" | "Postgres";
  /** One call of the step, for request number `i`. */
  call(i: number): Promise<void>;
}

async function sequential(step: Step, offset: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const start = performance.now();
    await step.call(offset + i);
    times.push(performance.now() - start);
  }
  return times;
}

async function concurrent(step: Step, offset: number): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CALLS) await step.call(offset + next++);
    }),
  );
  return CALLS / ((performance.now() - start) / 1000);
}

const loadBefore = os.loadavg()[0]!;
const config = parseConfig(governedConfigYaml("http://127.0.0.1:9"), "bench-governed.yaml");
const upstash = await startUpstash(REDIS_URL);
const namespace = `godotz-bench-steps-${crypto.randomUUID()}`;
const native = new NativeRedis(REDIS_URL);
const db = await freshDatabase("godotz_bench_steps");
const sql = openDatabase(db.url, { max: 10 });
try {
  await migrate(sql);
  // One hold per request (as on a Worker), and slices (as on a Node gateway, which listens).
  const ledger = new BudgetLedger(sql, 900, { slices: false });
  const sliced = new BudgetLedger(sql);
  const slicing = await sliced.listenForChanges();
  const keyId = crypto.randomUUID();
  await ledger.set({ scope: "key", subject: keyId, period: "daily", cap_usd: 100_000 });
  const budgets = [`key:${keyId}`, "family:glm"];
  const glm = config.models["glm-5.1"]!;
  const request = (i: number): ChatCompletionRequest => ({ model: "glm-5.1", temperature: 0, messages: [{ role: "user", content: `Say hello to the benchmark. (${namespace}-${i})` }] });
  const answer: CachedAnswer = {
    id: "chatcmpl-bench",
    object: "chat.completion",
    created: 0,
    model: "glm-5.1",
    choices: [{ index: 0, message: { role: "assistant", content: "Hello, benchmark! ".repeat(8) }, finish_reason: "stop" }],
    usage: { prompt_tokens: 20, completion_tokens: 40, total_tokens: 60 },
    cached_at: 0,
  };
  const redisSteps = (via: "REST" | "native", redis: SharedRedis, ping: () => Promise<unknown>): Step[] => {
    const governance = createGovernance(redis, config, `${namespace}:${via}`);
    const steps: Array<Omit<Step, "via">> = [
      {
        name: "Redis round trip",
        what: via === "REST" ? "`PING` through @upstash/redis and the REST server: the floor under every Redis step" : "`PING` over the native connection: the floor under every Redis step",
        call: async () => void (await ping()),
      },
      { name: "cache lookup (miss)", what: "`cacheKey` (SHA-256 of the canonical request) + `cache.get`", call: async (i) => void (await governance.cache.get(await cacheKey(request(i), keyId))) },
      { name: "cache write", what: "`cache.set` of a 0.5 KB answer, TTL 1 h (off the request path in the gateway)", call: async (i) => governance.cache.set(`bench-${i}`, answer, 3600) },
      {
        name: "rate limits (4 windows)",
        what: "`rate.check` with key and model limits on requests and tokens per minute: four scripts in parallel",
        call: async () => void (await governance.rate.check({ keyId, keyRpm: 100_000_000, keyTpm: 2_000_000_000, model: "glm-5.1", modelRpm: glm.rpm, modelTpm: glm.tpm, tokens: 40 })),
      },
      { name: "rate limit, requests only", what: "`rate.check` with one requests-per-minute limit", call: async () => void (await governance.rate.check({ keyId, keyRpm: 100_000_000, model: "glm-5.1", tokens: 40 })) },
      { name: "rate limit, tokens only", what: "`rate.check` with one tokens-per-minute limit", call: async () => void (await governance.rate.check({ keyId, keyTpm: 2_000_000_000, model: "glm-5.1", tokens: 40 })) },
      {
        name: "concurrency slot",
        what: "`concurrency.acquire` (cap 1,000, never full) + `release`",
        call: async () => (await governance.concurrency.acquire({ model: "glm-5.1", cap: 1000, keyId, maxWaitMs: 10_000, maxQueue: 100 })).release(),
      },
      { name: "health order", what: "`health.order` of `glm-5.1` and its fallback `glm-4.7`", call: async () => void (await governance.health.order(["glm-5.1", "glm-4.7"])) },
      { name: "health record", what: "`health.record` of a success (off the request path in the gateway)", call: async () => governance.health.record("glm-5.1", { ok: true, latencyMs: 1 }) },
    ];
    return steps.map((step) => ({ ...step, via }));
  };
  const budgetSteps: Step[] = [
    {
      name: "budget hold + settle",
      what: "`BudgetLedger.reserve` then `settle` on the key's budget (and the family's, absent): two Postgres round trips, each a transaction taking the key's budget row lock",
      call: async () => ledger.settle(await ledger.reserve(budgets, 0.03), budgets, 0.0001),
    },
    { name: "budget hold only", what: "`BudgetLedger.reserve` (the part on the request path; settle runs after the answer)", call: async () => void (await ledger.reserve(budgets, 0.000001)) },
    {
      name: "budget hold + settle, sliced",
      what: "the same two calls on a ledger that listens for budget changes, as a Node gateway's does: admitted on this process's slice of the budget in memory; Postgres sees one transaction per ~100 ms (spend written, slice resized) or when the slice runs low",
      call: async () => sliced.settle(await sliced.reserve(budgets, 0.03), budgets, 0.0001),
    },
  ].map((step) => ({ ...step, via: "Postgres" as const }));
  const rest = redisSteps("REST", upstash.redis, () => upstash.redis.ping());
  const nativeSteps = redisSteps("native", native, () => native.ping());
  // Each Redis step through REST then natively, side by side; budget steps last.
  const steps: Step[] = [...rest.flatMap((step, i) => [step, nativeSteps[i]!]), ...budgetSteps];

  // Warm-up: JIT, connection pools, Redis scripts loaded.
  for (const step of steps) for (let i = 0; i < 200; i++) await step.call(-1 - i);
  const results = new Map<Step, { p50: number[]; p99: number[]; rps: number[] }>(steps.map((s) => [s, { p50: [], p99: [], rps: [] }]));
  for (let run = 0; run < RUNS; run++) {
    for (const step of steps) {
      const times = await sequential(step, (run * 2 + 0) * CALLS * 10);
      const rps = await concurrent(step, (run * 2 + 1) * CALLS * 10);
      const r = results.get(step)!;
      r.p50.push(percentile(times, 50));
      r.p99.push(percentile(times, 99));
      r.rps.push(rps);
      log(`[run ${run + 1}/${RUNS}] ${step.name} (${step.via}): p50 ${percentile(times, 50).toFixed(3)} ms, p99 ${percentile(times, 99).toFixed(3)} ms, ${rps.toFixed(0)} calls/s at ${CONCURRENCY} in flight`);
    }
  }

  const [server] = await sql<{ server_version: string; sync: string }[]>`SELECT current_setting('server_version') AS server_version, current_setting('synchronous_commit') AS sync`;
  const rows = steps.map((s) => {
    const r = results.get(s)!;
    return `| ${s.name} | ${s.via} | ${s.what} | ${median(r.p50).toFixed(3)} | ${median(r.p99).toFixed(3)} | ${Math.round(median(r.rps)).toLocaleString("en-US")} (${r.rps.map((x) => Math.round(x).toLocaleString("en-US")).join(", ")}) |`;
  });
  const section = `${HEADING}

**Command** (needs the Postgres at \`TEST_DATABASE_URL\` or \`postgres://postgres@127.0.0.1:5432/postgres\`
and the Redis at \`TEST_REDIS_URL\` or \`redis://127.0.0.1:6379\`; about a minute):

\`\`\`
npm run bench:governance-steps${process.argv.length > 2 ? " --" : ""}${process.argv.length > 2 ? " " + process.argv.slice(2).join(" ") : ""}
\`\`\`

Host: ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? "unknown"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version},
Postgres ${server!.server_version} (synchronous_commit ${server!.sync}). Run on ${new Date().toISOString().slice(0, 10)}; 1-minute load average ${loadBefore.toFixed(1)} before and ${os.loadavg()[0]!.toFixed(1)} after.

**How it is measured.** Each governance step of the chat route, called on its own in one process
through the same functions the gateway calls (\`createGovernance\` over the real Redis, once
through the local Upstash REST server, in its own process, as the Worker and a Node gateway with
\`UPSTASH_*\` reach it ("REST"), and once over one native connection with commands in flight together, as a
Node gateway with \`REDIS_URL\` does ("native", \`edge/store/native-redis.ts\`); \`BudgetLedger\` on a fresh Postgres database),
with the limits of the governed gateway benchmark (\`bench/gateway/config.ts\`), so nothing is
ever refused. Per step: ${CALLS.toLocaleString("en-US")} calls one after another (p50 and p99 of each call's time), then
${CALLS.toLocaleString("en-US")} calls with ${CONCURRENCY} in flight at once (the gateway's saturation load), reported as calls per
second. Every prompt, cache key and budget hold is new. Medians of ${RUNS} runs after a 200-call
warm-up per step; the throughput of each run is in brackets. This measures what a step costs by
itself on this machine; in the gateway a request runs the cache lookup, then rate limits, budget
hold, health order and slot at once (their Redis commands in one pipeline), then after the answer
slot release, health record, budget settle and cache write, and they share the cores with
everything else.

| step | store | what one call does | p50 ms | p99 ms | calls/s at ${CONCURRENCY} in flight (per run) |
|---|---|---|---|---|---|
${rows.join("\n")}
`;
  process.stdout.write(section);
  if (WRITE) await replaceSection(HEADING, section);
  await slicing.unlisten();
} finally {
  await sql.end();
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await upstash.redis.scan(cursor, { match: `${namespace}:*`, count: 1000 });
    keys.push(...found);
    cursor = String(next);
  } while (cursor !== "0");
  for (let i = 0; i < keys.length; i += 500) await upstash.redis.del(...keys.slice(i, i + 500));
  await native.close();
  await upstash.stop();
  await db.drop();
}
