-- Readiness kept on the row, so the ready index holds only ready tasks and `bd ready` / claim read
-- the first rows they find instead of walking past blocked ones (docs/benchmarks.md, "Task DAG").
--
-- blocker_count = the task's unclosed 'blocks' blockers + its parents ('parent-child') whose own
-- blocker_count is above 0. It is 0 exactly when workers/tasks/sql.ts `unblocked` holds (no unclosed
-- 'blocks' blocker on the task or on any ancestor through 'parent-child'); gating edges are acyclic,
-- so the two agree by induction up the parent chain. Triggers keep it in the transaction of every
-- write that can change it, whoever makes the write: a gating edge added, removed or retyped, and a
-- blocker entering or leaving 'closed'.

ALTER TABLE tasks ADD COLUMN blocker_count integer NOT NULL DEFAULT 0 CHECK (blocker_count >= 0);

-- Moves a task's count by delta; when it crosses 0 its children gain or lose a blocked parent.
CREATE FUNCTION task_adjust_blockers(task text, delta integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  after integer;
  child text;
BEGIN
  UPDATE tasks SET blocker_count = blocker_count + delta WHERE id = task RETURNING blocker_count INTO after;
  IF NOT FOUND OR (after - delta = 0) = (after = 0) THEN
    RETURN;
  END IF;
  -- Ordered, so two transactions touching the same children lock them in the same order.
  FOR child IN SELECT issue_id FROM task_dependencies WHERE depends_on_id = task AND type = 'parent-child' ORDER BY issue_id LOOP
    PERFORM task_adjust_blockers(child, CASE WHEN after = 0 THEN -1 ELSE 1 END);
  END LOOP;
END $$;

-- Whether an edge of this type to this blocker holds its issue back now. FOR SHARE waits for (and
-- then sees) a concurrent status or count change of the blocker, and makes such a change wait for
-- this transaction; without it an edge written beside a close could be counted by neither or both.
CREATE FUNCTION task_edge_gates(edge_type text, blocker text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  gates boolean;
BEGIN
  IF edge_type NOT IN ('blocks', 'parent-child') THEN
    RETURN false;
  END IF;
  SELECT CASE WHEN edge_type = 'blocks' THEN status <> 'closed' ELSE blocker_count > 0 END INTO gates
  FROM tasks WHERE id = blocker FOR SHARE;
  RETURN coalesce(gates, false);
END $$;

CREATE FUNCTION task_dependencies_count_blockers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') AND task_edge_gates(OLD.type, OLD.depends_on_id) THEN
    PERFORM task_adjust_blockers(OLD.issue_id, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND task_edge_gates(NEW.type, NEW.depends_on_id) THEN
    PERFORM task_adjust_blockers(NEW.issue_id, 1);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER task_dependencies_count_blockers
  AFTER INSERT OR DELETE OR UPDATE OF issue_id, depends_on_id, type ON task_dependencies
  FOR EACH ROW EXECUTE FUNCTION task_dependencies_count_blockers();

CREATE FUNCTION tasks_closedness_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  dependent text;
BEGIN
  FOR dependent IN SELECT issue_id FROM task_dependencies WHERE depends_on_id = NEW.id AND type = 'blocks' ORDER BY issue_id LOOP
    PERFORM task_adjust_blockers(dependent, CASE WHEN NEW.status = 'closed' THEN -1 ELSE 1 END);
  END LOOP;
  RETURN NULL;
END $$;

-- Only entering or leaving 'closed' matters, so claims (open → in_progress) never run this.
CREATE TRIGGER tasks_closedness_changed
  AFTER UPDATE OF status ON tasks
  FOR EACH ROW WHEN ((OLD.status = 'closed') IS DISTINCT FROM (NEW.status = 'closed'))
  EXECUTE FUNCTION tasks_closedness_changed();

-- The edges to a deleted task go first, while it still exists, so the edge trigger can read its
-- state (the foreign key's cascade would run after the row is gone). Its own edges are left to the
-- cascade: they would only adjust the count of the row being deleted.
CREATE FUNCTION tasks_drop_edges() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM task_dependencies WHERE depends_on_id = OLD.id;
  RETURN OLD;
END $$;

CREATE TRIGGER tasks_drop_edges BEFORE DELETE ON tasks FOR EACH ROW EXECUTE FUNCTION tasks_drop_edges();

-- Backfill: tasks with an unclosed 'blocks' blocker are blocked, and so is every descendant of a
-- blocked task through 'parent-child'; each task counts its unclosed blockers and blocked parents.
WITH RECURSIVE blocked(id) AS (
  SELECT d.issue_id FROM task_dependencies d JOIN tasks b ON b.id = d.depends_on_id
  WHERE d.type = 'blocks' AND b.status <> 'closed'
  UNION
  SELECT d.issue_id FROM task_dependencies d JOIN blocked x ON d.depends_on_id = x.id WHERE d.type = 'parent-child'
), counts AS (
  SELECT d.issue_id AS id, count(*)::int AS n
  FROM task_dependencies d JOIN tasks b ON b.id = d.depends_on_id
  WHERE (d.type = 'blocks' AND b.status <> 'closed') OR (d.type = 'parent-child' AND d.depends_on_id IN (SELECT id FROM blocked))
  GROUP BY d.issue_id
)
UPDATE tasks t SET blocker_count = counts.n FROM counts WHERE t.id = counts.id;

-- Open (claims move a task to in_progress, and every way back to open drops the claim) and
-- nothing holding it back: the index holds ready tasks and nothing else.
DROP INDEX tasks_ready;
CREATE INDEX tasks_ready ON tasks (priority, created_at, seq) WHERE status = 'open' AND blocker_count = 0;
