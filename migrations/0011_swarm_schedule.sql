-- Scheduled runs (swarm `triggers: - schedule: { cron }`, workers/swarm/schedule). Every worker
-- process computes the same ticks; the one whose insert of a tick's row succeeds creates the run,
-- in the same transaction, so a tick gives one run however many workers saw it.

CREATE TABLE swarm_schedule_ticks (
  swarm      text NOT NULL,
  cron       text NOT NULL,                 -- the expression as written in the swarm file
  tick_at    timestamptz NOT NULL,          -- the tick the run is for, not when it was claimed
  -- The run the tick started. NULL only inside the claiming transaction (the row is inserted first
  -- so that losers stop at the key before creating anything); deleting the run deletes the tick.
  run_id     text REFERENCES swarm_runs (id) ON DELETE CASCADE,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (swarm, cron, tick_at)
);

CREATE INDEX swarm_schedule_ticks_run ON swarm_schedule_ticks (run_id);
