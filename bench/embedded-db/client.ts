// One of N separate OS processes in the concurrency check: connect, report, wait for "go",
// then run a small mixed workload (including a transaction, as the ledger does) and report.
import postgres from "postgres";

const url = process.argv[2]!;
const send = (msg: object) => process.send!(msg);
const sql = postgres(url, { max: 1, connect_timeout: 10, onnotice: () => {} });
try {
  const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  send({ connected: true, backendPid: row!.pid });
} catch (err) {
  send({ connected: false, error: String(err) });
  process.exit(0);
}
await new Promise<void>((resolve) => process.once("message", () => resolve()));
const t0 = performance.now();
let error: string | undefined;
try {
  for (let i = 0; i < 100; i++) {
    await sql.begin(async (tx) => {
      await tx`insert into conc (who, n) values (${process.pid}, ${i})`;
      await tx`select count(*) from conc where who = ${process.pid}`;
    });
    await sql`select n from conc where who = ${process.pid} and n = ${i}`;
  }
} catch (err) {
  error = String(err);
}
send({ done: true, ms: performance.now() - t0, error });
await sql.end({ timeout: 2 });
process.exit(0);
