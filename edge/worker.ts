import { parseConfig } from "../shared/config/load.ts";
import type { GodotzConfig } from "../shared/config/schema.ts";
import { resolveRef, type Env } from "../shared/config/secrets.ts";
import { openDatabase } from "../shared/db/connect.ts";
import { createApp } from "./app.ts";
import { KeyStore } from "./auth/keys.ts";
import { SpendStore } from "./admin/spend.ts";
import { BudgetLedger } from "./budget/ledger.ts";
import { BackgroundTasks } from "./background.ts";
import { createGovernance, type Governance } from "./governance/index.ts";
import { connectRedis } from "./store/redis.ts";
import { ImmediatePostgresAudit } from "./audit/postgres-sink.ts";
import { buildModelTable } from "./routing/resolve.ts";
import { TaskStore } from "../workers/tasks/store.ts";
import { langfuseObserverFromEnv } from "./tracing/langfuse.ts";
// The reader only: fleet-agent/index.ts pulls in Node-only code.
import { fleetReader } from "../fleet-agent/registry/table.ts";

/**
 * The Cloudflare Worker entry. The configuration is the godotz.yaml text in GODOTZ_CONFIG_YAML
 * (a var or secret); Postgres is DATABASE_URL, or a Hyperdrive binding named HYPERDRIVE in
 * production. Migrations are applied beforehand with `godotz migrate`, not from the edge.
 */
interface WorkerEnv {
  GODOTZ_CONFIG_YAML?: string;
  DATABASE_URL?: string;
  HYPERDRIVE?: { connectionString: string };
  [name: string]: unknown;
}

// Parsed once per isolate; the text is compared so a changed var takes effect.
let cached: { text: string; config: GodotzConfig; models: ReturnType<typeof buildModelTable>; governance: Governance } | undefined;

function configFor(env: WorkerEnv, strings: Env) {
  const text = env.GODOTZ_CONFIG_YAML;
  if (!text) throw new Error("GODOTZ_CONFIG_YAML is not set: put the text of godotz.yaml in it (wrangler secret put GODOTZ_CONFIG_YAML < godotz.yaml)");
  if (cached?.text !== text) {
    const config = parseConfig(text, "GODOTZ_CONFIG_YAML");
    // Without Upstash the governance state lives in this isolate only (documented as single-process).
    cached = { text, config, models: buildModelTable(config, strings), governance: createGovernance(connectRedis(strings), config, strings.GODOTZ_REDIS_NAMESPACE) };
  }
  return cached;
}

function stringBindings(env: WorkerEnv): Env {
  const out: Env = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === "string") out[k] = v;
  return out;
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Promise<Response> {
    const strings = stringBindings(env);
    let setup;
    try {
      setup = configFor(env, strings);
    } catch (error) {
      return Response.json({ error: { message: (error as Error).message, type: "api_error", code: "gateway_misconfigured", param: null } }, { status: 500 });
    }
    const url = env.HYPERDRIVE?.connectionString ?? env.DATABASE_URL;
    if (!url) {
      return Response.json({ error: { message: "DATABASE_URL (or a HYPERDRIVE binding) is not set", type: "api_error", code: "gateway_misconfigured", param: null } }, { status: 500 });
    }
    // A Worker cannot keep sockets between requests, so each request has its own small connection.
    // The bundler picks postgres.js's workerd build (TCP through cloudflare:sockets, hence
    // nodejs_compat in wrangler.toml); named prepared statements are fine over direct TCP and Hyperdrive.
    const sql = openDatabase(url, { max: 1, idleTimeoutSeconds: 5 });
    const audit = new ImmediatePostgresAudit(sql, (p) => ctx.waitUntil(p), (e) => console.error("godotz audit write failed", e));
    const langfuse = langfuseObserverFromEnv(strings, { flushAt: 1 });
    const background = new BackgroundTasks((e) => console.error("godotz background task failed", e), (p) => ctx.waitUntil(p));
    const app = createApp({
      config: setup.config,
      models: setup.models,
      masterKey: resolveRef(setup.config.gateway.master_key, strings, "gateway.master_key"),
      keys: new KeyStore(sql),
      spend: new SpendStore(sql),
      budgets: new BudgetLedger(sql),
      tasks: new TaskStore(sql),
      hooks: { sql, env: strings },
      fleet: fleetReader(sql),
      governance: setup.governance,
      background,
      log: (line) => console.error(line),
      audit,
      observers: langfuse ? [langfuse] : [],
      fetch: (input, init) => fetch(input, init),
    });
    const response = await app.fetch(request, env, ctx);
    const finish = async () => {
      await background.drain();
      await audit.flush();
      await langfuse?.flush();
      await sql.end({ timeout: 5 });
    };
    if (response.body && response.headers.get("content-type")?.startsWith("text/event-stream")) {
      // The stream outlives this function: close the connection only after it has been audited.
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      ctx.waitUntil(response.body.pipeTo(writable).catch(() => {}).then(finish));
      return new Response(readable, response);
    }
    ctx.waitUntil(finish());
    return response;
  },
};
