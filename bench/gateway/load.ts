// The three loads, driven by autocannon from this process while every server runs in its own.
import autocannon from "autocannon";

export const TARGET_NAMES = ["direct", "portkey", "godotz", "governed"] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface Target {
  name: TargetName;
  url: string;
  headers: Record<string, string>;
  /** A body per request (each one different) instead of REQUEST_BODY. */
  body?: () => string;
}

export interface Load {
  name: "one-client" | "500-rps" | "saturation";
  label: string;
  options: Partial<autocannon.Options>;
}

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
}

export const REQUEST_BODY = JSON.stringify({
  model: "glm-5.1",
  messages: [{ role: "user", content: "Say hello to the benchmark." }],
});

/**
 * For the governed target: the same request at temperature 0 (so the cache looks it up), made
 * unique by a counter so that every request is a miss that is then written to the cache.
 */
export function uniqueRequestBodies(): () => string {
  const run = crypto.randomUUID().slice(0, 8);
  let n = 0;
  return () => JSON.stringify({ model: "glm-5.1", temperature: 0, messages: [{ role: "user", content: `Say hello to the benchmark. (${run}-${n++})` }] });
}

export function loads(seconds: number, oneClientRequests: number): Load[] {
  return [
    { name: "one-client", label: `one client (1 connection, ${oneClientRequests} sequential requests)`, options: { connections: 1, amount: oneClientRequests } },
    { name: "500-rps", label: `500 requests/s (overallRate, 50 connections, ${seconds} s)`, options: { connections: 50, overallRate: 500, duration: seconds } },
    { name: "saturation", label: `saturation (50 connections, as fast as it goes, ${seconds} s)`, options: { connections: 50, duration: seconds } },
  ];
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : NaN;
}

/**
 * Runs one load against one target. Latencies are taken from every response (autocannon's own
 * histogram keeps whole milliseconds only, and in rate mode it adds coordinated-omission
 * samples on a 1 ms interval that says nothing about these servers).
 */
export async function measure(target: Target, load: Load): Promise<Measurement> {
  const latencies: number[] = [];
  let non2xx = 0;
  const started = performance.now();
  const options: autocannon.Options = {
    url: target.url,
    method: "POST",
    headers: { "content-type": "application/json", ...target.headers },
    body: REQUEST_BODY,
    timeout: 10,
    ...load.options,
  };
  const body = target.body;
  // setupRequest runs before every request autocannon sends, so each one carries a new body.
  if (body) options.requests = [{ method: "POST", setupRequest: (request) => ({ ...request, body: body() }) }];
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
