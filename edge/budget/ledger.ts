import type { Sql } from "../../shared/db/connect.ts";
import { BudgetExceededError } from "./errors.ts";
import { BudgetSlices, DEFAULT_SLICE_OPTIONS, type SliceOptions, type SlicedHold } from "./slices.ts";

export { BudgetExceededError };

export type BudgetScope = "key" | "family" | "tag";
export type BudgetPeriod = "daily" | "monthly" | "total";

export interface Budget {
  id: string;
  scope: BudgetScope;
  subject: string;
  period: BudgetPeriod;
  cap_usd: number;
}

export interface BudgetStatus extends Budget {
  window_start: Date;
  spent_usd: number;
  reserved_usd: number;
  remaining_usd: number;
}

/** What a request holds against its budgets until it settles. */
export interface BudgetHold {
  id: string;
  amount: number;
  windows: { budgetId: string; windowStart: Date }[];
  /** Set when the request was admitted on this process's slices rather than by a hold of its own. */
  sliced?: SlicedHold;
}

export const BUDGET_CHANGES_CHANNEL = "godotz_budget_changes";

export const budgetId = (scope: BudgetScope, subject: string) => `${scope}:${subject}`;

/**
 * Budgets in Postgres. `reserve` holds a request's worst-case cost on every budget that applies,
 * all or nothing, under row locks (godotz_budget_reserve); `settle` releases the hold and charges
 * the actual cost. As long as the actual cost never exceeds the hold, spend cannot pass a cap,
 * however many requests race. A hold whose process died expires after `ttlSeconds`.
 *
 * A process that listens for budget changes (a Node gateway) admits requests on slices instead
 * (slices.ts): the same guarantee, with a transaction every ~100 ms per budget rather than two per
 * request. Its settled spend reaches `spent_usd` at the next write, and in the meantime it counts
 * in `reserved_usd` (it is inside the slice's hold); `list()` writes this process's first.
 */
export class BudgetLedger {
  /** Ids of every budget, while a process listens for changes (see listenForChanges). */
  private known: { ids: Set<string>; until: number } | undefined;
  private listening = false;
  /** Changes made here, waiting for their own notice to come back (see announced()). */
  private readonly pending = new Map<string, () => void>();

  private readonly slices: BudgetSlices | undefined;

  /** `slices: false` keeps one hold per request even when listening (tests, comparisons). */
  constructor(
    private readonly sql: Sql,
    private readonly ttlSeconds = 900,
    options: { slices?: SliceOptions | false; onError?: (error: unknown) => void } = {},
  ) {
    if (options.slices !== false) this.slices = new BudgetSlices(sql, options.slices ?? DEFAULT_SLICE_OPTIONS, options.onError);
  }

  /**
   * Lets a long-lived process skip the database for requests no budget applies to (most
   * requests, in most set-ups). The set of budget ids is cached and dropped whenever any process
   * changes a budget (NOTIFY in the same statement as the change), when the listening connection
   * reconnects, and after 5 s at the latest. A budget changed in this process applies to its
   * next request; one changed in another process applies once the notice reaches this one,
   * which Postgres sends as the change commits but delivers to each listener on its own
   * schedule, with no bound Postgres promises.
   *
   * Listening also turns on slices, since their cap must follow changes: a notice retires the
   * budget's slices (they admit nothing more and give their room back), and so does a reconnect
   * for every budget, as notices may have been missed. `unlisten` writes every settled cost and
   * gives back every slice: call it on shutdown, after the last request settled.
   */
  async listenForChanges(): Promise<{ unlisten(): Promise<void> }> {
    const onChange = (id: string) => {
      this.known = undefined;
      this.slices?.retireBudget(id);
      this.pending.get(id)?.();
    };
    const subscription = await this.sql.listen(BUDGET_CHANGES_CHANNEL, onChange, () => {
      this.known = undefined;
      this.slices?.retireBudget();
      this.listening = true;
    });
    return {
      unlisten: async () => {
        this.listening = false;
        try {
          await this.slices?.close();
        } finally {
          await subscription.unlisten();
        }
      },
    };
  }

  private async existing(budgetIds: string[]): Promise<string[]> {
    if (!this.listening) return budgetIds;
    if (!this.known || this.known.until < performance.now()) {
      const rows = await this.sql<{ id: string }[]>`SELECT id FROM budgets`;
      this.known = { ids: new Set(rows.map((r) => r.id)), until: performance.now() + 5_000 };
    }
    return budgetIds.filter((id) => this.known!.ids.has(id));
  }

