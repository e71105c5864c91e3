import type { Redis } from "@upstash/redis";
import { startLocalUpstash } from "../../edge/store/local-upstash.ts";
import { connectRedis } from "../../edge/store/redis.ts";

export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** The real Redis on loopback behind the local Upstash REST server, and a client for it. */
export async function startUpstash(redisUrl = REDIS_URL): Promise<{ redis: Redis; url: string; token: string; stop(): Promise<void> }> {
  const upstash = await startLocalUpstash({ redisUrl });
  const redis = connectRedis({ UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: upstash.token })!;
  return { redis, url: upstash.url, token: upstash.token, stop: upstash.close };
}
