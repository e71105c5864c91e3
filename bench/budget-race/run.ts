// The concurrent-budget race of test/budget/race.test.ts, as a benchmark with its numbers: two
// gateway processes (the `godotz gateway` CLI) on one database and one Redis, N requests fired at
// once, alternating between them, at a budget that covers only a few dozen of them.
//   npm run bench:budget-race [-- --runs=3 --requests=500 --cap=0.004 --no-write]
// Figures go to docs/benchmarks.md, section "Budget race: two gateways, one budget".
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os, { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { startSimulator } from "../../simulator/server.ts";
import { simulatedConfigYaml } from "../../cli/dev-config.ts";
import { startLocalUpstash } from "../../edge/store/local-upstash.ts";
import { connectRedis } from "../../edge/store/redis.ts";
import { freshDatabase } from "../../test/helpers/db.ts";
import { spawnGodotz, waitForOutput, type Spawned } from "../../test/helpers/process.ts";
import { replaceSection } from "../gateway/report.ts";

const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const RUNS = arg("runs", 3);
const REQUESTS = arg("requests", 500);
const CAP = arg("cap", 0.004);
const WRITE = !process.argv.includes("--no-write");
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const MASTER = "gdzm_budget_race_" + crypto.randomUUID().slice(0, 8);
const HEADING = "## Budget race: two gateways, one budget";
const log = (line: string) => process.stderr.write(line + "\n");

interface RaceResult {
  fired: number;
  served: number;
  refused: Record<string, number>;
  spent: number;
  reserved: number;
  auditCost: number;
  auditServed: number;
  seconds: number;
}

async function race(simulatorUrl: string, upstash: { url: string; token: string }, dir: string): Promise<RaceResult> {
  const db = await freshDatabase("godotz_bench_race");
  const gateways: Spawned[] = [];
  try {
    const env = {
      DATABASE_URL: db.url,
      GODOTZ_MASTER_KEY: MASTER,
      GODOTZ_SIMULATOR_KEY: "simulated",
      GODOTZ_HOME: path.join(dir, ".godotz"),
      UPSTASH_REDIS_REST_URL: upstash.url,
      UPSTASH_REDIS_REST_TOKEN: upstash.token,
      GODOTZ_REDIS_NAMESPACE: `godotz-bench-race-${crypto.randomUUID()}`,
    };
    for (let i = 0; i < 2; i++) gateways.push(spawnGodotz(["gateway", "--config", path.join(dir, "godotz.yaml"), "--port", "0"], env));
    const urls: string[] = [];
    for (const g of gateways) urls.push((await waitForOutput(g, /godotz gateway: (http:\S+)\/v1/))[1]!);
    const created = await fetch(`${urls[0]}/admin/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "racer", budget_usd: CAP, budget_period: "daily" }),
    });
    const { id, key } = (await created.json()) as { id: string; key: string };
    const start = performance.now();
    const results = await Promise.all(
      Array.from({ length: REQUESTS }, async (_, i) => {
        const res = await fetch(`${urls[i % 2]}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "glm-5.1", max_tokens: 40, messages: [{ role: "user", content: `race ${i}` }] }),
        });
        const body = (await res.json()) as { error?: { code: string } };
        return { status: res.status, code: body.error?.code };
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    // Both processes settle every hold and write the audit before they exit.
    for (const g of gateways.splice(0)) {
      g.child.kill("SIGTERM");
      const code = await g.exited;
      if (code !== 0) throw new Error(`a gateway exited with ${code}:\n${g.output()}`);
    }
    const refused: Record<string, number> = {};
    for (const r of results.filter((r) => r.status !== 200)) refused[`${r.status} ${r.code ?? "?"}`] = (refused[`${r.status} ${r.code ?? "?"}`] ?? 0) + 1;
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const [window] = await sql<{ spent: string; reserved: string }[]>`SELECT spent_usd AS spent, reserved_usd AS reserved FROM budget_windows WHERE budget_id = ${`key:${id}`}`;
      const [audit] = await sql<{ n: string; cost: string }[]>`SELECT count(*) AS n, coalesce(sum(cost_usd), 0) AS cost FROM audit_log WHERE key_id = ${id} AND status = 200`;
      return {
        fired: REQUESTS,
        served: results.filter((r) => r.status === 200).length,
        refused,
        spent: Number(window?.spent ?? 0),
        reserved: Number(window?.reserved ?? 0),
        auditCost: Number(audit!.cost),
        auditServed: Number(audit!.n),
        seconds,
      };
    } finally {
      await sql.end();
    }
  } finally {
    for (const g of gateways) {
      g.child.kill("SIGTERM");
      await g.exited;
    }
    await db.drop();
  }
}

