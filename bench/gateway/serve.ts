// One benchmark server in its own process, so it never shares an event loop with the load
// generator. Prints `{"url": ...}` on stdout once it listens; SIGTERM closes it cleanly (which
// is also when `node --cpu-prof` writes its profile).
//   node --import tsx bench/gateway/serve.ts simulator
//   GODOTZ_MASTER_KEY=… node --import tsx bench/gateway/serve.ts godotz <simulator url> <database url>
//   GODOTZ_MASTER_KEY=… REDIS_URL=… GODOTZ_REDIS_NAMESPACE=… \
//     node --import tsx bench/gateway/serve.ts governed <simulator url> <database url>
// The governed gateway picks its store from the environment as `godotz gateway` does
// (edge/store/node-store.ts): REDIS_URL for a native connection, or UPSTASH_REDIS_REST_URL/TOKEN
// for the REST client.
import { startSimulator } from "../../simulator/server.ts";
import { startNodeGateway } from "../../edge/node.ts";
import { Redis } from "@upstash/redis";
import { parseConfig } from "../../shared/config/load.ts";
import { governedConfigYaml, overheadConfigYaml } from "./config.ts";

const [kind, simUrl, databaseUrl] = process.argv.slice(2);

function autoPipelined() {
  const url = process.env.UPSTASH_REDIS_REST_URL;
  const token = process.env.UPSTASH_REDIS_REST_TOKEN;
  if (!url || !token) return undefined;
  return new Redis({ url, token, responseEncoding: false, retry: { retries: 1, backoff: () => 20 }, enableAutoPipelining: true });
}

async function start(): Promise<{ url: string; close(): Promise<void> }> {
  if (kind === "simulator") return startSimulator({ port: 0 });
  const env = { GODOTZ_MASTER_KEY: process.env.GODOTZ_MASTER_KEY ?? "", GODOTZ_SIMULATOR_KEY: "simulated" };
  if (kind === "godotz" && simUrl && databaseUrl) {
    return startNodeGateway({ config: parseConfig(overheadConfigYaml(simUrl), "bench.yaml"), env, databaseUrl, port: 0 });
  }
  if (kind === "governed" && simUrl && databaseUrl) {
    // BENCH_REDIS_AUTOPIPELINE=1: an experiment with the REST client, not what the gateway ships
    // (edge/store/redis.ts turns auto-pipelining off): commands issued in the same tick share one REST request.
    const redis = process.env.BENCH_REDIS_AUTOPIPELINE === "1" ? autoPipelined() : undefined;
    const { REDIS_URL, UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN } = process.env;
    if (!redis && !REDIS_URL && !UPSTASH_REDIS_REST_URL) throw new Error("serve.ts governed needs REDIS_URL or UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN");
    return startNodeGateway({
      config: parseConfig(governedConfigYaml(simUrl), "bench-governed.yaml"),
      env: { ...env, REDIS_URL, UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN },
      databaseUrl,
      port: 0,
      ...(redis ? { redis } : {}),
      redisNamespace: process.env.GODOTZ_REDIS_NAMESPACE ?? `godotz-bench-${crypto.randomUUID()}`,
    });
  }
  throw new Error("usage: serve.ts simulator | godotz <simulator url> <database url> | governed <simulator url> <database url>");
}

const server = await start();
process.stdout.write(JSON.stringify({ url: server.url }) + "\n");
process.once("SIGTERM", () => {
  void server.close().finally(() => process.exit(0));
});

// BENCH_LOOP_DELAY=1: every 5 s, the event loop's delay and the GC pauses of this process, to
// stderr (a diagnostic for where a gateway's tail comes from; off in recorded runs).
if (process.env.BENCH_LOOP_DELAY === "1") {
  const { monitorEventLoopDelay, PerformanceObserver } = await import("node:perf_hooks");
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let gcs: number[] = [];
  const kinds = new Map<number, number>();
  new PerformanceObserver((list) => { for (const e of list.getEntries()) {
      gcs.push(e.duration);
      const k = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
      kinds.set(k, (kinds.get(k) ?? 0) + e.duration);
    } }).observe({ entryTypes: ["gc"] });
  setInterval(() => {
    const ms = (ns: number) => (ns / 1e6).toFixed(1);
    gcs.sort((a, b) => b - a);
    process.stderr.write(`${kind}: loop delay p50 ${ms(delay.percentile(50))} p99 ${ms(delay.percentile(99))} max ${ms(delay.max)} ms; gc ${gcs.length}, longest ${gcs.slice(0, 3).map((d) => d.toFixed(1)).join("/")} ms; ms by kind ${JSON.stringify(Object.fromEntries([...kinds].map(([k, v]) => [k, Math.round(v)])))}\n`);
    kinds.clear();
    delay.reset();
    gcs = [];
  }, 5000).unref();
}
