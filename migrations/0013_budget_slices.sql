-- Budget slices: a long-lived gateway process holds a slice of a budget (one reservation row,
-- like a request's hold, with a TTL) and admits requests against it in memory, instead of two
-- transactions on the budget's row per request. The invariant is the one of 0002: for every
-- budget window, spent + reserved never exceeds the cap when anything is added, and a process
-- only promises requests what its own slices hold. A slice left by a crashed process expires and
-- is released, like a request's hold.

CREATE FUNCTION godotz_window_end(period text, start timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE period
    WHEN 'daily'   THEN ((start AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC'
    WHEN 'monthly' THEN ((start AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
    ELSE 'infinity'::timestamptz
  END
$$;

-- Resizes (or creates) one slice per budget given, in budget id order so two callers over
-- overlapping budgets cannot deadlock, all in one transaction. For each slice:
--   p_spent  settled spend to charge to the window; it came out of the slice, so the slice shrinks by it;
--   p_keep   what the slice must go on holding after that (requests it has promised, and room
--            that requests may be promised while this call runs);
--   p_need   added on top of keep for the request waiting on this call; refused when
--            spent + everyone else's holds + keep + need would pass the cap;
--   p_extra  headroom wanted beyond keep + need, granted up to 1/p_share of what is left, so
--            slices shrink as the budget nears its cap and several processes can share it.
-- A slice granted nothing is deleted. Budgets that no longer exist return no row. Amounts come
-- back as text so the caller keeps all ten decimals.
CREATE FUNCTION godotz_budget_slice(p_slices text[], p_budgets text[], p_window_starts timestamptz[], p_spent numeric[],
  p_keep numeric[], p_need numeric[], p_extra numeric[], p_share integer, p_ttl_seconds integer)
RETURNS TABLE (budget_id text, window_start timestamptz, window_end timestamptz, cap_usd text, spent_usd text, reserved_usd text, held_usd text, admitted boolean)
LANGUAGE plpgsql AS $$
DECLARE
  i integer;
  b record;
  w timestamptz;
  released numeric;
  held numeric;
  spent numeric;
  others numeric;
  avail numeric;
  grant_usd numeric;
  ok boolean;
BEGIN
  FOR i IN SELECT g FROM generate_subscripts(p_budgets, 1) g ORDER BY p_budgets[g] LOOP
    SELECT bu.period, bu.cap_usd INTO b FROM budgets bu WHERE bu.id = p_budgets[i];
    CONTINUE WHEN NOT FOUND;
    w := coalesce(p_window_starts[i], godotz_window_start(b.period, now()));
    INSERT INTO budget_windows AS bw (budget_id, window_start) VALUES (p_budgets[i], w) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM budget_windows bw WHERE bw.budget_id = p_budgets[i] AND bw.window_start = w FOR UPDATE;
    -- Expired holds and slices end here, under the same lock (this slice's own too, if it lapsed).
    WITH expired AS (
      DELETE FROM budget_reservations r WHERE r.budget_id = p_budgets[i] AND r.window_start = w AND r.expires_at < now() RETURNING r.amount_usd
    ) SELECT coalesce(sum(expired.amount_usd), 0) INTO released FROM expired;
    SELECT coalesce(max(r.amount_usd), 0) INTO held FROM budget_reservations r WHERE r.id = p_slices[i] AND r.budget_id = p_budgets[i];
    UPDATE budget_windows bw SET spent_usd = bw.spent_usd + p_spent[i], reserved_usd = greatest(bw.reserved_usd - released - held, 0)
      WHERE bw.budget_id = p_budgets[i] AND bw.window_start = w
      RETURNING bw.spent_usd, bw.reserved_usd INTO spent, others;
    avail := b.cap_usd - spent - others;
    ok := p_keep[i] + p_need[i] <= avail;
    IF ok THEN
      grant_usd := p_keep[i] + p_need[i] + least(p_extra[i], trunc((avail - p_keep[i] - p_need[i]) / greatest(p_share, 1), 10));
    ELSE
      -- Nothing new fits. Keep no more than the slice already held, so a lowered cap or a crowded
      -- budget never grows it; what it has promised stays covered as far as it was.
      grant_usd := least(p_keep[i], greatest(held - p_spent[i], 0));
    END IF;
    UPDATE budget_windows bw SET reserved_usd = others + grant_usd WHERE bw.budget_id = p_budgets[i] AND bw.window_start = w;
    IF grant_usd > 0 THEN
      INSERT INTO budget_reservations AS r (id, budget_id, window_start, amount_usd, expires_at)
        VALUES (p_slices[i], p_budgets[i], w, grant_usd, now() + make_interval(secs => p_ttl_seconds))
        ON CONFLICT ON CONSTRAINT budget_reservations_pkey DO UPDATE SET amount_usd = excluded.amount_usd, expires_at = excluded.expires_at;
    ELSE
      DELETE FROM budget_reservations r WHERE r.id = p_slices[i] AND r.budget_id = p_budgets[i];
    END IF;
    budget_id := p_budgets[i];
    window_start := w;
    window_end := godotz_window_end(b.period, w);
    cap_usd := b.cap_usd::text;
    spent_usd := spent::text;
    reserved_usd := (others + grant_usd)::text;
    held_usd := grant_usd::text;
    admitted := ok;
    RETURN NEXT;
  END LOOP;
END
$$;
