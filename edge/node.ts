import { serve, type ServerType } from "@hono/node-server";
import type { GodotzConfig } from "../shared/config/schema.ts";
import { resolveRef, type Env } from "../shared/config/secrets.ts";
import { openDatabase, type Sql } from "../shared/db/connect.ts";
import { migrate } from "../shared/db/migrate.ts";
import { createApp } from "./app.ts";
import { KeyStore } from "./auth/keys.ts";
import { SpendStore } from "./admin/spend.ts";
import { BudgetLedger } from "./budget/ledger.ts";
import { BackgroundTasks } from "./background.ts";
import { createGovernance } from "./governance/index.ts";
import type { SharedRedis } from "./store/redis.ts";
import { connectNodeStore } from "./store/node-store.ts";
import { BatchingPostgresAudit } from "./audit/postgres-sink.ts";
import { buildModelTable } from "./routing/resolve.ts";
import { TaskStore } from "../workers/tasks/store.ts";
import { langfuseObserverFromEnv } from "./tracing/langfuse.ts";
import type { CallObserver, GatewayDeps } from "./deps.ts";
import type { FetchLike } from "./upstream/send.ts";
import { nodeFetch } from "./upstream/node-fetch.ts";
// The reader only: fleet-agent/index.ts pulls in Node-only code.
import { fleetReader } from "../fleet-agent/registry/table.ts";
import { tuneV8ForGateway } from "./v8-tuning.ts";

export interface NodeGatewayOptions {
  config: GodotzConfig;
  env: Env;
  databaseUrl: string;
  port: number;
  host?: string;
  fetch?: FetchLike;
  observers?: CallObserver[];
  log?: (line: string) => void;
  /**
   * The shared store for cache, limits and health, closed by the caller. Default from env: UPSTASH_REDIS_REST_*
   * through REST, else REDIS_URL over a native connection (closed with the gateway), else in-process.
   */
  redis?: SharedRedis;
  /** Key prefix in that store (GODOTZ_REDIS_NAMESPACE, default "godotz"). */
  redisNamespace?: string;
}

export interface RunningGateway {
  url: string;
  port: number;
  deps: GatewayDeps;
  sql: Sql;
  /** Stops taking requests, lets open ones finish, then writes every pending audit row and trace. */
  close(): Promise<void>;
}

/** How long a key looked up once is trusted when a revocation notice goes missing (see KeyStore). */
const KEY_CACHE_TTL_MS = 5_000;

/** The Node entry: the same Hono app as the Worker, served by @hono/node-server with a pooled database. */
export async function startNodeGateway(options: NodeGatewayOptions): Promise<RunningGateway> {
  tuneV8ForGateway();
  const log = options.log ?? ((line: string) => console.error(line));
  const masterKey = resolveRef(options.config.gateway.master_key, options.env, "gateway.master_key");
  const sql = openDatabase(options.databaseUrl, { max: 10 });
  await migrate(sql);
  const audit = new BatchingPostgresAudit(sql, { onError: (e) => log(`godotz: audit write failed, will retry: ${(e as Error).message}`) });
  const langfuse = langfuseObserverFromEnv(options.env);
  const store = options.redis ? { redis: options.redis, close: async () => {} } : connectNodeStore(options.env);
  const deps: GatewayDeps = {
    config: options.config,
    models: buildModelTable(options.config, options.env),
    masterKey,
    keys: new KeyStore(sql, { ttlMs: KEY_CACHE_TTL_MS }),
    spend: new SpendStore(sql),
    budgets: new BudgetLedger(sql, undefined, { onError: (e) => log(`godotz: budget slice write failed, will retry: ${(e as Error).message}`) }),
    tasks: new TaskStore(sql),
    hooks: { sql, env: options.env },
    fleet: fleetReader(sql),
    governance: createGovernance(store.redis, options.config, options.redisNamespace ?? options.env.GODOTZ_REDIS_NAMESPACE),
    background: new BackgroundTasks((e) => log(`godotz: background task failed: ${(e as Error).message}`), undefined, setImmediate),
    log,
    audit,
    observers: [...(options.observers ?? []), ...(langfuse ? [langfuse] : [])],
    fetch: options.fetch ?? nodeFetch(),
  };
  const keyChanges = await deps.keys.listenForChanges();
  const budgetChanges = await deps.budgets.listenForChanges();
  const app = createApp(deps);
  const host = options.host ?? "127.0.0.1";
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: host }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    deps,
    sql,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await deps.background.drain();
        await audit.close();
        await Promise.all(deps.observers.map((o) => o.flush().catch(() => {})));
        await keyChanges.unlisten().catch(() => {});
        // Unlistening writes this process's unwritten slice spend; a failure there must be seen.
        await budgetChanges.unlisten().catch((e) => log(`godotz: final budget write failed: ${(e as Error).message}`));
        await store.close();
        await sql.end({ timeout: 5 });
      })();
      return closing;
    },
  };
}
