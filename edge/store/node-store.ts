import type { Env } from "../../shared/config/secrets.ts";
import { NativeRedis } from "./native-redis.ts";
import { connectRedis, type SharedRedis } from "./redis.ts";

/**
 * The shared store a Node gateway uses, from its environment:
 * - UPSTASH_REDIS_REST_URL/TOKEN: that REST endpoint through @upstash/redis, as the Worker does;
 * - else REDIS_URL: a native connection to that Redis (native-redis.ts), no REST proxy between;
 * - else none: each capability keeps its state in-process.
 * `close` ends a native connection (its socket would keep the process alive); REST needs none.
 */
export function connectNodeStore(env: Env, options: { onError?: (error: Error) => void } = {}): { redis: SharedRedis | undefined; kind: "upstash" | "native" | "none"; close(): Promise<void> } {
  const upstash = connectRedis(env);
  if (upstash) return { redis: upstash, kind: "upstash", close: async () => {} };
  if (env.REDIS_URL) {
    const native = new NativeRedis(env.REDIS_URL, options);
    return { redis: native, kind: "native", close: () => native.close() };
  }
  return { redis: undefined, kind: "none", close: async () => {} };
}
