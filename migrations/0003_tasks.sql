-- Task DAG (the `bd` CLI): one shared, durable picture of the work for agents and operators.
-- Readiness, claiming and cycle refusal are enforced here and in workers/tasks/store.ts.

CREATE TABLE tasks (
  id                text PRIMARY KEY,                  -- 'gz-' + base36, short like beads ids
  -- Creation order: the tie-break for "oldest first" when timestamps are equal (one transaction).
  seq               bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  title             text NOT NULL CHECK (title <> ''),
  description       text NOT NULL DEFAULT '',
  issue_type        text NOT NULL DEFAULT 'task',
  status            text NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'in_progress', 'blocked', 'closed', 'failed', 'cancelled')),
  priority          smallint NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
  assignee          text,                              -- the agent or node meant to do it
  labels            text[] NOT NULL DEFAULT '{}',
  estimated_minutes integer CHECK (estimated_minutes >= 0),
  attempts          integer NOT NULL DEFAULT 0,
  claimed_by        text,                              -- the worker holding (or last holding) it
  lease_expires_at  timestamptz,                     -- set only while in_progress through a claim
  result            jsonb,
  error             text,
  close_reason      text,
  swarm             text,
  run_id            text,
  idempotency_key   text UNIQUE,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  started_at        timestamptz,
  closed_at         timestamptz
);

-- The ready queue: `bd ready` and claim walk this in order and stop after a few rows.
CREATE INDEX tasks_ready ON tasks (priority, created_at, seq) WHERE status = 'open';
-- Expired leases are found without scanning the table.
CREATE INDEX tasks_lease ON tasks (lease_expires_at) WHERE status = 'in_progress';
CREATE INDEX tasks_swarm ON tasks (swarm, priority, created_at) WHERE swarm IS NOT NULL;
CREATE INDEX tasks_assignee ON tasks (assignee) WHERE assignee IS NOT NULL;
CREATE INDEX tasks_labels ON tasks USING gin (labels);

-- issue_id depends on depends_on_id (as beads: `bd dep add ISSUE DEPENDS_ON`).
-- Only 'blocks' and 'parent-child' gate readiness; those two may never form a cycle.
CREATE TABLE task_dependencies (
  issue_id      text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  depends_on_id text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  type          text NOT NULL CHECK (type IN ('blocks', 'parent-child', 'related', 'discovered-from')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issue_id, depends_on_id),
  CHECK (issue_id <> depends_on_id)
);

-- Dependents of a task (cancel's cascade, `dep tree --reverse`); the primary key serves the other way.
CREATE INDEX task_dependencies_depends_on ON task_dependencies (depends_on_id, type);