  async reserve(budgetIds: string[], amount: number): Promise<BudgetHold> {
    const id = crypto.randomUUID();
    const applicable = await this.existing(budgetIds);
    if (applicable.length === 0) return { id, amount, windows: [] };
    const sliced = this.listening ? await this.slices?.admit(applicable, amount) : undefined;
    if (sliced) return { id, amount, windows: sliced.slices.map((s) => ({ budgetId: s.budgetId, windowStart: s.windowStart! })), sliced };
    const rows = await this.sql<{ budget_id: string; window_start: Date; cap_usd: number; spent_usd: number; reserved_usd: number; admitted: boolean }[]>`
      SELECT * FROM godotz_budget_reserve(${id}, ${applicable}, ${amount}, ${this.ttlSeconds})`;
    const refused = rows.find((r) => !r.admitted);
    if (refused) throw new BudgetExceededError(refused, amount);
    return { id, amount, windows: rows.map((r) => ({ budgetId: r.budget_id, windowStart: r.window_start })) };
  }

  /** Releases the hold and charges `actual` to the budgets in `charge` (those of the model that answered). */
  async settle(hold: BudgetHold, charge: string[], actual: number): Promise<void> {
    if (hold.windows.length === 0) return;
    if (hold.sliced) return this.slices!.settle(hold.sliced, charge, actual);
    await this.sql`SELECT godotz_budget_settle(${hold.id}, ${hold.windows.map((w) => w.budgetId)},
      ${hold.windows.map((w) => new Date(w.windowStart).toISOString())}::text[]::timestamptz[], ${charge}, ${actual})`;
  }

  /**
   * Runs a change that notifies, and returns once this process has heard the notice back (or
   * after 1 s), so other processes, whose backends were signalled at the same commit, have
   * usually heard it too. That is a likelihood, not an acknowledged barrier.
   */
  private async announced<T>(id: string, change: () => Promise<T>): Promise<T> {
    if (!this.listening) return change();
    const heard = new Promise<void>((resolve) => this.pending.set(id, resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const result = await change();
      this.known = undefined;
      await Promise.race([heard, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
      return result;
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
  }

  async set(budget: Omit<Budget, "id">): Promise<Budget> {
    const id = budgetId(budget.scope, budget.subject);
    const [row] = await this.announced(id, () => this.sql<Budget[]>`
      INSERT INTO budgets (id, scope, subject, period, cap_usd) VALUES (${id}, ${budget.scope}, ${budget.subject}, ${budget.period}, ${budget.cap_usd})
      ON CONFLICT (id) DO UPDATE SET period = excluded.period, cap_usd = excluded.cap_usd, updated_at = now()
      RETURNING id, scope, subject, period, cap_usd, pg_notify(${BUDGET_CHANGES_CHANNEL}, id)`);
    const { pg_notify: _, ...saved } = row as Budget & { pg_notify: unknown };
    return saved;
  }

  async remove(id: string): Promise<boolean> {
    const rows = await this.announced(id, () => this.sql`DELETE FROM budgets WHERE id = ${id} RETURNING id, pg_notify(${BUDGET_CHANGES_CHANNEL}, id)`);
    return rows.length > 0;
  }

  /** Every budget with its current period's spend and holds. */
  async list(filter: { ids?: string[] } = {}): Promise<BudgetStatus[]> {
    if (this.listening) await this.slices?.flush();
    const rows = await this.sql<BudgetStatus[]>`
      SELECT b.id, b.scope, b.subject, b.period, b.cap_usd, w.start AS window_start,
             coalesce(bw.spent_usd, 0)::numeric AS spent_usd, coalesce(bw.reserved_usd, 0)::numeric AS reserved_usd
      FROM budgets b
      CROSS JOIN LATERAL (SELECT godotz_window_start(b.period, now()) AS start) w
      LEFT JOIN budget_windows bw ON bw.budget_id = b.id AND bw.window_start = w.start
      ${filter.ids ? this.sql`WHERE b.id = ANY (${filter.ids})` : this.sql``}
      ORDER BY b.id`;
    return rows.map((r) => ({ ...r, remaining_usd: Math.max(r.cap_usd - r.spent_usd - r.reserved_usd, 0) }));
  }
}
