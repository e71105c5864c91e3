-- Sandbox security events (issue #7): every attempt a task made to break out of its sandbox (a
-- write outside its work directory, a blocked connection, a denied read), with what was tried.
--
-- The fleet agent inserts one row per event and also publishes it on NATS `godotz.security.<node>`
-- (core NATS, best effort); this table is the record. task_id is null when the sandbox could not
-- tell which task's run made the attempt.

CREATE TABLE security_events (
  id        bigserial PRIMARY KEY,
  at        timestamptz NOT NULL,
  node_id   text NOT NULL,
  task_id   text,
  kind      text NOT NULL CHECK (kind IN ('write', 'network', 'read', 'other')),
  detail    text NOT NULL,
  command   text NOT NULL,
  work_dir  text NOT NULL
);

-- `godotz fleet security` reads the newest first, for the fleet or one node.
CREATE INDEX security_events_at ON security_events (at DESC);
CREATE INDEX security_events_node_at ON security_events (node_id, at DESC);
