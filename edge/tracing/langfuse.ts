import { Langfuse } from "langfuse";
import type { Env } from "../../shared/config/secrets.ts";
import type { AuditRecord } from "../audit/record.ts";
import type { CallObserver } from "../deps.ts";

/**
 * Traces each gateway call to Langfuse (a trace per call with one generation holding prompt,
 * answer, tokens, cost and attribution). The SDK batches and sends in the background.
 * Enabled when LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are set; LANGFUSE_BASEURL (or
 * LANGFUSE_HOST) points it at a self-hosted server.
 */
export function langfuseObserverFromEnv(env: Env, options: { flushAt?: number; flushIntervalMs?: number } = {}): CallObserver | undefined {
  const publicKey = env.LANGFUSE_PUBLIC_KEY;
  const secretKey = env.LANGFUSE_SECRET_KEY;
  if (!publicKey || !secretKey) return undefined;
  const client = new Langfuse({
    publicKey,
    secretKey,
    baseUrl: env.LANGFUSE_BASEURL ?? env.LANGFUSE_HOST ?? "https://cloud.langfuse.com",
    flushAt: options.flushAt ?? 50,
    flushInterval: options.flushIntervalMs ?? 1000,
  });
  return {
    observe: (entry) => traceCall(client, entry),
    flush: () => client.shutdownAsync(),
  };
}

function traceCall(client: Langfuse, entry: AuditRecord): void {
  const attribution = { swarm: entry.swarm, agent: entry.agent, task: entry.task };
  const tags = [entry.swarm && `swarm:${entry.swarm}`, entry.agent && `agent:${entry.agent}`, entry.task && `task:${entry.task}`].filter(
    (t): t is string => Boolean(t),
  );
  const trace = client.trace({
    id: entry.id,
    name: `gateway ${entry.endpoint}`,
    userId: entry.key_id ?? undefined,
    sessionId: entry.swarm ?? undefined,
    tags,
    metadata: { ...attribution, cache: entry.cache, status: entry.status },
    input: inputOf(entry.request_body),
    output: entry.response_text ?? entry.response_body,
  });
  const end = entry.created_at;
  const start = new Date(end.getTime() - entry.latency_ms);
  trace.generation({
    id: `${entry.id}-generation`,
    name: entry.endpoint === "/v1/embeddings" ? "embedding" : "chat",
    model: entry.model_used ?? entry.model_requested ?? undefined,
    startTime: start,
    completionStartTime: entry.first_byte_ms !== null ? new Date(start.getTime() + entry.first_byte_ms) : undefined,
    endTime: end,
    input: inputOf(entry.request_body),
    output: entry.response_text ?? entry.response_body,
    usageDetails: { input: entry.prompt_tokens, output: entry.completion_tokens, total: entry.prompt_tokens + entry.completion_tokens },
    costDetails: { total: entry.cost_usd },
    metadata: { ...attribution, provider: entry.provider, model_requested: entry.model_requested, cache: entry.cache, key_id: entry.key_id },
    level: entry.status >= 400 ? "ERROR" : "DEFAULT",
    statusMessage: entry.error_message ?? undefined,
  });
}

function inputOf(body: unknown): unknown {
  if (body && typeof body === "object" && "messages" in body) return (body as { messages: unknown }).messages;
  if (body && typeof body === "object" && "input" in body) return (body as { input: unknown }).input;
  return body;
}
