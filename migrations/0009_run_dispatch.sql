-- Handing runs to the workers, and the webhook deliveries that start them.
--
-- The edge (a Cloudflare Worker or Node) never talks to NATS: a run request is written here in
-- the transaction that records the run (workers/swarm/dispatch/request.ts), and a relay in the
-- workers publishes it to the JetStream work queue GODOTZ_RUNS. So a run is never lost when NATS
-- is down, nor queued without its row, and a Worker needs no raw TCP socket to NATS.

CREATE TABLE swarm_run_requests (
  seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- publish order
  run_id       text NOT NULL REFERENCES swarm_runs (id) ON DELETE CASCADE,
  payload      jsonb NOT NULL,            -- the request as published (workers/swarm/dispatch/schema.ts)
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  refused_at   timestamptz,               -- the payload did not validate; kept for a human, never retried
  error        text
);

CREATE INDEX swarm_run_requests_pending ON swarm_run_requests (seq) WHERE published_at IS NULL AND refused_at IS NULL;
CREATE INDEX swarm_run_requests_published ON swarm_run_requests (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX swarm_run_requests_run ON swarm_run_requests (run_id);

-- Webhook deliveries seen while their signature is still fresh: the primary key refuses a replay.
-- `digest` is SHA-256 of the signed content ("<t>.<body>"), not of a signature, so a delivery
-- signed with two secrets during a rotation counts once whichever signature is replayed.
-- Rows are pruned once `expires_at` (the signed time plus the tolerance) has passed: from then on
-- the signature itself is refused as stale.
CREATE TABLE hook_deliveries (
  swarm       text NOT NULL,
  digest      text NOT NULL,
  signed_at   timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  delivery_id text,                       -- the sender's own id, when the body carries one
  run_id      text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (swarm, digest)
);

CREATE INDEX hook_deliveries_expiry ON hook_deliveries (expires_at);
