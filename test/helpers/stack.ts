import OpenAI from "openai";
import { parseConfig } from "../../shared/config/load.ts";
import { startNodeGateway, type RunningGateway } from "../../edge/node.ts";
import { startSimulator, type Simulator } from "../../simulator/server.ts";
import { simulatedConfigYaml } from "../../cli/dev-config.ts";
import { freshDatabase } from "./db.ts";
import { startLocalUpstash } from "../../edge/store/local-upstash.ts";
import { connectRedis } from "../../edge/store/redis.ts";

import { REDIS_URL } from "./upstash.ts";
import type { CallObserver } from "../../edge/deps.ts";
import type { AuditRecord } from "../../edge/audit/record.ts";

export const MASTER_KEY = "gdzm_test_master_key_for_tests_only";

export interface Stack {
  gateway: RunningGateway;
  /** The Upstash REST server this stack started, for a second gateway to share. */
  upstash?: { url: string; token: string };
  simulator: Simulator;
  /** A virtual key with access to every model. */
  key: string;
  client: OpenAI;
  databaseUrl: string;
  /** Audit rows once everything buffered has been written. */
  auditRows(): Promise<(AuditRecord & { cost_usd: number })[]>;
  admin(method: string, route: string, body?: unknown): Promise<Response>;
  close(): Promise<void>;
}

/** Simulator + gateway on loopback + a fresh real-Postgres database, driven by the official openai client. */
export interface StackOptions {
  configYaml?: (simUrl: string) => string;
  observers?: CallObserver[];
  env?: Record<string, string>;
  databaseUrl?: string;
  /** Share governance state through the real Redis (Upstash REST in front of it), as a fleet does. */
  redis?: boolean | { url: string; token: string };
  /** Redis key namespace; stacks meant to share state pass the same one. */
  namespace?: string;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const simulator = await startSimulator({ port: 0 });
  const upstash = options.redis === true ? await startLocalUpstash({ redisUrl: REDIS_URL }) : undefined;
  const rest = upstash ?? (typeof options.redis === "object" ? options.redis : undefined);
  const redis = rest ? connectRedis({ UPSTASH_REDIS_REST_URL: rest.url, UPSTASH_REDIS_REST_TOKEN: rest.token }) : undefined;
  const db = options.databaseUrl ? undefined : await freshDatabase();
  const databaseUrl = options.databaseUrl ?? db!.url;
  const yaml = (options.configYaml ?? simulatedConfigYaml)(simulator.url);
  const gateway = await startNodeGateway({
    config: parseConfig(yaml, "test.yaml"),
    env: { GODOTZ_MASTER_KEY: MASTER_KEY, GODOTZ_SIMULATOR_KEY: "simulated", ...options.env },
    databaseUrl,
    port: 0,
    observers: options.observers,
    log: () => {},
    redis,
    redisNamespace: options.namespace ?? `godotz-test-${crypto.randomUUID()}`,
  });
  const { key } = await gateway.deps.keys.create({ name: "test" });
  const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  return {
    gateway,
    upstash,
    simulator,
    key,
    client,
    databaseUrl,
    async auditRows() {
      await gateway.deps.audit.flush();
      return gateway.sql`SELECT * FROM audit_log ORDER BY created_at, id` as never;
    },
    admin: (method, route, body) =>
      fetch(`${gateway.url}/admin${route}`, {
        method,
        headers: { authorization: `Bearer ${MASTER_KEY}`, "content-type": "application/json" },
        body: body === undefined ? null : JSON.stringify(body),
      }),
    async close() {
      await gateway.close();
      await simulator.close();
      await upstash?.close();
      await db?.drop();
    },
  };
}
