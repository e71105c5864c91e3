import type { Context } from "hono";
import type { GatewayEnv } from "../deps.ts";
import type { AuditRecord } from "./record.ts";
import { newRequestId } from "./request-id.ts";

/** The audit fields every call shares, read from the request context; callers fill in the outcome. */
export function baseAuditRecord(c: Context<GatewayEnv>, endpoint: string, modelRequested: string | null, requestBody: unknown): AuditRecord {
  const attribution = c.get("attribution") ?? { swarm: null, agent: null, task: null };
  const startedAt = c.get("startedAt") ?? performance.now();
  return {
    id: c.get("requestId") ?? newRequestId(),
    created_at: new Date(),
    key_id: c.get("key")?.id ?? null,
    ...attribution,
    endpoint,
    model_requested: modelRequested,
    model_used: null,
    provider: null,
    stream: false,
    status: 200,
    error_code: null,
    error_message: null,
    cache: c.get("cache") ?? "bypass",
    prompt_tokens: 0,
    completion_tokens: 0,
    cost_usd: 0,
    latency_ms: Math.round(performance.now() - startedAt),
    first_byte_ms: null,
    request_body: requestBody,
    response_body: null,
    response_text: null,
  };
}
