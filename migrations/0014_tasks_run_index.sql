-- A swarm with a per-run budget sums its step tasks' cost before every step
-- (WHERE run_id = $1); without an index that scans the whole tasks table, which
-- grows with every run. Partial: tasks that are not swarm steps have no run.
CREATE INDEX IF NOT EXISTS tasks_run_id ON tasks (run_id) WHERE run_id IS NOT NULL;
