// Loopback servers the sandbox tests aim at, each counting what reached it.
import http from "node:http";
import net from "node:net";
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export interface CountingServer {
  port: number;
  hits(): number;
  close(): Promise<void>;
}

/** An HTTP server answering `body` to every request. */
export async function httpServer(body: string): Promise<CountingServer> {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    hits: () => hits,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A raw TCP server that only counts connections, standing in for a node's database or bus. */
export async function tcpServer(): Promise<CountingServer> {
  let hits = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    hits++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    hits: () => hits,
    close: () => new Promise((resolve) => {
      sockets.forEach((s) => s.destroy());
      server.close(() => resolve());
    }),
  };
}

/** Host processes whose command line contains `marker` (the sandbox's wrapper, bwrap, the task). */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(marker)) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Polls `check` until it holds, for at most `ms`; returns whether it did. */
export async function eventually(check: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}
