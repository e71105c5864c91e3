import type { Sql } from "../../shared/db/connect.ts";
import { BudgetExceededError } from "./errors.ts";
import { textUnits, toUnits, unitsText, type Units } from "./units.ts";

/**
 * Budget slices (why: two transactions on one budget row per request capped a gateway near
 * 1,100 requests a second). A long-lived process reserves a slice of each budget it charges (one
 * reservation row, as a request's hold, renewed while in use), admits requests against it in
 * memory at their worst case as before, settles their actual cost in memory, and writes the
 * settled spend and resizes the slice in one transaction every `flushMs` or when the slice runs low.
 *
 * Why no request can overrun a cap:
 * - Postgres (godotz_budget_slice, godotz_budget_reserve) only ever adds to a window's holds what
 *   fits under its cap, next to everyone's spend and holds, under the window's row lock.
 * - In memory, a slice promises requests at most what its row holds: worst cases in flight plus
 *   settled but unwritten spend stay within `held` (within `keepDuringCall` while a resize runs,
 *   which Postgres keeps, or refuses to shrink below, by construction).
 * - Spend written is taken out of the slice in the same transaction, so the sum never counts twice.
 * Near the cap slices shrink (their headroom is at most a `share` of what is left) and a request
 * that does not fit waits on a resize that checks its worst case under the row lock, which is the
 * exact per-request hold of before. A slice left by a crashed process expires after `ttlSeconds`
 * and is released, not charged: see docs/budgets.md.
 */
export interface SliceOptions {
  /** How many worst cases of the latest request a slice keeps free, at most. */
  headroomRequests: number;
  /** A slice's headroom is at most 1/share of what is left of the budget. */
  share: number;
  flushMs: number;
  /** A slice unused this long gives back its free room. */
  idleMs: number;
  ttlSeconds: number;
  /** No request is admitted on a slice this close to its window's end (clock skew with Postgres). */
  windowMarginMs: number;
}

export const DEFAULT_SLICE_OPTIONS: SliceOptions = { headroomRequests: 64, share: 4, flushMs: 100, idleMs: 1_000, ttlSeconds: 30, windowMarginMs: 5_000 };

interface Slice {
  id: string;
  budgetId: string;
  windowStart: Date | undefined;
  windowEnd: number;
  /** Local time before which the row surely has not expired. */
  expiresAt: number;
  held: Units;
  inFlight: Units;
  pending: Units;
  keepDuringCall: Units | undefined;
  call: Promise<unknown> | undefined;
  retired: boolean;
  lastAdmit: number;
  /** Worst case of the latest request: the unit of headroom. */
  typical: Units;
  /** The last resize granted less headroom than asked: the budget is near its cap. */
  tight: boolean;
}

/** What a request holds on its slices until it settles. */
export interface SlicedHold {
  slices: Slice[];
  amount: Units;
}

interface SliceRow {
  budget_id: string;
  window_start: Date;
  window_end: Date;
  cap_usd: string;
  spent_usd: string;
  reserved_usd: string;
  held_usd: string;
  admitted: boolean;
}

type Mode = "keep" | "exact";

const exceeded = (row: SliceRow, usd: number) =>
  new BudgetExceededError({ budget_id: row.budget_id, cap_usd: Number(row.cap_usd), spent_usd: Number(row.spent_usd), reserved_usd: Number(row.reserved_usd) }, usd);

