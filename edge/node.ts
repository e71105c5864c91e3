import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
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
// The reader only: fleet-agent/index.ts pulls in Node-only code.
import { fleetReader } from "../fleet-agent/registry/table.ts";

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
    budgets: new BudgetLedger(sql),
    tasks: new TaskStore(sql),
    hooks: { sql, env: options.env },
    fleet: fleetReader(sql),
    governance: createGovernance(store.redis, options.config, options.redisNamespace ?? options.env.GODOTZ_REDIS_NAMESPACE),
    background: new BackgroundTasks((e) => log(`godotz: background task failed: ${(e as Error).message}`)),
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
        await budgetChanges.unlisten().catch(() => {});
        await store.close();
        await sql.end({ timeout: 5 });
      })();
      return closing;
    },
  };
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * Upstream calls over node:http(s) with keep-alive agents rather than the global fetch: the
 * same contract (a WHATWG Response; `init.signal` aborts the call and its body, with the
 * signal's reason), but a fraction of fetch's per-call allocations, which were most of what the
 * gateway spent on a short completion. Event streams stay streamed; other bodies are read whole,
 * as their callers parse them whole anyway. Idle sockets close after 4 s, before the usual 5 s
 * server keep-alive, so a request is not written to a socket the server is closing.
 */
export function nodeFetch(): FetchLike {
  const agents: Record<string, http.Agent> = {
    "http:": new http.Agent({ keepAlive: true, timeout: 4_000 }),
    "https:": new https.Agent({ keepAlive: true, timeout: 4_000 }),
  };
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(signal.reason);
      let incoming: http.IncomingMessage | undefined;
      const onAbort = () => (incoming ?? request).destroy(signal!.reason as Error);
      const done = () => signal?.removeEventListener("abort", onAbort);
      const request = (target.protocol === "https:" ? https : http).request(
        target,
        { method: init.method, headers: init.headers as Record<string, string>, agent: agents[target.protocol] },
        (res) => {
          incoming = res;
          const headers = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
          const status = res.statusCode ?? 502;
          const meta = { status, statusText: res.statusMessage ?? "", headers };
          if (headers.get("content-type")?.startsWith("text/event-stream")) {
            res.once("close", done);
            return resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, meta));
          }
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.once("end", () => (done(), resolve(new Response(NULL_BODY_STATUSES.has(status) ? null : Buffer.concat(chunks), meta))));
          res.once("error", (error) => (done(), reject(error)));
        },
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      request.once("error", (error) => (done(), reject(error)));
      request.end(init.body as string | undefined);
    });
}
