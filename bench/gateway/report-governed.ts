// The section "Gateway with governance on: godotz vs Portkey" in docs/benchmarks.md.
import type { Load, TargetName } from "./load.ts";
import { GOVERNED_GOALS, met, ms, replaceSection, rps, type Facts, type LoadSummary } from "./report.ts";

const HEADING = "## Gateway with governance on: godotz vs Portkey";

export interface GovernedFacts {
  /** How the governed gateway reached Redis. */
  store: "native" | "rest";
  /** 2xx responses the load generator counted for the governed target. */
  responses: number;
  /** Audit rows of the governed key by x-godotz-cache state. */
  audit: Record<string, number>;
  /** The key's budget window after the run: spent and still held. */
  spent: number;
  reserved: number;
  auditedCost: number;
}

function table(plan: Load[], summary: LoadSummary[]): string {
  const rows = ["| load | target | p50 ms | p99 ms | p99 added ms | req/s | failed |", "|---|---|---|---|---|---|---|"];
  for (const s of summary) {
    const label = plan.find((l) => l.name === s.load)!.label;
    for (const name of ["direct", "portkey", "godotz", "governed"] as TargetName[]) {
      const t = s.targets[name];
      if (!t) continue;
      const shown = name === "governed" ? "**godotz, governance on**" : name === "godotz" ? "godotz, governance off" : name;
      rows.push(`| ${name === "direct" ? label : ""} | ${shown} | ${ms(t.p50)} | ${ms(t.p99)} | ${name === "direct" ? "—" : ms(t.p99Added)} | ${rps(t.rps)} | ${t.failed} |`);
    }
  }
  return rows.join("\n");
}

function verdicts(summary: LoadSummary[]): string {
  const rows = [
    "| load | compared | governed / Portkey (median) | per run | goal | met | raw p99 governed / Portkey (per run) | governed p99 added < 100 ms (PRD) |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const s of summary) {
    const goal = GOVERNED_GOALS[s.load];
    const c = s.vsPortkey.governed!;
    const raw = goal.metric === "throughput" ? "—" : `${c.rawP99Ratio.toFixed(2)} (${c.rawP99PerRun.map((r) => r.toFixed(2)).join(", ")})`;
    rows.push(
      `| ${s.load} | ${goal.metric} | **${c.ratio.toFixed(2)}** | ${c.ratioPerRun.map((r) => r.toFixed(2)).join(", ")} | ${goal.goal} | ${met(goal, c)} | ${raw} | ${c.prdPass ? "yes" : "**no**"} (${ms(s.targets.governed!.p99Added)} ms) |`,
    );
  }
  return rows.join("\n");
}

/** What turning governance on costs, in the same run: governed against godotz with it off. */
function governanceCost(summary: LoadSummary[]): string {
  if (!summary.every((s) => s.targets.godotz)) return "";
  const rows = ["| load | p50 added by governance ms | p99 added by governance ms | throughput, governance on / off |", "|---|---|---|---|"];
  for (const s of summary) {
    const on = s.targets.governed!;
    const off = s.targets.godotz!;
    rows.push(`| ${s.load} | ${ms(on.p50 - off.p50)} | ${ms(on.p99 - off.p99)} | ${(on.rps / off.rps).toFixed(2)} |`);
  }
  return `\nGovernance on against off, same run (medians; the differences of medians, so noisy at the tail):\n\n${rows.join("\n")}\n`;
}

export async function writeGovernedSection(input: { command: string; facts: Facts; governed: GovernedFacts; plan: Load[]; summary: LoadSummary[]; runs: number; write: boolean }): Promise<string> {
  const { facts, governed } = input;
  const audited = Object.values(governed.audit).reduce((a, b) => a + b, 0);
  const section = `${HEADING}

**Command** (the same run as "Gateway overhead" above when all targets run; needs the Postgres of
that section and the Redis at \`TEST_REDIS_URL\` or \`redis://127.0.0.1:6379\`; about 6 minutes):

\`\`\`
${input.command}
\`\`\`

Host: ${facts.cpus} × ${facts.cpuModel}, ${facts.memGiB} GiB, ${facts.kernel}, Node ${facts.node}, Postgres
${facts.postgres}, \`@portkey-ai/gateway\` ${facts.portkey}, autocannon ${facts.autocannon}. Run on ${new Date().toISOString().slice(0, 10)}; 1-minute load average
${facts.loadBefore.toFixed(1)} before and ${facts.loadAfter.toFixed(1)} after.

**What is measured.** The loads, the simulator, Portkey and the direct baseline of the section
above, in the same run, with one more target: godotz's Node entry with every governance step on
(\`bench/gateway/serve.ts governed\`). Its cache, rate limits, concurrency slots and model health
live in the real Redis, ${
    governed.store === "native"
      ? "reached over one native connection, commands pipelined on it as they are issued (`REDIS_URL`, `edge/store/native-redis.ts`; `--governed-store=rest` puts the local Upstash REST server back in between)"
      : "reached through the local Upstash REST server (`--governed-store=rest`; `edge/store/local-upstash.ts`, one more process)"
  }, under a namespace of its own; budgets and the
audit live in Postgres. The virtual key has a daily budget of $100,000 and limits of 100,000,000
requests and 2,000,000,000 tokens per minute; \`glm-5.1\` has 1,000 concurrency slots and the same
per-model limits (\`bench/gateway/config.ts\`), so every request is held, counted and slotted, and
none is refused or queued. Every request is at \`temperature: 0\` with a prompt made unique by a
counter, so each one is looked up in the cache, misses, and has its answer written back. Per
request the gateway thus does${governed.store === "native" ? " (each Redis command one round trip on the connection; commands issued together are in flight together)" : " (each Redis command one HTTP request to the REST server)"}: cache lookup (Redis GET); then, at once
(\`admit\` in \`edge/chat/admission.ts\`), four rate-limit checks (key and model, requests and
tokens; one Lua script each), the budget hold on the process's slice of the key's budget (in
memory; \`edge/budget/slices.ts\` writes settled spend and resizes the slice in one Postgres
transaction about every 100 ms), health ordering of \`glm-5.1\` and its fallback \`glm-4.7\`
(one Lua script) and a concurrency slot on \`glm-5.1\` (one Lua script, and one ZREM to release
it); the upstream call; and off the request path, once the answer is written: health record (Lua), budget settle (in
memory), slot release, cache write (Redis SET) and the audit row (batched). The audit holds ${audited.toLocaleString("en-US")} rows for the governed key
(${Object.entries(governed.audit).map(([k, v]) => `${k}: ${v.toLocaleString("en-US")}`).join(", ")}) for the ${governed.responses.toLocaleString("en-US")} responses the load
generator counted; after the run the key's budget window shows $${governed.spent.toFixed(4)} spent and $${governed.reserved.toFixed(4)}
still held, against $${governed.auditedCost.toFixed(4)} in the audit.

Goals from the governance issue, governed against Portkey: one client, p99 added at most
Portkey's; 500 requests/s, p99 at most half of Portkey's; saturation, at least 1.2 × Portkey's
throughput. "p99 added" is the p99 minus the direct path's p99 in the same run; the goal is judged
on it (as in the section above), and the raw p99 ratio is shown beside it.

Medians of ${input.runs} runs; "failed" counts non-2xx answers plus connection errors over all runs.

${table(input.plan, input.summary)}

${verdicts(input.summary)}
${governanceCost(input.summary)}`;
  if (input.write) await replaceSection(HEADING, section);
  return section;
}
