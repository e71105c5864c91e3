// Starts the benchmark's servers as child processes on loopback and stops them.
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

export interface Child {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      const force = setTimeout(() => child.kill("SIGKILL"), 15_000);
      child.once("exit", () => (clearTimeout(force), resolve()));
      child.kill("SIGTERM");
    });
}

/** A server from bench/gateway/serve.ts; it announces its URL as one JSON line on stdout. */
export function startServe(args: string[], env: Record<string, string> = {}, nodeFlags: string[] = [], script = path.join(here, "serve.ts")): Promise<Child> {
  const child = spawn(process.execPath, [...nodeFlags, "--import", "tsx", script, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    child.stdout!.once("data", (chunk: Buffer) => {
      const { url } = JSON.parse(chunk.toString().split("\n")[0]!) as { url: string };
      resolve({ url, pid: child.pid!, stop: stopper(child) });
    });
    child.once("exit", (code) => reject(new Error(`serve.ts ${args[0]} exited (${code}) before listening`)));
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Portkey's open-source gateway as its own package ships it (`npm run start:node`, i.e.
 * build/start-server.js), headless, with its defaults: no cache, no retries, no hooks.
 */
export async function startPortkey(): Promise<Child> {
  const script = path.join(path.dirname(createRequire(import.meta.url).resolve("@portkey-ai/gateway/package.json")), "build/start-server.js");
  const port = await freePort();
  const child = spawn(process.execPath, [script, `--port=${port}`, "--headless"], { stdio: ["ignore", "ignore", "inherit"] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`Portkey gateway exited (${child.exitCode})`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return { url, pid: child.pid!, stop: stopper(child) };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error("Portkey gateway did not answer on " + url);
}
