import { GatewayError } from "../errors.ts";

/** 429 `budget_exceeded`, naming the budget that would overrun. */
export class BudgetExceededError extends GatewayError {
  constructor(budget: { budget_id: string; cap_usd: number; spent_usd: number; reserved_usd: number }, amount: number) {
    const left = Math.max(budget.cap_usd - budget.spent_usd - budget.reserved_usd, 0);
    super(
      429,
      "rate_limit_error",
      "budget_exceeded",
      `Budget ${budget.budget_id} (cap $${budget.cap_usd.toFixed(2)}) has $${left.toFixed(6)} left of which none can be promised to this request; its worst case is $${amount.toFixed(6)}`,
      null,
      { "retry-after": "3600" },
    );
  }
}
