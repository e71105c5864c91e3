-- The swarm runtime (workers/swarm/runtime): who executes a run, and the run/step events.
--
-- A worker holds a run by a lease it renews while executing it; a run whose lease has run out
-- while 'running' belongs to a worker that died, and another worker resumes it from its LangGraph
-- checkpoint. Each step of a run is a task (tasks.run_id, idempotency key '<run>:<step>').

ALTER TABLE swarm_runs
  ADD COLUMN lease_expires_at timestamptz,
  ADD COLUMN heartbeat_at     timestamptz,
  ADD COLUMN attempts         integer NOT NULL DEFAULT 0;   -- times a worker has taken the run

CREATE INDEX swarm_runs_lease ON swarm_runs (lease_expires_at) WHERE status = 'running';

-- Run and step lifecycle events, written in the transaction of the change they announce and
-- published to GODOTZ_EVENTS (`godotz.events.<swarm>.<run>.<step>`) by RunEventRelay; the
-- columns are those of task_events (migrations/0006), which the generic OutboxRelay expects.
CREATE TABLE run_events (
  seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id       text NOT NULL REFERENCES swarm_runs (id) ON DELETE CASCADE,
  payload      jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  refused_at   timestamptz,
  error        text
);

CREATE INDEX run_events_pending ON run_events (seq) WHERE published_at IS NULL AND refused_at IS NULL;
CREATE INDEX run_events_published ON run_events (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX run_events_run ON run_events (run_id, seq);
