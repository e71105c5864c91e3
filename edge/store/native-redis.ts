import { createHash } from "node:crypto";
import { Redis as IORedis } from "ioredis";
import type { SharedRedis, StoreScript } from "./redis.ts";

/**
 * The shared store over one native Redis connection (ioredis), for Node gateways: the same
 * commands and the same results as @upstash/redis as connectRedis configures it, without an HTTP
 * round trip through a REST server per command. Commands are written as they are issued and may be
 * in flight together on the connection (Redis answers in order), so a request's parallel
 * rate-limit checks still wait on one round trip.
 *
 * Not ioredis's auto-pipelining: its per-tick Pipeline objects (and everything their commands
 * reference) outlived young-generation collections, so a governed gateway at 500 requests/s
 * promoted about 20 KB per request to the old generation and scavenged longer and more often
 * (docs/benchmarks.md, "What sets the governed tail at 500 requests/s"). Plain writes allocate
 * less and cost less CPU per command on loopback.
 *
 * Node only: the Worker cannot open TCP to Redis this way, and nothing it bundles imports this.
 *
 * Failure behaviour, chosen to match the REST client's "answer fast or fail":
 * - maxRetriesPerRequest 0: a command in flight when the connection drops fails at once, rather
 *   than being resent after a reconnect (ioredis's default retries 20 times, holding the request).
 * - The offline queue stays on, so commands issued while the first connection (or a reconnect
 *   attempt) is being set up wait for it; that wait is bounded by connectTimeout, and a failed
 *   attempt fails everything queued (maxRetriesPerRequest 0 again). While ioredis waits between
 *   reconnect attempts (status "reconnecting"), the store is known to be down and commands fail
 *   immediately instead of queueing for the next attempt.
 * - commandTimeout bounds every command, queued or sent, so no promise hangs on a black-holed
 *   connection; the modules' own, usually shorter, deadlines still decide when they give up.
 * - Reconnection goes on forever with a short back-off, so a restarted Redis is picked up again.
 * Every failure rejects with an Error, which the modules wrap in their *UnavailableError types.
 */
export class NativeRedis implements SharedRedis {
  private readonly client: IORedis;
  private lastError: Error | undefined;

  constructor(url: string, options: { connectTimeoutMs?: number; commandTimeoutMs?: number; onError?: (error: Error) => void } = {}) {
    this.client = new IORedis(url, {
      enableAutoPipelining: false,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: true,
      connectTimeout: options.connectTimeoutMs ?? 1_000,
      commandTimeout: options.commandTimeoutMs ?? 2_000,
      retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
      // Neither is needed for governance, and each would hold the first commands behind a round trip.
      enableReadyCheck: false,
      disableClientInfo: true,
    });
    // Without a listener ioredis prints every connection error; commands report them anyway.
    this.client.on("error", (error: Error) => {
      this.lastError = error;
      options.onError?.(error);
    });
  }

  async get<T>(key: string): Promise<T | null> {
    return deserialize(await this.send(() => this.client.get(key))) as T | null;
  }

  async set(key: string, value: string, options: { px: number } | { ex: number }): Promise<unknown> {
    const expiry = "px" in options ? (["PX", options.px] as const) : (["EX", options.ex] as const);
    return deserialize(await this.send(() => this.client.set(key, value, expiry[0] as "PX", expiry[1])));
  }

  zrem(key: string, ...members: string[]): Promise<number> {
    return this.send(() => this.client.zrem(key, ...members));
  }

  async evalsha<TArgs extends unknown[], TData = unknown>(sha1: string, keys: string[], args: TArgs): Promise<TData> {
    return deserialize(await this.send(() => this.client.evalsha(sha1, keys.length, ...keys, ...args.map(serialize)))) as TData;
  }

  async eval<TArgs extends unknown[], TData = unknown>(script: string, keys: string[], args: TArgs): Promise<TData> {
    return deserialize(await this.send(() => this.client.eval(script, keys.length, ...keys, ...args.map(serialize)))) as TData;
  }

  createScript<T>(script: string): StoreScript<T> {
    const sha1 = createHash("sha1").update(script).digest("hex");
    return {
      exec: (keys, args) =>
        this.evalsha<string[], T>(sha1, keys, args).catch((error: unknown) => {
          // As @upstash/redis's Script.exec: the script text travels only when Redis lacks it.
          if (error instanceof Error && error.message.toLowerCase().includes("noscript")) return this.eval<string[], T>(script, keys, args);
          throw error;
        }),
    };
  }

  // For tests and benchmarks, which clean up the keys they made; governance does not use these.
  keys(pattern: string): Promise<string[]> {
    return this.send(() => this.client.keys(pattern));
  }

  del(...keys: string[]): Promise<number> {
    return this.send(() => this.client.del(...keys));
  }

  pttl(key: string): Promise<number> {
    return this.send(() => this.client.pttl(key));
  }

  async ping(): Promise<string> {
    return this.send(() => this.client.ping());
  }

  /**
   * Closes the connection at once, failing any command still pending; callers close it after their
   * own work has drained (QUIT would wait on a Redis that no longer answers).
   */
  async close(): Promise<void> {
    this.client.disconnect();
  }

  private send<T>(command: () => Promise<T>): Promise<T> {
    if (this.client.status === "reconnecting" || this.client.status === "end") {
      const reason = this.lastError ? `: ${this.lastError.message}` : "";
      return Promise.reject(new Error(`Redis connection is down (${this.client.status})${reason}`));
    }
    return command();
  }
}

/** Arguments as @upstash/redis sends them: strings and numbers as they are, anything else as JSON. */
function serialize(value: unknown): string | number {
  if (typeof value === "string" || typeof value === "number") return value;
  if (typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/*
 * @upstash/redis 1.39's automatic deserialization (parseResponse in pkg/util.ts), applied to the
 * same values its REST server would have sent: a string that parses as JSON comes back parsed
 * (so "42" is 42 and '{"a":1}' an object), unless it is a number that would not print back the
 * same ("1.50", "007", large integers stay strings); arrays element by element; anything else
 * as it is. Our modules rely on it (the cache reads parsed answers; health rows and script
 * results may arrive as numbers), so the native client must not differ.
 */
function parseRecursive(value: unknown): unknown {
  const parsed: unknown = Array.isArray(value)
    ? value.map((item) => deserialize(item))
    : JSON.parse(value as string);
  if (typeof parsed === "number" && parsed.toString() !== value) return value;
  return parsed;
}

/** Whether JSON.parse could accept the text: anything else would only throw, which is slow. */
const MAY_BE_JSON = /^[\s{["\-0-9tfn]/;

export function deserialize(value: unknown): unknown {
  // Same results as parseRecursive, without its cost where it cannot change anything: integer
  // replies and nil come back as they are, and "OK" or a model name is not JSON (an exception per
  // reply was most of this function's time in the gateway's profile).
  if (value === null || typeof value === "number") return value;
  if (typeof value === "string" && !MAY_BE_JSON.test(value)) return value;
  try {
    return parseRecursive(value);
  } catch {
    return value;
  }
}
