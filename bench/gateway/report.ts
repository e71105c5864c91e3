// Medians, ratios against the issue's targets, and the markdown section in docs/benchmarks.md.
import { readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Load, LoadName, Measurement, TargetName } from "./load.ts";

const docPath = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../docs/benchmarks.md");
const HEADING = "## Gateway overhead: godotz vs Portkey";
const GATEWAYS = ["portkey", "godotz"] as const;

/** A goal on one load: ours / Portkey at most (or, for throughput, at least) this; `judged: false` shows the ratio without a goal. */
export interface Goal {
  metric: "p99 added" | "throughput";
  goal: string;
  pass(ratio: number): boolean;
  judged?: false;
}

/**
 * The burst load is not the issue's "500 requests/s (open loop)": it is shown for comparison
 * with earlier figures and judged by no goal.
 */
const BURSTS: Goal = { metric: "p99 added", goal: "none (bursts, see Loads)", pass: () => false, judged: false };

/** What the issue asks of godotz against Portkey, per load. */
const GOALS: Record<LoadName, Goal> = {
  "one-client": { metric: "p99 added", goal: "≤ 0.5", pass: (r) => r <= 0.5 },
  "500-rps": { metric: "p99 added", goal: "≤ 0.33", pass: (r) => r <= 1 / 3 },
  "500-rps-burst": BURSTS,
  saturation: { metric: "throughput", goal: "≥ 1.5", pass: (r) => r >= 1.5 },
};

type RunResults = Record<string, Partial<Record<TargetName, Measurement>>>;

/** What the governance issue asks of godotz with every governance step on, against Portkey. */
export const GOVERNED_GOALS: Record<LoadName, Goal> = {
  "one-client": { metric: "p99 added", goal: "≤ 1", pass: (r) => r <= 1 },
  "500-rps": { metric: "p99 added", goal: "≤ 0.5", pass: (r) => r <= 0.5 },
  "500-rps-burst": BURSTS,
  saturation: { metric: "throughput", goal: "≥ 1.2", pass: (r) => r >= 1.2 },
};

export interface TargetSummary {
  p50: number;
  p99: number;
  p99Added: number;
  rps: number;
  failed: number;
}

/** One of godotz's targets against Portkey on one load. */
export interface Comparison {
  ratio: number;
  ratioPerRun: number[];
  rawP99Ratio: number;
  rawP99PerRun: number[];
  pass: boolean;
  prdPass: boolean;
}

export interface LoadSummary {
  load: Load["name"];
  targets: Partial<Record<TargetName, TargetSummary>>;
  vsPortkey: Partial<Record<"godotz" | "governed", Comparison>>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export function summarise(runs: RunResults[], plan: Load[], names: TargetName[]): LoadSummary[] {
  return plan.map((load) => {
    const per = (name: TargetName, f: (m: Measurement, run: Partial<Record<TargetName, Measurement>>) => number) => runs.map((run) => f(run[load.name]![name]!, run[load.name]!));
    const summary = (name: TargetName): TargetSummary => ({
      p50: median(per(name, (m) => m.p50)),
      p99: median(per(name, (m) => m.p99)),
      p99Added: name === "direct" ? 0 : median(per(name, (m, run) => m.p99 - run.direct!.p99)),
      rps: median(per(name, (m) => m.rps)),
      failed: per(name, (m) => m.non2xx + m.errors).reduce((a, b) => a + b, 0),
    });
    const targets = Object.fromEntries(names.map((name) => [name, summary(name)])) as Partial<Record<TargetName, TargetSummary>>;
    const vsPortkey: LoadSummary["vsPortkey"] = {};
    for (const [name, goals] of [["godotz", GOALS], ["governed", GOVERNED_GOALS]] as const) {
      const ours = targets[name];
      const portkey = targets.portkey;
      if (!ours || !portkey) continue;
      const goal = goals[load.name];
      const ratio = goal.metric === "throughput" ? ours.rps / portkey.rps : ours.p99Added / portkey.p99Added;
      vsPortkey[name] = {
        ratio,
        ratioPerRun: per(name, (m, run) => (goal.metric === "throughput" ? m.rps / run.portkey!.rps : (m.p99 - run.direct!.p99) / (run.portkey!.p99 - run.direct!.p99))),
        rawP99Ratio: ours.p99 / portkey.p99,
        rawP99PerRun: per(name, (m, run) => m.p99 / run.portkey!.p99),
        pass: goal.pass(ratio),
        prdPass: ours.p99Added < 100,
      };
    }
    return { load: load.name, targets, vsPortkey };
  });
}

export function machineFacts() {
  const require = createRequire(import.meta.url);
  const version = (pkg: string) => (require(`${pkg}/package.json`) as { version: string }).version;
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    portkey: version("@portkey-ai/gateway"),
    autocannon: version("autocannon"),
  };
}

