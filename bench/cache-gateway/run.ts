// The response cache end to end, through the governed gateway (every governance step on, state in
// the real Redis over a native connection as a Node gateway with REDIS_URL has it, or with
// --store=rest through the local Upstash REST server as the Worker reaches it; budgets and audit in Postgres): a
// repeated-prompt workload, half the requests repeating an earlier prompt, at temperature 0.
// Hit rate from the gateway's x-godotz-cache header against the theoretical maximum, and the
// latency of hits as the client sees them; median of RUNS runs, each with a fresh virtual key
// (the cache is partitioned per key, so each run starts cold).
//   npm run bench:cache-gateway [-- --runs=3 --distinct=1000 --repeats=1000 --store=native|rest --no-write]
// Figures go to docs/benchmarks.md, section "Response cache through the gateway".
import http from "node:http";
import os from "node:os";
import { freshDatabase } from "../../test/helpers/db.ts";
import { startLocalUpstash } from "../../edge/store/local-upstash.ts";
import { NativeRedis } from "../../edge/store/native-redis.ts";
import { startServe, type Child } from "../gateway/servers.ts";
import { replaceSection } from "../gateway/report.ts";
import { median, percentile, random, repeatedPromptWorkload, type Workload } from "../cache/workload.ts";

const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const RUNS = arg("runs", 3);
const DISTINCT = arg("distinct", 1000);
const REPEATS = arg("repeats", 1000);
const WRITE = !process.argv.includes("--no-write");
const STORE = process.argv.find((a) => a.startsWith("--store="))?.split("=")[1] ?? "native";
if (STORE !== "native" && STORE !== "rest") throw new Error(`--store is native or rest, not "${STORE}"`);
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const MASTER_KEY = "gdzm_bench_" + crypto.randomUUID();
const HEADING = "## Response cache through the gateway";
const log = (line: string) => process.stderr.write(line + "\n");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** One request over a kept-alive connection; the time runs until the last byte of the body. */
function post(url: string, key: string, body: string): Promise<{ status: number; cache: string | undefined; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = http.request(url, { method: "POST", agent, headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      res.on("data", () => {});
      res.once("end", () => resolve({ status: res.statusCode ?? 0, cache: res.headers["x-godotz-cache"] as string | undefined, ms: performance.now() - start }));
      res.once("error", reject);
    });
    req.once("error", reject);
    req.end(body);
  });
}

/** Prompt `prompt`, request number `i`: every other request streamed (the stream flag is not part of the cache key). */
const requestBody = (prompt: number, i: number) =>
  JSON.stringify({
    model: "glm-5.1",
    temperature: 0,
    stream: i % 2 === 1,
    messages: [{ role: "user", content: `Question ${prompt}: what is a response cache in an LLM gateway for? (example ${prompt * 7919})` }],
  });

async function createKey(gatewayUrl: string, name: string): Promise<string> {
  const res = await fetch(`${gatewayUrl}/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ name, budget_usd: 100_000, budget_period: "daily", rpm: 100_000_000, tpm: 2_000_000_000 }),
  });
  if (res.status !== 201) throw new Error(`creating a key failed: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { key: string }).key;
}

interface RunResult {
  hits: number;
  misses: number;
  other: number;
  failed: number;
  hit: number[];
  miss: number[];
  /** Repeats answered as a miss: which request they repeated and how many requests later. */
  missedRepeats: number[];
}

async function runOnce(url: string, key: string, workload: Workload): Promise<RunResult> {
  const r: RunResult = { hits: 0, misses: 0, other: 0, failed: 0, hit: [], miss: [], missedRepeats: [] };
  const lastSeen = new Map<number, number>();
  for (const [i, prompt] of workload.sequence.entries()) {
    const res = await post(url, key, requestBody(prompt, i));
    if (res.status !== 200) r.failed++;
    if (res.cache === "hit") {
      r.hits++;
      r.hit.push(res.ms);
    } else if (res.cache === "miss") {
      r.misses++;
      r.miss.push(res.ms);
      if (lastSeen.has(prompt)) r.missedRepeats.push(i - lastSeen.get(prompt)!);
    } else r.other++;
    lastSeen.set(prompt, i);
  }
  return r;
}

