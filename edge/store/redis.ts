import { Redis } from "@upstash/redis";
import type { Env } from "../../shared/config/secrets.ts";

/** A Lua script run by EVALSHA, falling back to EVAL when Redis does not know it yet. */
export interface StoreScript<T> {
  exec(keys: string[], args: string[]): Promise<T>;
}

/**
 * The shared store for cache, rate limits, concurrency leases and model health: the few Redis
 * commands governance uses, with @upstash/redis's result semantics (values that read as JSON come
 * back parsed). Two clients stand behind it:
 * - @upstash/redis (connectRedis below), because REST is what a Worker can reach: Upstash in
 *   production (UPSTASH_REDIS_REST_URL / UPSTASH_REDIS_REST_TOKEN), or a local Redis behind an
 *   Upstash-compatible REST server (local-upstash.ts);
 * - on Node only, a native connection to REDIS_URL (native-redis.ts, picked by node-store.ts), which
 *   spares each command an HTTP round trip. It is never imported from here, so the Worker bundle
 *   does not reach ioredis.
 * Without either, each capability falls back to in-process state: correct for one process only.
 */
export interface SharedRedis {
  get<T>(key: string): Promise<T | null>;
  set(key: string, value: string, options: { px: number } | { ex: number }): Promise<unknown>;
  zrem(key: string, ...members: string[]): Promise<number>;
  createScript<T>(script: string): StoreScript<T>;
  /** EVALSHA and EVAL, as @upstash/ratelimit's scripts call them (numbers are sent as strings). */
  evalsha<TArgs extends unknown[], TData = unknown>(sha1: string, keys: string[], args: TArgs): Promise<TData>;
  eval<TArgs extends unknown[], TData = unknown>(script: string, keys: string[], args: TArgs): Promise<TData>;
}

export function connectRedis(env: Env): Redis | undefined {
  const url = env.UPSTASH_REDIS_REST_URL;
  const token = env.UPSTASH_REDIS_REST_TOKEN;
  if (!url || !token) return undefined;
  return new Redis({
    url,
    token,
    // The local REST server answers in plain JSON; Upstash accepts both.
    responseEncoding: false,
    // Governance must answer fast or fail: a retry storm on a dead store helps nobody.
    retry: { retries: 1, backoff: () => 20 },
    enableAutoPipelining: false,
  });
}