export const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
export const rps = (x: number) => Math.round(x).toLocaleString("en-US");

function table(plan: Load[], summary: LoadSummary[]): string {
  const rows = ["| load | target | p50 ms | p99 ms | p99 added ms | req/s | failed |", "|---|---|---|---|---|---|---|"];
  for (const s of summary) {
    const label = plan.find((l) => l.name === s.load)!.label;
    for (const name of ["direct", ...GATEWAYS] as const) {
      const t = s.targets[name]!;
      rows.push(`| ${name === "direct" ? label : ""} | ${name} | ${ms(t.p50)} | ${ms(t.p99)} | ${name === "direct" ? "—" : ms(t.p99Added)} | ${rps(t.rps)} | ${t.failed} |`);
    }
  }
  return rows.join("\n");
}

function verdicts(summary: LoadSummary[]): string {
  const rows = ["| load | compared | godotz / Portkey (median) | per run | goal | met | godotz p99 added < 100 ms (PRD) |", "|---|---|---|---|---|---|---|"];
  for (const s of summary) {
    const goal = GOALS[s.load];
    const c = s.vsPortkey.godotz!;
    const raw = goal.metric === "throughput" ? "" : ` (raw p99: ${c.rawP99Ratio.toFixed(2)})`;
    rows.push(
      `| ${s.load} | ${goal.metric} | **${c.ratio.toFixed(2)}**${raw} | ${c.ratioPerRun.map((r) => r.toFixed(2)).join(", ")} | ${goal.goal} | ${met(goal, c)} | ${c.prdPass ? "yes" : "**no**"} (${ms(s.targets.godotz!.p99Added)} ms) |`,
    );
  }
  return rows.join("\n");
}

export const met = (goal: Goal, c: Comparison) => (goal.judged === false ? "—" : c.pass ? "yes" : "**no**");

/** What the open-loop generator did, over every run and target: sockets it opened, how late it sent. */
export interface GeneratorFacts {
  maxConnections: number;
  /** Median over runs and targets of the p99 of (actual − scheduled send), and the worst single lag, ms. */
  lagP99: number;
  lagMax: number;
}

export function generatorFacts(runs: RunResults[]): GeneratorFacts | undefined {
  const all = runs.flatMap((run) => Object.values(run["500-rps"] ?? {})).filter((m) => m.sendLag);
  if (all.length === 0) return undefined;
  return {
    maxConnections: Math.max(...all.map((m) => m.connectionsOpened ?? 0)),
    lagP99: median(all.map((m) => m.sendLag!.p99)),
    lagMax: Math.max(...all.map((m) => m.sendLag!.max)),
  };
}

export type Facts = ReturnType<typeof machineFacts> & { postgres: string; auditRows: number; godotzRequests: number; loadBefore: number; loadAfter: number; generator?: GeneratorFacts | undefined };

export async function writeSection(input: {
  command: string;
  facts: Facts;
  plan: Load[];
  summary: LoadSummary[];
  runs: number;
  write: boolean;
}): Promise<string> {
  const { facts } = input;
  const section = `${HEADING}

**Command** (starts everything itself: the simulator, Portkey, godotz and a fresh database on the
Postgres at \`TEST_DATABASE_URL\` or \`postgres://postgres@127.0.0.1:5432/postgres\`, dropped afterwards):

\`\`\`
${input.command}
\`\`\`

Host: ${facts.cpus} × ${facts.cpuModel}, ${facts.memGiB} GiB, ${facts.kernel}, Node ${facts.node}, Postgres
${facts.postgres}, \`@portkey-ai/gateway\` ${facts.portkey}, autocannon ${facts.autocannon}. Run on ${new Date().toISOString().slice(0, 10)}; 1-minute load average
${facts.loadBefore.toFixed(1)} before and ${facts.loadAfter.toFixed(1)} after (what else ran on the machine shows here).

${NOTES(facts)}

Medians of ${input.runs} runs. "p99 added" is a gateway's p99 minus the direct path's p99 in the same run;
"failed" counts non-2xx answers plus connection errors over all runs (0 for a valid run).

${table(input.plan, input.summary)}

${verdicts(input.summary)}
`;
  if (input.write) await replaceSection(HEADING, section);
  return section;
}

