// Postgres refuses to run as root (it would hand a network-facing server full control of the
// machine). CI and containers often run as root, so there we run the server as a dedicated
// unprivileged OS user, created on demand, that owns the data directory. As a normal user we
// run it as ourselves.
import { execFileSync, spawnSync } from "node:child_process";
import { chown, mkdir, stat } from "node:fs/promises";
import path from "node:path";

export const SERVICE_USER = "godotz-db";

/** uid/gid to pass to spawn; empty when we are not root and run the server as ourselves. */
export type RunAs = { uid?: number; gid?: number };

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

function lookupIds(name: string): RunAs | undefined {
  try {
    const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
    const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
    return { uid, gid };
  } catch {
    return undefined;
  }
}

function createServiceUser(): void {
  // useradd on Debian/Fedora/Arch; BusyBox adduser on Alpine. Another process may create the
  // user at the same moment, so a failure is only an error if the user still does not exist.
  const attempts: [string, string[]][] = [
    ["useradd", ["--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVICE_USER]],
    ["adduser", ["-S", "-D", "-H", "-G", SERVICE_USER, SERVICE_USER]],
  ];
  for (const [cmd, args] of attempts) {
    if (cmd === "adduser") spawnSync("addgroup", ["-S", SERVICE_USER], { stdio: "ignore" });
    spawnSync(cmd, args, { stdio: "ignore" });
    if (lookupIds(SERVICE_USER)) return;
  }
  throw new Error(
    `running as root: could not create the unprivileged OS user "${SERVICE_USER}" for the embedded Postgres ` +
      `(neither useradd nor adduser worked); set DATABASE_URL or run as a normal user`,
  );
}

/**
 * Decide who runs the server for `dataDir`. An existing data directory keeps its owner, so a
 * cluster made by one setup keeps working; `mustReach` are paths that user has to be able to open.
 */
export async function resolveRunAs(dataDir: string, mustReach: string[]): Promise<RunAs> {
  if (!isRoot()) return {};
  const existing = await stat(dataDir).catch(() => undefined);
  if (existing && existing.uid !== 0) return { uid: existing.uid, gid: existing.gid };
  if (process.platform !== "linux") {
    throw new Error("the embedded Postgres cannot run as root on this platform; run as a normal user or set DATABASE_URL");
  }
  const ids = lookupIds(SERVICE_USER) ?? (createServiceUser(), lookupIds(SERVICE_USER));
  if (!ids) throw new Error(`user ${SERVICE_USER} vanished after creation`);
  for (const p of [path.dirname(dataDir), ...mustReach]) assertReachable(p, ids);
  return ids;
}

/** Create `dir` private to the user that runs the server (Postgres insists on mode 0700). */
export async function makeOwnedDir(dir: string, runAs: RunAs): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (runAs.uid !== undefined && runAs.gid !== undefined) await chown(dir, runAs.uid, runAs.gid);
}

// A project (or node_modules) under /root, mode 700, is invisible to the service user; say so
// plainly instead of letting initdb fail with a bare "permission denied".
function assertReachable(target: string, ids: RunAs): void {
  const probe = spawnSync("test", ["-x", target], { uid: ids.uid, gid: ids.gid, stdio: "ignore" });
  if (probe.status !== 0) {
    throw new Error(
      `running as root: the OS user "${SERVICE_USER}" cannot reach ${target} (a parent directory is not ` +
        `world-executable); move the project, chmod o+x its parent directories, or set DATABASE_URL`,
    );
  }
}
