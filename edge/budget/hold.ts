import type { GatewayDeps } from "../deps.ts";
import type { VirtualKey } from "../auth/keys.ts";
import type { ResolvedModel } from "../routing/resolve.ts";
import type { ChatCompletionRequest } from "../chat/schema.ts";
import { BudgetExceededError, budgetId, type BudgetHold } from "./ledger.ts";
import { worstCaseCost } from "./estimate.ts";
import { GatewayError } from "../errors.ts";

/** The budgets a call by this key on this model is charged to. */
export function chargedBudgets(key: VirtualKey, family: string): string[] {
  return [budgetId("key", key.id), ...key.tags.map((t) => budgetId("tag", t)), budgetId("family", family)];
}

/** A hold on every budget the request may be charged to, and the one way to settle it, exactly once. */
export interface RequestBudget {
  /** True when some budget applies, so the output must be bounded to what was reserved. */
  capped: boolean;
  settle(model: ResolvedModel | undefined, cost: number): void;
}

/**
 * Reserves the request's worst case across every model it may land on (fallbacks included, each
 * family's budget too), before anything goes upstream. A store that cannot be reached refuses
 * the request in hardcore mode and is skipped otherwise (the permissive default, documented).
 */
export async function holdBudget(deps: GatewayDeps, key: VirtualKey, req: ChatCompletionRequest, candidates: ResolvedModel[]): Promise<RequestBudget> {
  const families = [...new Set(candidates.map((m) => m.config.family))];
  const ids = [...new Set(families.flatMap((f) => chargedBudgets(key, f)))];
  let hold: BudgetHold;
  try {
    hold = await deps.budgets.reserve(ids, worstCaseCost(req, candidates.map((m) => m.config)));
  } catch (error) {
    if (error instanceof BudgetExceededError) throw error;
    if (deps.config.hardcore) throw new GatewayError(503, "api_error", "budget_store_unavailable", `Budgets cannot be checked (hardcore mode refuses to serve): ${(error as Error).message}`);
    deps.log(`godotz: budget store unavailable, serving without budget enforcement: ${(error as Error).message}`);
    return { capped: false, settle: () => {} };
  }
  let settled = false;
  return {
    capped: hold.windows.length > 0,
    settle(model, cost) {
      if (settled || hold.windows.length === 0) return;
      settled = true;
      deps.background.run(deps.budgets.settle(hold, model ? chargedBudgets(key, model.config.family) : [], model ? cost : 0));
    },
  };
}
