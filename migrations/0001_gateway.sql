-- Virtual keys: what outside callers authenticate with. Only a hash of the key is kept.
CREATE TABLE virtual_keys (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  key_hash      text NOT NULL UNIQUE,
  key_prefix    text NOT NULL,
  models        text[],
  families      text[],
  budget_usd    numeric(14, 6),
  budget_period text CHECK (budget_period IN ('daily', 'monthly', 'total')),
  rpm           integer CHECK (rpm > 0),
  tpm           integer CHECK (tpm > 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz
);

-- One row per request/response pair through the gateway, for audit and cost attribution.
CREATE TABLE audit_log (
  id                text PRIMARY KEY,
  created_at        timestamptz NOT NULL,
  key_id            text,
  swarm             text,
  agent             text,
  task              text,
  endpoint          text NOT NULL,
  model_requested   text,
  model_used        text,
  provider          text,
  stream            boolean NOT NULL DEFAULT false,
  status            integer NOT NULL,
  error_code        text,
  error_message     text,
  cache             text NOT NULL CHECK (cache IN ('hit', 'miss', 'bypass')),
  prompt_tokens     integer NOT NULL DEFAULT 0,
  completion_tokens integer NOT NULL DEFAULT 0,
  cost_usd          numeric(16, 10) NOT NULL DEFAULT 0,
  latency_ms        integer NOT NULL,
  first_byte_ms     integer,
  request_body      jsonb,
  response_body     jsonb,
  response_text     text
);

CREATE INDEX audit_log_created_at ON audit_log (created_at);
CREATE INDEX audit_log_key_created_at ON audit_log (key_id, created_at);
