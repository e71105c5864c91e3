// Gateway overhead: the same chat request, in one run, sent directly to the simulated upstream,
// through Portkey's open-source gateway (no auth, budgets or audit), through godotz (Node entry,
// audit on, a real virtual key) and through godotz with every governance step on ("governed":
// cache misses, rate limits, budget hold and settle, concurrency slots and health ordering, all
// shared through the real Redis, plus the audit). Four loads (load.ts), RUNS runs, medians and ratios.
//   npm run bench:gateway [-- --runs=3 --seconds=10 --one-client=2000 --targets=direct,portkey,godotz,governed --governed-store=native --no-write --loads=500-rps]
// --governed-store: how the governed gateway reaches Redis: "native" (REDIS_URL, a native
// connection, the default) or "rest" (the local Upstash REST server, as before the native client).
// Figures go to docs/benchmarks.md (sections "Gateway overhead: godotz vs Portkey" and "Gateway
// with governance on: godotz vs Portkey") and raw JSON to bench/gateway/results/ (git-ignored).
// Set BENCH_CPU_PROF=<dir> to profile the godotz children.
// --pin (an experiment, 2+ CPUs): every gateway on the last CPU, the simulator and the load
// generators (this process, so also its open-loop children) on the others; Postgres is left free.
// A pinned run never writes docs/benchmarks.md.
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { freshDatabase } from "../../test/helpers/db.ts";
import { startLocalUpstash } from "../../edge/store/local-upstash.ts";
import { NativeRedis } from "../../edge/store/native-redis.ts";
import { startPortkey, startServe, type Child } from "./servers.ts";
import { cpuMs, cpuPerRequest, redisPid } from "./cpu.ts";
import { TARGET_NAMES, loads, measure, type Measurement, type Target, type TargetName } from "./load.ts";
import { requestBodies } from "./requests.ts";
import { generatorFacts, machineFacts, summarise, writeSection } from "./report.ts";
import { writeGovernedSection, type GovernedFacts } from "./report-governed.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const arg = (name: string, fallback: number) => Number(option(name) ?? fallback);
const RUNS = arg("runs", 3);
const SECONDS = arg("seconds", 10);
const ONE_CLIENT = arg("one-client", 2000);
const PIN = process.argv.includes("--pin");
// --loads=500-rps,one-client: only those loads (experiments; such a run never writes the docs).
const ONLY_LOADS = option("loads")?.split(",");
// A pinned run is an experiment beside the figures in docs/benchmarks.md, never in their place.
const WRITE = !process.argv.includes("--no-write") && !PIN && !ONLY_LOADS;
const GOVERNED_STORE = option("governed-store") ?? "native";
if (GOVERNED_STORE !== "native" && GOVERNED_STORE !== "rest") throw new Error(`--governed-store is native or rest, not "${GOVERNED_STORE}"`);
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const MASTER_KEY = "gdzm_bench_" + crypto.randomUUID();
const log = (line: string) => process.stderr.write(line + "\n");

// The direct path is every run's baseline ("p99 added"), so it is always measured.
const DEFAULT_TARGETS: TargetName[] = ["portkey", "godotz", "governed"];
const SELECTED = new Set<TargetName>(["direct", ...((option("targets")?.split(",") ?? DEFAULT_TARGETS) as TargetName[])]);
// --targets=…,governed-base (an A/B experiment): also the governed gateway of the checkout at
// BENCH_BASE_TREE (its own bench/gateway/serve.ts and edge/), same settings, its own key and namespace.
const BASE_TREE = process.env.BENCH_BASE_TREE;
if (SELECTED.has("governed-base") && !BASE_TREE) throw new Error("the governed-base target needs BENCH_BASE_TREE=<another checkout>");
for (const name of SELECTED) if (!TARGET_NAMES.includes(name)) throw new Error(`unknown target "${name}" (known: ${TARGET_NAMES.join(", ")})`);