export class BudgetSlices {
  private readonly active = new Map<string, Slice>();
  private readonly all = new Set<Slice>();
  private readonly owner = crypto.randomUUID();
  private serial = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(
    private readonly sql: Sql,
    private readonly o: SliceOptions = DEFAULT_SLICE_OPTIONS,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  /**
   * Admits a request at `usd` (its worst case) on a slice of every budget in `ids` (all exist),
   * or throws BudgetExceededError. Undefined asks the caller for an exact hold instead: a window
   * ends within the margin, or resizes kept losing the room to other requests.
   */
  async admit(ids: string[], usd: number): Promise<SlicedHold | undefined> {
    if (this.closed) return undefined;
    this.start();
    const amount = toUnits(usd, true);
    let mode: Mode = "keep";
    let gaveBack = false;
    // Waiting on another request's resize is progress; only our own resizes count as attempts.
    for (let attempts = 0, rounds = 0; attempts < 4 && rounds < 64; rounds++) {
      const now = Date.now();
      const slices = ids.map((id) => this.sliceFor(id, now));
      const short = slices.filter((s) => !this.fits(s, amount, now));
      if (short.length === 0) {
        for (const s of slices) {
          s.inFlight += amount;
          s.lastAdmit = now;
          s.typical = amount;
        }
        this.topUp(slices);
        return { slices, amount };
      }
      const busy = short.filter((s) => s.call);
      if (busy.length > 0) {
        await Promise.allSettled(busy.map((s) => s.call));
        continue;
      }
      // Near the cap a slice's free room is worth giving back at once: one resize, not two.
      if (mode === "keep" && short.every((s) => s.tight)) mode = "exact";
      attempts++;
      const rows = await this.resize(short, mode, amount);
      if (short.some((s) => s.windowEnd - Date.now() < this.o.windowMarginMs)) {
        // The window is about to end: the caller takes an exact hold, so give this room back first.
        for (const s of short) this.retire(s);
        await this.resize(short, "exact", 0n);
        return undefined;
      }
      const refused = rows.find((r) => !r.admitted);
      if (!refused) continue;
      // A refusal counts the free room of our own slices (retired ones too) against us; ask once
      // more after giving it back.
      if (!gaveBack) {
        gaveBack = true;
        const retired = [...this.all].filter((s) => s.retired && !s.call && ids.includes(s.budgetId) && s.held > s.inFlight + s.pending);
        if (retired.length > 0) await this.resize(retired, "exact", 0n);
        const keptRoom = mode === "keep" && short.some((s) => s.held > s.inFlight + s.pending);
        mode = "exact";
        if (retired.length > 0 || keptRoom) continue;
      }
      throw exceeded(refused, usd);
    }
    // Kept losing the room to other requests: an exact hold decides, with our free room given back.
    const own = [...this.all].filter((s) => ids.includes(s.budgetId) && !s.call && s.held > s.inFlight + s.pending);
    for (const s of own) this.retire(s);
    if (own.length > 0) await this.resize(own, "exact", 0n);
    return undefined;
  }

  /** Ends a request: its worst case leaves the slices, its actual cost waits for the next write. */
  settle(hold: SlicedHold, charge: string[], actualUsd: number): void {
    const actual = actualUsd > 0 ? toUnits(actualUsd) : 0n;
    for (const s of hold.slices) {
      s.inFlight -= hold.amount;
      if (charge.includes(s.budgetId)) s.pending += actual;
    }
  }

  /** A budget changed (or every budget, after a missed notice): its slices admit nothing more and give back their room. */
  retireBudget(budgetId?: string): void {
    for (const s of this.all) if (budgetId === undefined || s.budgetId === budgetId) this.retire(s);
  }

  /** Writes every settled cost now (before answering what a budget has spent). */
  async flush(): Promise<void> {
    await this.settleCalls();
    const dirty = [...this.all].filter((s) => s.pending > 0n && !s.call);
    if (dirty.length > 0) await this.resize(dirty, "keep", 0n);
    await this.settleCalls();
  }

  /** Shutdown: writes every settled cost and gives back every slice's room. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.settleCalls();
    for (const s of this.all) this.retire(s);
    const open = [...this.all].filter((s) => s.held > 0n || s.pending > 0n);
    if (open.length > 0) await this.resize(open, "exact", 0n);
    for (const s of [...this.all]) if (s.held === 0n && s.inFlight === 0n) this.all.delete(s);
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick().catch(this.onError), this.o.flushMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private sliceFor(budgetId: string, now: number): Slice {
    const current = this.active.get(budgetId);
    if (current && !current.retired && (current.windowStart === undefined || (this.usable(current, now)))) return current;
    if (current) this.retire(current);
    const s: Slice = {
      id: `slice:${this.owner}:${++this.serial}`,
      budgetId,
      windowStart: undefined,
      windowEnd: Infinity,
      expiresAt: 0,
      held: 0n,
      inFlight: 0n,
      pending: 0n,
      keepDuringCall: undefined,
      call: undefined,
      retired: false,
      lastAdmit: now,
      typical: 0n,
      tight: false,
    };
    this.active.set(budgetId, s);
    this.all.add(s);
    return s;
  }

  private usable(s: Slice, now: number): boolean {
    return now < s.expiresAt && now < s.windowEnd - this.o.windowMarginMs;
  }

  private fits(s: Slice, amount: Units, now: number): boolean {
    if (s.windowStart === undefined || !this.usable(s, now)) return false;
    const limit = s.call ? s.keepDuringCall! : s.held;
    return s.inFlight + s.pending + amount <= limit;
  }

  private retire(s: Slice): void {
    s.retired = true;
    if (this.active.get(s.budgetId) === s) this.active.delete(s.budgetId);
  }

  private target(s: Slice): Units {
    return s.typical * BigInt(this.o.headroomRequests);
  }

  /** Resizes ahead of need so that requests seldom wait on Postgres. */
  private topUp(slices: Slice[]): void {
    const low = slices.filter((s) => !s.call && !s.tight && s.held - s.inFlight - s.pending < this.target(s) / 4n);
    if (low.length > 0) void this.resize(low, "keep", 0n).catch(this.onError);
  }

  /** Every `flushMs`: write settled costs, renew slices in use, give back room nobody uses. */
  private async tick(): Promise<void> {
    const now = Date.now();
    const keep: Slice[] = [];
    const trim: Slice[] = [];
    for (const s of this.all) {
      if (s.call) continue;
      const idle = now - s.lastAdmit > this.o.idleMs;
      const giveBack = s.retired || idle || s.tight;
      if (s.retired && s.held === 0n && s.inFlight === 0n && s.pending === 0n) {
        this.all.delete(s);
        continue;
      }
      const unused = s.held > s.inFlight + s.pending;
      const renew = s.held > 0n && s.expiresAt - now < (this.o.ttlSeconds * 1000) / 2;
      if (giveBack && (unused || s.pending > 0n || renew)) trim.push(s);
      else if (!giveBack && (s.pending > 0n || renew)) keep.push(s);
    }
    await Promise.all([keep.length > 0 ? this.resize(keep, "keep", 0n) : undefined, trim.length > 0 ? this.resize(trim, "exact", 0n) : undefined]);
    if (this.closed) clearInterval(this.timer);
  }

  private async settleCalls(): Promise<void> {
    while ([...this.all].some((s) => s.call)) await Promise.allSettled([...this.all].map((s) => s.call));
  }

  /**
   * One transaction for these slices (none has a call running): charge their settled spend and
   * resize them. "keep" keeps all they hold, so requests may go on being admitted on the old
   * room while it runs; "exact" keeps only the requests in flight, so nothing is admitted on
   * them until it ends. `need` is the worst case of the request waiting, 0 for none.
   */
  private async resize(slices: Slice[], mode: Mode, need: Units): Promise<SliceRow[]> {
    const spent = slices.map((s) => s.pending);
    const keep = slices.map((s, i) => {
      const all = s.held - spent[i]!;
      return mode === "keep" && all > s.inFlight ? all : s.inFlight;
    });
    const extra = slices.map((s, i) => {
      if (mode === "exact" && need === 0n) return 0n;
      const free = keep[i]! - s.inFlight;
      const wanted = this.target(s) > need * BigInt(this.o.headroomRequests) ? this.target(s) : need * BigInt(this.o.headroomRequests);
      return wanted > free ? wanted - free : 0n;
    });
    slices.forEach((s, i) => {
      s.pending -= spent[i]!;
      s.keepDuringCall = keep[i]!;
    });
    const started = Date.now();
    const call = this.sql<SliceRow[]>`
      SELECT * FROM godotz_budget_slice(${slices.map((s) => s.id)}, ${slices.map((s) => s.budgetId)},
        ${slices.map((s) => (s.windowStart ? s.windowStart.toISOString() : null))}::text[]::timestamptz[],
        ${spent.map(unitsText)}::text[]::numeric[], ${keep.map(unitsText)}::text[]::numeric[],
        ${slices.map(() => unitsText(need))}::text[]::numeric[], ${extra.map(unitsText)}::text[]::numeric[],
        ${this.o.share}, ${this.o.ttlSeconds})`;
    for (const s of slices) s.call = call;
    try {
      const rows = await call;
      slices.forEach((s, i) => {
        const row = rows.find((r) => r.budget_id === s.budgetId);
        if (!row) {
          // The budget is gone (and its windows and holds with it).
          this.retire(s);
          s.held = 0n;
          s.pending = 0n;
          return;
        }
        s.windowStart = new Date(row.window_start);
        const end = new Date(row.window_end).getTime();
        s.windowEnd = Number.isNaN(end) ? Infinity : end; // 'infinity' for budgets of period total
        s.expiresAt = started + this.o.ttlSeconds * 750;
        s.held = textUnits(row.held_usd);
        if (!row.admitted) s.tight = true;
        else if (need > 0n || extra[i]! > 0n) s.tight = s.held - keep[i]! - need < extra[i]!;
      });
      return rows;
    } catch (error) {
      // Not written (or, rarely, written with the answer lost: then charged twice, never missed).
      slices.forEach((s, i) => (s.pending += spent[i]!));
      throw error;
    } finally {
      for (const s of slices) {
        s.call = undefined;
        s.keepDuringCall = undefined;
      }
    }
  }
}
