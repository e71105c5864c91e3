-- Swarms and their runs. The edge (Worker or Node) records a run and hands it to the workers;
-- the workers execute it (LangGraph, checkpointed to Postgres, or Temporal) and keep its status
-- here. Each run's steps are also tasks (tasks.run_id), so `bd` shows agent work as it happens.

-- Swarms the edge can start by name (webhooks): registered by `godotz swarm deploy`, because the
-- Worker has no filesystem to read swarm files from. `spec` is the loaded swarm with its nested
-- swarms and skills inlined (workers/swarm/spec), so a worker needs nothing but this row.
CREATE TABLE swarms (
  name        text PRIMARY KEY,
  version     text NOT NULL,
  spec        jsonb NOT NULL,
  source      text,                                   -- where it was deployed from, for people
  deployed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE swarm_runs (
  id                  text PRIMARY KEY,               -- 'run_' + random base36
  swarm               text NOT NULL,
  swarm_version       text NOT NULL,
  -- The spec as it was when the run was created: a run finishes on the version it started with,
  -- whatever is deployed meanwhile.
  spec                jsonb NOT NULL,
  input               text NOT NULL,
  status              text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
  trigger             text NOT NULL CHECK (trigger IN ('cli', 'webhook', 'schedule', 'api')),
  engine              text NOT NULL DEFAULT 'langgraph' CHECK (engine IN ('langgraph', 'temporal')),
  output              text,
  error               text,
  worker              text,                           -- the worker process executing it
  cancel_requested_at timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  started_at          timestamptz,
  finished_at         timestamptz
);

CREATE INDEX swarm_runs_recent ON swarm_runs (created_at DESC);
CREATE INDEX swarm_runs_by_swarm ON swarm_runs (swarm, created_at DESC);
CREATE INDEX swarm_runs_unfinished ON swarm_runs (status) WHERE status IN ('queued', 'running');
