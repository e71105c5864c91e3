// What one audit batch costs Postgres: the gateway's own INSERT (edge/audit/postgres-sink.ts) of
// 20-row batches, as the gateway writes them at about 1,000 requests/s (a flush every 20 ms),
// into the audit_log the migrations create with ids as the gateway makes them (UUIDv7), and, in
// the same run, into copies as they were before: bodies jsonb (before migrations/0015) and ids
// random (UUIDv4), the baseline; and json bodies with random ids, to tell the two changes apart.
// Each table first holds BENCH_PRELOAD rows (default 100,000: an audit with some history, about
// 20 s of bench:gateway's saturation load), and each round starts after a CHECKPOINT, as the gateway's
// batches do every few minutes (checkpoint_timeout). Reported per batch: the Postgres
// backend's CPU (from /proc, so Postgres must run on this machine), the WAL written (a count the
// host's CPU load does not move, though other clients of the same Postgres would) and the round trip's wall time. Postgres shares its cores with the
// gateway, so its CPU per batch is time a request may wait. Variants alternate, several rounds;
// medians over rounds.
// Run: npm run bench:audit-insert (not in CI). BENCH_BATCHES (default 1,000) per variant and round.
import { readFileSync } from "node:fs";
import { openDatabase } from "../../shared/db/connect.ts";
import { migrate } from "../../shared/db/migrate.ts";
import { insertAudit } from "../../edge/audit/postgres-sink.ts";
import { newRequestId } from "../../edge/audit/request-id.ts";
import type { AuditRecord } from "../../edge/audit/record.ts";
import { freshDatabase } from "../../test/helpers/db.ts";

const BATCHES = Number(process.env.BENCH_BATCHES ?? 1000);
const ROUNDS = 5;
const BATCH = 20;
const PRELOAD = Number(process.env.BENCH_PRELOAD ?? 100_000);
const randomId = () => crypto.randomUUID();

// A non-streamed chat completion as the gateway benchmark sends and the simulator answers it.
function record(id: string): AuditRecord {
  const text = "Hello from the simulated model. This is a short answer to a short question.";
  return {
    id, created_at: new Date(), key_id: "key_bench", swarm: null, agent: null, task: null,
    endpoint: "/v1/chat/completions", model_requested: "glm-5.1", model_used: "glm-5.1", provider: "zai", stream: false,
    status: 200, error_code: null, error_message: null, cache: "miss", prompt_tokens: 12, completion_tokens: 20,
    cost_usd: 0.000076, latency_ms: 1, first_byte_ms: null,
    request_body: { model: "glm-5.1", messages: [{ role: "user", content: "Say hello to the benchmark, briefly." }] },
    response_body: {
      id: `chatcmpl-${crypto.randomUUID()}`, object: "chat.completion", created: 1764000000, model: "glm-5.1",
      choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
      usage: { prompt_tokens: 12, completion_tokens: 20, total_tokens: 32 },
    },
    response_text: text,
  };
}

const db = await freshDatabase("godotz_bench_audit");
// One connection per variant, so each has a backend of its own whose CPU /proc reports.
const open = () => openDatabase(db.url, { max: 1 });
const setup = open();
try {
  await migrate(setup);
  // Copies of the migrated table (same indexes), changed back to what they were before.
  await setup.unsafe("CREATE SCHEMA before_both; CREATE TABLE before_both.audit_log (LIKE public.audit_log INCLUDING ALL)");
  await setup.unsafe("ALTER TABLE before_both.audit_log ALTER COLUMN request_body TYPE jsonb, ALTER COLUMN response_body TYPE jsonb");
  await setup.unsafe("CREATE SCHEMA random_ids; CREATE TABLE random_ids.audit_log (LIKE public.audit_log INCLUDING ALL)");
  const variants = [
    { name: "jsonb bodies, random ids (baseline)", sql: open(), searchPath: "before_both", id: randomId },
    { name: "json bodies, random ids", sql: open(), searchPath: "random_ids", id: randomId },
    { name: "json bodies, UUIDv7 ids (as the gateway writes now)", sql: open(), searchPath: "public", id: newRequestId },
  ];
  const pids: number[] = [];
  for (const v of variants) {
    await v.sql.unsafe(`SET search_path = ${v.searchPath}`);
    const [row] = await v.sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    pids.push(row!.pid);
  }
  for (const [i, v] of variants.entries()) {
    for (let n = 0; n < PRELOAD; n += 500) await insertAudit(v.sql, Array.from({ length: Math.min(500, PRELOAD - n) }, () => record(v.id())));
    process.stderr.write(`${v.name}: ${PRELOAD} rows preloaded (${i + 1}/${variants.length})\n`);
  }
  const walBytes = async () => Number((await setup<{ lsn: string }[]>`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS lsn`)[0]!.lsn);
  const cpuMs = (pid: number) => {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ is 100
  };
  const results = variants.map(() => ({ cpu: [] as number[], wall: [] as number[], wal: [] as number[] }));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [i, v] of variants.entries()) {
      const batches = Array.from({ length: BATCHES }, () => Array.from({ length: BATCH }, () => record(v.id())));
      await setup.unsafe("CHECKPOINT");
      const w0 = await walBytes();
      const c0 = cpuMs(pids[i]!);
      const t0 = performance.now();
      for (const rows of batches) await insertAudit(v.sql, rows);
      results[i]!.wall.push((performance.now() - t0) / BATCHES);
      results[i]!.cpu.push((cpuMs(pids[i]!) - c0) / BATCHES);
      results[i]!.wal.push(((await walBytes()) - w0) / BATCHES / 1024);
      process.stderr.write(`round ${round}/${ROUNDS}: ${v.name} done\n`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(results[0]!.cpu);
  const baseWal = median(results[0]!.wal);
  console.log(`${BATCH}-row batches into tables of ${PRELOAD}+ rows, ${BATCHES} per variant and round after a CHECKPOINT, ${ROUNDS} rounds (medians; per round in brackets)`);
  for (const [i, v] of variants.entries()) {
    const { cpu, wall, wal } = results[i]!;
    console.log(
      `  ${v.name}: Postgres backend CPU ${median(cpu).toFixed(3)} ms per batch [${cpu.map((x) => x.toFixed(2)).join(", ")}], ` +
        `WAL ${median(wal).toFixed(1)} kB per batch, round trip ${median(wall).toFixed(3)} ms; ` +
        `vs baseline: CPU ${(median(cpu) / base).toFixed(2)}, WAL ${(median(wal) / baseWal).toFixed(2)}`,
    );
  }
  for (const v of variants) await v.sql.end();
} finally {
  await setup.end();
  await db.drop();
}