/**
 * Replaces the generated part of the section under `heading` in docs/benchmarks.md (up to its
 * first "### " subsection or the next "## " section, so hand-written subsections stay), or
 * appends it.
 */
export async function replaceSection(heading: string, section: string): Promise<void> {
  const doc = await readFile(docPath, "utf8");
  const start = doc.indexOf(heading);
  const ends = start < 0 ? [] : ["\n## ", "\n### "].map((h) => doc.indexOf(h, start + heading.length)).filter((i) => i >= 0);
  const next = ends.length ? Math.min(...ends) : -1;
  const updated = start < 0 ? `${doc.trimEnd()}\n\n${section}` : doc.slice(0, start) + section + (next < 0 ? "" : doc.slice(next));
  await writeFile(docPath, updated);
}

const NOTES = (facts: Facts) => `**What is measured.** One \`POST /v1/chat/completions\` (model \`glm-5.1\`, one short user
message, non-streaming; the simulator answers at once with a 347-byte completion) sent three ways
in the same run: directly to the simulator's OpenAI endpoint; through Portkey's gateway, started
as its package ships it (\`build/start-server.js --headless\`, provider and custom host in
\`x-portkey-*\` headers, so no auth, budgets or audit); and through godotz's Node entry
(\`startNodeGateway\`) with a virtual key created through \`POST /admin/keys\` and the Postgres
audit on. On its hot path godotz checks the key against an in-process cache (dropped on
revocation through Postgres NOTIFY, 5 s at most otherwise; see \`edge/auth/keys.ts\`), calls the
upstream over node:http with keep-alive (\`edge/upstream/node-fetch.ts\`), and writes the audit row in a batch
off the request path. The simulator, Portkey and godotz each run in their own Node process, apart from the
load generators (autocannon in the benchmark's process, the open-loop generator in its own); the simulator is shared by all three.
A 3-second warm-up at 50 connections precedes the runs. godotz wrote ${facts.auditRows.toLocaleString("en-US")} audit rows for the
${facts.godotzRequests.toLocaleString("en-US")} responses the load generator counted (requests cut off at the end of a timed load are audited too).

**Loads.** One client: 1 connection, requests back to back (autocannon). 500 requests/s, open
loop (the issue's load, and the one its goal is judged on): \`bench/gateway/open-loop.ts\`, in a
process of its own (a fresh heap and an otherwise idle event loop, so its timer stays punctual
after autocannon's loads; its lateness is reported below), schedules a request every 2 ms and
sends it at that time on any free one of at most 50 keep-alive connections (a node:http Agent
with \`maxSockets\` 50, handing out sockets FIFO; undici is not a dependency of godotz); when all 50 are busy the
request waits for one, and each latency runs from the request's scheduled time to the last byte
of its answer, so waiting behind a slow answer counts (no coordinated omission). One second of
the same load before it, not measured, opens the connections.${facts.generator ? ` The generator
opened at most ${facts.generator.maxConnections} connections; it sent a request ${ms(facts.generator.lagP99)} ms after its scheduled time at p99
(median over runs and targets; worst ${ms(facts.generator.lagMax)} ms), which is in every target's latency, the direct path's too.` : ""}
500 requests/s in bursts (for comparison with earlier figures; no goal): autocannon's
\`overallRate\` over 50 connections, which releases each connection's quota of 10 at the start of
every second, so 500 requests arrive at once and none is sent while its connection waits: its p99
is the time to drain a 500-request burst, close to 500 / throughput. Saturation: 50 connections,
each sending its next request as soon as the previous one is answered (autocannon). autocannon's
latencies are the time it measures for each 2xx response, in fractional milliseconds (its own
histogram keeps whole milliseconds and, in rate mode, adds coordinated-omission samples at a 1 ms
interval, so it is not used).

**Caveats.** Load generator, simulator, gateway and Postgres share the same cores; at saturation the
gateway competes with the load generator and the simulator for CPU, so the throughput figures are
those of this machine with everything on it, not of a gateway alone. Noise between runs is
visible in the per-run ratios.`;
