// Where the one-client tail comes from: sequential requests over one keep-alive connection,
// every latency kept, to the simulator directly, through Portkey and through godotz, in turns.
// It prints how many requests of each target were slow (over 2 ms), next to p50/p99/p99.9.
// When the share of slow requests is alike for both gateways and far above the direct path's,
// the tail is the OS scheduling the extra process hop, not either gateway's code.
//   npm run bench:gateway-tail [-- --runs=3 --requests=5000]
import http from "node:http";
import { startPortkey, startServe, type Child } from "./servers.ts";
import { REQUEST_BODY } from "./requests.ts";
import { freshDatabase } from "../../test/helpers/db.ts";

const option = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const RUNS = option("runs", 3);
const REQUESTS = option("requests", 5000);
const SLOW_MS = 2;
const MASTER_KEY = "gdzm_bench_" + crypto.randomUUID();

interface Target { name: string; url: string; headers: Record<string, string> }
interface Tail { p50: number; p99: number; p999: number; slowShare: number }

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function once(target: Target): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = http.request(target.url, { method: "POST", agent, headers: { "content-type": "application/json", ...target.headers } }, (response) => {
      if (response.statusCode !== 200) reject(new Error(`${target.name} answered HTTP ${response.statusCode}`));
      response.resume();
      response.on("end", () => resolve(performance.now() - started));
    });
    request.on("error", reject);
    request.end(REQUEST_BODY);
  });
}

async function measure(target: Target): Promise<Tail> {
  for (let i = 0; i < 500; i++) await once(target);
  const latencies: number[] = [];
  for (let i = 0; i < REQUESTS; i++) latencies.push(await once(target));
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), slowShare: latencies.filter((l) => l > SLOW_MS).length / latencies.length };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const db = await freshDatabase("godotz_bench_tail");
const children: Child[] = [];
try {
  const sim = await startServe(["simulator"]);
  children.push(sim);
  const portkey = await startPortkey();
  children.push(portkey);
  const godotz = await startServe(["godotz", sim.url, db.url], { GODOTZ_MASTER_KEY: MASTER_KEY });
  children.push(godotz);
  const created = await fetch(`${godotz.url}/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench-tail" }),
  });
  const { key } = (await created.json()) as { key: string };
  const targets: Target[] = [
    { name: "direct", url: `${sim.url}/openai/v1/chat/completions`, headers: { authorization: "Bearer simulated" } },
    { name: "portkey", url: `${portkey.url}/v1/chat/completions`, headers: { authorization: "Bearer simulated", "x-portkey-provider": "openai", "x-portkey-custom-host": `${sim.url}/openai/v1` } },
    { name: "godotz", url: `${godotz.url}/v1/chat/completions`, headers: { authorization: `Bearer ${key}` } },
  ];
  const results = new Map<string, Tail[]>(targets.map((t) => [t.name, []]));
  for (let run = 1; run <= RUNS; run++) {
    for (const target of targets) {
      const tail = await measure(target);
      results.get(target.name)!.push(tail);
      process.stderr.write(`[run ${run}/${RUNS}] ${target.name}: p50 ${tail.p50.toFixed(2)} ms, p99 ${tail.p99.toFixed(2)} ms, slow ${(tail.slowShare * 100).toFixed(1)}%\n`);
    }
  }
  console.log(`| target | p50 ms | p99 ms | p99.9 ms | requests over ${SLOW_MS} ms (per run) |`);
  console.log("|---|---|---|---|---|");
  for (const [name, tails] of results) {
    const pct = (t: Tail) => `${(t.slowShare * 100).toFixed(1)}%`;
    console.log(`| ${name} | ${median(tails.map((t) => t.p50)).toFixed(2)} | ${median(tails.map((t) => t.p99)).toFixed(2)} | ${median(tails.map((t) => t.p999)).toFixed(2)} | ${pct({ ...tails[0]!, slowShare: median(tails.map((t) => t.slowShare)) })} (${tails.map(pct).join(", ")}) |`);
  }
} finally {
  for (const child of children.reverse()) await child.stop();
  agent.destroy();
  await db.drop();
}
