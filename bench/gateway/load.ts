// The loads. The closed-loop ones are driven by autocannon from this process; the open-loop one
// by open-loop.ts in a child process of its own; every server runs in its own process.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { REQUEST_BODY, requestBodies } from "./requests.ts";
import { percentile } from "./open-loop.ts";

export { REQUEST_BODY } from "./requests.ts";

const here = path.dirname(fileURLToPath(import.meta.url));

// "governed-base": the governed gateway of another checkout (BENCH_BASE_TREE), for A/B in one run.
export const TARGET_NAMES = ["direct", "portkey", "godotz", "governed", "governed-base"] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface Target {
  name: TargetName;
  url: string;
  headers: Record<string, string>;
  /** Every request a different prompt (requests.ts) instead of REQUEST_BODY. */
  uniqueBodies?: boolean;
  /** The server's process, whose CPU time the log reports per request. */
  pid?: number;
}

export type LoadName = "one-client" | "500-rps" | "500-rps-burst" | "saturation";

export type Load =
  | { name: LoadName; label: string; kind: "autocannon"; options: Partial<autocannon.Options> }
  | { name: LoadName; label: string; kind: "open-loop"; rate: number; seconds: number; connections: number };

export interface Measurement {
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Open loop only: sockets opened, and how late the generator sent (actual − scheduled, ms). */
  connectionsOpened?: number;
  sendLag?: { p50: number; p99: number; max: number };
}

export function loads(seconds: number, oneClientRequests: number): Load[] {
  return [
    { name: "one-client", label: `one client (1 connection, ${oneClientRequests} sequential requests)`, kind: "autocannon", options: { connections: 1, amount: oneClientRequests } },
    { name: "500-rps", label: `500 requests/s, open loop (one every 2 ms, up to 50 connections, ${seconds} s)`, kind: "open-loop", rate: 500, seconds, connections: 50 },
    { name: "500-rps-burst", label: `500 requests/s in bursts (autocannon overallRate, 50 connections, ${seconds} s)`, kind: "autocannon", options: { connections: 50, overallRate: 500, duration: seconds } },
    { name: "saturation", label: `saturation (50 connections, as fast as it goes, ${seconds} s)`, kind: "autocannon", options: { connections: 50, duration: seconds } },
  ];
}

export function measure(target: Target, load: Load): Promise<Measurement> {
  return load.kind === "open-loop" ? measureOpenLoop(target, load) : measureAutocannon(target, load.options);
}

/** The open-loop load in a child process (see open-loop-child.ts for why), which prints one JSON Measurement. */
function measureOpenLoop(target: Target, load: Extract<Load, { kind: "open-loop" }>): Promise<Measurement> {
  const input = {
    url: target.url,
    headers: { "content-type": "application/json", ...target.headers },
    bodies: target.uniqueBodies ? "unique" : "fixed",
    rate: load.rate,
    seconds: load.seconds,
    connections: load.connections,
  };
  const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "open-loop-child.ts"), JSON.stringify(input)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`open-loop-child.ts exited with ${code}`));
      try {
        resolve(JSON.parse(out) as Measurement);
      } catch (error) {
        reject(new Error(`open-loop-child.ts printed no result: ${(error as Error).message}: ${out.slice(0, 200)}`));
      }
    });
  });
}

/**
 * A closed-loop load with autocannon. Latencies are taken from every response (autocannon's own
 * histogram keeps whole milliseconds only, and in rate mode it adds coordinated-omission
 * samples on a 1 ms interval that says nothing about these servers).
 */
async function measureAutocannon(target: Target, loadOptions: Partial<autocannon.Options>): Promise<Measurement> {
  const latencies: number[] = [];
  let non2xx = 0;
  const started = performance.now();
  const options: autocannon.Options = {
    url: target.url,
    method: "POST",
    headers: { "content-type": "application/json", ...target.headers },
    body: REQUEST_BODY,
    timeout: 10,
    ...loadOptions,
  };
  // setupRequest runs before every request autocannon sends, so each one carries a new body.
  if (target.uniqueBodies) {
    const body = requestBodies("unique");
    options.requests = [{ method: "POST", setupRequest: (request) => ({ ...request, body: body() }) }];
  }
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(options, (error: unknown, done: autocannon.Result) => (error ? reject(error) : resolve(done)));
    instance.on("response", (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
      else non2xx++;
    });
  });
  const seconds = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length + non2xx,
    ok: latencies.length,
    non2xx,
    errors: result.errors,
    seconds,
    rps: latencies.length / seconds,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
  };
}
