import type { NativeRedis } from "../../edge/store/native-redis.ts";
import { connectRedis, type SharedRedis } from "../../edge/store/redis.ts";
import { closedPort, connectNative } from "../helpers/native.ts";
import { startUpstash } from "../helpers/upstash.ts";

/**
 * The stores every limits test runs against: the real Redis on loopback, spoken through the
 * Upstash REST API exactly as the Worker (and a Node gateway with UPSTASH_*) speaks it; the same
 * Redis over a native connection, as a Node gateway with REDIS_URL speaks it; and none at all
 * (in-process).
 */
export interface Store {
  name: "redis" | "native" | "in-memory";
  redis: SharedRedis | undefined;
  /** A key prefix no other test run shares. */
  prefix: string;
}

export async function startStores(): Promise<{ stores: Store[]; upstash: { url: string; token: string }; native: NativeRedis; close(): Promise<void> }> {
  const upstash = await startUpstash();
  const { redis } = upstash;
  const native = connectNative();
  const prefix = `godotz-test:${crypto.randomUUID()}`;
  return {
    upstash,
    native,
    stores: [
      { name: "redis", redis, prefix },
      { name: "native", redis: native, prefix: `${prefix}:native` },
      { name: "in-memory", redis: undefined, prefix },
    ],
    async close() {
      try {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, { match: `${prefix}*`, count: 1000 });
          if (keys.length) await redis.del(...keys);
          cursor = String(next);
        } while (cursor !== "0");
      } finally {
        await native.close();
        await upstash.stop();
      }
    },
  };
}

/** A REST URL nobody listens on. */
export async function unreachableRedis(): Promise<SharedRedis> {
  return connectRedis({ UPSTASH_REDIS_REST_URL: `http://127.0.0.1:${await closedPort()}`, UPSTASH_REDIS_REST_TOKEN: "nobody" })!;
}

/** A native connection to a port nobody listens on; close it after the test. */
export async function unreachableNative(): Promise<NativeRedis> {
  return connectNative(`redis://127.0.0.1:${await closedPort()}`);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
