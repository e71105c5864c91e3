import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

/**
 * Serves Upstash's REST API in front of a local Redis, for the tests and benchmarks that exercise
 * the REST client (@upstash/redis, what the Worker speaks) against the Redis on loopback. Node
 * gateways with REDIS_URL no longer need it: they connect natively (native-redis.ts). It runs @humanwhocodes/upstash-redis-server as a
 * child process: the package opens a Redis connection it offers no way to close, which would
 * keep any process that hosted it alive.
 */
export async function startLocalUpstash(options: { redisUrl: string; port?: number; token?: string }): Promise<{ url: string; token: string; close(): Promise<void> }> {
  const token = options.token ?? `local-${crypto.randomUUID()}`;
  const port = options.port ?? (await freePort());
  const server = path.join(path.dirname(fileURLToPath(import.meta.resolve("@humanwhocodes/upstash-redis-server"))), "server.js");
  const child = spawn(process.execPath, [server], {
    env: { ...process.env, URS_TOKEN: token, PORT: String(port), REDIS_URL: options.redisUrl },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const close = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + 15_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await close();
      throw new Error(`the local Upstash REST server did not start: ${stderr.trim() || "timed out"}`);
    }
    await sleep(50);
  }
  return { url: `http://127.0.0.1:${port}`, token, close };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}
