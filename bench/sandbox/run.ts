// Sandbox benchmark: what putting every task in its own sandbox costs. Measures, in one process:
// - start-up cost: N runs of `true` in the sandbox against the same command run bare (same
//   /bin/sh, same environment), interleaved so both see the same machine load; median and p99 of
//   each and their ratio. A sandboxed run is the whole Sandbox.run(): policy, wrap (including the
//   library's ripgrep scan of the work directory), bwrap + socat bridges + apply-seccomp, exit,
//   the settle wait for late violation reports;
// - throughput: sandboxed `true` tasks per hour, one per fresh work directory, at concurrency 1
//   and at concurrency 4.
// The results replace the "## Benchmark" section of docs/sandbox.md. Run: npm run bench:sandbox
// (SANDBOX_BENCH_RUNS, default 200; SANDBOX_BENCH_TASKS, default 400).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createSandbox, VIOLATION_SETTLE_MS, type Sandbox } from "../../fleet-agent/sandbox/index.ts";

const RUNS = Number(process.env.SANDBOX_BENCH_RUNS ?? 200);
const TASKS = Number(process.env.SANDBOX_BENCH_TASKS ?? 400);
const DOC = fileURLToPath(new URL("../../docs/sandbox.md", import.meta.url));
const HEADING = "## Benchmark";

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

function bare(workDir: string): Promise<number> {
  mkdirSync(workDir, { recursive: true });
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", "true"], { cwd: workDir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: workDir, LANG: "C.UTF-8" }, stdio: "ignore" });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`bare true exited ${code}`))));
  });
}

async function sandboxed(sandbox: Sandbox, workDir: string): Promise<number> {
  const started = performance.now();
  const r = await sandbox.run("true", { workDir, allowedHosts: [], timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`sandboxed true exited ${r.exitCode}: ${r.stderr}`);
  return performance.now() - started;
}

async function throughput(sandbox: Sandbox, root: string, concurrency: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < TASKS) {
      const i = next++;
      await sandboxed(sandbox, path.join(root, `c${concurrency}`, `task-${i}`));
    }
  }));
  return (TASKS / ((performance.now() - started) / 1000)) * 3600;
}

const loadAtStart = os.loadavg()[0]!;
const root = mkdtempSync(path.join(os.tmpdir(), "godotz-bench-sandbox-"));
const createStarted = performance.now();
const sandbox = await createSandbox({});
const createMs = performance.now() - createStarted;
try {
  const warm = path.join(root, "warm", "task");
  for (let i = 0; i < 5; i++) {
    await bare(warm);
    await sandboxed(sandbox, warm);
  }
  const bareMs: number[] = [];
  const boxMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const workDir = path.join(root, "latency", `task-${i}`);
    boxMs.push(await sandboxed(sandbox, workDir));
    bareMs.push(await bare(workDir));
  }
  const perHour1 = await throughput(sandbox, root, 1);
  const perHour4 = await throughput(sandbox, root, 4);

  const b50 = percentile(bareMs, 50), b99 = percentile(bareMs, 99);
  const s50 = percentile(boxMs, 50), s99 = percentile(boxMs, 99);
  const section = `${HEADING}

\`npm run bench:sandbox\` on ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "unknown CPU"}, ${os.platform()} ${os.release()}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}, 1-minute load average ${loadAtStart.toFixed(1)} at the start (other work shares the machine).

| \`true\`, ${RUNS} runs each, interleaved | median | p99 |
|---|---|---|
| bare (\`/bin/sh -c true\`) | ${ms(b50)} | ${ms(b99)} |
| in the sandbox (\`Sandbox.run\`) | ${ms(s50)} | ${ms(s99)} |
| sandbox start-up cost (difference) | ${ms(s50 - b50)} | ${ms(s99 - b99)} |
| of which the fixed wait for late write reports | ${ms(VIOLATION_SETTLE_MS)} | ${ms(VIOLATION_SETTLE_MS)} |
| ratio sandboxed / bare | ${(s50 / b50).toFixed(1)}× | ${(s99 / b99).toFixed(1)}× |

Setting the sandbox up once per agent process (\`createSandbox\`: dependency checks, proxy, monitor,
self-test): ${ms(createMs)}.

Sandboxed \`true\` tasks, each in a fresh work directory (${TASKS} tasks per row):

| concurrency | tasks per hour |
|---|---|
| 1 | ${Math.round(perHour1).toLocaleString("en-US")} |
| 4 | ${Math.round(perHour4).toLocaleString("en-US")} |

The target is 5,000 sandboxed tasks per hour. Each sandboxed run waits ${VIOLATION_SETTLE_MS} ms after its command
exits for write reports still on their way from the monitor (see "Violations and security
events"); that wait holds no CPU, so throughput grows with concurrency until the CPUs are busy.
`;
  console.log(section);
  const doc = readFileSync(DOC, "utf8");
  const start = doc.indexOf(HEADING);
  const end = start === -1 ? -1 : doc.indexOf("\n## ", start + HEADING.length);
  const next = start === -1 ? `${doc.trimEnd()}\n\n${section}` : `${doc.slice(0, start)}${section}${end === -1 ? "" : doc.slice(end)}`;
  writeFileSync(DOC, next);
  console.log(`wrote "${HEADING.slice(3)}" to docs/sandbox.md`);
} finally {
  await sandbox.close();
  rmSync(root, { recursive: true, force: true });
}
