// Response cache at the module level: a repeated-prompt workload (half the requests repeat an
// earlier prompt) through the cache's own functions (policy, key, store, replay), against Redis
// (the local Upstash REST server in front of the real Redis, in its own process) and the
// in-memory store. Hit rate against the theoretical maximum, lookup and hit latency, median of RUNS.
//   node --import tsx bench/cache/run.ts [--runs=3 --distinct=1000 --repeats=1000 --warmup=2000 --no-write]
// Figures go to docs/benchmarks.md, section "Response cache: hit rate and lookup latency".
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { PerformanceObserver } from "node:perf_hooks";
import { cacheDecision } from "../../edge/cache/policy.ts";
import { cacheKey } from "../../edge/cache/key.ts";
import { createResponseCache, type ResponseCache } from "../../edge/cache/store.ts";
import { replayResponse } from "../../edge/cache/replay.ts";
import { startUpstash } from "../../test/helpers/upstash.ts";
import { benchRequest, median, percentile, random, repeatedPromptWorkload, upstreamAnswer, type Workload } from "./workload.ts";

const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const RUNS = arg("runs", 3);
const DISTINCT = arg("distinct", 1000);
const REPEATS = arg("repeats", 1000);
const WARMUP = 2 * Math.round(arg("warmup", 2000) / 2);
const WRITE = !process.argv.includes("--no-write");
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const POLICY = { ttlSeconds: 3600, deterministicOnly: true };
const HEADING = "## Response cache: hit rate and lookup latency";
const log = (line: string) => process.stderr.write(line + "\n");

interface RunResult {
  hits: number;
  total: number;
  /** policy + key + store get, every request. */
  lookup: number[];
  /** lookup + the replayed body read to the end (JSON or SSE), hits only: what a hit costs. */
  hit: number[];
  /** store set after a miss (off the client's path once the answer is sent). */
  set: number[];
  /** Pauses of this process's garbage collector during the run, ms. */
  gc: number[];
}

/** GC pauses as they happen, so a latency tail can be told apart from the store's own. */
const gcPauses: number[] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPauses.push(entry.duration);
}).observe({ entryTypes: ["gc"] });

async function runOnce(cache: ResponseCache, workload: Workload, scope: string): Promise<RunResult> {
  const result: RunResult = { hits: 0, total: 0, lookup: [], hit: [], set: [], gc: [] };
  const gcBefore = gcPauses.length;
  for (const [i, prompt] of workload.sequence.entries()) {
    const req = benchRequest(prompt, i);
    const start = performance.now();
    if (cacheDecision(req, {}, POLICY) !== "lookup") throw new Error("the workload must be cacheable");
    const key = await cacheKey(req, scope);
    const answer = await cache.get(key);
    const looked = performance.now();
    result.lookup.push(looked - start);
    result.total++;
    if (answer) {
      await replayResponse(answer, req, { id: `chatcmpl-bench-${i}`, created: Math.floor(Date.now() / 1000) }).text();
      result.hit.push(performance.now() - start);
      result.hits++;
    } else {
      const setStart = performance.now();
      await cache.set(key, upstreamAnswer(prompt), POLICY.ttlSeconds);
      result.set.push(performance.now() - setStart);
    }
  }
  // Observer entries are delivered asynchronously; let them arrive before counting.
  await new Promise((resolve) => setTimeout(resolve, 10));
  result.gc = gcPauses.slice(gcBefore);
  return result;
}

interface Summary {
  store: string;
  hitRate: number[];
  lookupP50: number;
  lookupP99: number;
  hitP50: number;
  hitP99: number;
  setP99: number;
  gcCount: number;
  gcP50: number;
  slowHits: number;
}

async function bench(store: string, makeCache: (run: number) => ResponseCache, workload: Workload): Promise<Summary> {
  // Warm-up: JIT, the REST connection pool, Redis itself; its keys are in a scope of their own.
  await runOnce(makeCache(-1), repeatedPromptWorkload(WARMUP / 2, WARMUP / 2, random(99)), `warmup-${crypto.randomUUID()}`);
  const runs: RunResult[] = [];
  for (let run = 0; run < RUNS; run++) {
    const result = await runOnce(makeCache(run), workload, `bench-${crypto.randomUUID()}`);
    runs.push(result);
    log(`${store} run ${run + 1}: hit rate ${(result.hits / result.total).toFixed(4)}, lookup p50 ${percentile(result.lookup, 50).toFixed(3)} p99 ${percentile(result.lookup, 99).toFixed(3)} ms, hit p99 ${percentile(result.hit, 99).toFixed(3)} ms`);
  }
  return {
    store,
    hitRate: runs.map((r) => r.hits / r.total),
    lookupP50: median(runs.map((r) => percentile(r.lookup, 50))),
    lookupP99: median(runs.map((r) => percentile(r.lookup, 99))),
    hitP50: median(runs.map((r) => percentile(r.hit, 50))),
    hitP99: median(runs.map((r) => percentile(r.hit, 99))),
    setP99: median(runs.map((r) => percentile(r.set, 99))),
    gcCount: median(runs.map((r) => r.gc.length)),
    gcP50: median(runs.map((r) => median(r.gc))),
    slowHits: median(runs.map((r) => r.hit.filter((t) => t >= 5).length)),
  };
}

