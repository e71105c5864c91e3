// The PGlite candidate as it would have to run for godotz: its own long-lived Node process that
// owns the WASM database and serves it over TCP, since several OS processes need it at once.
// argv: dataDir port maxConnections. Prints one JSON line {"ready":true,"startMs":…} when serving.
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

const [dataDir, port, maxConnections] = process.argv.slice(2);
const t0 = performance.now();
const db = await PGlite.create(dataDir!);
const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: Number(port), maxConnections: Number(maxConnections) });
await server.start();
process.stdout.write(JSON.stringify({ ready: true, startMs: performance.now() - t0 }) + "\n");

process.once("SIGTERM", async () => {
  await server.stop();
  await db.close(); // flushes the data dir so the warm start finds a clean database
  process.exit(0);
});