const loadBefore = os.loadavg()[0]!;
const children: Child[] = [];
const db = await freshDatabase("godotz_bench_cache");
const namespace = `godotz-bench-cache-${crypto.randomUUID()}`;
const upstash = STORE === "rest" ? await startLocalUpstash({ redisUrl: REDIS_URL }) : undefined;
try {
  const sim = await startServe(["simulator"]);
  children.push(sim);
  const store: Record<string, string> = upstash ? { UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token } : { REDIS_URL };
  const env = { GODOTZ_MASTER_KEY: MASTER_KEY, GODOTZ_REDIS_NAMESPACE: namespace, ...store };
  const gateway = await startServe(["governed", sim.url, db.url], env);
  children.push(gateway);
  const url = `${gateway.url}/v1/chat/completions`;
  const workload = repeatedPromptWorkload(DISTINCT, REPEATS, random(2026));
  // Warm-up on a key of its own: JIT, connection pools, Redis scripts.
  await runOnce(url, await createKey(gateway.url, "warm-up"), repeatedPromptWorkload(200, 200, random(99)));
  const runs: RunResult[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const r = await runOnce(url, await createKey(gateway.url, `cache-run-${run}`), workload);
    runs.push(r);
    log(`run ${run}: ${r.hits} hits, ${r.misses} misses, ${r.other} other, ${r.failed} failed; hit p50 ${percentile(r.hit, 50).toFixed(3)} ms p99 ${percentile(r.hit, 99).toFixed(3)} ms; miss p50 ${percentile(r.miss, 50).toFixed(3)} ms`);
  }
  const total = workload.sequence.length;
  const maximum = workload.repeats / total;
  const rates = runs.map((r) => r.hits / total);
  const rate = median(rates);
  const hitP50 = median(runs.map((r) => percentile(r.hit, 50)));
  const hitP99 = median(runs.map((r) => percentile(r.hit, 99)));
  const missP50 = median(runs.map((r) => percentile(r.miss, 50)));
  const missP99 = median(runs.map((r) => percentile(r.miss, 99)));
  const missed = runs.flatMap((r) => r.missedRepeats);
  const section = `${HEADING}

**Command** (starts the simulator and the governed gateway of "Gateway with governance on", which
reaches the Redis at \`TEST_REDIS_URL\` or \`redis://127.0.0.1:6379\` over ${STORE === "rest" ? "the local Upstash REST server (`--store=rest`)" : "one native connection (`REDIS_URL`, as a Node gateway does; `--store=rest` puts the local Upstash REST server in between, as on a Worker)"},
on a fresh database on the Postgres at \`TEST_DATABASE_URL\` or
\`postgres://postgres@127.0.0.1:5432/postgres\`; about a minute):

\`\`\`
npm run bench:cache-gateway${process.argv.length > 2 ? " -- " + process.argv.slice(2).join(" ") : ""}
\`\`\`

Host: ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? "unknown"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}. Run on ${new Date().toISOString().slice(0, 10)};
1-minute load average ${loadBefore.toFixed(1)} before and ${os.loadavg()[0]!.toFixed(1)} after.

**What is measured.** The workload of "Response cache: hit rate and lookup latency" (same
generator and seed: ${DISTINCT.toLocaleString("en-US")} distinct prompts once each and ${REPEATS.toLocaleString("en-US")} repeats of prompts seen earlier, interleaved at
random, each repeat after its first occurrence; temperature 0; every other request streamed), sent
over HTTP to the governed gateway (\`bench/gateway/serve.ts governed\`: cache, rate limits, budget
hold, concurrency slots, health ordering in Redis, budget slices and audit in Postgres) by one client over one
kept-alive connection, each request sent when the previous answer has been read to its end.
Each run uses a new virtual key, so it starts with an empty cache (answers are cached per key). A
request counts as a hit or a miss by the \`x-godotz-cache\` header of its answer; the theoretical
maximum hit rate is repeats / total = ${maximum.toFixed(4)}. Latency is the client's: from sending the request to the
last byte of the answer (the whole SSE stream for streamed requests), over loopback. Medians of ${RUNS}
runs after a 400-request warm-up on another key.

| hit rate (per run) | maximum | at maximum | hit p50 / p99 ms | hit p99 < 5 ms | miss p50 / p99 ms (upstream = simulator) | failed | repeats answered as a miss |
|---|---|---|---|---|---|---|---|
| ${rate.toFixed(4)} (${rates.map((x) => x.toFixed(4)).join(", ")}) | ${maximum.toFixed(4)} | ${rate >= maximum ? "yes" : "**no**"} | ${hitP50.toFixed(3)} / ${hitP99.toFixed(3)} | ${hitP99 < 5 ? "yes" : "**no**"} | ${missP50.toFixed(3)} / ${missP99.toFixed(3)} | ${runs.reduce((a, r) => a + r.failed, 0)} | ${missed.length}${missed.length ? ` (requests after the previous occurrence: ${missed.slice(0, 10).join(", ")})` : ""} |
`;
  process.stdout.write(section);
  if (WRITE) await replaceSection(HEADING, section);
} finally {
  for (const child of children.reverse()) await child.stop();
  const redis = new NativeRedis(REDIS_URL);
  const keys = await redis.keys(`${namespace}:*`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  await redis.close();
  await upstash?.close();
  await db.drop();
  agent.destroy();
}