const loadBefore = os.loadavg()[0]!;
const simulator = await startSimulator();
simulator.script("glm-5.1", { latencyMs: 20 });
const upstash = await startLocalUpstash({ redisUrl: REDIS_URL });
const dir = await mkdtemp(path.join(tmpdir(), "godotz-race-bench-"));
try {
  await writeFile(path.join(dir, "godotz.yaml"), simulatedConfigYaml(simulator.url));
  const runs: RaceResult[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const r = await race(simulator.url, upstash, dir);
    runs.push(r);
    log(`run ${run}: fired ${r.fired}, served ${r.served}, refused ${JSON.stringify(r.refused)}, cap $${CAP}, spent $${r.spent.toFixed(6)}, reserved left $${r.reserved.toFixed(6)}, audit $${r.auditCost.toFixed(6)} over ${r.auditServed} rows, ${r.seconds.toFixed(2)} s`);
  }
  const med = (f: (r: RaceResult) => number) => {
    const xs = runs.map(f).sort((a, b) => a - b);
    return xs[Math.floor(xs.length / 2)]!;
  };
  const codes = [...new Set(runs.flatMap((r) => Object.keys(r.refused)))].sort();
  const refusedText = (r: RaceResult) => codes.map((c) => `${(r.refused[c] ?? 0)} × ${c}`).join(", ") || "0";
  const row = (label: string, r: RaceResult) =>
    `| ${label} | ${r.fired} | ${r.served} | ${refusedText(r)} | $${CAP} | $${r.spent.toFixed(6)} | ${r.spent <= CAP ? "yes" : "**no**"} | $${r.reserved.toFixed(6)} | $${r.auditCost.toFixed(6)} (${r.auditServed} rows) | ${r.seconds.toFixed(2)} |`;
  const medianRun: RaceResult = {
    fired: REQUESTS,
    served: med((r) => r.served),
    refused: Object.fromEntries(codes.map((c) => [c, med((r) => r.refused[c] ?? 0)])),
    spent: med((r) => r.spent),
    reserved: med((r) => r.reserved),
    auditCost: med((r) => r.auditCost),
    auditServed: med((r) => r.auditServed),
    seconds: med((r) => r.seconds),
  };
  const section = `${HEADING}

**Command** (starts the simulator, a local Upstash REST server in front of the Redis at
\`TEST_REDIS_URL\` or \`redis://127.0.0.1:6379\`, and per run two \`godotz gateway\` processes on a
fresh database on the Postgres at \`TEST_DATABASE_URL\` or \`postgres://postgres@127.0.0.1:5432/postgres\`):

\`\`\`
npm run bench:budget-race${process.argv.length > 2 ? " -- " + process.argv.slice(2).join(" ") : ""}
\`\`\`

Host: ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? "unknown"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}. Run on ${new Date().toISOString().slice(0, 10)};
1-minute load average ${loadBefore.toFixed(1)} before and ${os.loadavg()[0]!.toFixed(1)} after.

**What is measured.** The race of \`test/budget/race.test.ts\` with more requests: two gateway
processes (\`godotz gateway\`, the dev configuration of \`cli/dev-config.ts\`) share one Postgres
database (budgets, holds, audit) and one Redis (limits, cache, health); a virtual key gets a daily
budget of $${CAP}; ${REQUESTS} requests for \`glm-5.1\` (\`max_tokens: 40\`, distinct prompts; the simulator
answers after 20 ms) are fired at once, alternating between the two gateways. Each request is
admitted at its worst case (prompt bound plus 40 output tokens, about $0.00017) on its gateway's
slice of the budget (\`edge/budget/slices.ts\`) before going upstream; near the cap a slice is at
most a quarter of what is left, and a request that does not fit waits for a resize of the slice
that checks it under the budget's row lock in Postgres. Only about two dozen worst cases fit at a
time and the rest are refused with 429 \`budget_exceeded\`; as requests settle at the actual cost
(written with the next resize), later requests fit again. After the burst both gateways are stopped
(which writes every settled cost and gives every slice back, and writes the audit), then the key's
budget window and the audit are read. "spent" is the window's spent_usd; "held after" what is still reserved (0 when every slice
was given back); "audit" the sum of cost_usd over the key's 200 responses. Medians of ${RUNS} runs, then each run.

| run | fired | served | refused (by status and code) | cap | spent | spent ≤ cap | held after | audit | seconds |
|---|---|---|---|---|---|---|---|---|---|
${row("**median**", medianRun)}
${runs.map((r, i) => row(String(i + 1), r)).join("\n")}
`;
  process.stdout.write(section);
  if (WRITE) await replaceSection(HEADING, section);
} finally {
  const redis = connectRedis({ UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token })!;
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, { match: "godotz-bench-race-*", count: 1000 });
    if (keys.length) await redis.del(...keys);
    cursor = String(next);
  } while (cursor !== "0");
  await upstash.close();
  await simulator.close();
  await rm(dir, { recursive: true, force: true });
}
