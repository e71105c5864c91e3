// Runs one open-loop load (open-loop.ts) in a process of its own and prints its Measurement as
// one JSON line. Its own process because the benchmark's process has run autocannon and holds
// every earlier result: a fresh heap and an idle event loop keep the generator's timer loop
// punctual, so its lateness (reported as sendLag) is its own and not left over from other work.
//   node --import tsx bench/gateway/open-loop-child.ts '{"url":…,"headers":{…},"bodies":"fixed","rate":500,"seconds":10,"connections":50}'
import { openLoop, percentile } from "./open-loop.ts";
import { requestBodies, type BodyKind } from "./requests.ts";

interface ChildInput {
  url: string;
  headers: Record<string, string>;
  bodies: BodyKind;
  rate: number;
  seconds: number;
  connections: number;
}

const input = JSON.parse(process.argv[2] ?? "") as ChildInput;
const result = await openLoop({
  url: input.url,
  headers: input.headers,
  body: requestBodies(input.bodies),
  rate: input.rate,
  requests: Math.round(input.rate * input.seconds),
  // One second of the same load first, not measured.
  warmup: Math.round(input.rate),
  connections: input.connections,
});
const sorted = Float64Array.from(result.latencies).sort();
process.stdout.write(
  JSON.stringify({
    requests: sorted.length + result.non2xx,
    ok: sorted.length,
    non2xx: result.non2xx,
    errors: result.errors,
    seconds: result.seconds,
    rps: sorted.length / result.seconds,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    connectionsOpened: result.connectionsOpened,
    sendLag: result.sendLag,
  }) + "\n",
);