const ms = (x: number) => x.toFixed(3);

function section(summaries: Summary[], workload: Workload): string {
  const total = workload.sequence.length;
  const maximum = workload.repeats / total;
  const rows = summaries.map((s) => {
    const rate = median(s.hitRate);
    return `| ${s.store} | ${rate.toFixed(4)} (${s.hitRate.map((r) => r.toFixed(4)).join(", ")}) | ${maximum.toFixed(4)} | ${rate >= maximum ? "yes" : "**no**"} | ${ms(s.lookupP50)} / ${ms(s.lookupP99)} | ${ms(s.hitP50)} / ${ms(s.hitP99)} | ${s.hitP99 < 5 ? "yes" : "**no**"} | ${ms(s.setP99)} | ${s.slowHits} | ${s.gcCount} × ${s.gcP50.toFixed(1)} ms |`;
  });
  return `${HEADING}

**Command** (needs the Redis at \`TEST_REDIS_URL\` or \`redis://127.0.0.1:6379\`; starts the local
Upstash REST server in front of it in a child process; about 10 s):

\`\`\`
node --import tsx bench/cache/run.ts
\`\`\`

Host: ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? "unknown"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}. Run on ${new Date().toISOString().slice(0, 10)}.

**What is measured.** The cache modules alone (\`edge/cache/\`), not the gateway: the end-to-end
figure through the gateway comes with the route. The workload is ${total.toLocaleString("en-US")} chat requests at temperature 0:
${workload.distinct.toLocaleString("en-US")} distinct prompts once each and ${workload.repeats.toLocaleString("en-US")} repeats of prompts seen earlier, interleaved at random
(seeded) so each repeat comes after its first occurrence; every other request is streamed and a
quarter ask \`include_usage\` (the stream flag is not in the key, so a streamed repeat hits an answer
stored by a plain request). Per request: \`cacheDecision\`, \`cacheKey\` (SHA-256 of the canonical
request), \`get\`; on a miss the upstream is simulated by storing a 1.1 KB answer with \`set\`; on a
hit the answer is replayed (\`replayResponse\`) and its body, JSON or SSE, read to the end. The
theoretical maximum hit rate is repeats / total = ${maximum.toFixed(4)}. Each run uses a fresh scope
(Redis) or a fresh store (memory), after a ${WARMUP.toLocaleString("en-US")}-request warm-up. The Redis store talks to the real
Redis through the local Upstash REST server (\`edge/store/local-upstash.ts\`: HTTP on loopback, one
more process); Upstash in production adds the network round trip to its region.

Medians of ${summaries[0]?.hitRate.length ?? RUNS} runs (per-run hit rates in brackets). "lookup" is decision + key + \`get\`, every
request; "hit" is lookup + replay read to the end, hits only: the time a cached answer takes.
"GC pauses" are this process's garbage-collector pauses during a run: a pause that lands on a
request adds to its latency, so when they are as long as the tail, they explain it.

| store | hit rate | maximum | at maximum | lookup p50 / p99 ms | hit p50 / p99 ms | hit p99 < 5 ms | set p99 ms | hits ≥ 5 ms | GC pauses in the run (count × median) |
|---|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}
`;
}

async function writeSection(text: string): Promise<void> {
  const docPath = fileURLToPath(new URL("../../docs/benchmarks.md", import.meta.url));
  const doc = await readFile(docPath, "utf8");
  const start = doc.indexOf(HEADING);
  const next = start < 0 ? -1 : doc.indexOf("\n## ", start + HEADING.length);
  const updated = start < 0 ? `${doc.trimEnd()}\n\n${text}` : doc.slice(0, start) + text + (next < 0 ? "" : doc.slice(next));
  await writeFile(docPath, updated);
}

const workload = repeatedPromptWorkload(DISTINCT, REPEATS, random(2026));
const upstash = await startUpstash(REDIS_URL);
const prefix = `godotz:bench:cache:${crypto.randomUUID()}:`;
try {
  const summaries = [
    await bench("Redis (local Upstash REST → Redis)", () => createResponseCache(upstash.redis, { prefix }), workload),
    await bench("in-memory (no Redis, one process)", () => createResponseCache(undefined, { maxEntries: 10_000 }), workload),
  ];
  const text = section(summaries, workload);
  process.stdout.write(text);
  if (WRITE) await writeSection(text);
} finally {
  const keys = await upstash.redis.keys(`${prefix}*`);
  for (let i = 0; i < keys.length; i += 500) await upstash.redis.del(...keys.slice(i, i + 500));
  await upstash.stop();
}
