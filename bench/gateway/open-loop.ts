// An open-loop load: requests leave at evenly spaced, scheduled times whatever the server does,
// over a bounded set of keep-alive connections, and each latency runs from the request's
// SCHEDULED time to the end of its response. A server that falls behind therefore pays for every
// request it made wait (in the generator's queue for a free connection, or on the wire), which a
// closed loop (send when the previous answer arrives) hides: the "coordinated omission" that
// makes closed-loop p99s look better than what users at a fixed arrival rate see.
//
// node:http with one Agent (keep-alive, maxSockets = connections) rather than undici: undici is
// not a dependency of this package (only a transitive one of wrangler), and the Agent already
// has the behaviour asked for: at most `connections` sockets, a request with no free socket
// waits in the Agent's queue and takes the next one freed. Sockets are handed out FIFO so all of
// them stay in use, as with a load balancer in front of the gateway, and none idles long enough
// for the server's keep-alive timeout to close it under a request.
import http from "node:http";
import type { Socket } from "node:net";

export interface OpenLoopOptions {
  url: string;
  headers: Record<string, string>;
  /** The body of the next request (a constant, or one unique per request). */
  body: () => string;
  /** Requests per second, evenly spaced (500 → one every 2 ms). */
  rate: number;
  /** How many requests are measured: rate × seconds. */
  requests: number;
  /**
   * Requests sent first, on the same schedule and connections, and not measured: they open the
   * connections and warm the generator's own code, which would otherwise show in the first latencies.
   */
  warmup?: number;
  /** At most this many connections are opened, and kept alive. */
  connections: number;
  /** A request not answered this long after it was sent counts as an error. */
  timeoutMs?: number;
}

export interface OpenLoopResult {
  /** Latency of every 2xx response, ms from its scheduled send time to its last byte. */
  latencies: number[];
  non2xx: number;
  errors: number;
  /** From the first measured request's scheduled send to the last response, seconds. */
  seconds: number;
  /** Sockets the generator opened (never more than `connections`). */
  connectionsOpened: number;
  /** How late the generator itself was: p50/p99/max of (actual send − scheduled send), ms. */
  sendLag: { p50: number; p99: number; max: number };
}

export function percentile(sorted: ArrayLike<number>, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]! : NaN;
}

/** Runs the load and resolves once every request has been answered, failed or timed out. */
export function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const interval = 1000 / options.rate;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections, maxFreeSockets: options.connections, scheduling: "fifo" });
  let connectionsOpened = 0;
  const createConnection = agent.createConnection.bind(agent);
  agent.createConnection = ((...args: Parameters<typeof createConnection>) => {
    connectionsOpened++;
    return createConnection(...args);
  }) as typeof agent.createConnection;
  const url = new URL(options.url);
  const warmup = options.warmup ?? 0;
  const total = warmup + options.requests;
  const latencies: number[] = [];
  const lags = new Float64Array(options.requests);
  let non2xx = 0;
  let errors = 0;
  let settled = 0;
  let next = 0;
  let lastEnd = 0;
  // A short lead so the first request is not already late when the timer loop starts.
  const start = performance.now() + 20;

  return new Promise((resolve) => {
    const finishOne = () => {
      lastEnd = performance.now();
      if (++settled < total) return;
      agent.destroy();
      const lag = Float64Array.from(lags).sort();
      resolve({
        latencies,
        non2xx,
        errors,
        seconds: (lastEnd - (start + warmup * interval)) / 1000,
        connectionsOpened,
        sendLag: { p50: percentile(lag, 0.5), p99: percentile(lag, 0.99), max: lag[lag.length - 1] ?? NaN },
      });
    };

    const send = (n: number, scheduled: number) => {
      const body = options.body();
      const measured = n >= warmup;
      if (measured) lags[n - warmup] = performance.now() - scheduled;
      let done = false;
      const end = (outcome: () => void) => {
        if (done) return;
        done = true;
        if (measured) outcome();
        finishOne();
      };
      const request = http.request(
        url,
        { method: "POST", agent, headers: { ...options.headers, "content-length": Buffer.byteLength(body) } },
        (response) => {
          const status = response.statusCode ?? 0;
          response.resume();
          response.once("end", () =>
            end(() => {
              if (status >= 200 && status < 300) latencies.push(performance.now() - scheduled);
              else non2xx++;
            }),
          );
          response.once("error", () => end(() => errors++));
        },
      );
      // The timeout covers the wait for a connection too: from the scheduled time, as the latency.
      const timer = setTimeout(() => request.destroy(new Error("timeout")), Math.max(1, timeoutMs - (performance.now() - scheduled)));
      request.once("close", () => clearTimeout(timer));
      request.once("error", () => end(() => errors++));
      request.once("socket", (socket: Socket) => socket.setNoDelay(true));
      request.end(body);
    };

    // Every wake-up sends all requests whose time has come, each stamped with its own scheduled
    // time, so a late timer (or a busy generator) delays sends but never drops or re-times them.
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * interval <= now) {
        send(next, start + next * interval);
        next++;
      }
      if (next < total) setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
}
