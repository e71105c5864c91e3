/** One request/response pair as the audit keeps it (mirrors the audit_log table). */
export interface AuditRecord {
  id: string;
  created_at: Date;
  key_id: string | null;
  swarm: string | null;
  agent: string | null;
  task: string | null;
  endpoint: string;
  model_requested: string | null;
  model_used: string | null;
  provider: string | null;
  stream: boolean;
  status: number;
  error_code: string | null;
  error_message: string | null;
  cache: "hit" | "miss" | "bypass";
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  latency_ms: number;
  first_byte_ms: number | null;
  request_body: unknown;
  response_body: unknown;
  response_text: string | null;
}

/** Where audit records go. `record` must not block the response; `close` must not lose any. */
export interface AuditSink {
  record(entry: AuditRecord): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Whether the last write reached the store. */
  healthy(): boolean;
}

export const AUDIT_COLUMNS = [
  "id", "created_at", "key_id", "swarm", "agent", "task", "endpoint", "model_requested", "model_used",
  "provider", "stream", "status", "error_code", "error_message", "cache", "prompt_tokens",
  "completion_tokens", "cost_usd", "latency_ms", "first_byte_ms", "request_body", "response_body", "response_text",
] as const satisfies readonly (keyof AuditRecord)[];
