import { createServer } from "node:net";
import { NativeRedis } from "../../edge/store/native-redis.ts";
import { REDIS_URL } from "./upstash.ts";

/** The real Redis on loopback over a native connection, as a Node gateway with REDIS_URL speaks it. */
export function connectNative(redisUrl = REDIS_URL): NativeRedis {
  return new NativeRedis(redisUrl);
}

/** A port nobody listens on: one the OS just handed out and took back. */
export function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
