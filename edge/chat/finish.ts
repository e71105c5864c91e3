import type { ResolvedModel } from "../routing/resolve.ts";
import type { ChatCompletion } from "../providers/types.ts";

/** How an answered call ended: who answered, what it cost, and the whole answer when it completed. */
export interface CallOutcome {
  model: ResolvedModel;
  cost: number;
  completion?: ChatCompletion;
}

/** Called exactly once when an answered call ends (settles the budget, frees the slot, fills the cache). */
export type Finish = (outcome: CallOutcome) => void;
