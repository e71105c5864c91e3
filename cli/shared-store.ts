import net from "node:net";

/**
 * Where cache, limits and model health live for a Node gateway (the gateway connects; see
 * edge/store/node-store.ts):
 * - UPSTASH_REDIS_REST_URL/TOKEN set: that (Upstash, or any server speaking its REST API);
 * - else REDIS_URL, or a Redis answering on 127.0.0.1:6379 for `godotz dev` (then REDIS_URL is set
 *   to it): that Redis over a native connection, so every gateway on it shares the state;
 * - else nothing: each gateway keeps that state in-process (right for one process only).
 * Returns what to call at shutdown; the gateway closes its own connection, so there is nothing left.
 */
export async function prepareSharedStore(env: NodeJS.ProcessEnv, options: { probeLocal: boolean; log: (line: string) => void }): Promise<() => Promise<void>> {
  if (env.UPSTASH_REDIS_REST_URL && env.UPSTASH_REDIS_REST_TOKEN) {
    options.log(`godotz: cache, limits and health shared through ${env.UPSTASH_REDIS_REST_URL}`);
    return async () => {};
  }
  if (!env.REDIS_URL && options.probeLocal && (await answers(6379))) env.REDIS_URL = "redis://127.0.0.1:6379";
  if (!env.REDIS_URL) {
    options.log("godotz: no Redis: cache, rate limits, concurrency and health are kept in this process only");
    return async () => {};
  }
  options.log(`godotz: cache, limits and health shared through Redis ${env.REDIS_URL.replace(/\/\/[^@]*@/, "//")}`);
  return async () => {};
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.setTimeout(500, () => (socket.destroy(), resolve(false)));
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}
