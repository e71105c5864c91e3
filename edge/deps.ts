import type { GodotzConfig } from "../shared/config/schema.ts";
import type { KeyStore, VirtualKey } from "./auth/keys.ts";
import type { AuditRecord, AuditSink } from "./audit/record.ts";
import type { buildModelTable } from "./routing/resolve.ts";
import type { FetchLike } from "./upstream/send.ts";
import type { SpendStore } from "./admin/spend.ts";
import type { BudgetLedger } from "./budget/ledger.ts";
import type { BackgroundTasks } from "./background.ts";
import type { Governance } from "./governance/index.ts";
import type { Timeline, TimelineSelection } from "../workers/tasks/timeline.ts";
import type { WebhookDeps } from "./hooks/routes.ts";
import type { FleetReader } from "../fleet-agent/registry/table.ts";

/** Observes finished calls besides the audit (Langfuse tracing). */
export interface CallObserver {
  observe(entry: AuditRecord): void;
  flush(): Promise<void>;
}

/** Everything the app needs from outside, passed in so both entry points (Node, Worker) build it their way. */
export interface GatewayDeps {
  config: GodotzConfig;
  models: ReturnType<typeof buildModelTable>;
  masterKey: string;
  keys: KeyStore;
  spend: SpendStore;
  budgets: BudgetLedger;
  governance: Governance;
  audit: AuditSink;
  observers: CallObserver[];
  fetch: FetchLike;
  /** Work that outlives the response (settlements); drained on shutdown. */
  background: BackgroundTasks;
  log: (line: string) => void;
  /** The task DAG over time, for the dashboard (a TaskStore); without it /dashboard answers 404. */
  tasks?: { timeline(selection?: TimelineSelection): Promise<Timeline> };
  /** Postgres and the env that webhook secrets resolve in (edge/hooks); without it /hooks answers 404. */
  hooks?: WebhookDeps;
  /** The fleet's nodes (fleet_nodes), for /dashboard/fleet; without it that page answers 404. */
  fleet?: FleetReader;
}

/** Per-request values set by the auth middleware. */
export interface GatewayVariables {
  key: VirtualKey;
  requestId: string;
  startedAt: number;
  attribution: { swarm: string | null; agent: string | null; task: string | null };
  /** What the response cache did for this request. */
  cache: "hit" | "miss" | "bypass";
}

export type GatewayEnv = { Variables: GatewayVariables };

/**
 * Sends a finished call to the audit and every observer once the answer is written
 * (BackgroundTasks.afterResponse): the audit serialises the record, about 18 µs per request in a
 * one-client CPU profile, which the client need not wait for. Never throws into the request. The
 * entry is built by the caller before the answer, so its latency is the answer's.
 */
export function recordCall(deps: GatewayDeps, entry: AuditRecord): void {
  deps.background.afterResponse(() => {
    deps.audit.record(entry);
    for (const observer of deps.observers) {
      try {
        observer.observe(entry);
      } catch {
        // tracing must never fail a request
      }
    }
  });
}