export type RunResults = Record<string, Partial<Record<TargetName, Measurement>>>;

async function createVirtualKey(gatewayUrl: string, fields: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const response = await fetch(`${gatewayUrl}/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(fields),
  });
  if (response.status !== 201) throw new Error(`creating the virtual key failed: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as { id: string; key: string };
}

/** One request per target before any load: each must answer 200 with a completion (and the governed one a cache miss). */
async function check(target: Target): Promise<void> {
  const response = await fetch(target.url, { method: "POST", headers: { "content-type": "application/json", ...target.headers }, body: requestBodies(target.uniqueBodies ? "unique" : "fixed")() });
  const body = (await response.json()) as { choices?: unknown[] };
  if (response.status !== 200 || !body.choices?.length) throw new Error(`${target.name} answered HTTP ${response.status}: ${JSON.stringify(body)}`);
  if (target.name === "governed" && response.headers.get("x-godotz-cache") !== "miss") throw new Error(`governed answered x-godotz-cache: ${response.headers.get("x-godotz-cache")}`);
}

/** The --pin experiment: gateways on the last CPU, everything that makes load on the others (taskset, all threads). */
function pinCpus(simulator: number, gateways: number[]): void {
  const cpus = os.availableParallelism();
  if (cpus < 2) throw new Error("--pin needs at least 2 CPUs");
  const rest = `0-${cpus - 2}`;
  const pin = (list: string, pid: number) => execFileSync("taskset", ["-a", "-p", "-c", list, String(pid)], { stdio: "ignore" });
  for (const pid of gateways) pin(String(cpus - 1), pid);
  for (const pid of [simulator, process.pid]) pin(rest, pid);
  log(`pinned: gateways (pids ${gateways.join(", ")}) on CPU ${cpus - 1}; simulator and load generators on CPU ${rest}`);
}

const loadBefore = os.loadavg()[0]!;
const children: Child[] = [];
const db = await freshDatabase("godotz_bench");
const namespace = `godotz-bench-${crypto.randomUUID()}`;
let upstash: Awaited<ReturnType<typeof startLocalUpstash>> | undefined;
try {
  const profDir = process.env.BENCH_CPU_PROF;
  // BENCH_GATEWAY_NODE_FLAGS: V8/Node flags for the godotz gateway processes only (experiments).
  const extraFlags = (process.env.BENCH_GATEWAY_NODE_FLAGS ?? "").split(" ").filter(Boolean);
  const profFlags = (name: string) => [...extraFlags, ...(profDir ? ["--cpu-prof", `--cpu-prof-dir=${path.join(profDir, name)}`] : [])];
  const sim = await startServe(["simulator"]);
  children.push(sim);
  const targets: Target[] = [{ name: "direct", url: `${sim.url}/openai/v1/chat/completions`, headers: { authorization: "Bearer simulated" }, pid: sim.pid }];
  const pids: string[] = [`simulator ${sim.url} (pid ${sim.pid})`];
  if (SELECTED.has("portkey")) {
    const portkey = await startPortkey();
    children.push(portkey);
    pids.push(`Portkey ${portkey.url} (pid ${portkey.pid})`);
    targets.push({
      name: "portkey",
      url: `${portkey.url}/v1/chat/completions`,
      headers: { authorization: "Bearer simulated", "x-portkey-provider": "openai", "x-portkey-custom-host": `${sim.url}/openai/v1` },
      pid: portkey.pid,
    });
  }
  let godotz: Child | undefined;
  if (SELECTED.has("godotz")) {
    godotz = await startServe(["godotz", sim.url, db.url], { GODOTZ_MASTER_KEY: MASTER_KEY }, profFlags("godotz"));
    children.push(godotz);
    pids.push(`godotz ${godotz.url} (pid ${godotz.pid})`);
    const { key } = await createVirtualKey(godotz.url, { name: "bench" });
    targets.push({ name: "godotz", url: `${godotz.url}/v1/chat/completions`, headers: { authorization: `Bearer ${key}` }, pid: godotz.pid });
  }
  let governed: (Child & { keyId: string }) | undefined;
  if (SELECTED.has("governed")) {
    let store: Record<string, string> = { REDIS_URL };
    if (GOVERNED_STORE === "rest") {
      upstash = await startLocalUpstash({ redisUrl: REDIS_URL });
      store = { UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token };
    }
    const env = { GODOTZ_MASTER_KEY: MASTER_KEY, GODOTZ_REDIS_NAMESPACE: namespace, ...store };
    const child = await startServe(["governed", sim.url, db.url], env, profFlags("governed"));
    children.push(child);
    pids.push(`godotz governed ${child.url} (pid ${child.pid}), ${upstash ? `local Upstash ${upstash.url}` : "native Redis connection"}`);
    // A budget and limits that every request is held and counted against, and none reaches.
    const { id, key } = await createVirtualKey(child.url, { name: "bench-governed", budget_usd: 100_000, budget_period: "daily", rpm: 100_000_000, tpm: 2_000_000_000 });
    governed = { ...child, keyId: id };
    targets.push({ name: "governed", url: `${child.url}/v1/chat/completions`, headers: { authorization: `Bearer ${key}` }, uniqueBodies: true, pid: child.pid });
  }
  if (SELECTED.has("governed-base")) {
    const env = { GODOTZ_MASTER_KEY: MASTER_KEY, GODOTZ_REDIS_NAMESPACE: `${namespace}-base`, REDIS_URL };
    const child = await startServe(["governed", sim.url, db.url], env, profFlags("governed-base"), path.join(BASE_TREE!, "bench/gateway/serve.ts"));
    children.push(child);
    pids.push(`godotz governed from ${BASE_TREE} ${child.url} (pid ${child.pid})`);
    const { key } = await createVirtualKey(child.url, { name: "bench-governed-base", budget_usd: 100_000, budget_period: "daily", rpm: 100_000_000, tpm: 2_000_000_000 });
    targets.push({ name: "governed-base", url: `${child.url}/v1/chat/completions`, headers: { authorization: `Bearer ${key}` }, uniqueBodies: true, pid: child.pid });
  }
  if (PIN) pinCpus(sim.pid, children.filter((c) => c !== sim).map((c) => c.pid));
  for (const target of targets) await check(target);
  log(`${pids.join(", ")}; warming up`);
  const served: Partial<Record<TargetName, number>> = { godotz: 1, governed: 1 };
  const count = (name: TargetName, m: Measurement) => (served[name] = (served[name] ?? 0) + m.requests);
  for (const target of targets) count(target.name, await measure(target, { name: "saturation", label: "warm-up", kind: "autocannon", options: { connections: 50, duration: 3 } }));

  // Per-request CPU in the log (not in the tables): each server's process, and Redis's.
  const redis = SELECTED.has("governed") || SELECTED.has("governed-base") ? await redisPid(REDIS_URL) : undefined;
  const plan = loads(SECONDS, ONE_CLIENT).filter((load) => !ONLY_LOADS || ONLY_LOADS.includes(load.name));
  if (plan.length === 0) throw new Error(`--loads matched none of ${loads(SECONDS, ONE_CLIENT).map((l) => l.name).join(", ")}`);
  const runs: RunResults[] = [];
  const gateways = targets.slice(1);
  for (let run = 1; run <= RUNS; run++) {
    const results: RunResults = {};
    // Direct first (it is the baseline of the run); the gateways take turns going first.
    const shift = (run - 1) % Math.max(gateways.length, 1);
    const order = [targets[0]!, ...gateways.slice(shift), ...gateways.slice(0, shift)];
    for (const load of plan) {
      results[load.name] = {};
      for (const target of order) {
        log(`[run ${run}/${RUNS}] ${load.name} → ${target.name} …`);
        const cpuBefore = [cpuMs(target.pid), cpuMs(redis)];
        const m = await measure(target, load);
        const cpu = [cpuMs(target.pid), cpuMs(redis)].map((after, i) => cpuPerRequest(cpuBefore[i], after, m.requests));
        results[load.name]![target.name] = m;
        count(target.name, m);
        const generator = m.sendLag ? `; ${m.connectionsOpened} connections, send lag p99 ${m.sendLag.p99.toFixed(2)} ms` : "";
        log(`    ${m.ok} ok, ${m.non2xx} non-2xx, ${m.errors} errors, ${m.rps.toFixed(0)} req/s, p50 ${m.p50.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms${generator}; CPU per request: server ${cpu[0]}, Redis ${cpu[1]}`);
      }
    }
    runs.push(results);
  }

  for (const child of [godotz, governed]) {
    if (!child) continue;
    await child.stop();
    children.splice(children.findIndex((c) => c.pid === child.pid), 1);
  }
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  const [server] = await sql<{ server_version: string }[]>`SHOW server_version`;
  const [audit] = await sql<{ count: number }[]>`SELECT count(*)::int AS count FROM audit_log WHERE key_id IS DISTINCT FROM ${governed?.keyId ?? ""}`;
  let governedFacts: GovernedFacts | undefined;
  if (governed) {
    const caches = await sql<{ cache: string; n: number }[]>`SELECT cache, count(*)::int AS n FROM audit_log WHERE key_id = ${governed.keyId} GROUP BY cache`;
    const [window] = await sql<{ spent: string; reserved: string }[]>`SELECT spent_usd AS spent, reserved_usd AS reserved FROM budget_windows WHERE budget_id = ${`key:${governed.keyId}`}`;
    const [audited] = await sql<{ cost: string }[]>`SELECT coalesce(sum(cost_usd), 0) AS cost FROM audit_log WHERE key_id = ${governed.keyId}`;
    governedFacts = {
      store: GOVERNED_STORE,
      responses: served.governed ?? 0,
      audit: Object.fromEntries(caches.map((r) => [r.cache, r.n])),
      spent: Number(window?.spent ?? 0),
      reserved: Number(window?.reserved ?? 0),
      auditedCost: Number(audited!.cost),
    };
  }
  await sql.end();

  const facts = { ...machineFacts(), postgres: server!.server_version, auditRows: audit!.count, godotzRequests: served.godotz ?? 0, loadBefore, loadAfter: os.loadavg()[0]!, generator: generatorFacts(runs) };
  const names = targets.map((t) => t.name);
  const summary = summarise(runs, plan, names);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  await mkdir(path.join(here, "results"), { recursive: true });
  const jsonPath = path.join(here, "results", `${stamp}.json`);
  await writeFile(jsonPath, JSON.stringify({ facts, governed: governedFacts, settings: { RUNS, SECONDS, ONE_CLIENT, targets: names }, runs, summary }, null, 2));
  const command = ["npm run bench:gateway", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" ");
  if (names.includes("portkey") && names.includes("godotz")) {
    process.stdout.write((await writeSection({ command, facts, plan, summary, runs: RUNS, write: WRITE })) + "\n");
  }
  if (names.includes("portkey") && governedFacts) {
    process.stdout.write((await writeGovernedSection({ command, facts, governed: governedFacts, plan, summary, runs: RUNS, write: WRITE })) + "\n");
  }
  log(`raw results: ${path.relative(process.cwd(), jsonPath)}${WRITE ? "; docs/benchmarks.md updated" : ""}`);
} finally {
  for (const child of children.reverse()) await child.stop();
  if (SELECTED.has("governed") || SELECTED.has("governed-base")) {
    const redis = new NativeRedis(REDIS_URL);
    const keys = [...(await redis.keys(`${namespace}:*`)), ...(await redis.keys(`${namespace}-base:*`))];
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    await redis.close();
  }
  await upstash?.close();
  await db.drop();
}
