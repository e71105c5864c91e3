-- Caps of a million dollars and more overflowed numeric(16, 10); budgets keep ten decimals and
-- now allow up to ten integer digits.
ALTER TABLE budgets ALTER COLUMN cap_usd TYPE numeric(20, 10);
ALTER TABLE budget_windows ALTER COLUMN spent_usd TYPE numeric(20, 10), ALTER COLUMN reserved_usd TYPE numeric(20, 10);
ALTER TABLE budget_reservations ALTER COLUMN amount_usd TYPE numeric(20, 10);
