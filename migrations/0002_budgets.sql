-- Budgets: a USD cap per period on a virtual key, a model family or a tag (team) of keys.
-- Enforcement reserves a request's worst-case cost before it goes upstream and settles the
-- actual cost afterwards, all under a row lock, so concurrent requests can never overrun a cap.

ALTER TABLE virtual_keys ADD COLUMN tags text[] NOT NULL DEFAULT '{}';

CREATE TABLE budgets (
  id         text PRIMARY KEY,                      -- '<scope>:<subject>'
  scope      text NOT NULL CHECK (scope IN ('key', 'family', 'tag')),
  subject    text NOT NULL,
  period     text NOT NULL CHECK (period IN ('daily', 'monthly', 'total')),
  cap_usd    numeric(16, 10) NOT NULL CHECK (cap_usd >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (scope, subject)
);

-- A key's own budget used to live on the key row; it moves here so there is one source.
INSERT INTO budgets (id, scope, subject, period, cap_usd)
  SELECT 'key:' || id, 'key', id, coalesce(budget_period, 'monthly'), budget_usd FROM virtual_keys WHERE budget_usd IS NOT NULL;
ALTER TABLE virtual_keys DROP COLUMN budget_usd, DROP COLUMN budget_period;

-- Spend and outstanding reservations of one budget in one period (calendar UTC).
CREATE TABLE budget_windows (
  budget_id    text NOT NULL REFERENCES budgets (id) ON DELETE CASCADE,
  window_start timestamptz NOT NULL,
  spent_usd    numeric(16, 10) NOT NULL DEFAULT 0,
  reserved_usd numeric(16, 10) NOT NULL DEFAULT 0,
  PRIMARY KEY (budget_id, window_start)
);

-- One row per budget a request reserved against; expires so a crashed process frees its hold.
CREATE TABLE budget_reservations (
  id           text NOT NULL,
  budget_id    text NOT NULL,
  window_start timestamptz NOT NULL,
  amount_usd   numeric(16, 10) NOT NULL,
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (id, budget_id),
  FOREIGN KEY (budget_id, window_start) REFERENCES budget_windows (budget_id, window_start) ON DELETE CASCADE
);
CREATE INDEX budget_reservations_expiry ON budget_reservations (budget_id, window_start, expires_at);

CREATE FUNCTION godotz_window_start(period text, at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE period
    WHEN 'daily'   THEN date_trunc('day', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    WHEN 'monthly' THEN date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    ELSE 'epoch'::timestamptz
  END
$$;

-- Reserves p_amount on every budget in p_budgets, or on none. Rows are locked in id order so two
-- reservations over overlapping budgets cannot deadlock. Returns one row per budget found, with
-- `admitted` false on the ones that would overrun (and then nothing is reserved anywhere).
CREATE FUNCTION godotz_budget_reserve(p_id text, p_budgets text[], p_amount numeric, p_ttl_seconds integer)
RETURNS TABLE (budget_id text, window_start timestamptz, cap_usd numeric, spent_usd numeric, reserved_usd numeric, admitted boolean)
LANGUAGE plpgsql AS $$
DECLARE
  b record;
  w timestamptz;
  released numeric;
  ids text[] := '{}';
  starts timestamptz[] := '{}';
  caps numeric[] := '{}';
  spents numeric[] := '{}';
  holds numeric[] := '{}';
  all_fit boolean := true;
  i integer;
BEGIN
  FOR b IN SELECT bu.id, bu.period, bu.cap_usd FROM budgets bu WHERE bu.id = ANY (p_budgets) ORDER BY bu.id LOOP
    w := godotz_window_start(b.period, now());
    INSERT INTO budget_windows AS bw (budget_id, window_start) VALUES (b.id, w) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM budget_windows bw WHERE bw.budget_id = b.id AND bw.window_start = w FOR UPDATE;
    -- Holds left by crashed processes end here, under the same lock.
    WITH expired AS (
      DELETE FROM budget_reservations r WHERE r.budget_id = b.id AND r.window_start = w AND r.expires_at < now() RETURNING r.amount_usd
    ) SELECT coalesce(sum(expired.amount_usd), 0) INTO released FROM expired;
    UPDATE budget_windows bw SET reserved_usd = greatest(bw.reserved_usd - released, 0)
      WHERE bw.budget_id = b.id AND bw.window_start = w
      RETURNING bw.spent_usd, bw.reserved_usd INTO spent_usd, reserved_usd;
    ids := ids || b.id;
    starts := starts || w;
    caps := caps || b.cap_usd;
    spents := spents || spent_usd;
    holds := holds || reserved_usd;
    all_fit := all_fit AND spent_usd + reserved_usd + p_amount <= b.cap_usd;
  END LOOP;
  IF all_fit THEN
    FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
      UPDATE budget_windows bw SET reserved_usd = bw.reserved_usd + p_amount WHERE bw.budget_id = ids[i] AND bw.window_start = starts[i];
      INSERT INTO budget_reservations (id, budget_id, window_start, amount_usd, expires_at)
        VALUES (p_id, ids[i], starts[i], p_amount, now() + make_interval(secs => p_ttl_seconds));
    END LOOP;
  END IF;
  FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
    budget_id := ids[i];
    window_start := starts[i];
    cap_usd := caps[i];
    spent_usd := spents[i];
    reserved_usd := holds[i];
    admitted := spents[i] + holds[i] + p_amount <= caps[i];
    RETURN NEXT;
  END LOOP;
END
$$;

-- Settles a reservation: its hold is released and the actual cost is charged to p_charge (the
-- budgets that apply to the model that answered). Charging does not depend on the reservation
-- still existing, so a request that outlived its hold is still counted.
CREATE FUNCTION godotz_budget_settle(p_id text, p_windows text[], p_window_starts timestamptz[], p_charge text[], p_actual numeric)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  i integer;
  held numeric;
BEGIN
  FOR i IN SELECT g FROM generate_subscripts(p_windows, 1) g ORDER BY p_windows[g] LOOP
    PERFORM 1 FROM budget_windows bw WHERE bw.budget_id = p_windows[i] AND bw.window_start = p_window_starts[i] FOR UPDATE;
    DELETE FROM budget_reservations r WHERE r.id = p_id AND r.budget_id = p_windows[i] RETURNING r.amount_usd INTO held;
    UPDATE budget_windows bw
      SET reserved_usd = greatest(bw.reserved_usd - coalesce(held, 0), 0),
          spent_usd = bw.spent_usd + CASE WHEN p_windows[i] = ANY (p_charge) THEN p_actual ELSE 0 END
      WHERE bw.budget_id = p_windows[i] AND bw.window_start = p_window_starts[i];
  END LOOP;
END
$$;
