-- Task lifecycle events, written in the transaction of the change they describe (an outbox), so
-- Postgres and NATS never need a distributed transaction: a relay (workers/tasks/relay.ts)
-- publishes pending rows to JetStream and marks them sent. Delivery is at-least-once; the
-- stream's dedup window drops a republished row, whose message id is stable.
--
-- A trigger, not the store's functions, writes the rows, so every writer of a task's status
-- (claim, complete, fail, close, retry, cancel, lease expiry, `bd update --status`, and whatever
-- comes later) emits its event without having to remember to.

CREATE TABLE task_events (
  seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- publish order
  task_id      text NOT NULL,             -- no foreign key: the event outlives a deleted task
  type         text NOT NULL,
  payload      jsonb NOT NULL,            -- the event as published (workers/events/schema.ts)
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  refused_at   timestamptz,               -- the payload did not validate; kept for a human, never retried
  error        text
);

-- The relay's queue: it reads the first pending rows and stops.
CREATE INDEX task_events_pending ON task_events (seq) WHERE published_at IS NULL AND refused_at IS NULL;
-- Pruning sent rows.
CREATE INDEX task_events_published ON task_events (published_at) WHERE published_at IS NOT NULL;

CREATE FUNCTION tasks_emit_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  kind text;
  reason text;
  worker text := NEW.claimed_by;
  summary text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    kind := 'created';
  ELSE
    kind := CASE NEW.status
      WHEN 'in_progress' THEN 'started'
      WHEN 'closed' THEN 'completed'
      WHEN 'failed' THEN 'failed'
      WHEN 'cancelled' THEN 'cancelled'
      WHEN 'blocked' THEN 'blocked'
      WHEN 'open' THEN 'reopened'
    END;
    reason := CASE
      WHEN NEW.status = 'failed' THEN left(NEW.error, 1000)
      WHEN NEW.status IN ('closed', 'cancelled') THEN left(NEW.close_reason, 1000)
      WHEN NEW.status = 'open' AND OLD.status = 'failed' THEN 'retry'
      WHEN NEW.status = 'open' AND OLD.status = 'in_progress' AND OLD.lease_expires_at < now() THEN 'lease expired'
      WHEN NEW.status = 'open' THEN 'reopened from ' || OLD.status
    END;
    IF kind = 'reopened' THEN
      worker := OLD.claimed_by;  -- who held it before it went back to the queue
    END IF;
    IF kind = 'completed' AND NEW.result IS NOT NULL AND NEW.result <> 'null'::jsonb THEN
      summary := left(NEW.result::text, 200);
    END IF;
  END IF;
  INSERT INTO task_events (task_id, type, payload) VALUES (NEW.id, kind,
    jsonb_build_object(
      'type', kind, 'task_id', NEW.id, 'swarm', NEW.swarm, 'run_id', NEW.run_id, 'status', NEW.status,
      'attempts', NEW.attempts, 'at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
    || jsonb_strip_nulls(jsonb_build_object('worker', worker, 'reason', reason, 'result_summary', summary)));
  RETURN NULL;
END $$;

CREATE TRIGGER tasks_created_event AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_emit_event();
CREATE TRIGGER tasks_transition_event AFTER UPDATE OF status ON tasks
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION tasks_emit_event();
